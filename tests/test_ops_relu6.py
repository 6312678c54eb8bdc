"""The relu6 row: its shape rule, its table row and the module it compiles to."""

import torch
from torch import nn

from inspec.analysis.elaborate import elaborate
from inspec.backends.table import render_text
from inspec.backends.torch import build_module, generate

SPEC = """network mobile
input 8x8x3
conv (stem) 3x3/2 16
relu6
conv (proj) 1x1 8
"""


def test_relu6_row_keeps_the_shape_and_clamps_to_0_6():
    net = elaborate(text=SPEC)
    assert net.ok, [d.message for d in net.diagnostics]
    row = net.rows[1].node
    assert row.in_shape == row.out_shape == net.rows[0].node.out_shape
    assert "relu6" in render_text(net, "rows", net.units)
    assert "nn.ReLU6(inplace=True)" in generate(net)  # in place: it reads the conv's fresh output
    model = build_module(net).eval()
    assert sum(isinstance(m, nn.ReLU6) for m in model.modules()) == 1
    x = torch.randn(2, 3, 8, 8) * 10
    with torch.no_grad():
        want = model.proj(torch.clamp(model.stem(x), 0, 6))
        torch.testing.assert_close(model(x), want)
