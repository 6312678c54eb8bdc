"""A folder of bad specs, each with the exact diagnostics expected (tests/bad/NAME.expected).

The expected text is what `inspec check tests/bad/NAME.isp` prints on stderr. After an intended change
to a message, regenerate with scripts/regen-golden and review the diff.
"""

import os
from pathlib import Path

import pytest

from inspec.analysis.elaborate import elaborate
from tests.conftest import ROOT, run_cli

BAD = ROOT / "tests" / "bad"
CASES = sorted(p.name for p in BAD.glob("*.isp"))


def render(rel: str) -> str:
    net = elaborate(path=rel)
    return "\n".join(d.render(net.sources) for d in net.diagnostics) + "\n"


@pytest.mark.parametrize("name", CASES)
def test_bad_spec_golden_diagnostics(name, in_root):
    rel = f"tests/bad/{name}"
    text = render(rel)
    expected = BAD / (Path(name).stem + ".expected")
    if os.environ.get("INSPEC_REGEN") == "1":
        expected.write_text(text, encoding="utf-8")
    assert expected.exists(), f"write {expected} (scripts/regen-golden)"
    assert text == expected.read_text(encoding="utf-8")
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
