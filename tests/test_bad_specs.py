"""A folder of bad specs, each with the exact diagnostics expected (tests/bad/NAME.expected).

The expected text is what `inspec check tests/bad/NAME.isp` prints on stderr. After an intended change
to a message, regenerate with scripts/regen-golden and review the diff.
"""

from pathlib import Path

import pytest

from inspec.analysis.elaborate import elaborate
from tests.conftest import ROOT, run_cli
from tests.golden import assert_golden

BAD = ROOT / "tests" / "bad"
CASES = sorted(p.name for p in BAD.glob("*.isp"))


def render(rel: str) -> str:
    net = elaborate(path=rel)
    return "\n".join(d.render(net.sources) for d in net.diagnostics) + "\n"


@pytest.mark.parametrize("name", CASES)
def test_bad_spec_golden_diagnostics(name, in_root):
    rel = f"tests/bad/{name}"
    text = render(rel)
    assert_golden(BAD / (Path(name).stem + ".expected"), text)
    net = elaborate(path=rel)
    assert any(d.is_error for d in net.diagnostics), "a bad spec must have at least one error"
    for d in net.diagnostics:
        assert d.span is not None and d.span.line >= 1 and d.span.col >= 1


def test_cli_prints_all_errors_and_exits_1():
    proc = run_cli("check", "tests/bad/unknown_names.isp")
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    # every error of the file in one run
    assert proc.stderr.count(": error:") == 7
    assert "did you mean 'act'?" in proc.stderr
    assert "did you mean 'maxpool'?" in proc.stderr
    assert "did you mean 'incept'?" in proc.stderr
    assert "did you mean 'num_classes'?" in proc.stderr
    assert proc.stderr.rstrip().endswith("tests/bad/unknown_names.isp: 7 errors")


def test_residual_mismatch_names_both_numbers():
    net = elaborate(path=str(BAD / "residual_channels.isp"))
    (err,) = [d for d in net.diagnostics if d.is_error]
    assert "residual add" in err.message and "channel count" in err.message
    assert (err.span.line, err.span.col) == (4, 3)
    assert any("17x17x1152" in n for n in err.notes)
    assert any("17x17x1154" in n for n in err.notes)


def test_inexact_output_shows_formula():
    net = elaborate(path=str(BAD / "inexact_rounding.isp"))
    err = next(d for d in net.diagnostics if d.is_error)
    assert "(224 + 6 - 7) / 2 + 1 = 112.5" in err.notes[0]


# A byte order mark and old line ends: accepted, and diagnostics count lines and columns as an editor
# shows them (the BOM is no column; \r\n and a lone \r each end one line).
LINE_ENDS = {
    "cr": b"network n\rinput 8x8x3\rconv 3x3 nope\r",
    "crlf": b"network n\r\ninput 8x8x3\r\nconv 3x3 nope\r\n",
    "bom": b"\xef\xbb\xbfnetwork n\ninput 8x8x3\nconv 3x3 nope\n",
    "bom_cr": b"\xef\xbb\xbfnetwork n\rinput 8x8x3\rconv 3x3 nope\r",
    "mixed": b"network n\rinput 8x8x3\r\n\nconv 3x3 nope\n",
}
UNDEFINED = "error: undefined parameter 'nope' (for conv out, which expects an integer)"


@pytest.mark.parametrize("kind", sorted(LINE_ENDS))
def test_bom_and_line_ends_locate_errors(kind, tmp_path):
    (tmp_path / "x.isp").write_bytes(LINE_ENDS[kind])
    proc = run_cli("check", "x.isp", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    line = 4 if kind == "mixed" else 3
    assert proc.stderr.splitlines()[0] == f"x.isp:{line}:10: {UNDEFINED}"
    assert proc.stderr.rstrip().endswith("x.isp: 1 error")


def test_cr_only_syntax_error_on_line_3(tmp_path):
    (tmp_path / "x.isp").write_bytes(b"network n\rinput 8x8x3\rconv 3x3 = 4\r")
    proc = run_cli("check", "x.isp", cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.splitlines()[0] == "x.isp:3:10: error: unexpected '='"


def test_bom_syntax_error_on_line_1_counts_columns_after_it(tmp_path):
    (tmp_path / "x.isp").write_bytes(b"\xef\xbb\xbfnetwork n(a = )\ninput 8x8x3\n")
    proc = run_cli("check", "x.isp", cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.splitlines()[0] == "x.isp:1:15: error: unexpected ')'"


def test_bom_and_cr_only_specs_check_clean(tmp_path):
    text = (ROOT / "specs" / "googlenet_bn.isp").read_bytes()
    for kind, data in {
        "bom": b"\xef\xbb\xbf" + text,
        "cr": text.replace(b"\n", b"\r"),
        "crlf": text.replace(b"\n", b"\r\n"),
    }.items():
        (tmp_path / f"{kind}.isp").write_bytes(data)
        net = elaborate(path=str(tmp_path / f"{kind}.isp"))
        assert net.diagnostics == [], kind
        assert net.input is not None and len(net.rows) > 10


QUOTED = {
    "cr": (LINE_ENDS["cr"], [" 3 | conv 3x3 nope", "   |          ^^^^"]),
    "mixed": (LINE_ENDS["mixed"], [" 4 | conv 3x3 nope", "   |          ^^^^"]),
    "bom": (b"\xef\xbb\xbfnetwork n(a = )\n", [" 1 | network n(a = )", "   |               ^"]),
}


@pytest.mark.parametrize("kind", sorted(QUOTED))
def test_bom_and_line_ends_quote_the_line_they_name(kind, tmp_path):
    """The quoted source line and caret come from the text the spans count in (the loader must keep
    the parser's normalised text: inspec.language.parser.normalize_source)."""
    data, quoted = QUOTED[kind]
    (tmp_path / "x.isp").write_bytes(data)
    proc = run_cli("check", "x.isp", cwd=tmp_path)
    assert proc.stderr.splitlines()[1:3] == quoted
