"""`inspec table --format latex`: a booktabs table of the paper's columns, ready to paste."""

from inspec.analysis.elaborate import elaborate
from inspec.backends.grid import latex_cell, latex_escape
from inspec.backends.table import render_latex
from tests.conftest import run_cli
from tests.golden import assert_golden


def test_googlenet_latex_golden(in_root):
    """GoogLeNet's Table 1 in the spec's units (paper: K = 1024 params, M = 10^6 ops)."""
    r = run_cli("table", "specs/googlenet.isp", "-f", "latex")
    assert r.returncode == 0, r.stderr
    assert_golden("googlenet.table.paper.rows.tex", r.stdout)


def test_googlenet_latex_structure(in_root):
    net = elaborate(path="specs/googlenet.isp")
    lines = render_latex(net, "rows", "paper").splitlines()
    rules = [ln for ln in lines if ln in (r"\toprule", r"\midrule", r"\bottomrule")]
    assert rules == [r"\toprule", r"\midrule", r"\midrule", r"\bottomrule"]
    assert r"\begin{tabular}{lllrrrrrrrrrr}" in lines
    head = lines[lines.index(r"\toprule") + 1]
    assert [c.strip() for c in head.removesuffix(r" \\").split(" & ")] == [
        "type",
        "patch size/stride",
        "output size",
        "depth",
        r"\#1x1",
        r"\#3x3 reduce",
        r"\#3x3",
        r"\#5x5 reduce",
        r"\#5x5",
        "pool proj",
        "params",
        "weights",
        "ops",
    ]
    body = lines[lines.index(head) + 2 : lines.index(r"\bottomrule")]
    assert all(ln.endswith(r" \\") and ln.count(" & ") == 12 for ln in body if ln != r"\midrule")
    row = next(ln for ln in body if ln.startswith("inception (3a)"))
    assert [c.strip() for c in row.removesuffix(r" \\").split(" & ")] == [
        "inception (3a)",
        "",
        r"28$\times$28$\times$256",
        "2",
        "64",
        "96",
        "128",
        "16",
        "32",
        "32",
        "160K",
        "160K",
        "128M",
    ]
    assert any(ln.startswith(r"dropout (40\%)") for ln in body)
    assert any(ln.startswith(r"reduced\_conv (conv2) & 3$\times$3/1") for ln in body)
    assert "paper (printed" not in "\n".join(lines)  # the audit column stays out of a paper


def test_latex_exact_units_and_escapes(tmp_path):
    spec = tmp_path / "x.isp"
    spec.write_text(
        'block b(c "#out & 100% of_it", d "{~^$}") { conv 1x1 c; conv 1x1 d }\n'
        "network my_net\ninput 8x8x3\nb (s_1) 16 8\n"
    )
    r = run_cli("table", str(spec), "-f", "latex", "-u", "exact", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    head = r.stdout.splitlines()[9]
    assert head == (
        r"type     & patch size/stride & output size         & depth & \#out \& 100\% of\_it & "
        r"\{\textasciitilde{}\textasciicircum{}\$\} & params &    ops \\"
    )
    assert r.stdout.splitlines()[11] == (
        r"b (s\_1) & 1$\times$1/1      & 8$\times$8$\times$8 &     2 &                    16 & "
        r"                                        8 &    200 & 11,264 \\"
    )  # params 3*16 + 16 + 16*8 + 8, exact
    assert r"\caption{my\_net: input 8$\times$8$\times$3.}" in r.stdout
    assert r"\label{tab:my_net}" in r.stdout
    assert "% units: exact counts" in r.stdout


def test_latex_escape():
    assert latex_escape("#1x1 & 5% a_b") == r"\#1x1 \& 5\% a\_b"
    assert latex_escape("a\\b") == r"a\textbackslash{}b"
    assert latex_cell("7x7/2") == r"7$\times$7/2"
    assert latex_cell("112x112x64") == r"112$\times$112$\times$64"
    assert latex_cell("box x 3") == "box x 3"
