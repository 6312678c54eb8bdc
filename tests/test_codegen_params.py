"""Honest constructor arguments: a module compiled once, with the spec's defaults, and instantiated with
other network parameters either follows them (its parameter count and output shape equal the analysis
with those values) or rejects them with a ValueError that says how to recompile. Never ignores them.

Heavy checks run on the meta device (no memory, no arithmetic): shapes and parameter counts only.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest
import torch
from torch import nn

from inspec.analysis.elaborate import elaborate
from inspec.analysis.values import Symbol
from inspec.backends.torch import generate, load_source, network_class_name
from tests.test_codegen import IDS, ROOT, SPECS

ACTS = ("none", "relu", "relu6", "tanh", "sigmoid", "gelu", "silu")


def _params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def _compiled(net):
    """The network class of the module generated for `net`'s compiled (default) values."""
    source = generate(net)
    return load_source(source, f"params_{net.name}")[network_class_name(source)], source


def _analysis(net, **params):
    """The spec elaborated with other parameter values (as `inspec table -p` does)."""
    values = {k: Symbol(v) if isinstance(v, str) else v for k, v in params.items()}
    other = elaborate(path=net.file, params=values) if os.path.isfile(net.file) else None
    if other is None:
        other = elaborate(text=net.sources[net.file], params=values, name=net.file)
    return other


def _alternatives(value):
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, int):
        return sorted({value + 1, 2 * value} - {value})
    if isinstance(value, float):
        return [value / 2]
    word = str(value)
    if word in ACTS:
        return ["none" if word != "none" else "relu"]
    return []


def _check_follows_or_rejects(net, cls, name, value):
    """The module built with name=value from the default-compiled class, against the analysis."""
    other = _analysis(net, **{name: value})
    if not other.ok:
        return "analysis rejects"
    x = torch.empty(1, net.input.c, net.input.h, net.input.w, device="meta")
    with torch.device("meta"):
        try:
            m = cls(**{name: value})
        except ValueError as e:
            assert f"-p {name}=" in str(e) and "compiled for" in str(e), str(e)
            return "rejected"
        assert _params(m) == other.totals(sides=True).params, (name, value)
        y = m.eval()(x)
    c = other.output
    assert tuple(y.shape) == ((1, c.c) if c.flat else (1, c.c, c.h, c.w)), (name, value)
    return "follows"


@pytest.mark.parametrize("path", SPECS, ids=IDS)
def test_every_constructor_argument_is_followed_or_rejected(path):
    net = elaborate(path=path)
    cls, _ = _compiled(net)
    for p in net.params:
        for value in _alternatives(p.default):
            _check_follows_or_rejects(net, cls, p.name, value)


def _written(tmp_path, spec: str):
    """`inspec compile` once, with the defaults, then import the written file."""
    net = elaborate(path=str(ROOT / spec))
    out = tmp_path / (Path(spec).stem + "_module.py")
    out.write_text(generate(net), encoding="utf-8")
    mod_spec = importlib.util.spec_from_file_location(out.stem, out)
    module = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(module)
    return net, module


@pytest.mark.parametrize(
    "spec, cls_name, convs, with_bn",
    [("specs/vgg16.isp", "Vgg16", 13, 138_365_992), ("specs/vgg19.isp", "Vgg19", 16, 143_678_248)],
)
def test_vgg_batch_norm_from_the_written_file(tmp_path, spec, cls_name, convs, with_bn):
    net, module = _written(tmp_path, spec)
    assert _analysis(net, batch_norm=True).totals().params == with_bn
    torch.manual_seed(0)
    m = getattr(module, cls_name)(batch_norm=True)
    assert _params(m) == with_bn
    assert sum(isinstance(mod, nn.BatchNorm2d) for mod in m.modules()) == convs
    assert any(k.endswith(".bn.running_var") for k in m.state_dict())
    m.eval()
    with torch.no_grad():
        y = m(torch.randn(1, 3, 224, 224))
    assert tuple(y.shape) == (1, 1000) and torch.isfinite(y).all()
    plain = getattr(module, cls_name)()
    assert _params(plain) == net.totals().params
    assert not any(isinstance(mod, nn.BatchNorm2d) for mod in plain.modules())
    del m, plain


REPEAT = """
network rep(n = 2, width = 8, num_classes = 4)
input 16x16x3
block res(c) {
  residual act=relu {
    conv 3x3 c act=relu
    conv 3x3 in
  }
}
conv 3x3 width act=relu
n x res 4
avgpool global
linear num_classes
"""


def test_parameter_repeat_count_builds_n_copies():
    net = elaborate(text=REPEAT, name="rep.isp")
    assert net.ok, [d.message for d in net.diagnostics]
    cls, source = _compiled(net)
    assert "for _ in range(n)" in source
    for n, width in ((1, 8), (2, 8), (5, 8), (3, 16)):
        m = cls(n=n, width=width)
        assert len(m.res) == n
        other = _analysis(net, n=n, width=width)
        assert other.ok
        assert _params(m) == other.totals().params
        assert tuple(m(torch.randn(2, 3, 16, 16)).shape) == (2, 4)


def test_repeat_whose_instances_differ_fixes_the_count():
    text = """
network rep2(n = 2, w = 4)
input 8x8x3
conv 3x3 4
n x conv 3x3 w
avgpool global
linear 2
"""
    net = elaborate(text=text, name="rep2.isp")
    assert net.ok
    cls, source = _compiled(net)
    assert "range(n)" not in source and "if n != 2:" in source
    assert _params(cls()) == net.totals().params
    with pytest.raises(ValueError, match=r"compiled for n=2, got 3.*-p n="):
        cls(n=3)


ACT = """
network acts(a = relu, batch_norm = false)
input 8x8x3
defaults conv(act = a, bn = batch_norm)
conv 3x3 6
conv 1x1 6 act=none
avgpool global
linear (fc) 5 act=a
"""


def test_activation_word_parameter_is_passed_as_a_string():
    net = elaborate(text=ACT, name="acts.isp")
    assert net.ok
    cls, source = _compiled(net)
    assert 'a: str = "relu"' in source and "activation(a)" in source
    x = torch.randn(2, 3, 8, 8)
    kinds = {"none": nn.Identity, "relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}
    for word, kind in kinds.items():
        for bn in (False, True):
            m = cls(a=word, batch_norm=bn).eval()
            assert isinstance(m.conv1.act, kind) and isinstance(m.fc_act, kind)
            assert isinstance(m.conv2.act, nn.Identity)  # the row's own act=none wins
            assert (m.conv1.bn is not None) == bn
            assert _params(m) == _analysis(net, a=word, batch_norm=bn).totals().params
            h = m.conv1(x)
            if word == "relu":
                assert h.min() >= 0
            elif word == "tanh":
                assert h.abs().max() < 1
            elif word == "none":
                assert h.min() < 0
            assert tuple(m(x).shape) == (2, 5)
    with pytest.raises(ValueError, match="unknown activation 'bogus'"):
        cls(a="bogus")


def test_structural_arguments_the_code_cannot_follow_are_rejected():
    text = """
network fixed(s = 2, p = valid, big = false, batch_norm = true)
input 16x16x3
defaults conv(bn = batch_norm, act = relu)
block unit(c) { conv 3x3 c }
conv 3x3/1 8 stride=s
maxpool 3x3/2 p
conv 3x3 8 if big
unit 8
avgpool global
linear 3
"""
    net = elaborate(text=text, name="fixed.isp")
    assert net.ok, [d.message for d in net.diagnostics]
    cls, _ = _compiled(net)
    m = cls()
    assert _params(m) == net.totals().params
    # a conditional row follows its flag
    assert _params(cls(big=True)) == _analysis(net, big=True).totals().params
    # stride and padding set spatial sizes the code takes from the compiled instance
    with pytest.raises(ValueError, match=r"compiled for s=2, got 1.*-p s="):
        cls(s=1)
    with pytest.raises(ValueError, match=r"compiled for p=valid, got 'same'"):
        cls(p="same")
    # a network parameter reaching a block through `defaults`: the block cannot see it
    with pytest.raises(ValueError, match=r"compiled for batch_norm=true, got False"):
        cls(batch_norm=False)


def test_block_arguments_are_honest_too():
    text = """
network blk(a = relu)
input 8x8x3
block unit(c, act, s) { conv 3x3 c act=act stride=s }
unit 4 a 1
unit 4 relu 2
avgpool global
linear 3
"""
    net = elaborate(text=text, name="blk.isp")
    assert net.ok, [d.message for d in net.diagnostics]
    cls, source = _compiled(net)
    ns = load_source(source, "blk_mod")
    # the activation is an argument of the block class; the stride is fixed per class
    assert "act=act" in source and "if s != 1:" in source and "if s != 2:" in source
    with pytest.raises(ValueError, match="compiled for s=1, got 2"):
        ns["Unit"](3, 4, "relu", 2)
    m = cls(a="tanh")
    assert isinstance(m.unit1.conv.act, nn.Tanh)
    assert _params(m) == net.totals().params


@pytest.mark.parametrize("text", [REPEAT, ACT], ids=["repeat", "act"])
def test_small_specs_follow_or_reject_every_argument(text):
    net = elaborate(text=text, name="small.isp")
    cls, _ = _compiled(net)
    seen = set()
    for p in net.params:
        for value in _alternatives(p.default):
            seen.add(_check_follows_or_rejects(net, cls, p.name, value))
    assert seen == {"follows"}


CHANNEL_RULES = [
    (  # a split that no longer divides: the module would split 5 channels 3 + 2
        "network t(w = 4)\ninput 8x8x3\nconv 1x1 w\nsplit {\n  branch { }\n  branch { conv 1x1 2 }\n}\n",
        {"w": 5},
        "split: 2 branches do not share the 5 input channels evenly",
        "t.isp:4: split: {w} channels do not split into 2 equal parts",
    ),
    (  # a residual whose body no longer gives the skip's channels: forward would fail
        "network t(width = 8)\ninput 8x8x3\nconv 1x1 width\nresidual { conv 1x1 8 }\n",
        {"width": 10},
        "residual add: the body gives a different channel count than its input",
        "t.isp:4: residual: the skip brings {width} channels, the body gives 8",
    ),
    (  # a block's grouped conv, the groups a network parameter
        "network t(g = 2)\ninput 8x8x3\nblock b(groups) {\n  conv 3x3 6 groups=groups\n}\n"
        "conv 1x1 6\nb g\n",
        {"g": 4},
        "groups=4 does not divide the 6 input channels",
        "t.isp:4: groups={g} does not divide the 6 input channels",
    ),
    (  # an add whose branches no longer agree
        "network t(w = 4)\ninput 8x8x3\nadd {\n  branch { conv 1x1 w }\n  branch { conv 1x1 4 }\n}\n",
        {"w": 6},
        "branches to add give a different channel count",
        "t.isp:3: add: branch1 gives {w} channels, branch2 4",
    ),
    (  # a network's conditional row: it must keep the width whichever way it is switched
        "network t(w = 4, on = true)\ninput 8x8x3\nconv 1x1 w\nconv 1x1 4 if on\nrelu\n",
        {"w": 6},
        "a conditional row must keep its input's shape",
        "t.isp:4: a conditional row must keep its input's channels: {w} in, 4 out",
    ),
]


@pytest.mark.parametrize("text,values,analysis,message", CHANNEL_RULES)
def test_constructor_checks_channel_rules(text, values, analysis, message):
    """Values the analysis refuses because a merge, a grouped conv or a conditional row no longer
    fits its channels: the module compiled with the defaults refuses them too, saying where."""
    net = elaborate(text=text, name="t.isp")
    assert net.ok, [d.message for d in net.diagnostics]
    other = _analysis(net, **values)
    assert [d.message for d in other.diagnostics if d.is_error] == [analysis]
    cls, source = _compiled(net)
    assert f'f"{message}"' in source, source
    cls()  # the compiled values pass
    shown = message.replace("{" + next(iter(values)) + "}", str(next(iter(values.values()))))
    with pytest.raises(ValueError) as e:
        cls(**values)
    assert str(e.value) == shown
