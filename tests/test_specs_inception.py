"""The Inception-family specs against the reference figures (../shared/reference/REFERENCE.md).

Every expected number below is copied from REFERENCE.md (measured on torchvision 0.28 / timm 1.0.31, or
computed there from the paper), never from inspec's own output.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import inspec
from inspec.analysis import ir
from tests.specs_util import SPECS, load, rows
from tests.specs_util import forward_modes as _forward

# ------------------------------------------------------------------------------------------------
# helpers


def shape(node: ir.Node) -> str:
    return str(node.out_shape)


def convs(node: ir.Node) -> list[str]:
    """The convolutions of a node in parameter order, as REFERENCE.md writes them:
    'in->out KHxKW/S valid|same|1x1' (+bias)."""
    out = []
    for _, layer in node.layers():
        if layer.op.name != "conv":
            continue
        a = layer.attrs
        kh, kw = a["kernel"]
        p = a["padding"]
        if (kh, kw) == (1, 1):
            pad = "1x1"
        elif (p.top, p.bottom, p.left, p.right) == (0, 0, 0, 0):
            pad = "valid"
        elif a["stride"] == 1 and (p.top, p.bottom, p.left, p.right) == (
            (kh - 1) // 2,
            (kh - 1) // 2,
            (kw - 1) // 2,
            (kw - 1) // 2,
        ):
            pad = "same"
        else:
            pad = f"pad{p}"
        bias = " +bias" if a["bias"] else ""
        out.append(f"{layer.in_shape.c}->{a['out']} {kh}x{kw}/{a['stride']} {pad}{bias}")
    return out


def all_convs(net: ir.Network) -> list[ir.Layer]:
    return [layer for _, layer in net.body.layers() if layer.op.name == "conv"]


def paths(node: ir.Node) -> list[str]:
    return [f"{node.name}.{p}" if p else node.name for p, _ in node.layers()]


# ------------------------------------------------------------------------------------------------
# Inception-v4 (REFERENCE.md 3.0, 3.1)

V4 = [  # name, output, params each, MACs each, count
    ("conv2d_1a", "149x149x32", 928, 19_181_664, 1),
    ("conv2d_2a", "147x147x32", 9_280, 199_148_544, 1),
    ("conv2d_2b", "147x147x64", 18_560, 398_297_088, 1),
    ("mixed_3a", "73x73x160", 55_488, 294_672_384, 1),
    ("mixed_4a", "71x71x192", 189_312, 972_218_368, 1),
    ("mixed_5a", "35x35x384", 332_160, 406_425_600, 1),
    ("inception_a", "35x35x384", 317_632, 387_609_600, 4),
    ("mixed_6a", "17x17x1024", 2_306_112, 1_097_164_800, 1),
    ("inception_b", "17x17x1024", 2_936_256, 847_264_768, 7),
    ("mixed_7a", "8x8x1536", 2_747_392, 511_098_880, 1),
    ("inception_c", "8x8x1536", 4_553_088, 290_979_840, 3),
    ("last_linear", "1x1x1000", 1_537_000, 1_536_000, 1),
]


@pytest.fixture(scope="module")
def v4() -> ir.Network:
    return load("inception_v4.isp")


# The rows of Inception-v4 by their TF-slim names: the spec writes the trunk as timm's `features`
# (numbered 0..21, the names in its comments), so that timm's state_dict loads by key.
V4_SLIM = (
    "conv2d_1a conv2d_2a conv2d_2b mixed_3a mixed_4a mixed_5a inception_a mixed_6a inception_b "
    "mixed_7a inception_c"
).split()


def v4_rows(net: ir.Network) -> dict[str, ir.Node]:
    r = rows(net)
    (features,) = [n for n in r.values() if ir.is_group(n)]
    assert features.branches[0].name == "features"
    items = features.branches[0].body.items
    assert len(items) == len(V4_SLIM)
    return {**dict(zip(V4_SLIM, items, strict=True)), "avgpool": r["global_pool"], **r}


def test_v4_totals(v4):
    t = v4.totals()
    assert t.params == 42_679_816
    assert t.ops == 12_253_974_624
    assert str(v4.input) == "299x299x3"
    assert str(v4.output) == "1x1x1000"


def check_blocks(net: ir.Network, table, r: dict | None = None) -> int:
    """Every row of a reference table (name, output, params each, MACs each, count); returns the
    sum of the params. `r`: the rows by name (default: the top-level rows)."""
    r = rows(net) if r is None else r
    cumulative = 0
    for name, out, params, macs, count in table:
        node = r[name]
        assert shape(node) == out, name
        items = node.items if isinstance(node, ir.Repeat) else [node]
        assert len(items) == count, name
        for item in items:
            assert item.cost.params == params, name
            assert item.cost.ops == macs, name
            assert str(item.out_shape) == out
        cumulative += params * count
    return cumulative


def test_v4_blocks(v4):
    assert check_blocks(v4, V4, v4_rows(v4)) == 42_679_816


def test_v4_stage_outputs(v4):
    r = v4_rows(v4)
    assert shape(r["mixed_5a"]) == "35x35x384"
    assert shape(r["mixed_6a"]) == "17x17x1024"
    assert shape(r["mixed_7a"]) == "8x8x1536"
    assert str(r["avgpool"].out_shape) == "1x1x1536"  # num_features 1536


def test_v4_conv_census(v4):
    cs = all_convs(v4)
    assert len(cs) == 149
    assert not any(c.attrs["bias"] for c in cs)
    assert all(c.attrs["bn"] and c.attrs["eps"] == 0.001 and c.attrs["act"] == "relu" for c in cs)


# Block structures exactly as REFERENCE.md 3.1 lists them (registration = concat order).
V4_STRUCT = {
    "conv2d_1a": ["3->32 3x3/2 valid"],
    "conv2d_2a": ["32->32 3x3/1 valid"],
    "conv2d_2b": ["32->64 3x3/1 same"],
    "mixed_3a": ["64->96 3x3/2 valid"],
    "mixed_4a": [
        "160->64 1x1/1 1x1",
        "64->96 3x3/1 valid",
        "160->64 1x1/1 1x1",
        "64->64 1x7/1 same",
        "64->64 7x1/1 same",
        "64->96 3x3/1 valid",
    ],
    "mixed_5a": ["192->192 3x3/2 valid"],
    "inception_a": [
        "384->96 1x1/1 1x1",
        "384->64 1x1/1 1x1",
        "64->96 3x3/1 same",
        "384->64 1x1/1 1x1",
        "64->96 3x3/1 same",
        "96->96 3x3/1 same",
        "384->96 1x1/1 1x1",
    ],
    "mixed_6a": [
        "384->384 3x3/2 valid",
        "384->192 1x1/1 1x1",
        "192->224 3x3/1 same",
        "224->256 3x3/2 valid",
    ],
    "inception_b": [
        "1024->384 1x1/1 1x1",
        "1024->192 1x1/1 1x1",
        "192->224 1x7/1 same",
        "224->256 7x1/1 same",
        "1024->192 1x1/1 1x1",
        "192->192 7x1/1 same",
        "192->224 1x7/1 same",
        "224->224 7x1/1 same",
        "224->256 1x7/1 same",
        "1024->128 1x1/1 1x1",
    ],
    "mixed_7a": [
        "1024->192 1x1/1 1x1",
        "192->192 3x3/2 valid",
        "1024->256 1x1/1 1x1",
        "256->256 1x7/1 same",
        "256->320 7x1/1 same",
        "320->320 3x3/2 valid",
    ],
    "inception_c": [
        "1536->256 1x1/1 1x1",
        "1536->384 1x1/1 1x1",
        "384->256 1x3/1 same",
        "384->256 3x1/1 same",
        "1536->384 1x1/1 1x1",
        "384->448 3x1/1 same",
        "448->512 1x3/1 same",
        "512->256 1x3/1 same",
        "512->256 3x1/1 same",
        "1536->256 1x1/1 1x1",
    ],
}


def test_v4_block_structure(v4):
    r = v4_rows(v4)
    for name, want in V4_STRUCT.items():
        node = r[name]
        first = node.items[0] if isinstance(node, ir.Repeat) else node
        assert convs(first) == want, name


def test_v4_pools_and_concat_order(v4):
    r = v4_rows(v4)
    a = r["inception_a"].items[0]
    layers = list(a.layers())
    # the pool branch comes last: AvgPool2d(3, 1, padding=1, count_include_pad=False) then its 1x1
    path, pool = layers[-2]
    assert (
        pool.op.name == "avgpool" and pool.attrs["kernel"] == (3, 3) and pool.attrs["stride"] == 1
    )
    assert str(pool.attrs["padding"]) == "1" and pool.attrs["count_include_pad"] is False
    assert path == "branch3.0"
    # Mixed_3a: max pool first, conv second; Mixed_5a: conv first, max pool second
    assert [p for p, _ in r["mixed_3a"].layers()] == ["maxpool", "conv"]
    assert [p for p, _ in r["mixed_5a"].layers()] == ["conv", "maxpool"]
    # Reduction-A/B: max pool (3x3/2 valid) last
    for name in ("mixed_6a", "mixed_7a"):
        _, last = list(r[name].layers())[-1]
        assert last.op.name == "maxpool" and str(last.attrs["padding"]) == "0"


def test_v4_module_paths_follow_timm(v4):
    r = v4_rows(v4)
    # REFERENCE.md 6: keys of one InceptionA block
    a = [p for p, layer in r["inception_a"].items[0].layers() if layer.op.name == "conv"]
    assert a == [
        "branch0",
        "branch1.0",
        "branch1.1",
        "branch2.0",
        "branch2.1",
        "branch2.2",
        "branch3.1",
    ]


# ------------------------------------------------------------------------------------------------
# Reduction-A: one block, three networks (REFERENCE.md 3.1, Reduction-A table)


@pytest.mark.parametrize(
    "spec, klmn, params",
    [
        ("inception_v4.isp", (192, 224, 256, 384), 2_306_112),
        ("inception_resnet_v1.isp", (192, 192, 256, 384), 1_710_080),
        ("inception_resnet_v2.isp", (256, 256, 384, 384), 2_664_960),
    ],
)
def test_reduction_a_shared(spec, klmn, params):
    net = load(spec)
    node = (v4_rows(net) if spec == "inception_v4.isp" else rows(net))["mixed_6a"]
    assert isinstance(node, ir.Call) and node.block.name == "reduction_a"
    assert Path(net.blocks["reduction_a"].file).resolve() == SPECS / "blocks" / "inception.isp"
    assert tuple(node.args[x] for x in "klmn") == klmn
    assert node.cost.params == params
    headers = {p.name: p.header for p in node.block.params}
    assert headers == {"k": "k", "l": "l", "m": "m", "n": "n"}


# ------------------------------------------------------------------------------------------------
# Inception-ResNet-v2 (REFERENCE.md 3.2)

IRV2 = [  # name, output, params each, MACs each, count
    ("conv2d_1a", "149x149x32", 928, 19_181_664, 1),
    ("conv2d_2a", "147x147x32", 9_280, 199_148_544, 1),
    ("conv2d_2b", "147x147x64", 18_560, 398_297_088, 1),
    ("maxpool_3a", "73x73x64", 0, 0, 1),
    ("conv2d_3b", "73x73x80", 5_280, 27_284_480, 1),
    ("conv2d_4a", "71x71x192", 138_624, 696_867_840, 1),
    ("maxpool_5a", "35x35x192", 0, 0, 1),
    ("mixed_5b", "35x35x320", 268_320, 327_398_400, 1),
    ("repeat", "35x35x320", 123_168, 149_900_800, 10),
    ("mixed_6a", "17x17x1088", 2_664_960, 1_398_185_984, 1),
    ("repeat_1", "17x17x1088", 1_126_784, 324_937_728, 20),
    ("mixed_7a", "8x8x2080", 3_880_960, 585_424_896, 1),
    ("repeat_2", "8x8x2080", 2_035_424, 130_023_424, 9),
    ("block8", "8x8x2080", 2_035_424, 130_023_424, 1),
    ("conv2d_7b", "8x8x1536", 3_197_952, 204_472_320, 1),
    ("classif", "1x1x1000", 1_537_000, 1_536_000, 1),
]


@pytest.fixture(scope="module")
def irv2() -> ir.Network:
    return load("inception_resnet_v2.isp")


def test_irv2_totals(irv2):
    t = irv2.totals()
    assert t.params == 55_843_464
    assert t.ops == 13_155_794_016
    assert str(irv2.output) == "1x1x1000"


def test_irv2_blocks(irv2):
    assert check_blocks(irv2, IRV2) == 55_843_464


def _residual(node: ir.Node) -> ir.Residual:
    res = [n for n in node.walk() if isinstance(n, ir.Residual)]
    assert len(res) == 1
    return res[0]


def test_irv2_residual_scales(irv2):
    r = rows(irv2)
    for name, scale, act in (
        ("repeat", 0.17, "relu"),
        ("repeat_1", 0.10, "relu"),
        ("repeat_2", 0.20, "relu"),
    ):
        for item in r[name].items:
            res = _residual(item)
            assert res.attrs["scale"] == pytest.approx(scale) and res.attrs["act"] == act, name
    res = _residual(r["block8"])
    assert res.attrs["scale"] == 1.0 and res.attrs["act"] == "none"


def test_irv2_conv_census(irv2):
    cs = all_convs(irv2)
    assert len(cs) == 244
    biased = [c for c in cs if c.attrs["bias"]]
    assert len(biased) == 40  # the residual projections of Block35/17/8 (10 + 20 + 10)
    for c in biased:
        assert c.attrs["bn"] is False and c.attrs["act"] == "none" and c.attrs["kernel"] == (1, 1)
    for c in cs:
        if not c.attrs["bias"]:
            assert c.attrs["bn"] and c.attrs["eps"] == 0.001 and c.attrs["act"] == "relu"


IRV2_STRUCT = {
    "mixed_5b": [
        "192->96 1x1/1 1x1",
        "192->48 1x1/1 1x1",
        "48->64 5x5/1 same",
        "192->64 1x1/1 1x1",
        "64->96 3x3/1 same",
        "96->96 3x3/1 same",
        "192->64 1x1/1 1x1",
    ],
    "repeat": [
        "320->32 1x1/1 1x1",
        "320->32 1x1/1 1x1",
        "32->32 3x3/1 same",
        "320->32 1x1/1 1x1",
        "32->48 3x3/1 same",
        "48->64 3x3/1 same",
        "128->320 1x1/1 1x1 +bias",
    ],
    "mixed_6a": [
        "320->384 3x3/2 valid",
        "320->256 1x1/1 1x1",
        "256->256 3x3/1 same",
        "256->384 3x3/2 valid",
    ],
    "repeat_1": [
        "1088->192 1x1/1 1x1",
        "1088->128 1x1/1 1x1",
        "128->160 1x7/1 same",
        "160->192 7x1/1 same",
        "384->1088 1x1/1 1x1 +bias",
    ],
    "mixed_7a": [
        "1088->256 1x1/1 1x1",
        "256->384 3x3/2 valid",
        "1088->256 1x1/1 1x1",
        "256->288 3x3/2 valid",
        "1088->256 1x1/1 1x1",
        "256->288 3x3/1 same",
        "288->320 3x3/2 valid",
    ],
    "repeat_2": [
        "2080->192 1x1/1 1x1",
        "2080->192 1x1/1 1x1",
        "192->224 1x3/1 same",
        "224->256 3x1/1 same",
        "448->2080 1x1/1 1x1 +bias",
    ],
    "conv2d_7b": ["2080->1536 1x1/1 1x1"],
}


def test_irv2_block_structure(irv2):
    r = rows(irv2)
    for name, want in IRV2_STRUCT.items():
        node = r[name]
        first = node.items[0] if isinstance(node, ir.Repeat) else node
        assert convs(first) == want, name
    assert convs(r["block8"]) == IRV2_STRUCT["repeat_2"]


def test_irv2_module_paths_follow_timm(irv2):
    # REFERENCE.md 3.2 module names (conv2d_1a, mixed_5b.branch0, repeat.N, Block35's conv2d, ...)
    p = [x for r in irv2.rows for x in paths(r.node)]
    for want in (
        "conv2d_1a",
        "maxpool_3a",
        "mixed_5b.branch0",
        "mixed_5b.branch1.0",
        "mixed_5b.branch3.1",
        "repeat.0.branch0",
        "repeat.0.branch2.2",
        "repeat.9.conv2d",
        "mixed_6a.branch2",
        "repeat_1.19.conv2d",
        "mixed_7a.branch3",
        "repeat_2.8.conv2d",
        "block8.conv2d",
        "conv2d_7b",
        "classif",
    ):
        assert want in p, want


# ------------------------------------------------------------------------------------------------
# The paper's literal Inception-ResNet-v2 widths do not add up (REFERENCE.md 3.2)


def test_irv2_paper_widths_mismatch():
    path = SPECS / "examples" / "inception_resnet_v2_paper.isp"
    spec = inspec.load(path)
    errors = [d for d in spec.diagnostics if d.is_error]
    assert len(errors) == 1, spec.render_diagnostics()
    err = errors[0]
    assert "residual" in err.message
    text = " ".join([err.message, *err.notes])
    assert "1152" in text and "1154" in text
    # the location: the `residual` of the Inception-ResNet-B block whose projection says 1154
    lines = path.read_text().splitlines()
    proj = next(i for i, line in enumerate(lines) if "conv 1x1 1154" in line)
    res = max(i for i in range(proj) if lines[i].strip().startswith("residual"))
    assert (err.span.line, err.span.col) == (res + 1, lines[res].index("residual") + 1)
    rendered = err.render(spec.ir.sources)
    assert re.search(
        rf"inception_resnet_v2_paper\.isp:{res + 1}:{lines[res].index('residual') + 1}: error",
        rendered,
    )
    # everything before the mismatch checks: Inception-v4 stem 384, Reduction-A 1152
    r = rows(spec.ir)
    assert str(r["mixed_5a"].out_shape) == "35x35x384"
    assert str(r["reduction_a"].out_shape) == "17x17x1152"


# ------------------------------------------------------------------------------------------------
# Inception-ResNet-v1 (REFERENCE.md 3.3, reconstruction)


def test_irv1_reconstruction():
    net = load("inception_resnet_v1.isp")
    t = net.totals()
    assert t.params == 22_756_328
    assert t.ops == 6_206_361_696
    r = rows(net)
    stem = [n for n in r.values() if n.name.startswith(("conv2d_", "maxpool_"))]
    assert sum(n.cost.params for n in stem) == 615_552
    assert str(stem[-1].out_shape) == "35x35x256"
    for name, each, count, out in (
        ("repeat", 77_440, 5, "35x35x256"),
        ("mixed_6a", 1_710_080, 1, "17x17x896"),
        ("repeat_1", 690_048, 10, "17x17x896"),
        ("mixed_7a", 3_346_176, 1, "8x8x1792"),
        ("repeat_2", 1_600_768, 5, "8x8x1792"),
        ("classif", 1_793_000, 1, "1x1x1000"),
    ):
        node = r[name]
        items = node.items if isinstance(node, ir.Repeat) else [node]
        assert len(items) == count and all(i.cost.params == each for i in items), name
        assert shape(node) == out, name
    assert str(r["avgpool"].out_shape) == "1x1x1792"
    # without the projection biases: 22,737,128
    biases = sum(c.attrs["out"] for c in all_convs(net) if c.attrs["bias"])
    assert t.params - biases == 22_737_128


# ------------------------------------------------------------------------------------------------
# GoogLeNet as torchvision builds it (REFERENCE.md 2)

GOOGLENET_BN = [  # name, output, params, MACs
    ("conv1", "112x112x64", 9_536, 118_013_952),
    ("maxpool1", "56x56x64", 0, 0),
    ("conv2", "56x56x64", 4_224, 12_845_056),
    ("conv3", "56x56x192", 110_976, 346_816_512),
    ("maxpool2", "28x28x192", 0, 0),
    ("inception3a", "28x28x256", 155_872, 121_626_624),
    ("inception3b", "28x28x480", 340_224, 265_732_096),
    ("maxpool3", "14x14x480", 0, 0),
    ("inception4a", "14x14x512", 364_512, 71_199_744),
    ("inception4b", "14x14x512", 425_232, 83_091_456),
    ("inception4c", "14x14x512", 486_192, 95_033_344),
    ("inception4d", "14x14x528", 573_312, 112_093_184),
    ("inception4e", "14x14x832", 803_840, 157_151_232),
    ("maxpool4", "7x7x832", 0, 0),
    ("inception5a", "7x7x832", 978_944, 47_867_904),
    ("inception5b", "7x7x1024", 1_347_040, 65_881_088),
    ("avgpool", "1x1x1024", 0, 0),
    ("fc", "1x1x1000", 1_025_000, 1_024_000),
]


def _census(net: ir.Network, sides: bool):
    layers = [layer for r in net.rows if sides or not r.side for _, layer in r.node.layers()]
    conv_w = sum(layer.cost.weights for layer in layers if layer.op.name == "conv")
    bn = sum(
        2 * layer.attrs["out"] for layer in layers if layer.op.name == "conv" and layer.attrs["bn"]
    )
    lin_w = sum(layer.cost.weights for layer in layers if layer.op.name == "linear")
    lin_b = sum(
        layer.attrs["out"] for layer in layers if layer.op.name == "linear" and layer.attrs["bias"]
    )
    n_conv = sum(layer.op.name == "conv" for layer in layers)
    n_bias = sum(layer.op.name == "conv" and layer.attrs["bias"] for layer in layers)
    return conv_w, bn, lin_w, lin_b, n_conv, n_bias


def test_googlenet_bn_without_aux():
    net = load("googlenet_bn.isp")
    assert net.values["aux_logits"] is False
    t = net.totals()
    assert t.params == 6_624_904
    assert t.ops == 1_498_376_192
    assert net.totals(sides=True).params == 6_624_904
    r = rows(net)
    for name, out, params, macs in GOOGLENET_BN:
        assert shape(r[name]) == out, name
        assert r[name].cost.params == params, name
        assert r[name].cost.ops == macs, name
    conv_w, bn, lin_w, lin_b, n_conv, n_bias = _census(net, sides=False)
    assert (conv_w, bn, lin_w, lin_b) == (5_585_344, 14_560, 1_024_000, 1_000)
    assert (n_conv, n_bias) == (57, 0)
    # weights only, no aux: 6,609,344 (the paper's widths would give 6,990,272)
    assert t.weights == 6_609_344


def test_googlenet_bn_with_aux():
    net = load("googlenet_bn.isp", aux_logits=True)
    assert net.totals().params == 6_624_904
    assert net.totals(sides=True).params == 13_004_888
    r = rows(net)
    assert r["aux1"].cost.params == 3_188_968
    assert r["aux2"].cost.params == 3_191_016
    assert r["aux1"].in_shape == r["inception4a"].out_shape
    assert r["aux2"].in_shape == r["inception4d"].out_shape
    conv_w, bn, lin_w, lin_b, _n_conv, _ = _census(net, sides=True)
    assert (conv_w, bn, lin_w, lin_b) == (5_718_464, 15_072, 7_266_304, 5_048)
    aux = {p: layer for p, layer in r["aux1"].layers()}
    assert str(aux["conv"].out_shape) == "4x4x128"
    assert str(aux["fc1"].out_shape) == "1x1x1024"
    assert str(aux["fc2"].out_shape) == "1x1x1000"


def test_googlenet_bn_torchvision_layout():
    net = load("googlenet_bn.isp", aux_logits=True)
    r = rows(net)
    # REFERENCE.md 2.4: inception3a conv list; the "5x5" branch is 3x3 (padding 1)
    assert convs(r["inception3a"]) == [
        "192->64 1x1/1 1x1",
        "192->96 1x1/1 1x1",
        "96->128 3x3/1 same",
        "192->16 1x1/1 1x1",
        "16->32 3x3/1 same",
        "192->32 1x1/1 1x1",
    ]
    for name in (
        "inception3a",
        "inception3b",
        "inception4a",
        "inception4b",
        "inception4c",
        "inception4d",
        "inception4e",
        "inception5a",
        "inception5b",
    ):
        layers = dict(r[name].layers())
        assert layers["branch3.1"].attrs["kernel"] == (3, 3)
        pool = layers["branch4.0"]
        assert pool.attrs["kernel"] == (3, 3) and pool.attrs["stride"] == 1
        assert str(pool.attrs["padding"]) == "1" and pool.attrs["round"] == "ceil"
    for name, k in (("maxpool1", 3), ("maxpool2", 3), ("maxpool3", 3), ("maxpool4", 2)):
        a = r[name].attrs
        assert a["kernel"] == (k, k) and a["stride"] == 2 and a["round"] == "ceil"
        assert str(a["padding"]) == "0"
    assert str(r["conv1"].attrs["padding"]) == "3"
    assert r["dropout"].attrs["p"] == 0.2
    assert r["avgpool"].attrs["global"] is True
    assert not any(layer.op.name == "lrn" for _, layer in net.body.layers())
    # REFERENCE.md 6: state_dict module names
    p = [x for row in net.rows for x in paths(row.node)]
    for want in (
        "conv1",
        "conv2",
        "conv3",
        "inception3a.branch1",
        "inception3a.branch2.0",
        "inception3a.branch2.1",
        "inception3a.branch4.1",
        "inception5b.branch4.1",
        "aux1.conv",
        "aux1.fc1",
        "aux1.fc2",
        "aux2.conv",
        "fc",
    ):
        assert want in p, want


# ------------------------------------------------------------------------------------------------
# The walk-through example of docs/authoring.md


def test_inception_v4_slim_at_full_width_matches_the_reference_blocks():
    net = load("examples/inception_v4_slim.isp", width=1.0)
    r = rows(net)
    for name, each, count in (
        ("slim_a", 317_632, 2),  # Inception-A
        ("mixed_6a", 2_306_112, 1),  # Reduction-A (192, 224, 256, 384)
        ("slim_b", 2_936_256, 4),  # Inception-B
        ("mixed_7a", 2_747_392, 1),  # Reduction-B
        ("slim_c", 4_553_088, 2),  # Inception-C
    ):
        node = r[name]
        items = node.items if isinstance(node, ir.Repeat) else [node]
        assert len(items) == count and all(i.cost.params == each for i in items), name
    assert convs(r["slim_b"].items[0]) == V4_STRUCT["inception_b"]
    assert convs(r["slim_c"].items[0]) == V4_STRUCT["inception_c"]


def test_inception_v4_slim_half_width():
    net = load("examples/inception_v4_slim.isp")
    assert net.values["width"] == 0.5
    r = rows(net)
    # by hand: A 4 x 48; Reduction-A 192 + 128 + 192; B 192 + 128 + 128 + 64; Reduction-B 96 + 160 + 512
    assert shape(r["slim_a"]) == "35x35x192"
    assert shape(r["mixed_6a"]) == "17x17x512"
    assert shape(r["slim_b"]) == "17x17x512"
    assert shape(r["mixed_7a"]) == "8x8x768"
    assert shape(r["slim_c"]) == "8x8x768"
    assert tuple(r["mixed_6a"].args[x] for x in "klmn") == (96, 112, 128, 192)


# ------------------------------------------------------------------------------------------------
# Generated PyTorch modules: build, count, forward in train and eval mode at the spec's input size


def _n_params(module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize(
    "spec, params, total",
    [
        ("inception_v4.isp", {}, 42_679_816),
        ("inception_resnet_v2.isp", {}, 55_843_464),
        ("inception_resnet_v1.isp", {}, 22_756_328),
        ("googlenet_bn.isp", {}, 6_624_904),
    ],
)
def test_module_forward(spec, params, total):
    import torch

    module, outs = _forward(spec, **params)
    assert _n_params(module) == total
    for mode, y in outs.items():
        assert isinstance(y, torch.Tensor), mode
        assert tuple(y.shape) == (1, 1000), mode
        assert torch.isfinite(y).all(), mode


def test_googlenet_bn_module_with_aux():
    import torch

    module, outs = _forward("googlenet_bn.isp", aux_logits=True)
    assert _n_params(module) == 13_004_888
    assert tuple(outs["eval"].shape) == (1, 1000)  # eval: the logits alone
    train = outs["train"]
    assert not isinstance(train, torch.Tensor) and len(train) == 3  # logits and the two aux heads
    assert all(tuple(t.shape) == (1, 1000) for t in train)
    assert _n_params(module.aux1) == 3_188_968
    assert _n_params(module.aux2) == 3_191_016


def test_inception_v4_slim_module():
    import torch

    module, outs = _forward("examples/inception_v4_slim.isp", width=0.5)
    spec = inspec.load(SPECS / "examples" / "inception_v4_slim.isp", width=0.5)
    assert _n_params(module) == spec.totals().params
    assert all(isinstance(y, torch.Tensor) and tuple(y.shape) == (1, 1000) for y in outs.values())


# REFERENCE.md 6: state_dict keys and their suffix counts
def _suffixes(keys):
    import collections

    return dict(collections.Counter(k.rsplit(".", 1)[1] for k in keys))


def test_state_dict_keys_googlenet_bn():
    keys = list(inspec.build(SPECS / "googlenet_bn.isp").state_dict())
    assert len(keys) == 344
    assert _suffixes(keys) == {
        "weight": 115,
        "bias": 58,
        "running_mean": 57,
        "running_var": 57,
        "num_batches_tracked": 57,
    }
    bn = ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    first = (
        ["conv1.conv.weight"]
        + [f"conv1.bn.{s}" for s in bn]
        + ["conv2.conv.weight"]
        + [f"conv2.bn.{s}" for s in bn]
        + ["conv3.conv.weight"]
        + [f"conv3.bn.{s}" for s in bn]
        + ["inception3a.branch1.conv.weight"]
        + [f"inception3a.branch1.bn.{s}" for s in bn]
        + ["inception3a.branch2.0.conv.weight"]
        + [f"inception3a.branch2.0.bn.{s}" for s in bn]
    )
    assert keys[:30] == first
    assert keys[-6:] == [f"inception5b.branch4.1.bn.{s}" for s in bn[1:]] + ["fc.weight", "fc.bias"]

    aux = list(inspec.build(SPECS / "googlenet_bn.isp", aux_logits=True).state_dict())
    assert len(aux) == 364
    assert _suffixes(aux) == {
        "weight": 123,
        "bias": 64,
        "running_mean": 59,
        "running_var": 59,
        "num_batches_tracked": 59,
    }
    for k in (
        "aux1.conv.conv.weight",
        "aux1.conv.bn.weight",
        "aux1.conv.bn.bias",
        "aux1.fc1.weight",
        "aux1.fc1.bias",
        "aux1.fc2.weight",
        "aux1.fc2.bias",
        "aux2.fc2.bias",
    ):
        assert k in aux, k
    assert set(aux) - set(keys) == {k for k in aux if k.startswith(("aux1.", "aux2."))}


def test_state_dict_keys_inception_v4():
    keys = list(inspec.build(SPECS / "inception_v4.isp").state_dict())
    assert len(keys) == 896
    assert _suffixes(keys) == {
        "weight": 299,
        "bias": 150,
        "running_mean": 149,
        "running_var": 149,
        "num_batches_tracked": 149,
    }
    # timm's keys: features.6 is the first Inception-A block; its conv keys (REFERENCE.md 6)
    assert keys[:2] == ["features.0.conv.weight", "features.0.bn.weight"]
    block = [k for k in keys if k.startswith("features.6.") and k.endswith("conv.weight")]
    assert block == [
        f"features.6.{p}.conv.weight"
        for p in (
            "branch0",
            "branch1.0",
            "branch1.1",
            "branch2.0",
            "branch2.1",
            "branch2.2",
            "branch3.1",
        )
    ]
    assert keys[-2:] == ["last_linear.weight", "last_linear.bias"]


def test_state_dict_keys_inception_resnet_v2():
    keys = list(inspec.build(SPECS / "inception_resnet_v2.isp").state_dict())
    assert len(keys) == 1306
    assert _suffixes(keys) == {
        "weight": 449,
        "bias": 245,
        "running_mean": 204,
        "running_var": 204,
        "num_batches_tracked": 204,
    }
    for k in (
        "conv2d_1a.conv.weight",
        "mixed_5b.branch3.1.conv.weight",
        "repeat.0.conv2d.weight",
        "repeat.0.conv2d.bias",
        "repeat_1.19.branch1.2.bn.bias",
        "mixed_7a.branch2.2.conv.weight",
        "block8.conv2d.bias",
        "conv2d_7b.bn.weight",
        "classif.weight",
        "classif.bias",
    ):
        assert k in keys, k
