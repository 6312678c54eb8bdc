"""Round two, the generated module: items 2, 4, 5, 6, 9 and 10 of issue 16 ("Never lie, round two").

Each test states what the module must compute or accept, exactly, so that the behaviour before the fix
(named in each docstring) fails it. The module is built from the same code `inspec compile` writes
(`build_module`, or the written file loaded with `load_source`); where a test compares with the
analysis it goes through `tests.strategies.check_torch` (every layer's shape, params and multiply-adds
against the built module, through forward hooks; none of inspec's formulas).
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from torch import nn

from inspec.analysis.elaborate import elaborate
from inspec.backends.torch import build_module, generate, load_source, network_class_name
from tests.conftest import run_cli
from tests.strategies import check_torch


def _net(text: str, **params):
    net = elaborate(text=text, name="t.isp", params=params or None)
    assert net.ok, [d.message for d in net.diagnostics if d.is_error]
    return net


def _params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def _channels(*values: float) -> torch.Tensor:
    """A 1 x C x 1 x 1 input holding one value per channel."""
    return torch.tensor(values).reshape(1, len(values), 1, 1)


def _flat(y: torch.Tensor) -> list[float]:
    return y.flatten().tolist()


# ------------------------------------------------------------------------------------------------
# 2. An in-place activation right after a row a parameter switches off


def _forward_keeps_input(m: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """m(x) in eval mode; the caller's tensor must come back unchanged."""
    before = x.clone()
    with torch.no_grad():
        y = m.eval()(x)
    assert torch.equal(x, before), f"forward() overwrote its input: {_flat(before)} -> {_flat(x)}"
    return y


@pytest.mark.parametrize("act", ["relu", "relu6"])
@pytest.mark.parametrize("cond", ["extra", "not on"])
def test_inplace_activation_after_a_switched_off_row_keeps_the_skip(act, cond):
    """`residual { conv 1x1 2 if extra; relu }` with extra = false is x + relu(x): [-1, 2] gives
    [-1, 4]. Before the fix the relu ran in place on the skip tensor itself: [0, 4]."""
    net = _net(
        f"network t(extra = false, on = true)\ninput 1x1x2\nresidual {{ conv 1x1 2 if {cond}; {act} }}\n"
    )
    y = _forward_keeps_input(build_module(net), _channels(-1.0, 2.0))
    assert _flat(y) == [-1.0, 4.0]


def test_inplace_activation_after_a_switched_on_row_is_still_exact():
    """The same residual with the row switched on: x + relu(conv(x)), computed by hand."""
    net = _net("network t(extra = false)\ninput 1x1x2\nresidual { conv 1x1 2 if extra; relu }\n")
    m = build_module(net, extra=True).eval()
    x = _channels(-1.0, 2.0)
    with torch.no_grad():
        want = x + torch.relu(m.conv(x))
    torch.testing.assert_close(_forward_keeps_input(m, x), want)


def test_inplace_activation_in_a_branch_leaves_its_siblings_input():
    """Two branches of one input; the first ends `conv if extra; relu`. With extra = false the
    second branch (a 1x1 max pool: the identity) must see x itself: concat(relu(x), x) =
    [0, 2, -1, 2]. Before the fix the first branch's relu overwrote the shared input: [0, 2, 0, 2]."""
    text = """network t(extra = false)
input 1x1x2
branch { conv 1x1 2 if extra; relu }
branch { maxpool 1x1/1 }
"""
    y = _forward_keeps_input(build_module(_net(text)), _channels(-1.0, 2.0))
    assert _flat(y) == [0.0, 2.0, -1.0, 2.0]


def test_inplace_activation_as_the_first_trunk_row_leaves_the_callers_tensor():
    """`conv 1x1 2 if extra` then `relu` as the network's first rows: the module returns relu(x)
    = [0, 2] and the caller's x stays [-1, 2] (before the fix it became [0, 2])."""
    net = _net("network t(extra = false)\ninput 1x1x2\nconv 1x1 2 if extra\nrelu\n")
    y = _forward_keeps_input(build_module(net), _channels(-1.0, 2.0))
    assert _flat(y) == [0.0, 2.0]


def test_inplace_activation_after_a_switched_off_row_inside_a_block():
    """The same inside a block, the condition a block argument: x + relu(x), then again."""
    text = """network t(extra = false)
input 1x1x2
block unit(f) { residual { conv 1x1 in if f; relu } }
unit extra
unit false
"""
    y = _forward_keeps_input(build_module(_net(text)), _channels(-1.0, 2.0))
    assert _flat(y) == [-1.0, 8.0]  # [-1, 2] -> [-1, 4] -> [-1, 8]


# ------------------------------------------------------------------------------------------------
# 4. `inspec compile -p`: the written module's defaults are the compiled values

COMPILE_P = """network t(num_classes = 1000, s = 1)
input 8x8x3
conv 3x3 4 stride=s
avgpool global
linear num_classes
"""


def _compiled_file(tmp_path, *params: str):
    (tmp_path / "t.isp").write_text(COMPILE_P)
    args = [a for p in params for a in ("-p", p)]
    r = run_cli("compile", "t.isp", *args, "-o", "t.py", "-q", cwd=tmp_path)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    source = (tmp_path / "t.py").read_text()
    return load_source(source, "round2_compiled")[network_class_name(source)]


def test_compile_with_num_classes_writes_that_default(tmp_path):
    """`inspec compile t.isp -p num_classes=10`: T() has 10 outputs (before the fix: 1000) and the
    parameter count of the 10-class table."""
    cls = _compiled_file(tmp_path, "num_classes=10")
    m = cls().eval()
    with torch.no_grad():
        y = m(torch.randn(2, 3, 8, 8))
    assert tuple(y.shape) == (2, 10)
    assert _params(m) == _net(COMPILE_P, num_classes=10).totals().params == 112 + 50


def test_compile_with_a_structural_parameter_builds_with_no_arguments(tmp_path):
    """`-p s=2` sets a stride, which the module fixes: T() must build (before the fix its own guard
    refused the default s=1) and downsample to 4x4; another stride is refused with how to recompile."""
    cls = _compiled_file(tmp_path, "s=2", "num_classes=5")
    m = cls().eval()
    feats = []
    conv = next(mod for mod in m.modules() if isinstance(mod, nn.Conv2d))
    conv.register_forward_hook(lambda mod, i, o: feats.append(tuple(o.shape)))
    with torch.no_grad():
        y = m(torch.randn(1, 3, 8, 8))
    assert feats == [(1, 4, 4, 4)] and tuple(y.shape) == (1, 5)
    with pytest.raises(ValueError, match=r"compiled for s=2, got 1.*-p s="):
        cls(s=1)


# ------------------------------------------------------------------------------------------------
# 5. `defaults add(scale = s)`: the module reads the argument, or refuses another value

ADD_TOP = """network t(s = 0.5, a = relu)
input 2x2x2
defaults add(scale = s, act = a)
residual { conv 1x1 2 }
"""


def test_residual_scale_from_defaults_follows_the_argument():
    """Top level: T(s=1.0) computes act(x + 1.0 * conv(x)) and T() act(x + 0.5 * conv(x)), with the
    same weights. Before the fix the scale was the constant 0.5 in both."""
    net = _net(ADD_TOP)
    torch.manual_seed(0)
    half = build_module(net).eval()
    one = build_module(net, s=1.0).eval()
    one.load_state_dict(half.state_dict())
    x = torch.randn(2, 2, 2, 2)
    with torch.no_grad():
        body = half.conv(x)
        torch.testing.assert_close(half(x), torch.relu(x + 0.5 * body))
        torch.testing.assert_close(one(x), torch.relu(x + 1.0 * body))
        assert not torch.allclose(half(x), one(x))


def test_residual_act_from_defaults_follows_the_argument():
    net = _net(ADD_TOP)
    m = build_module(net, a="tanh").eval()
    x = torch.randn(2, 2, 2, 2)
    with torch.no_grad():
        torch.testing.assert_close(m(x), torch.tanh(x + 0.5 * m.conv(x)))


def test_residual_scale_from_defaults_inside_a_block_refuses_another_value():
    """Inside a block (which cannot see the network's parameters) the scale is fixed when compiled:
    T() computes x + 0.5 * conv(x); T(s=1.0) raises (before the fix it silently computed 0.5)."""
    text = """network t(s = 0.5)
input 2x2x2
defaults add(scale = s)
block unit { residual { conv 1x1 in } }
unit
"""
    net = _net(text)
    m = build_module(net).eval()
    x = torch.randn(2, 2, 2, 2)
    with torch.no_grad():
        torch.testing.assert_close(m(x), x + 0.5 * m.unit.conv(x))
    with pytest.raises(ValueError, match=r"compiled for s=0.5, got 1.0"):
        build_module(net, s=1.0)


def test_residual_scale_passed_to_a_block_follows_the_argument():
    """A scale passed as a block argument is the block class's argument: T(s=1.0) follows."""
    text = """network t(s = 0.5)
input 2x2x2
block unit(sc) { residual scale=sc { conv 1x1 in } }
unit s
"""
    net = _net(text)
    torch.manual_seed(0)
    half = build_module(net).eval()
    one = build_module(net, s=1.0).eval()
    one.load_state_dict(half.state_dict())
    x = torch.randn(2, 2, 2, 2)
    with torch.no_grad():
        torch.testing.assert_close(one(x), x + 1.0 * half.unit.conv(x))
        torch.testing.assert_close(half(x), x + 0.5 * half.unit.conv(x))


# ------------------------------------------------------------------------------------------------
# 6 and 10. Class names: helpers, imported names, constructor arguments

HELPER_NAMES = [
    "conv_re_l_u",  # ConvReLU
    "conv_b_n_re_l_u",  # ConvBNReLU
    "conv_b_n",  # ConvBN
    "conv_g_e_l_u",  # ConvGELU
    "conv_norm_act",  # ConvNormAct
    "avg_pool2d_same",  # AvgPool2dSame
    "activation",  # the activation() helper function
    "f",  # F: torch.nn.functional as F (the AvgPool2dSame helper calls F.pad)
    "tensor",  # Tensor: the annotations
    "named_tuple",  # NamedTuple: the outputs tuple of a network with side heads
    "value_error",  # ValueError: the guards raise it
    "t",  # the network class itself
    "t_outputs",  # the network's outputs tuple
]


# conv 1x1 4 -> 8 with its bias; conv 3x3 8 -> 4 with bias and batch norm; conv 1x1 4 -> 4 likewise
BLOCK_PARAMS = (4 * 8 + 8) + (8 * 4 * 9 + 4 + 2 * 4) + (4 * 4 + 4 + 2 * 4)


@pytest.mark.parametrize("name", HELPER_NAMES)
def test_a_block_named_like_a_helper_is_its_own_class(name):
    """`block conv_re_l_u(o, k)` is class ConvReLU, the name of the conv + ReLU helper: before the
    fix the helper replaced the block (616 params in the module, 808 in the table). Every layer's
    shape, params and multiply-adds must equal the analysis, with every helper in use."""
    text = f"""network t(a = relu, aux = true)
input 6x6x4
defaults conv(act = relu)
block {name}(o, k) {{ conv 1x1 o; conv 3x3 k bn=true; conv 1x1 k bn=true act=none }}
block head(n) {{ avgpool global; linear n }}
{name} 8 4
side head 3 if aux
conv 3x3 4 act=gelu
conv 3x3 4 act=a
avgpool 2x2/1
conv 1x1 4 pad=(0, 1, 1, 0)
"""
    net = _net(text)
    assert check_torch(net) == []
    assert net.rows[0].node.cost.params == BLOCK_PARAMS
    ns = load_source(generate(net), f"round2_{name}")
    # the imported and built-in names the generated code uses are still theirs
    assert ns["F"] is torch.nn.functional and ns["Tensor"] is torch.Tensor
    assert ns.get("ValueError", ValueError) is ValueError
    assert _params(build_module(net)) == net.totals(sides=True).params


def test_block_names_that_share_a_class_name_get_two_classes():
    """`a_b`, `aB` and `a__b` all read as class AB: three classes, each with its own body."""
    text = """network t
input 4x4x2
block a_b { conv 1x1 2 }
block aB { conv 1x1 3 }
block a__b { conv 1x1 4 }
a_b
aB
a__b
"""
    net = _net(text)
    assert check_torch(net) == []
    assert _params(build_module(net)) == (2 * 2 + 2) + (2 * 3 + 3) + (3 * 4 + 4) == 31


def test_a_network_parameter_named_like_a_block_class():
    """`network t(Blk = 4)` with `block blk(c)`: the class is not named after the argument (before
    the fix `Blk(...)` called the integer 4). T(Blk=6) follows the argument."""
    text = "network t(Blk = 4)\ninput 4x4x2\nblock blk(c) { conv 1x1 c }\nblk Blk\nconv 1x1 3\n"
    net = _net(text)
    assert check_torch(net) == []
    m = build_module(net, Blk=6)
    assert _params(m) == _net(text, Blk=6).totals().params == (2 * 6 + 6) + (6 * 3 + 3)


def test_a_block_named_f_leaves_torch_functional_alone():
    """`block f` is not class F: the AvgPool2dSame helper's F.pad still reaches torch (before the
    fix: AttributeError: type object 'F' has no attribute 'pad')."""
    text = "network t\ninput 5x5x2\nblock f { conv 1x1 3 }\nf\navgpool 2x2/1\n"
    net = _net(text)
    assert "F.pad" in generate(net)
    assert check_torch(net) == []
    m = build_module(net).eval()
    x = torch.randn(1, 2, 5, 5)
    with torch.no_grad():
        h = m.f(x)
        want = torch.nn.functional.avg_pool2d(
            torch.nn.functional.pad(h, (0, 1, 0, 1)), 2, 1, count_include_pad=False
        )
        # without counting the padding: the last row and column average fewer pixels
        want[..., -1, :-1] = (h[..., -1, :-1] + h[..., -1, 1:]) / 2
        want[..., :-1, -1] = (h[..., :-1, -1] + h[..., 1:, -1]) / 2
        want[..., -1, -1] = h[..., -1, -1]
        torch.testing.assert_close(m(x), want)


# ------------------------------------------------------------------------------------------------
# 9. Repeated linear and softmax rows in compile

REPEATS = {
    "flatten, 2 x linear": ("flatten\n2 x linear 4\n", (4,)),
    "2 x linear on a map": ("2 x linear 4\n", (4,)),
    "2 x linear act=relu": ("flatten\n2 x linear 4 act=relu\n", (4,)),
    "3 x linear bias=false": ("3 x linear 5 bias=false\nlinear 2\n", (2,)),
    "2 x softmax last": ("flatten\nlinear 4\n2 x softmax\n", (4,)),
    "2 x softmax then linear": ("flatten\n2 x softmax\nlinear 4\n", (4,)),
    "2 x linear, 2 x softmax": ("2 x linear 4\n2 x softmax\n", (4,)),
}


@pytest.mark.parametrize("case", sorted(REPEATS))
def test_repeated_linear_and_softmax_rows_build(case):
    """Before the fix `inspec compile` raised CodegenError for `2 x linear 4` and `2 x softmax`."""
    rows, out = REPEATS[case]
    net = _net("network t\ninput 2x2x3\n" + rows)
    assert check_torch(net) == []
    m = build_module(net).eval()
    with torch.no_grad():
        y = m(torch.randn(2, 3, 2, 2))
    assert tuple(y.shape) == (2, *out)
    assert _params(m) == net.totals().params


def test_repeated_linear_params_by_hand():
    net = _net("network t\ninput 2x2x3\n2 x linear 4\n")
    assert net.totals().params == (12 * 4 + 4) + (4 * 4 + 4) == 72


def test_repeated_softmax_in_the_middle_is_applied():
    """A repeated softmax that is not the last row is computed: softmax(softmax(z)) then linear."""
    net = _net("network t\ninput 1x1x3\n2 x softmax\nlinear 2\n")
    m = build_module(net).eval()
    x = torch.randn(4, 3, 1, 1)
    lin = next(mod for mod in m.modules() if isinstance(mod, nn.Linear))
    with torch.no_grad():
        want = lin(torch.softmax(torch.softmax(x.flatten(1), 1), 1))
        torch.testing.assert_close(m(x), want)


# ------------------------------------------------------------------------------------------------
# 10. Accepted by check, broken when built


def test_whole_number_division_passed_to_a_block():
    """`b w/2` passes 4.0 to the block: the module holds int(w / 2) = 4 channels (before the fix
    nn.Conv2d(2, 4.0) raised TypeError), and T(w=16) follows."""
    text = "network t(w = 8)\ninput 2x2x2\nblock b(c) { conv 1x1 c }\nb w/2\n"
    net = _net(text)
    assert check_torch(net) == []
    assert _params(build_module(net)) == 2 * 4 + 4
    assert _params(build_module(net, w=16)) == _net(text, w=16).totals().params == 2 * 8 + 8


def test_a_channel_sum_that_starts_with_int_is_made_whole():
    """The block's output, `(in * 2)/2 + p` with p = w/2, reaches the next conv as
    `int(18 / 2) + w / 2`: a float; it must be whole(...) like any sum with a division (before the
    fix the leading `int(` passed for a whole number and nn.Conv2d got 13.0). Found by
    scripts/differential."""
    text = (
        "network t(w = 8)\ninput 4x4x2\n"
        "block b(p) {\n  branch { conv 1x1 (in * 2)/2 }\n  branch { conv 1x1 p }\n}\n"
        "conv 1x1 9\nb w/2\nconv 1x1 4\n"
    )
    net = _net(text)
    assert check_torch(net) == []
    assert "whole(int(18 / 2) + w / 2)" in generate(net)
    assert _params(build_module(net, w=6)) == _net(text, w=6).totals().params


def test_names_read_only_inside_round_do_not_need_whole():
    """`round(96 * w) + round(64 * w) // g` is a whole number whatever w is (w is read only inside
    round) as long as g is: no whole(...) around it, and w = 0.5 reaches the block as it is (only g
    is converted by the caller)."""
    text = (
        "network t(w = 0.5)\ninput 4x4x8\n"
        "block b(w, g) { conv 1x1 round(96 * w) + round(64 * w) // g }\n"
        "b w 2\n"
    )
    net = _net(text)
    code = generate(net)
    assert "whole(" not in code
    assert "round(96 * w) + round(64 * w) // g" in code
    assert check_torch(net) == []
    assert _params(build_module(net, w=0.25)) == _net(text, w=0.25).totals().params


def test_network_named_torch_compiles_to_torch_net_py(tmp_path):
    """`network torch`: `inspec compile` writes torch_net.py, not a torch.py that shadows PyTorch for
    every script in that folder (and imports itself); the module imports and runs from there."""
    (tmp_path / "torch.isp").write_text("network torch\ninput 4x4x2\nconv 1x1 3\n")
    r = run_cli("compile", "torch.isp", "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "wrote torch_net.py"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["torch.isp", "torch_net.py"]
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            "import torch, torch_net; y = torch_net.Torch()(torch.zeros(1, 2, 4, 4)); "
            "print(tuple(y.shape), torch.__file__ != torch_net.__file__)",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "(1, 3, 4, 4) True"


# ------------------------------------------------------------------------------------------------
# 11. Compile time in block nesting: linear in the distinct block bodies, not in the paths


def _chain(depth: int) -> str:
    """b1 calls b2 calls ... b{depth}, each a conv and the next block."""
    lines = ["network chain", "input 4x4x4"]
    lines += [f"block b{k}(w) {{ conv 1x1 w; b{k + 1} w }}" for k in range(1, depth)]
    return "\n".join([*lines, f"block b{depth}(w) {{ conv 1x1 w }}", "b1 4"]) + "\n"


def _fan_out(depth: int) -> str:
    """f1 calls f2 twice, which calls f3 twice, ...: 2 ** (depth - 1) convs."""
    lines = ["network fan", "input 2x2x2"]
    lines += [f"block f{k}(w) {{ f{k + 1} w; f{k + 1} w }}" for k in range(1, depth)]
    return "\n".join([*lines, f"block f{depth}(w) {{ conv 1x1 w }}", "f1 2"]) + "\n"


@pytest.mark.parametrize(
    "text, layers",
    [(_chain(18), 18), (_chain(40), 40), (_fan_out(12), 2048)],
    ids=["chain18", "chain40", "fan_out12"],
)
def test_nested_blocks_compile_in_well_under_a_second(text, layers):
    """Issue 16 measured 28 s for a chain of 18 nested blocks and over 100 s for a binary fan-out of
    depth 12 (each block body was rendered once per path to it). Now each block class is rendered
    once: check and generate take well under a second of CPU time each."""
    import time

    t0 = time.process_time()
    net = _net(text)
    source = generate(net)
    elapsed = time.process_time() - t0
    assert len(list(net.body.layers())) == layers
    assert elapsed < 1.0, f"{elapsed:.2f} s"
    assert source.count("\nclass ") == text.count("block ") + 1  # one class per block, one network


def test_nested_fan_out_builds_as_analysed():
    assert check_torch(_net(_fan_out(6))) == []


# ---------------------------------------------------------------------------------------------------
# Found by the grown generators (docs/reliability.md, "Found by the grown generators, and fixed")


def _built(text: str, **params):
    import torch

    from inspec.analysis.elaborate import elaborate as _elaborate
    from inspec.backends.torch import build_module

    net = _elaborate(text=text, name="g.isp")
    assert net.ok, [d.message for d in net.diagnostics]
    module = build_module(net, **params).eval()
    x = torch.randn(2, net.input.c, net.input.h, net.input.w)
    return net, module, module(x)


def test_whole_number_floats_reach_pytorch_as_ints():
    net, m, y = _built(
        "network t(w = 6)\ninput 4x4x2\nblock b(c) { conv 1x1 c }\nb w/2\nconv 1x1 3\n"
    )
    assert sum(p.numel() for p in m.parameters()) == net.totals().params
    net, m, y = _built("network t(w = 0.5)\ninput 4x4x2\nconv 1x1 8 * w\nconv 1x1 3\n")
    assert m.conv1.out_channels == 4 and tuple(y.shape) == (2, 3, 4, 4)


def test_a_fraction_the_analysis_refuses_is_refused_by_the_module():
    import pytest

    _net, m, _y = _built("network t(w = 8)\ninput 2x2x2\nconv 1x1 w/2\n", w=6)
    assert m.conv.out_channels == 3
    with pytest.raises(ValueError, match=r"3\.5 is not a whole number"):
        _built("network t(w = 8)\ninput 2x2x2\nconv 1x1 w/2\n", w=7)


def test_a_fraction_an_expression_makes_whole_is_accepted():
    text = "network t(w = 2)\ninput 4x4x2\nblock b(p) { conv 1x1 (p * 2) }\nb w/2\n"
    _net, _m, y = _built(text, w=3)  # p = 1.5, p * 2 = 3 channels, as the analysis says
    assert y.shape[1] == 3


def test_a_branch_of_one_conditional_row_compiles():
    text = (
        "network t(extra = false)\ninput 1x1x2\nbranch { relu }\nbranch { conv 1x1 2 if extra }\n"
    )
    _net, m, y = _built(text)
    assert y.shape[1] == 4
    _net, m, _y = _built(text, extra=True)
    assert sum(p.numel() for p in m.parameters()) == 6


def test_a_branch_named_underscore_is_not_name_mangled():
    from inspec.backends.table import rows

    text = "network t(e = true)\ninput 4x4x2\nbranch _ { conv 1x1 2 if e; relu }\nbranch { relu }\n"
    net, m, _y = _built(text)
    paths = [tr.path for tr in rows(net, "layers")]
    assert paths[0] == "_.0" and "_.0.weight" in m.state_dict()
