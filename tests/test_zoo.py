"""The zoo (specs/zoo/NAME.isp) against its references, without importing them: each spec's module must
hold exactly the reference's state_dict keys with the reference's shapes (so that its weights load by
key with strict=True), the reference's parameter count (in the analysis and in the module), and give
the reference's output size. The facts come from tests/fixtures/zoo/NAME.json, recorded in the
reference virtualenv by scripts/zoo-fixtures; scripts/verify-zoo compares outputs there.

Modules are built on the meta device: shapes and names without allocating weights or computing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import inspec
from inspec.analysis.elaborate import elaborate

ROOT = Path(__file__).resolve().parent.parent
ZOO = ROOT / "specs" / "zoo"
FIXTURES = ROOT / "tests" / "fixtures" / "zoo"
SPECS = sorted(p.stem for p in ZOO.glob("*.isp"))


def _fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def test_every_zoo_spec_has_a_reference_fixture():
    assert SPECS, "specs/zoo holds no spec"
    missing = [n for n in SPECS if not (FIXTURES / f"{n}.json").exists()]
    assert not missing, f"no fixture for {missing}: run scripts/zoo-fixtures NAME"


@pytest.mark.parametrize("name", SPECS)
def test_zoo_spec_matches_its_reference(name):
    ref = _fixture(name)
    net = elaborate(ZOO / f"{name}.isp")
    assert net.ok, [d.message for d in net.diagnostics if d.is_error]
    assert not [d for d in net.diagnostics if d.severity.value == "warning"], (
        "zoo specs check clean"
    )
    c, h, w = ref["input"]
    assert (net.input.h, net.input.w, net.input.c) == (h, w, c)
    assert net.totals(sides=True).params == ref["params"]  # the reference holds its aux heads

    with torch.device("meta"):
        model = inspec.build(ZOO / f"{name}.isp")
    ours = {k: list(v.shape) for k, v in model.state_dict().items()}
    theirs = dict((k, shape) for k, shape in ref["state_dict"])
    assert sorted(set(ours) - set(theirs)) == [], "keys the reference does not have"
    assert sorted(set(theirs) - set(ours)) == [], "reference keys the module lacks"
    wrong = {k: (ours[k], theirs[k]) for k in ours if ours[k] != theirs[k]}
    assert wrong == {}, "shapes differ (ours, reference)"
    assert sum(p.numel() for p in model.parameters()) == ref["params"]

    model.eval()
    out = model(torch.empty(1, c, h, w, device="meta"))
    assert list(out.shape[1:]) == ref["output"]
    if "train_outputs" in ref:
        model.train()
        outs = model(torch.empty(2, c, h, w, device="meta"))
        assert [list(t.shape[1:]) for t in outs] == ref["train_outputs"]


@pytest.mark.parametrize("name", SPECS)
def test_zoo_spec_builds_with_no_arguments_as_its_own_name(name):
    """`inspec.build("specs/zoo/NAME.isp")` is that model: the network is named NAME."""
    assert elaborate(ZOO / f"{name}.isp").name == name
