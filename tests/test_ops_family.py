"""Property tests for the ops and merges of issue 11 (the Inception lineage and the CNN zoo): each rule
of the registry against PyTorch on tiny tensors, as tests/test_op_properties.py does for the first ops.

- half padding ((k - 1) // 2 * dilation on each side) against nn.Conv2d / pools with that padding;
- merges: add (equal shapes), mul (broadcasting, torch's own rule), split (torch.chunk), concat;
- channel_shuffle against a reshape-transpose written here, drop_path's train and eval behaviour;
- the activation rows against torch's functions, make_divisible against torchvision's formula.
"""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from inspec.analysis.elaborate import elaborate
from inspec.analysis.ops import ACTIVATIONS, OPS, Ctx, split_input
from inspec.analysis.shapes import Shape
from inspec.analysis.values import make_divisible
from inspec.backends.torch import build_module
from inspec.diagnostics import SpecError

SETTINGS = settings(max_examples=120, deadline=None, derandomize=True)


def attrs_for(op_name, **given_attrs):
    a = {x.name: x.default for x in OPS[op_name].attrs}
    a.update(given_attrs)
    a["_round_explicit"] = True
    return a


@SETTINGS
@given(
    st.integers(1, 7),
    st.integers(1, 7),
    st.integers(1, 3),
    st.integers(1, 2),
    st.integers(1, 16),
    st.integers(1, 16),
)
def test_half_padding_is_pytorchs(kh, kw, s, d, h, w):
    a = attrs_for("conv", out=2, kernel=(kh, kw), stride=s, dilation=d, pad="half")
    x = Shape(h, w, 3)
    padding = ((kh - 1) // 2 * d, (kw - 1) // 2 * d)
    try:
        ref = F.conv2d(torch.zeros(1, 3, h, w), torch.zeros(2, 3, kh, kw), None, s, padding, d)
    except RuntimeError:  # the window does not fit: inspec must refuse it too
        with pytest.raises(SpecError):
            OPS["conv"].shape(a, x, Ctx())
        return
    y = OPS["conv"].shape(a, x, Ctx())
    assert (y.h, y.w, y.c) == (ref.shape[2], ref.shape[3], 2)
    assert OPS["conv"].resolve(a, x)["padding"].torch() == padding
    if max(kh, kw) > 1 and kh % 2 and kw % 2:  # a max pool takes the same padding
        pa = attrs_for("maxpool", kernel=(kh, kw), stride=s, pad="half")
        try:
            pref = F.max_pool2d(
                torch.zeros(1, 1, h, w), (kh, kw), s, ((kh - 1) // 2, (kw - 1) // 2)
            )
        except RuntimeError:
            return
        p = OPS["maxpool"].shape(pa, Shape(h, w, 1), Ctx())
        assert (p.h, p.w) == tuple(pref.shape[2:])


shapes = st.tuples(st.integers(1, 5), st.integers(1, 5), st.integers(1, 6))


@SETTINGS
@given(
    st.lists(st.tuples(shapes, st.booleans(), st.booleans(), st.booleans()), min_size=2, max_size=3)
)
def test_mul_broadcasts_as_torch_does(parts):
    """A part may shrink an axis to 1; inspec accepts exactly what torch broadcasts (and what keeps
    the feature map: every axis of the output is one of the parts')."""
    given_parts = []
    for (ph, pw, pc), one_h, one_w, one_c in parts:
        given_parts.append(Shape(1 if one_h else ph, 1 if one_w else pw, 1 if one_c else pc))
    tensors = [torch.zeros(1, s.c, s.h, s.w) for s in given_parts]
    named = [(f"b{k}", s) for k, s in enumerate(given_parts)]
    try:
        ref = tensors[0]
        for t in tensors[1:]:
            ref = ref * t
    except RuntimeError:
        with pytest.raises(SpecError):
            OPS["mul"].merge({}, named)
        return
    y = OPS["mul"].merge({}, named)
    assert (y.c, y.h, y.w) == tuple(ref.shape[1:])


@SETTINGS
@given(shapes, shapes)
def test_add_needs_equal_shapes(a, b):
    sa, sb = Shape(*a), Shape(*b)
    if a == b:
        assert OPS["add"].merge(attrs_for("add"), [("a", sa), ("b", sb)]) == sa
    else:
        with pytest.raises(SpecError):
            OPS["add"].merge(attrs_for("add"), [("a", sa), ("b", sb)])


@SETTINGS
@given(st.integers(1, 4), st.integers(1, 24), st.integers(1, 5))
def test_split_gives_each_branch_a_chunk(n, c, hw):
    x = Shape(hw, hw, c)
    if c % n:
        with pytest.raises(SpecError):
            split_input(x, n)
        return
    chunks = torch.zeros(1, c, hw, hw).chunk(n, 1)
    assert len(chunks) == n and all(t.shape[1] == split_input(x, n).c for t in chunks)


@SETTINGS
@given(st.integers(1, 4), st.integers(1, 6), st.integers(1, 4))
def test_channel_shuffle_module_interleaves(g, per, hw):
    c = g * per
    net = elaborate(text=f"network t\ninput {hw}x{hw}x{c}\nchannel_shuffle {g}\n")
    assert net.ok and net.output == Shape(hw, hw, c) and net.totals().params == 0
    x = torch.randn(2, c, hw, hw)
    ref = x.view(2, g, per, hw, hw).transpose(1, 2).reshape(2, c, hw, hw)
    assert torch.equal(build_module(net)(x), ref)


def test_channel_shuffle_refuses_groups_that_do_not_divide():
    with pytest.raises(SpecError, match="does not divide"):
        OPS["channel_shuffle"].shape({"groups": 4}, Shape(2, 2, 6), Ctx())


def test_drop_path_is_the_identity_in_eval_and_drops_whole_samples_in_training():
    net = elaborate(text="network t\ninput 4x4x3\ndrop_path 0.5\n")
    assert net.ok and net.totals().params == 0 and net.output == Shape(4, 4, 3)
    m = build_module(net)
    x = torch.randn(64, 3, 4, 4)
    assert torch.equal(m.eval()(x), x)
    y = m.train()(x)
    kept = [bool((y[i] != 0).any()) for i in range(64)]
    for i in range(64):  # each sample is dropped whole, or kept and scaled by 1 / (1 - p)
        assert torch.equal(y[i], x[i] * 2) if kept[i] else torch.equal(y[i], torch.zeros_like(x[i]))
    assert 10 < sum(kept) < 54


ACT_ROWS = sorted(n for n, a in ACTIVATIONS.items() if a.cls)


@pytest.mark.parametrize("name", ACT_ROWS)
def test_activation_rows_compute_torchs_function(name):
    net = elaborate(text=f"network t\ninput 3x3x2\n{name}\n")
    assert net.ok and net.output == Shape(3, 3, 2) and net.totals().params == 0
    x = torch.linspace(-8, 8, 18).reshape(1, 2, 3, 3)
    ref = eval(ACTIVATIONS[name].functional.format("x.clone()"), {"torch": torch, "F": F, "x": x})
    torch.testing.assert_close(build_module(net)(x.clone()), ref)


@SETTINGS
@given(st.floats(0.5, 4096), st.sampled_from([1, 2, 4, 8, 16]), st.none() | st.integers(1, 64))
def test_make_divisible_is_torchvisions(v, divisor, min_value):
    # torchvision.models._utils._make_divisible, written out
    m = divisor if min_value is None else min_value
    want = max(m, int(v + divisor / 2) // divisor * divisor)
    if want < 0.9 * v:
        want += divisor
    assert make_divisible(v, divisor, min_value) == want


def test_a_kernel_from_a_float_argument_builds_with_half_padding():
    """A square kernel that a block takes as an argument is followed by the class (not fixed), and
    converted to an int where the caller passes a whole-number float (fuzz seed 756)."""
    text = "network t(w = 1.0)\npadding torch\ninput 8x8x4\nblock dw(k) { conv (c) kernel=k 4 }\ndw w\n"
    net = elaborate(text=text)
    assert net.ok
    y = build_module(net)(torch.randn(1, 4, 8, 8))
    assert tuple(y.shape) == (1, 4, 8, 8)
