"""The code templates take defaults and activations from the op registry, not from copies of their own.

A template leaves an argument out of a constructor call when it equals the registry's default, so that
default must also be the callee's: PyTorch's for nn.Conv2d, nn.BatchNorm2d and nn.Linear, the generated
signature's for the helper classes (which the templates render from the registry too). The activation
words are one table (inspec.analysis.ops.ACTIVATIONS); the templates hold no activation of their own.
"""

from __future__ import annotations

import inspect

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from inspec.analysis.elaborate import elaborate
from inspec.analysis.ops import ACTIVATIONS, OPS, Activation
from inspec.backends.torch import build_module, generate, load_source
from inspec.backends.torch.generator import TEMPLATES, environment

# (op, attribute) defaults that the templates leave out of a call to a PyTorch constructor
OMITTED = [
    ("conv", "stride", nn.Conv2d, "stride"),
    ("conv", "dilation", nn.Conv2d, "dilation"),
    ("conv", "groups", nn.Conv2d, "groups"),
    ("conv", "bias", nn.Conv2d, "bias"),
    ("bn", "eps", nn.BatchNorm2d, "eps"),
    ("bn", "momentum", nn.BatchNorm2d, "momentum"),
    ("bn", "eps", nn.BatchNorm1d, "eps"),
    ("bn", "momentum", nn.BatchNorm1d, "momentum"),
    ("linear", "bias", nn.Linear, "bias"),
]


@pytest.mark.parametrize("op, attr, cls, arg", OMITTED, ids=lambda v: getattr(v, "__name__", v))
def test_registry_defaults_that_templates_omit_are_pytorchs(op, attr, cls, arg):
    assert OPS[op].default(attr) == inspect.signature(cls).parameters[arg].default


HELPERS = """network helpers(batch_norm = true, a = relu)
input 8x8x4
conv 3x3 8 bn=batch_norm act=a
conv 3x3 8 bn=true act=relu
"""


def test_generated_helper_signatures_default_to_the_registry():
    net = elaborate(text=HELPERS)
    assert net.ok, net.diagnostics
    classes = load_source(generate(net), "helpers_signatures")
    conv = OPS["conv"]
    norm_act = inspect.signature(classes["ConvNormAct"]).parameters
    for name in ("stride", "bn", "act", "eps", "momentum"):
        assert norm_act[name].default == conv.default(name), name
    unit = inspect.signature(classes["ConvBNReLU"]).parameters
    for name in ("stride", "momentum"):
        assert unit[name].default == conv.default(name), name
    # a row at the defaults leaves them out, and the module it builds has them
    model = build_module(net)
    assert model.conv1.conv.stride == (1, 1) and model.conv1.conv.dilation == (1, 1)
    assert model.conv1.bn.momentum == conv.default("momentum")
    assert model.conv2.bn.momentum == conv.default("momentum")


def test_templates_name_no_activation():
    """Activation words live in the registry only ("none", every act's default, is the identity the
    templates test for; init.j2's kaiming init names PyTorch's nonlinearity, not a word of ours)."""
    texts = {
        name: (TEMPLATES / name).read_text(encoding="utf-8") for name in ("ops.j2", "helpers.j2")
    }
    for name in ACTIVATIONS:
        if name == "none":
            continue
        for template, text in texts.items():
            assert f'"{name}"' not in text, f"{template} names the activation {name!r}"


def test_an_activation_added_to_the_registry_reaches_every_template(monkeypatch):
    word = Activation("mish", "F.mish({})", "nn.Mish()", "Mish")
    monkeypatch.setitem(ACTIVATIONS, "mish", word)
    env = environment()
    ops = env.get_template("ops.j2").module
    helpers = env.get_template("helpers.j2").module
    assert str(ops.act("mish", "x")).strip() == "F.mish(x)"
    assert str(helpers.conv_unit_name(True, "mish", 1e-5)).strip() == "ConvBNMish"
    function = str(helpers.activation("activation"))
    assert 'if act == "mish":\n        return nn.Mish()' in function
    words = "none, relu, relu6, tanh, sigmoid, gelu, silu, hardswish, hardsigmoid, mish."
    assert f"One of: {words}" in function


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_forms_compute_the_same(name):
    """The functional form (a fixed activation, applied inline) and the module form (one a parameter
    chooses) of each word compute the same function, in the registry and in compiled networks."""
    a = ACTIVATIONS[name]
    scope = {"torch": torch, "F": F, "nn": nn}
    x = torch.linspace(-8, 8, 97)
    functional = eval(a.functional.format("x.clone()"), scope, {"x": x})
    module = eval(a.module, scope)(x.clone())
    torch.testing.assert_close(functional, module)

    chosen = f"network t(a = {name})\ninput 3x3x2\nconv 1x1 2 act=a\nlinear 3 act=a\n"
    fixed = f"network t\ninput 3x3x2\nconv 1x1 2 act={name}\nlinear 3 act={name}\n"
    by_param = build_module(elaborate(text=chosen))
    inline = build_module(elaborate(text=fixed))
    pairs = list(zip(inline.parameters(), by_param.parameters(), strict=True))
    with torch.no_grad():
        for p, q in pairs:
            p.copy_(q)  # the same weights (a fixed "none" conv is a bare nn.Conv2d: other names)
    x = torch.randn(2, 2, 3, 3) * 4
    torch.testing.assert_close(by_param(x.clone()), inline(x.clone()))
