"""Every shipped network's generated module compiles with torch.compile (dynamo, whole graph, no graph
breaks) and exports to ONNX, and onnxruntime gives the same outputs as torch within 1e-4.

The weights are re-drawn (Kaiming normal, biases and batch-norm statistics random) so that the outputs
are of order one: with the specs' small initialisations the logits are tiny and any tolerance would pass.
(`tests/test_codegen.py` also runs the inductor backend on a small spec.)
"""

import warnings

import numpy as np
import onnxruntime as ort
import pytest
import torch
from torch import nn

from inspec.analysis.elaborate import elaborate
from inspec.backends.torch import build_module
from tests.conftest import ROOT

SPECS = sorted(ROOT.glob("specs/*.isp"))


def _model(path):
    net = elaborate(path=str(path))
    assert net.ok
    torch.manual_seed(0)
    m = build_module(net).eval()
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(mod.weight)
                if mod.bias is not None:
                    mod.bias.uniform_(-0.1, 0.1)
            elif isinstance(mod, nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.2, 0.2)
                mod.running_var.uniform_(0.5, 2.0)
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.uniform_(-0.2, 0.2)
    x = torch.randn(1, net.input.c, net.input.h, net.input.w)
    with torch.no_grad():
        want = m(x)
    assert 0.01 < float(want.abs().max()) < 1e6, "outputs must be of a meaningful size"
    return m, x, want


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_torch_compile_whole_graph(path):
    m, x, want = _model(path)
    compiled = torch.compile(m, backend="aot_eager", fullgraph=True)
    with torch.no_grad():
        got = compiled(x)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5 * float(want.abs().max()))


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_onnx_export_matches_onnxruntime(path, tmp_path):
    m, x, want = _model(path)
    out = tmp_path / f"{path.stem}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(m, (x,), str(out), input_names=["x"], output_names=["y"])
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (got,) = sess.run(None, {"x": x.numpy()})
    scale = max(1.0, float(want.abs().max()))
    assert np.abs(got - want.numpy()).max() <= 1e-4 * scale
