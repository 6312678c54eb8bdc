"""Property tests: each op's shape and cost rule (from the registry) against brute force.

The oracle for output sizes is PyTorch itself on tiny tensors (TensorFlow-style `same` padding applied
with an explicit F.pad); the oracle for costs counts multiply-adds window by window.
"""

import copy
import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from inspec.analysis.ops import OPS, Ctx
from inspec.analysis.shapes import Padding, Shape
from inspec.diagnostics import SpecError

SETTINGS = settings(max_examples=150, deadline=None, derandomize=True)


def attrs_for(op_name, **given_attrs):
    op = OPS[op_name]
    a = {x.name: x.default for x in op.attrs}
    a.update(given_attrs)
    a["_round_explicit"] = True
    return a


def tf_same(size, k, s, d=1):
    out = math.ceil(size / s)
    total = max((out - 1) * s + d * (k - 1) + 1 - size, 0)
    return total // 2, total - total // 2


pads = st.one_of(st.sampled_from(["same", "valid"]), st.integers(0, 3))


@st.composite
def conv_cases(draw):
    g = draw(st.integers(1, 3))
    cin = g * draw(st.integers(1, 3))
    out = g * draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    s = draw(st.integers(1, 3))
    d = draw(st.integers(1, 2))
    pad = draw(pads)
    h, w = draw(st.integers(1, 14)), draw(st.integers(1, 14))
    return dict(cin=cin, out=out, kh=kh, kw=kw, s=s, d=d, pad=pad, g=g, h=h, w=w)


@SETTINGS
@given(conv_cases())
def test_conv_shape_and_cost_match_torch(c):
    a = attrs_for(
        "conv",
        out=c["out"],
        kernel=(c["kh"], c["kw"]),
        stride=c["s"],
        dilation=c["d"],
        pad=c["pad"],
        groups=c["g"],
        bias=True,
        bn=True,
    )
    x = Shape(c["h"], c["w"], c["cin"])
    t = torch.zeros(1, c["cin"], c["h"], c["w"])
    weight = torch.zeros(c["out"], c["cin"] // c["g"], c["kh"], c["kw"])
    if c["pad"] == "same":
        top, bottom = tf_same(c["h"], c["kh"], c["s"], c["d"])
        left, right = tf_same(c["w"], c["kw"], c["s"], c["d"])
        t = F.pad(t, (left, right, top, bottom))
        padding = 0
    else:
        padding = 0 if c["pad"] == "valid" else c["pad"]
    try:
        ref = F.conv2d(t, weight, stride=c["s"], padding=padding, dilation=c["d"], groups=c["g"])
    except RuntimeError:
        ref = None
    before = copy.deepcopy(a)
    try:
        y = OPS["conv"].shape(a, x, Ctx())
    except SpecError:
        y = None
    assert a == before, "the shape rule wrote to its attributes"
    if ref is None or ref.shape[-1] == 0 or ref.shape[-2] == 0:
        assert y is None
        return
    assert y is not None
    assert (y.c, y.h, y.w) == tuple(ref.shape[1:])
    cost = OPS["conv"].cost(a, x, y)
    # brute force: every output position of every output channel reads cin/g * kh * kw inputs
    macs = 0
    for _ in range(y.h * y.w):
        for _ in range(c["out"]):
            macs += (c["cin"] // c["g"]) * c["kh"] * c["kw"]
    assert cost.ops == macs
    assert cost.weights == weight.numel()
    assert cost.params == weight.numel() + c["out"] + 2 * c["out"]


@st.composite
def pool_cases(draw):
    k = draw(st.integers(1, 5))
    s = draw(st.integers(1, 3))
    pad = draw(st.one_of(st.sampled_from(["same", "valid"]), st.integers(0, k // 2)))
    rnd = draw(st.sampled_from(["floor", "ceil"]))
    h, w = draw(st.integers(1, 14)), draw(st.integers(1, 14))
    return dict(k=k, s=s, pad=pad, round=rnd, h=h, w=w, c=draw(st.integers(1, 4)))


@SETTINGS
@given(pool_cases(), st.sampled_from(["maxpool", "avgpool"]))
def test_pool_shape_matches_torch(c, op):
    a = attrs_for(op, kernel=(c["k"], c["k"]), stride=c["s"], pad=c["pad"], round=c["round"])
    x = Shape(c["h"], c["w"], c["c"])
    t = torch.zeros(1, c["c"], c["h"], c["w"])
    if c["pad"] == "same":
        top, bottom = tf_same(c["h"], c["k"], c["s"])
        left, right = tf_same(c["w"], c["k"], c["s"])
        t = F.pad(t, (left, right, top, bottom))
        padding, ceil = 0, False
    else:
        padding = 0 if c["pad"] == "valid" else c["pad"]
        ceil = c["round"] == "ceil"
    fn = F.max_pool2d if op == "maxpool" else F.avg_pool2d
    try:
        ref = fn(t, c["k"], c["s"], padding, ceil_mode=ceil)
    except RuntimeError:
        ref = None
    before = copy.deepcopy(a)
    try:
        y = OPS[op].shape(a, x, Ctx())
    except SpecError:
        y = None
    assert a == before, "the shape rule wrote to its attributes"
    if ref is None or 0 in ref.shape:
        assert y is None
        return
    assert y is not None, c
    assert (y.c, y.h, y.w) == tuple(ref.shape[1:])
    assert OPS[op].cost(a, x, y).params == 0


@SETTINGS
@given(st.integers(1, 9), st.integers(1, 9), st.integers(1, 64), st.integers(1, 50), st.booleans())
def test_linear_flattens_and_counts(h, w, c, out, bias):
    a = attrs_for("linear", out=out, bias=bias)
    x = Shape(h, w, c)
    y = OPS["linear"].shape(a, x, Ctx())
    assert (y.h, y.w, y.c, y.flat) == (1, 1, out, True)
    layer = torch.nn.Linear(h * w * c, out, bias=bias)
    cost = OPS["linear"].cost(a, x, y)
    assert cost.params == sum(p.numel() for p in layer.parameters())
    assert cost.ops == cost.weights == layer.weight.numel()


@SETTINGS
@given(st.lists(st.integers(1, 64), min_size=1, max_size=6), st.integers(1, 9))
def test_concat_sums_channels(chans, hw):
    from inspec.analysis.ops import concat_shape

    y = concat_shape([(f"b{i}", Shape(hw, hw, c)) for i, c in enumerate(chans)])
    ref = torch.cat([torch.zeros(1, c, hw, hw) for c in chans], 1)
    assert (y.c, y.h, y.w) == tuple(ref.shape[1:])


@SETTINGS
@given(st.integers(1, 9), st.integers(1, 9), st.integers(1, 64))
def test_shape_preserving_ops(h, w, c):
    x = Shape(h, w, c)
    for name in ("lrn", "bn", "relu", "dropout", "softmax"):
        a = attrs_for(name)
        assert OPS[name].shape(a, x, Ctx()) == x
    assert OPS["bn"].cost(attrs_for("bn"), x, x).params == 2 * c
    assert OPS["flatten"].shape({}, x, Ctx()) == Shape(1, 1, h * w * c, flat=True)


@pytest.mark.parametrize("name", sorted(OPS))
def test_every_op_declares_its_rules(name):
    op = OPS[name]
    assert op.template, f"{name} has no code template"
    assert op.category in {
        "conv",
        "pool",
        "norm",
        "merge",
        "classifier",
        "activation",
        "regularizer",
        "reshape",
    }
    if op.user_visible:
        assert op.shape is not None
    for attr in op.attrs:
        assert attr.doc


# ------------------------------------------------------------------------------------------------
# Rules are pure: the shape rule, the resolver and the cost rule read the attributes, never write them


def _attr_variants(name):
    """Attribute dicts for op `name`: its defaults (with what a row must give), then variations of the
    attributes that change what the rules compute (padding, rounding, global pooling)."""
    op = OPS[name]
    base = attrs_for(name)
    if op.attr("out") is not None:
        base["out"] = 4
    if op.attr("kernel") is not None:
        base["kernel"] = (3, 2)
    variants = [base]
    if op.attr("pad") is not None:
        pads = ["same", "valid", 1, (1, 0), (0, 1, 1, 0)]
        rounds = op.attr("round").choices
        for pad, rnd, stride in itertools.product(pads, rounds, (1, 2)):
            variants.append({**base, "pad": pad, "round": rnd, "stride": stride})
    if op.attr("global") is not None:
        variants.append({**base, "global": True, "kernel": None})
    return variants


@pytest.mark.parametrize("name", sorted(n for n, op in OPS.items() if op.shape is not None))
def test_rules_leave_their_attributes_unchanged(name):
    op = OPS[name]
    checked = 0
    for a in _attr_variants(name):
        for x in (Shape(7, 6, 4), Shape(1, 1, 4), Shape(1, 1, 4, flat=True)):
            before = copy.deepcopy(a)
            try:
                y = op.shape(a, x, Ctx())
            except SpecError:
                assert a == before, (a, x)
                continue
            assert a == before, f"{name}'s shape rule wrote to its attributes: {a} != {before}"
            derived = op.resolve(a, x)
            assert a == before, f"{name}'s resolver wrote to its attributes"
            op.cost({**a, **derived}, x, y)
            assert a == before, f"{name}'s cost rule wrote to its attributes"
            checked += 1
    assert checked > 0


@pytest.mark.parametrize(
    "kernel, pad, rounding, h, w, padding",
    [
        # resolved as the rows wrote them
        ((3, 2), "same", "floor", 7, 6, Padding(1, 1, 0, 1)),
        ((3, 2), "valid", "floor", 7, 6, Padding(0, 0, 0, 0)),
        ((3, 2), (1, 0), "floor", 7, 6, Padding(1, 1, 0, 0)),
        ((3, 2), (0, 1, 1, 0), "ceil", 7, 6, Padding(0, 1, 1, 0)),
        # ceil with asymmetric padding: trailing padding no window reads is left out (the last
        # 3-high window reads the padding row; the last 2-wide one ends where the input does)
        ((3, 2), (0, 1, 0, 1), "ceil", 4, 4, Padding(0, 1, 0, 0)),
        ((3, 2), (1, 1, 0, 1), "ceil", 3, 4, Padding(1, 1, 0, 0)),
        ((2, 2), (0, 1, 0, 1), "ceil", 4, 4, Padding(0, 0, 0, 0)),
        # symmetric padding reaches PyTorch's own pool, whose ceil rule is the analysis's
        ((3, 2), 1, "ceil", 4, 4, Padding(1, 1, 1, 1)),
    ],
)
def test_pool_resolves_its_padding(kernel, pad, rounding, h, w, padding):
    stride = 1 if pad == "same" else 2
    a = attrs_for("maxpool", kernel=kernel, stride=stride, pad=pad, round=rounding)
    assert OPS["maxpool"].resolve(a, Shape(h, w, 1)) == {"padding": padding}


def test_global_pool_resolves_its_window():
    a = attrs_for("avgpool", **{"global": True})
    derived = OPS["avgpool"].resolve(a, Shape(7, 5, 3))
    assert derived == {"kernel": (7, 5), "stride": 1, "padding": Padding(0, 0, 0, 0)}
    assert OPS["avgpool"].shape(a, Shape(7, 5, 3), Ctx()) == Shape(1, 1, 3)


def test_ceil_note_says_when_a_last_window_is_left_out():
    from inspec.analysis.shapes import window_out

    out, note = window_out(4, 2, 2, 0, 1, 1, "ceil", "height", "max pool")
    assert out == 2
    assert note == (
        "height: (4 + 1 - 2) / 2 + 1 = 2.5, rounded up to 3, less a last window that would start"
        " after the input: 2"
    )
    assert window_out(4, 3, 2, 0, 0, 1, "ceil", "height", "max pool") == (
        2,
        "height: (4 - 3) / 2 + 1 = 1.5, rounded up to 2",
    )
