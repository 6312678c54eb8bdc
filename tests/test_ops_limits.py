"""Every number an op takes has a range in the registry, and a spec at the edges of those ranges builds
and runs; adding a feature map to a flat vector in a residual is refused.

tests/bad/lrn_size.isp and tests/bad/attribute_limits.isp show the diagnostics past the edges.
"""

from __future__ import annotations

import pytest
import torch

from inspec.analysis.elaborate import elaborate
from inspec.analysis.ops import OPS, add_shape
from inspec.analysis.shapes import Shape
from inspec.backends.torch import build_module
from inspec.diagnostics import SpecError

NUMBERS = [(op.name, a.name) for op in OPS.values() for a in op.attrs if a.kind in ("int", "float")]


@pytest.mark.parametrize("op, attr", NUMBERS)
def test_every_number_attribute_has_a_range(op, attr):
    a = OPS[op].attr(attr)
    assert a.minimum is not None and a.maximum is not None, f"{op}.{attr} needs a range"
    assert a.minimum <= a.maximum
    if a.default is not None:
        assert a.minimum <= a.default <= a.maximum


def _row(op: str, attr: str, v) -> tuple[str, str]:
    """(input, row) setting `attr` of `op` to v, in a row that is otherwise as small as it can be."""
    if op == "conv":
        if attr == "out":
            return "1x1x1", f"conv 1x1 {v}"
        if attr == "groups":
            return f"1x1x{v}", f"conv 1x1 {v} groups={v}"
        if attr in ("eps", "momentum"):
            return "3x3x4", f"conv 1x1 4 bn=true {attr}={v}"
        return "3x3x4", f"conv 3x3 4 {attr}={v}"
    if op in ("maxpool", "avgpool"):
        return "3x3x4", f"{op} 3x3 {attr}={v}"
    if op == "linear":
        return "1x1x1", f"linear {attr}={v}"
    if op == "channel_shuffle":
        return f"1x1x{v}", f"channel_shuffle {v}"
    if op == "add":
        return "3x3x4", f"residual {attr}={v} {{ relu }}"
    return "3x3x4", f"{op} {attr}={v}"


EDGES = [(op, attr, edge) for op, attr in NUMBERS for edge in ("minimum", "maximum")]


@pytest.mark.parametrize("op, attr, edge", EDGES)
def test_a_spec_at_the_edge_of_a_range_builds_and_runs(op, attr, edge):
    a = OPS[op].attr(attr)
    v = getattr(a, edge)
    v = int(v) if a.kind == "int" else v
    size, row = _row(op, attr, v)
    net = elaborate(text=f"network edge\ninput {size}\n{row}\n")
    assert net.ok, [d.message for d in net.diagnostics]
    model = build_module(net).eval()
    h, w, c = (int(n) for n in size.split("x"))
    with torch.no_grad():
        y = model(torch.rand(2, c, h, w))
    out = net.output
    assert tuple(y.shape) == ((2, out.c) if out.flat else (2, out.c, out.h, out.w))


def test_lrn_size_past_its_range_is_refused_before_anything_runs():
    net = elaborate(text="network t\ninput 8x8x16\nlrn 1000000000000\n")
    (err,) = [d for d in net.diagnostics if d.is_error]
    assert err.message.startswith("lrn size must be at most 4096")


def test_residual_add_refuses_a_vector_and_a_feature_map():
    fmap, vector = Shape(1, 1, 4), Shape(1, 1, 4, flat=True)
    with pytest.raises(SpecError, match="the body gives a flat vector, but its input is a feature"):
        add_shape(fmap, vector)
    with pytest.raises(SpecError, match="the body gives a feature map, but its input is a flat"):
        add_shape(vector, fmap)
    assert add_shape(vector, vector) == vector
    assert add_shape(fmap, fmap) == fmap


def test_residual_on_a_vector_builds_and_adds():
    net = elaborate(text="network t\ninput 2x2x4\nflatten\nresidual { linear (fc) 16 }\n")
    assert net.ok, [d.message for d in net.diagnostics]
    model = build_module(net).eval()
    x = torch.randn(3, 4, 2, 2)
    with torch.no_grad():
        y = model(x)
        want = torch.flatten(x, 1) + model.fc(torch.flatten(x, 1))
    assert y.shape == (3, 16)
    torch.testing.assert_close(y, want)
