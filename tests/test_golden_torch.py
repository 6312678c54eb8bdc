"""Golden generated code: the PyTorch module of every shipped network (tests/golden/torch/).

specs/examples/bottleneck.isp is compared with tests/golden/torch/examples/bottleneck.py. Block
libraries (no `input`, so nothing to compile) are left out; a network that does not check must be
refused. scripts/regen-golden rewrites the files after an intended change to the generator.
"""

from pathlib import Path

import pytest

from inspec.analysis.elaborate import elaborate
from inspec.backends.torch import CodegenError, generate
from tests.conftest import ROOT, SPECS
from tests.golden import assert_golden


def _networks() -> tuple[list[str], list[str]]:
    """The shipped specs that are networks (relative to the repository root): those that check, and
    those that do not."""
    good, bad = [], []
    for p in sorted(SPECS.rglob("*.isp")):
        net = elaborate(path=str(p))
        if net.input is None:
            continue  # a block library
        rel = p.relative_to(ROOT).as_posix()
        (bad if any(d.is_error for d in net.diagnostics) else good).append(rel)
    return good, bad


GOOD, BAD = _networks()


def golden_name(rel: str) -> str:
    """specs/examples/bottleneck.isp -> torch/examples/bottleneck.py"""
    return (Path("torch") / Path(rel).relative_to("specs").with_suffix(".py")).as_posix()


def test_the_shipped_networks_are_found():
    assert "specs/googlenet.isp" in GOOD and "specs/examples/bottleneck.isp" in GOOD
    assert "specs/examples/inception_resnet_v2_paper.isp" in BAD  # kept as a failing example
    assert not any(rel.startswith("specs/blocks/") for rel in GOOD + BAD)


@pytest.mark.parametrize("rel", GOOD)
def test_golden_torch_module(rel, in_root):
    net = elaborate(path=rel)
    assert_golden(golden_name(rel), generate(net))


@pytest.mark.parametrize("rel", BAD)
def test_golden_torch_refuses_a_network_with_errors(rel, in_root):
    net = elaborate(path=rel)
    with pytest.raises(CodegenError, match="the spec has errors"):
        generate(net)
    assert not (Path(__file__).parent / "golden" / golden_name(rel)).exists()


# The inference export (generate(net, inference=True)) of the networks its benchmark measures.
INFERENCE = ["specs/googlenet_bn.isp", "specs/inception_v4.isp", "specs/inception_resnet_v2.isp"]


@pytest.mark.parametrize("rel", INFERENCE)
def test_golden_torch_inference_module(rel, in_root):
    net = elaborate(path=rel)
    name = golden_name(rel).removesuffix(".py") + "_inference.py"
    assert_golden(name, generate(net, inference=True))
