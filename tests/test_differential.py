"""Differential testing: random valid specs, inspec's analysis against a brute-force reference model and
against the PyTorch module inspec builds (shapes through forward hooks, multiply-adds counted from the
module's own conv and linear layers, parameters from module.parameters()).

The generator and both oracles live in tests/strategies.py; `scripts/differential` runs 10,000 cases.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inspec.analysis.elaborate import elaborate
from inspec.analysis.shapes import resolve_padding, window_out
from inspec.diagnostics import SpecError
from tests.strategies import (
    check_analysis,
    check_torch,
    differential,
    random_spec,
    same_pads,
    specs,
    window_starts,
)

ROOT = Path(__file__).resolve().parent.parent
CASES = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: threads only add overhead (and xdist runs 2 workers)
    yield
    torch.set_num_threads(n)


@CASES
@given(specs())
def test_analysis_equals_reference_and_module(spec):
    """300 random specs: shapes, params and multiply-adds agree with the reference and the module."""
    problems = differential(spec, paths=False)
    assert not problems, "\n".join(problems) + "\n\nspec:\n" + spec.text


@settings(CASES, max_examples=150)
@given(specs())
def test_layer_paths_are_module_paths(spec):
    """node.layers() names every layer by the attribute path of its module in the built network."""
    problems = [p for p in differential(spec) if p.startswith("path:")]
    assert not problems, "\n".join(problems) + "\n\nspec:\n" + spec.text


@settings(CASES, max_examples=300)
@given(
    size=st.integers(1, 40),
    k=st.integers(1, 9),
    s=st.integers(1, 5),
    before=st.integers(0, 4),
    after=st.integers(0, 4),
    d=st.integers(1, 3),
    rounding=st.sampled_from(["floor", "ceil"]),
)
def test_window_rule_equals_enumeration(size, k, s, before, after, d, rounding):
    """The conv/pool output size rule against counting PyTorch's window positions one by one."""
    if rounding == "ceil":  # pools only: no dilation, padding at most half the window
        d, before, after = 1, min(before, k // 2), min(after, k // 2)
    eff = d * (k - 1) + 1
    want = len(window_starts(size, eff, s, before, after, rounding == "ceil"))
    try:
        got, _ = window_out(size, k, s, before, after, d, rounding, "height", "conv")
    except SpecError:
        got = 0
    assert got == want


@settings(CASES, max_examples=300)
@given(size=st.integers(1, 64), k=st.integers(1, 9), s=st.integers(1, 5), d=st.integers(1, 3))
def test_same_padding_equals_search(size, k, s, d):
    """TensorFlow SAME: the smallest padding that gives ceil(size / stride) outputs, odd pixel after."""
    assert resolve_padding("same", size, k, s, d, "height") == same_pads(size, k, s, d)


def test_random_generator_is_reproducible():
    assert random_spec(1234).text == random_spec(1234).text
    assert random_spec(1).text != random_spec(2).text


def test_seeded_cases_match_analysis_only():
    """The same generator driven by random.Random (what scripts/differential runs), analysis only."""
    bad = {}
    for seed in range(300):
        spec = random_spec(seed)
        net = elaborate(text=spec.text, name="gen.isp")
        errors = [d.message for d in net.diagnostics if d.is_error]
        problems = errors or check_analysis(net, spec)
        if problems:
            bad[seed] = problems
    assert not bad, bad


SHIPPED = ["lenet5.isp", "googlenet.isp", "googlenet_bn.isp", "examples/bottleneck.isp"]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_specs_equal_their_modules(name):
    """Whole shipped networks (side heads included in the parameter count) against their modules."""
    net = elaborate(path=str(ROOT / "specs" / name))
    assert net.ok, [d.message for d in net.diagnostics if d.is_error]
    problems = check_torch(net, batch=1)
    assert not problems, "\n".join(problems)


def test_oracle_catches_planted_errors():
    """The torch oracle is not vacuous: a wrong shape, a wrong count and a wrong total are each found."""
    spec = next(s for s in map(random_spec, range(100)) if "conv" in s.text and "branch" in s.text)
    net = elaborate(text=spec.text, name="gen.isp")
    assert not check_torch(net, check_paths=False)
    _path, layer = next((p, lay) for p, lay in net.body.layers() if lay.op.name == "conv")
    from dataclasses import replace

    good_shape, good_cost = layer.out_shape, layer.cost
    layer.out_shape = replace(good_shape, h=good_shape.h + 1)
    assert any("module gives" in p for p in check_torch(net, check_paths=False))
    layer.out_shape = good_shape
    layer.cost = replace(good_cost, ops=good_cost.ops + 1)
    assert any("multiply-adds" in p for p in check_torch(net, check_paths=False))
    layer.cost = replace(good_cost, params=good_cost.params - 1)
    assert any("params" in p for p in check_torch(net, check_paths=False))
    layer.cost = good_cost
    spec.ref.params += 1
    assert any(p.startswith("params") for p in check_analysis(net, spec))


def test_strategy_covers_the_language():
    """The generated specs use every feature the issue lists (over a fixed sample)."""
    text = "\n".join(random_spec(seed).text for seed in range(400))
    for feature in [
        "groups=",
        "dilation=",
        "bn=true",
        "bias=false",
        "valid",
        "pad=(",
        "ceil",
        "count_include_pad=",
        "global",
        "maxpool",
        "avgpool",
        "branch",
        "residual",
        " x conv",
        " x blk",
        "block blk",
        "(in",
        "flatten",
        "linear",
        "dropout",
        "stride=",
        "softmax",
        "lrn",
    ]:
        assert feature in text, feature
    assert any(f"{a}x{b}" in text for a in range(1, 6) for b in range(1, 6) if a != b)
    rng = random.Random(0)
    assert rng  # the generator is driven by random.Random(seed) in random_spec
