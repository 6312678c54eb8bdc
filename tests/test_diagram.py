"""inspec diagram: DOT golden files, rendered SVG/PNG/PDF, the missing-`dot` path, escaping, determinism.

These tests need Graphviz's `dot` (scripts/test installs Debian's graphviz); they never skip.
"""

from __future__ import annotations

import os
import re
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

import pytest

import inspec
from inspec.analysis.elaborate import elaborate
from inspec.backends.diagram import (
    Diagram,
    DiagramError,
    DotNotFound,
    render,
    to_dot,
)
from inspec.backends.diagram.dot import _html, _quote
from inspec.fileio import MARKER
from tests.golden import assert_golden

ROOT = Path(__file__).resolve().parent.parent
GOOGLENET = ROOT / "specs" / "googlenet.isp"
LIBRARY = ROOT / "specs" / "blocks" / "googlenet.isp"
SVG_NS = {"svg": "http://www.w3.org/2000/svg"}

# A small network with everything the diagram draws: a concat with an empty (identity) branch, a
# residual with a nested concat and a scale, a repeat, a conditional row that is off, a side head.
MINI = """\
network mini(num_classes = 10, aux = true, extra = false)
input 32x32x3
defaults conv(act = relu)

block mod(a "#1x1", b "#3x3 reduce") {
  branch { conv 1x1 a }
  branch { conv 1x1 b; conv 3x3 a }
  branch { }
}

block res(scale = 0.2) {
  residual scale=scale act=relu {
    branch { conv 1x1 8 }
    branch { conv 1x1 8; conv 3x3 8 }
    conv (proj) 1x1 in act=none
  }
}

block head(n) {
  avgpool global
  linear n
}

conv (stem) 3x3/2 16
mod (m1) 8 4
3 x res (rep) 0.1
bn if extra
side head (aux1) num_classes if aux
maxpool 2x2/2
linear (fc) num_classes
"""

# Hostile text everywhere the grammar lets it in: block parameter headers are arbitrary strings
# (anything but a double quote and a newline); labels allow dots and dashes.
HOSTILE = r"""
network evil_net(n = 4 "<b>&amp; {n} \N ]; -> x")
input 16x16x3

block evil(a "<script>alert(1)</script>", b "} digraph { \\ \l & &lt; ]]>") {
  branch b1 { conv (x.y-z) 1x1 a }
  branch { maxpool 3x3/1; conv 1x1 b }
}

conv (a.b-c) 3x3 8
evil (e-1.2) 4 4
linear (out.-) n
"""


def _net(text: str | None = None, path: Path | None = None, **params):
    net = elaborate(path=str(path), params=params) if path else elaborate(text=text, params=params)
    assert net.ok, [d.message for d in net.diagnostics if d.is_error]
    return net


@pytest.fixture(scope="module")
def googlenet():
    return _net(path=GOOGLENET)


@pytest.fixture(scope="module")
def mini():
    return _net(MINI)


def _svg(source: str) -> ET.Element:
    data = render(source, "svg")
    assert MARKER.encode() in data[:4096]
    return ET.fromstring(data)


def _svg_nodes(root: ET.Element) -> dict[str, ET.Element]:
    out = {}
    for g in root.iter("{http://www.w3.org/2000/svg}g"):
        if g.get("class") == "node":
            out[g.find("svg:title", SVG_NS).text] = g
    return out


def _svg_texts(g: ET.Element) -> list[str]:
    return [t.text or "" for t in g.iter("{http://www.w3.org/2000/svg}text")]


def _edge_labels(root: ET.Element) -> list[str]:
    labels = []
    for g in root.iter("{http://www.w3.org/2000/svg}g"):
        if g.get("class") == "edge":
            labels += _svg_texts(g)
    return labels


# ------------------------------------------------------------------------------------------------
# Golden DOT files


def test_golden_googlenet_network(googlenet):
    assert_golden("diagram/googlenet.dot", to_dot(googlenet))


def test_golden_googlenet_blocks(googlenet):
    assert_golden("diagram/googlenet_blocks.dot", to_dot(googlenet, detail="blocks"))


def test_golden_googlenet_inception_block(googlenet):
    assert_golden("diagram/googlenet_inception.dot", to_dot(googlenet, block="inception"))


def test_golden_symbolic_block_from_library():
    lib = _net(path=LIBRARY)
    assert_golden("diagram/library_inception.dot", to_dot(lib, block="inception", rankdir="LR"))


def test_golden_mini_blocks_costs(mini):
    assert_golden("diagram/mini_blocks_costs.dot", to_dot(mini, detail="blocks", costs=True))


# ------------------------------------------------------------------------------------------------
# Rendered output


def test_network_svg_has_rows_shapes_and_legend(googlenet):
    root = _svg(to_dot(googlenet))
    nodes = _svg_nodes(root)
    # one node per row, named by the table's paths
    for name in ("conv1", "maxpool1", "conv2", "inception3a", "inception5b", "fc", "aux1", "aux2"):
        assert f"n:{name}" in nodes, name
    assert "convolution (conv1)" in _svg_texts(nodes["n:conv1"])
    assert "7x7/2, 64" in _svg_texts(nodes["n:conv1"])
    assert "inception (3a)" in _svg_texts(nodes["n:inception3a"])
    labels = _edge_labels(root)
    for shape in ("224x224x3", "112x112x64", "28x28x192", "28x28x256", "7x7x1024", "1x1x1000"):
        assert shape in labels, shape
    legend = " ".join(_svg_texts(nodes["legend"]))
    for word in ("convolution", "pooling", "normalisation", "concat / add", "classifier"):
        assert word in legend
    # side heads leave the trunk on a dashed edge and end in their own output
    source = to_dot(googlenet)
    assert '"n:inception4a" -> "n:aux1" [label=<14x14x512>, style=dashed]' in source
    assert "io:aux1:out" in nodes


def test_blocks_svg_opens_every_instance_in_concat_order(googlenet):
    root = _svg(to_dot(googlenet, detail="blocks"))
    clusters = [
        g.find("svg:title", SVG_NS).text
        for g in root.iter("{http://www.w3.org/2000/svg}g")
        if g.get("class") == "cluster"
    ]
    for name in ("3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b"):
        assert f"cluster:inception{name}" in clusters
    assert "cluster:aux1" in clusters and "cluster:conv2" in clusters
    nodes = _svg_nodes(root)
    xs = [
        float(
            nodes[f"n:inception3a.{p}"].iter("{http://www.w3.org/2000/svg}text").__next__().get("x")
        )
        for p in ("branch1", "branch2.0", "branch3.0", "branch4.0")
    ]
    assert xs == sorted(xs), "branches must run left to right in concat order"
    assert "n:inception3a.mixed1" in nodes  # the concat


def test_lr_puts_concat_order_top_to_bottom(googlenet):
    source = to_dot(googlenet, block="inception", rankdir="LR")
    assert "rankdir=LR" in source
    nodes = _svg_nodes(_svg(source))
    ys = [
        float(
            nodes[f"n:inception3a.{p}"].iter("{http://www.w3.org/2000/svg}text").__next__().get("y")
        )
        for p in ("branch1", "branch2.0", "branch3.0", "branch4.0")
    ]
    assert ys == sorted(ys)


def test_residual_repeat_side_and_inactive(mini):
    source = to_dot(mini, detail="blocks")
    root = _svg(source)
    nodes = _svg_nodes(root)
    # the repeat is collapsed to one opened instance marked x 3
    clusters = {
        g.find("svg:title", SVG_NS).text: g
        for g in root.iter("{http://www.w3.org/2000/svg}g")
        if g.get("class") == "cluster"
    }
    assert "res (rep) x 3" in _svg_texts(clusters["cluster:rep.0"])
    # residual: the skip edge from the split point to the add, the scale on the body's edge
    assert '"n:rep.0.residual1:in" -> "n:rep.0.residual1" [style=bold' in source
    assert "\u00d7 0.1" in _edge_labels(root)
    assert "residual add" in _svg_texts(nodes["n:rep.0.residual1"])
    # an empty branch is the identity: an edge from the split straight to the concat
    assert '"n:m1.mixed1:in" -> "n:m1.mixed1"' in source
    # a row that is off is drawn grey and says so
    assert "batch norm [off]" in _svg_texts(nodes["n:bn"])
    # the side head hangs off the trunk on a dashed edge
    assert re.search(r'"n:bn" -> "n:aux1.avgpool" \[label=<16x16x32>, style=dashed\]', source)
    network = to_dot(mini)
    assert "<B>x 3</B>" in network
    expanded = to_dot(mini, detail="blocks", repeats="expand")
    assert all(f'"cluster:rep.{i}"' in expanded for i in range(3))


def test_costs_on_every_node(googlenet):
    source = to_dot(googlenet, costs=True)
    assert "160K params, 128M ops" in source  # inception (3a), in the spec's paper units
    assert source.count(" params, ") >= len(googlenet.rows)


def test_png_has_marker_chunk_with_valid_crc(googlenet):
    data = render(to_dot(googlenet), "png")
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF, kind
        chunks.append((kind, body))
        pos += 12 + length
    assert chunks[0][0] == b"IHDR"
    assert chunks[1] == (b"tEXt", b"Software\x00" + MARKER.encode())
    assert chunks[-1][0] == b"IEND"
    assert MARKER.encode() in data[:4096]


def test_pdf_keeps_its_trailer_and_carries_marker(googlenet):
    data = render(to_dot(googlenet), "pdf")
    assert data.startswith(b"%PDF-")
    assert data.rstrip().endswith(b"% " + MARKER.encode())
    tail = data[-1024:]
    assert b"%%EOF" in tail  # readers look for %%EOF in the last 1024 bytes
    # the cross-reference offset still points at the xref table (nothing before %%EOF moved)
    offset = int(re.search(rb"startxref\s+(\d+)\s+%%EOF", data).group(1))
    assert data[offset : offset + 4] == b"xref" or re.match(rb"\d+ \d+ obj", data[offset:])
    for m in re.finditer(rb"\n(\d{10}) 00000 n", data):
        assert re.match(rb"\d+ \d+ obj", data[int(m.group(1)) :])


# ------------------------------------------------------------------------------------------------
# The missing-dot path


def _cli(*args, path_env: str, cwd: Path = ROOT):
    env = dict(os.environ, PATH=path_env, PYTHONHASHSEED="0")
    return subprocess.run(
        [sys.executable, "-m", "inspec", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_missing_dot_is_one_clear_line(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    out = tmp_path / "g.svg"
    r = _cli("diagram", str(GOOGLENET), "-o", str(out), path_env=str(empty))
    assert r.returncode == 1
    lines = [ln for ln in r.stderr.splitlines() if "warning" not in ln]
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    assert "apt-get install graphviz" in lines[0] and "brew install graphviz" in lines[0]
    assert "--format dot" in lines[0]
    assert not out.exists()
    # DOT needs no dot
    r = _cli(
        "diagram", str(GOOGLENET), "-f", "dot", "-o", str(tmp_path / "g.dot"), path_env=str(empty)
    )
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "g.dot").read_text().startswith(f"// {MARKER}")


def test_missing_dot_in_the_api(monkeypatch, tmp_path, googlenet):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(DotNotFound, match="apt-get install graphviz"):
        render(to_dot(googlenet), "svg")
    d = Diagram(googlenet)
    assert d._repr_svg_() is None
    assert d._repr_mimebundle_() == {"text/plain": d.source}


# ------------------------------------------------------------------------------------------------
# Escaping


def test_escape_helpers():
    assert (
        _html('<a href="x">&amp;\\\\</a>')
        == "&lt;a href=&quot;x&quot;&gt;&amp;amp;&#92;&#8203;&#92;&#8203;&lt;/a&gt;"
    )
    assert _quote('a"b\\N{}') == '"a\\"b\\\\N{}"'
    assert _quote("line\nbreak") == '"line\\nbreak"'


def test_hostile_names_cannot_break_the_dot():
    net = _net(HOSTILE)
    for kwargs in ({}, {"detail": "blocks"}, {"block": "evil"}, {"costs": True}):
        source = to_dot(net, **kwargs)
        root = _svg(source)  # dot accepts it and the SVG is well-formed XML
        text = " ".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))
        text = text.replace("\u200b", "")  # the zero-width space that keeps a backslash literal
        if "block" in kwargs:
            assert "<script>alert(1)</script>" in text
            assert "} digraph { \\\\ \\l & &lt; ]]>" in text
        else:
            assert "convolution (a.b-c)" in text and "evil (e-1.2)" in text
    lib_source = to_dot(_lib_only(HOSTILE), block="evil")  # symbolic: from the definition
    assert "<script>" not in lib_source
    text = " ".join(t.text or "" for t in _svg(lib_source).iter("{http://www.w3.org/2000/svg}text"))
    assert "<script>alert(1)</script>" in text


def _lib_only(text: str):
    body = "\n".join(ln for ln in text.splitlines() if ln.startswith(("block", "  ", "}")))
    return _net(body)


# ------------------------------------------------------------------------------------------------
# Determinism, errors, API, CLI


def test_dot_is_deterministic_across_hash_seeds(tmp_path):
    code = (
        "import sys; from inspec.analysis.elaborate import elaborate; from inspec.backends.diagram import to_dot; "
        "n = elaborate(path=sys.argv[1]); "
        "sys.stdout.write(to_dot(n, detail='blocks', costs=True) + to_dot(n) + to_dot(n, block='inception'))"
    )
    outs = set()
    for seed in ("0", "1", "12345", "random"):
        r = subprocess.run(
            [sys.executable, "-c", code, str(GOOGLENET)],
            env=dict(os.environ, PYTHONHASHSEED=seed),
            capture_output=True,
            timeout=120,
        )
        assert r.returncode == 0, r.stderr
        outs.add(r.stdout)
    assert len(outs) == 1


def test_unknown_block_suggests(googlenet):
    with pytest.raises(
        DiagramError, match=r"unknown block 'inceptoin'; did you mean 'inception'\?"
    ):
        to_dot(googlenet, block="inceptoin")


def test_library_needs_block():
    with pytest.raises(DiagramError, match=r"block library.*--block"):
        to_dot(_net(path=LIBRARY))


def test_spec_with_errors_is_refused():
    net = elaborate(text="network x\ninput 8x8x3\nconv 3x3\n")
    with pytest.raises(DiagramError, match="error"):
        to_dot(net)


def test_api_diagram(tmp_path):
    spec = inspec.load(GOOGLENET)
    d = spec.diagram(detail="blocks")
    assert isinstance(d, Diagram)
    assert d.source.startswith(f"// {MARKER}")
    assert d.render("svg").lstrip().startswith(b"<?xml")
    assert d._repr_svg_().count("<svg") == 1
    bundle = d._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "image/svg+xml"}
    target = tmp_path / "g.png"
    assert d.save(target) == target
    d.save(target)  # inspec's own file: overwritten
    user = tmp_path / "mine.svg"
    user.write_text("<svg/>")
    from inspec.fileio import OutputError

    with pytest.raises(OutputError):
        d.save(user)
    with pytest.raises(DiagramError):
        d.save(tmp_path / "g.gif")


def test_cli_writes_and_overwrites_its_own_files(tmp_path):
    for fmt in ("svg", "png", "pdf", "dot"):
        out = tmp_path / f"g.{fmt}"
        for _ in range(2):  # the second run overwrites the marked file without --force
            r = _cli("diagram", str(GOOGLENET), "-o", str(out), path_env=os.environ["PATH"])
            assert r.returncode == 0, r.stderr
        assert out.stat().st_size > 0
    r = _cli(
        "diagram",
        str(GOOGLENET),
        "-b",
        "inception",
        "-f",
        "dot",
        "-o",
        "-",
        path_env=os.environ["PATH"],
    )
    assert r.returncode == 0 and r.stdout.startswith(f"// {MARKER}")
    r = _cli(
        "diagram", str(GOOGLENET), "-b", "nope", "-f", "dot", "-o", "-", path_env=os.environ["PATH"]
    )
    assert r.returncode == 2 and "unknown block 'nope'" in r.stderr and "Traceback" not in r.stderr
