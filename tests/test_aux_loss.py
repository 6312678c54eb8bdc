"""A side head's loss weight (`side ... loss_weight=W`): in the IR, in the table, and in the generated
outputs tuple's loss(), which adds each present side head's loss times its weight."""

import json
import re

import pytest
import torch
import torch.nn.functional as F

import inspec
from inspec.backends.table import render_csv, render_json, render_text
from inspec.backends.torch import generate
from tests.conftest import SPECS

SPEC = """network weighted(num_classes = 5, w = 0.3, second = true)
input 16x16x3
block head(n) {
  avgpool global
  linear n
}
conv (stem) 3x3 8 act=relu
side head (a1) num_classes loss_weight=w
side head (a2) num_classes if second
side head (a3) num_classes loss_weight=0
avgpool global
linear (fc) num_classes
"""


def test_the_shipped_specs_carry_the_weights_of_their_papers():
    def weights(spec):
        return {s.name: s.loss_weight for s in inspec.load(SPECS / spec).ir.sides}

    assert weights("googlenet.isp") == {"aux1": 0.3, "aux2": 0.3}  # GoogLeNet, Section 5
    assert weights("googlenet_bn.isp") == {"aux1": 0.3, "aux2": 0.3}
    assert weights("zoo/inception_v3.isp") == {"AuxLogits": 0.4}  # TF-slim's training
    (direct,) = inspec.load(SPECS / "examples/bottleneck.isp").ir.sides
    assert (direct.loss_weight, direct.loss_weight_expr) == (1.0, None)  # not written: 1


def test_weight_reads_a_parameter_and_leaves_the_head_alone():
    net = inspec.load(SPEC).ir
    assert net.ok
    a1, a2, a3 = net.sides
    assert (a1.loss_weight, a2.loss_weight, a3.loss_weight) == (0.3, 1.0, 0.0)
    assert inspec.load(SPEC, w=0.5).ir.sides[0].loss_weight == 0.5
    # the keyword is the side row's, not the head's: the block `head` never sees it
    assert a1.head.args == {"n": 5} and a1.head.out_shape.as_list() == [1, 1, 5]


def test_table_prints_the_weights_in_every_format():
    net = inspec.load(SPECS / "googlenet.isp").ir
    text = render_text(net, "rows", "paper")
    assert "loss weights: aux1 0.3, aux2 0.3 (the training loss adds" in text
    csv_lines = render_csv(net).splitlines()
    assert csv_lines[0].endswith(",side,active,loss_weight")
    aux1 = next(line for line in csv_lines if line.startswith("aux1,"))
    assert aux1.endswith(",1,1,0.3")
    data = json.loads(render_json(net))
    assert data["loss_weights"] == {"aux1": 0.3, "aux2": 0.3}
    assert {r["name"] for r in data["rows"] if r["side"]} == set(data["loss_weights"])
    plain = inspec.load(SPECS / "lenet5.isp").ir  # no side heads: no column, no line
    assert "loss_weight" not in render_csv(plain) and "loss weights" not in render_text(plain)
    assert "loss_weights" not in json.loads(render_json(plain))


def test_loss_is_main_plus_weighted_side_losses():
    torch.manual_seed(0)
    model = inspec.build(SPEC).train()
    x, y = torch.randn(4, 3, 16, 16), torch.tensor([0, 1, 2, 3])
    out = model(x)
    assert out._fields == ("logits", "a1", "a2", "a3")
    want = F.cross_entropy(out.logits, y) + 0.3 * F.cross_entropy(out.a1, y)
    want = want + F.cross_entropy(out.a2, y)  # a3 weighs 0: not in the loss
    torch.testing.assert_close(out.loss(y), want)
    # another criterion, and a head switched off (None) adds nothing
    off = inspec.build(SPEC, second=False).train()
    out = off(x)
    assert out.a2 is None
    smooth = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
    torch.testing.assert_close(
        out.loss(y, criterion=smooth), smooth(out.logits, y) + 0.3 * smooth(out.a1, y)
    )
    out.loss(y).backward()  # the side heads get gradients through loss()
    assert all(p.grad is not None for n, p in off.named_parameters() if n.startswith("a1."))


def test_generated_weights_are_literals_stated_in_the_docstring():
    code = generate(inspec.load(SPEC).ir)
    assert "loss = loss + 0.3 * criterion(self.a1, target)" in code
    assert "loss = loss + criterion(self.a2, target)" in code
    assert "# a3: weight 0, not in the loss" in code
    assert "a1 0.3, a2 1, a3 0." in " ".join(code.split())  # as the table states them
    compile(code, "<generated>", "exec")
    # a weight read from a parameter is the compiled value: another value is refused
    with pytest.raises(ValueError, match=r"compiled for w=0\.3"):
        type(inspec.build(SPEC))(w=0.5)


def test_the_weight_does_not_change_the_module():
    """The trunk, the heads and forward are the same with or without weights: only the outputs
    tuple's loss() differs (a weight read from a parameter adds the constructor's guard)."""
    spec = SPEC.replace("loss_weight=w", "loss_weight=0.3")
    bare = re.sub(r" loss_weight=\S+", "", spec)
    with_w, without = generate(inspec.load(spec).ir), generate(inspec.load(bare).ir)
    cls = "\nclass Weighted(nn.Module):"
    assert with_w[with_w.index(cls) :] == without[without.index(cls) :]
    assert "0.3 * criterion" not in without
    torch.manual_seed(1)
    a = inspec.build(spec).eval()
    b = inspec.build(bare).eval()
    b.load_state_dict(a.state_dict(), strict=True)
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(a(x), b(x))


def test_googlenet_training_output_loss():
    torch.manual_seed(0)
    model = inspec.build(SPECS / "googlenet.isp", num_classes=7).train()
    x, y = torch.randn(2, 3, 224, 224), torch.tensor([1, 6])
    with torch.no_grad():
        out = model(x)
        want = F.cross_entropy(out.logits, y)
        want = want + 0.3 * F.cross_entropy(out.aux1, y) + 0.3 * F.cross_entropy(out.aux2, y)
        torch.testing.assert_close(out.loss(y), want)
        model.eval()
        assert isinstance(model(x), torch.Tensor)  # eval mode: the logits only, as before


def test_bad_weights_are_errors_with_spans():
    bad = SPEC.replace("loss_weight=w", "loss_weight=-1")
    net = inspec.load(bad).ir
    (err,) = [d for d in net.diagnostics if d.is_error]
    assert err.message == "side head's loss_weight must be at least 0, got -1"
    line = bad.splitlines()[err.span.line - 1]
    assert line[err.span.col - 1 : err.span.end_col - 1] == "-1"
