"""The classic CNN specs against the reference figures (../shared/reference/REFERENCE.md section 4-5)
and the hand-computed numbers of the source notes (../shared/seeds/).

Expected numbers are copied from REFERENCE.md or computed here by hand, never from inspec's output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import inspec
from inspec.analysis import ir
from tests.specs_util import ROOT, SPECS, load, rows
from tests.specs_util import forward_modes as _forward


def layers(net: ir.Network, op: str | None = None) -> list[ir.Layer]:
    return [layer for _, layer in net.body.layers() if op is None or layer.op.name == op]


def trunk_shapes(net: ir.Network, ops=("conv", "maxpool", "avgpool")) -> list[str]:
    return [str(layer.out_shape) for layer in layers(net) if layer.op.name in ops]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "inspec", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
    )


# ------------------------------------------------------------------------------------------------
# LeNet-5 (REFERENCE.md 4.3)


def test_lenet5():
    net = load("lenet5.isp")
    t = net.totals()
    assert t.params == 61_706
    assert t.ops == 416_520
    assert str(net.input) == "32x32x1"
    assert trunk_shapes(net) == ["28x28x6", "14x14x6", "10x10x16", "5x5x16", "1x1x120"]
    r = rows(net)
    # by hand: C1 6*(25+1); C3 16*(6*25+1); C5 120*(16*25+1); F6 84*(120+1); output 10*(84+1)
    assert [r[n].cost.params for n in ("c1", "c3", "c5", "f6", "output")] == [
        6 * 26,
        16 * 151,
        120 * 401,
        84 * 121,
        10 * 85,
    ]
    # the original's C1 count is unchanged (156); C3 (full) 2,416 vs the partial table's 1,516
    assert r["c1"].cost.params == 156
    # the 1998 C3 sees 60 input maps in all (1,516 params); the full C3 sees 16 * 6 = 96: 36 * 25 more
    assert r["c3"].cost.params - 1_516 == 36 * 25


# ------------------------------------------------------------------------------------------------
# AlexNet 2012 (REFERENCE.md 4.1, 4.2; the notes: conv1 (227-11)/4+1 = 55, 35K params, pool 27x27x96)


@pytest.fixture(scope="module")
def alexnet() -> ir.Network:
    return load("alexnet.isp")


def test_alexnet_totals(alexnet):
    t = alexnet.totals()
    assert t.params == 60_965_224
    assert t.ops == 724_406_816
    convs = layers(alexnet, "conv")
    fcs = layers(alexnet, "linear")
    assert sum(c.cost.params for c in convs) == 2_334_080
    assert sum(f.cost.params for f in fcs) == 58_631_144


def test_alexnet_notes_conv1(alexnet):
    r = rows(alexnet)
    conv1 = r["conv1"]
    assert str(alexnet.input) == "227x227x3"
    assert (227 - 11) // 4 + 1 == 55 and (227 - 11) % 4 == 0  # the notes' arithmetic
    assert str(conv1.out_shape) == "55x55x96"
    assert conv1.cost.weights == 34_848 == 96 * 11 * 11 * 3
    assert conv1.cost.params == 34_848 + 96
    assert round(conv1.cost.weights / 1000) == 35  # the notes' "35K"
    pool1 = r["pool1"]
    assert str(pool1.out_shape) == "27x27x96" and pool1.cost.params == 0


def test_alexnet_table_cli():
    text = cli("table", "specs/alexnet.isp")
    assert text.returncode == 0, text.stderr
    line = next(x for x in text.stdout.splitlines() if "(conv1)" in x)
    assert "11x11/4" in line and "55x55x96" in line and "34,944" in line and "34,848" in line
    pool = next(x for x in text.stdout.splitlines() if "(pool1)" in x)
    assert "27x27x96" in pool
    data = json.loads(cli("table", "specs/alexnet.isp", "-f", "json").stdout)
    by_label = {row["label"]: row for row in data["rows"]}
    assert by_label["conv1"]["weights"] == 34_848 and by_label["conv1"]["params"] == 34_944
    assert by_label["conv1"]["output"] == [55, 55, 96]
    assert by_label["pool1"]["params"] == 0 and by_label["pool1"]["output"] == [27, 27, 96]
    assert data["totals"]["params"] == 60_965_224


def test_alexnet_layers(alexnet):
    r = rows(alexnet)
    # REFERENCE.md 4.2, right column: weights + biases per layer
    want = {
        "conv1": (34_848, 96),
        "conv2": (307_200, 256),
        "conv3": (884_736, 384),
        "conv4": (663_552, 384),
        "conv5": (442_368, 256),
        "fc6": (37_748_736, 4_096),
        "fc7": (16_777_216, 4_096),
        "fc8": (4_096_000, 1_000),
    }
    for name, (w, b) in want.items():
        assert (r[name].cost.weights, r[name].cost.params - r[name].cost.weights) == (w, b), name
    assert [r[n].attrs["groups"] for n in ("conv1", "conv2", "conv3", "conv4", "conv5")] == [
        1,
        2,
        1,
        2,
        2,
    ]
    assert trunk_shapes(alexnet) == [
        "55x55x96",
        "27x27x96",
        "27x27x256",
        "13x13x256",
        "13x13x384",
        "13x13x384",
        "13x13x256",
        "6x6x256",
    ]
    for n in ("norm1", "norm2"):
        a = r[n].attrs
        assert (a["size"], a["alpha"], a["beta"], a["k"]) == (5, 1e-4, 0.75, 2.0)
    assert [r[n].attrs["p"] for n in ("drop6", "drop7")] == [0.5, 0.5]
    for n in ("pool1", "pool2", "pool5"):
        assert r[n].attrs["kernel"] == (3, 3) and r[n].attrs["stride"] == 2  # overlapping
    # "650,000 neurons": ReLU outputs of the conv and FC layers = 659,272
    neurons = sum(
        layer.out_shape.numel for layer in layers(alexnet) if layer.op.name in ("conv", "linear")
    )
    assert neurons == 659_272


# ------------------------------------------------------------------------------------------------
# ZFNet (REFERENCE.md 4.4)


def test_zfnet():
    net = load("zfnet.isp")
    t = net.totals()
    assert t.params == 62_357_608
    assert t.ops == 1_168_032_896
    r = rows(net)
    assert r["conv1"].cost.weights == 14_112
    assert r["conv1"].attrs["kernel"] == (7, 7) and r["conv1"].attrs["stride"] == 2
    assert r["conv1"].attrs["out"] == 96
    assert trunk_shapes(net) == [
        "110x110x96",
        "55x55x96",
        "26x26x256",
        "13x13x256",
        "13x13x384",
        "13x13x384",
        "13x13x256",
        "6x6x256",
    ]
    want = {
        "conv1": (14_112, 96),
        "conv2": (614_400, 256),
        "conv3": (884_736, 384),
        "conv4": (1_327_104, 384),
        "conv5": (884_736, 256),
        "fc6": (37_748_736, 4_096),
        "fc7": (16_777_216, 4_096),
        "fc8": (4_096_000, 1_000),
    }
    for name, (w, b) in want.items():
        assert (r[name].cost.weights, r[name].cost.params - r[name].cost.weights) == (w, b), name


# ------------------------------------------------------------------------------------------------
# VGG (REFERENCE.md 4.1)


@pytest.mark.parametrize(
    "spec, bn, params, conv_params, macs, n_conv",
    [
        ("vgg16.isp", False, 138_357_544, 14_714_688, 15_470_264_320, 13),
        ("vgg16.isp", True, 138_365_992, 14_723_136, 15_470_264_320, 13),
        ("vgg19.isp", False, 143_667_240, 20_024_384, 19_632_062_464, 16),
        ("vgg19.isp", True, 143_678_248, 20_035_392, 19_632_062_464, 16),
    ],
)
def test_vgg(spec, bn, params, conv_params, macs, n_conv):
    net = load(spec, batch_norm=bn)
    t = net.totals()
    assert t.params == params
    assert t.ops == macs
    convs = layers(net, "conv")
    assert len(convs) == n_conv and len(layers(net, "linear")) == 3
    assert all(c.attrs["kernel"] == (3, 3) and c.attrs["stride"] == 1 for c in convs)
    assert all(str(c.attrs["padding"]) == "1" and c.attrs["bias"] for c in convs)
    assert all(c.attrs["bn"] is bn for c in convs)
    assert sum(c.cost.params for c in convs) == conv_params
    assert sum(f.cost.params for f in layers(net, "linear")) == 123_642_856
    pools = [str(p.out_shape) for p in layers(net, "maxpool")]
    assert pools == ["112x112x64", "56x56x128", "28x28x256", "14x14x512", "7x7x512"]


def test_vgg_paper_table2_millions():
    # Table 2 of the VGG paper: D 138M, E 144M
    assert round(load("vgg16.isp").totals().params / 1e6) == 138
    assert round(load("vgg19.isp").totals().params / 1e6) == 144


# ------------------------------------------------------------------------------------------------
# The 1x1 bottleneck example (REFERENCE.md 5; the notes: 120M vs 12.4M)


def test_bottleneck():
    net = load("examples/bottleneck.isp")
    r = rows(net)
    direct, bottleneck = r["direct"], r["bottleneck"]
    assert isinstance(direct, ir.Side)
    assert str(net.input) == "28x28x192"
    assert str(direct.out_shape) == str(bottleneck.out_shape) == "28x28x32"
    assert direct.cost.ops == 120_422_400 == 28 * 28 * 32 * 5 * 5 * 192
    assert direct.cost.weights == 153_600
    reduce_, conv5 = [layer for _, layer in bottleneck.layers()]
    assert reduce_.cost.ops == 2_408_448 and reduce_.attrs["kernel"] == (1, 1)
    assert str(reduce_.out_shape) == "28x28x16"
    assert conv5.cost.ops == 10_035_200
    assert bottleneck.cost.ops == net.totals().ops == 12_443_648
    assert bottleneck.cost.weights == 15_872
    assert round(direct.cost.ops / bottleneck.cost.ops, 3) == 9.677
    text = cli("table", "specs/examples/bottleneck.isp").stdout
    assert "120,422,400" in text and "12,443,648" in text


# ------------------------------------------------------------------------------------------------
# Generated PyTorch modules: build, count, forward in train and eval mode at the spec's input size


@pytest.mark.parametrize(
    "spec, params, total, classes",
    [
        ("lenet5.isp", {}, 61_706, 10),
        ("alexnet.isp", {}, 60_965_224, 1000),
        ("zfnet.isp", {}, 62_357_608, 1000),
        ("vgg16.isp", {}, 138_357_544, 1000),
        ("vgg16.isp", {"batch_norm": True}, 138_365_992, 1000),
        ("vgg19.isp", {}, 143_667_240, 1000),
    ],
)
def test_module_forward(spec, params, total, classes):
    import torch

    module, outs = _forward(spec, **params)
    assert sum(p.numel() for p in module.parameters()) == total
    for mode, y in outs.items():
        assert isinstance(y, torch.Tensor) and tuple(y.shape) == (1, classes), mode
        assert torch.isfinite(y).all(), mode


def test_alexnet_module_layers():
    import torch

    module = inspec.build(SPECS / "alexnet.isp")
    convs = [m for m in module.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.groups for c in convs] == [1, 2, 1, 2, 2]
    assert convs[0].weight.numel() == 34_848 and convs[0].bias.numel() == 96
    lrns = [m for m in module.modules() if isinstance(m, torch.nn.LocalResponseNorm)]
    assert len(lrns) == 2
    # REFERENCE.md 4.2: the paper's alpha = 1e-4 is PyTorch's alpha = 5e-4 (PyTorch divides by n)
    assert all(
        m.size == 5 and m.alpha == pytest.approx(5e-4) and m.beta == 0.75 and m.k == 2 for m in lrns
    )


def test_bottleneck_module():
    import torch

    module, outs = _forward("examples/bottleneck.isp")
    assert tuple(outs["eval"].shape) == (1, 32, 28, 28)
    # training mode also returns the side head (the direct 5x5 path)
    assert not isinstance(outs["train"], torch.Tensor)
    assert [tuple(t.shape) for t in outs["train"]] == [(1, 32, 28, 28)] * 2
    assert sum(p.numel() for p in module.parameters()) == 153_600 + 15_872
