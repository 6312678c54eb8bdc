"""`inspec check --strict`: every `expect` that disagrees is an error; the default is unchanged. And
the pre-commit hook that runs it."""

from inspec.analysis.elaborate import elaborate
from inspec.diagnostics import EXPECT, Severity, promote
from tests.conftest import ROOT, run_cli

SPEC = """network small(c = 16)
input 32x32x3
conv (stem) 3x3/2 c pad=1      expect output=16x16x16 params=448 ops=110K
maxpool 2x2/2                  expect output=8x8x15 depth=0
"""

OPS = "small.isp:3:66: {sev}: ops: expected 110K, computed 110,592 = 110.59K (+0.5%)"
OPS_SRC = """ 3 | conv (stem) 3x3/2 c pad=1      expect output=16x16x16 params=448 ops=110K
   |                                                                  ^^^^^^^^
   = note: agreement means within half a unit of the printed last digit (units: K = 10^3, M = 10^6, G = 10^9)"""
OUT = "small.isp:4:39: {sev}: expected output 8x8x15, computed 8x8x16"
OUT_SRC = """ 4 | maxpool 2x2/2                  expect output=8x8x15 depth=0
   |                                       ^^^^^^^^^^^^^
   = note: the spec says output=8x8x15"""
# a warning that is not about an expectation: --strict leaves it a warning
TILE = """small.isp:3:1: warning: conv 3x3/2 does not tile the 32x32 input exactly
 3 | conv (stem) 3x3/2 c pad=1      expect output=16x16x16 params=448 ops=110K
   | ^^^^^^^^^^^^^^^^^^^^^^^^^
   = note: height: (32 + 2 - 3) / 2 + 1 = 16.5, rounded down to 16
   = note: width: (32 + 2 - 3) / 2 + 1 = 16.5, rounded down to 16
   = note: say round=floor (or ceil, or exact) to make the choice explicit"""
NOTE = "   = note: an error under --strict: every expectation must agree (a warning without it)"


def _spec(tmp_path):
    (tmp_path / "small.isp").write_text(SPEC)
    return tmp_path


def test_default_check_warns_and_exits_0(tmp_path):
    r = run_cli("check", "small.isp", cwd=_spec(tmp_path))
    assert r.returncode == 0
    assert r.stderr == "\n".join(
        [TILE, OPS.format(sev="warning"), OPS_SRC, OUT.format(sev="warning"), OUT_SRC, ""]
    )
    assert r.stdout == (
        "small.isp: ok (3 warnings): small: 32x32x3 -> 8x8x16, 448 params, 110,592 multiply-adds\n"
    )


def test_strict_makes_every_disagreement_an_error(tmp_path):
    r = run_cli("check", "--strict", "small.isp", cwd=_spec(tmp_path))
    assert r.returncode == 1
    assert r.stdout == ""
    assert r.stderr == "\n".join(
        [
            TILE,
            OPS.format(sev="error"),
            OPS_SRC,
            NOTE,
            OUT.format(sev="error"),
            OUT_SRC,
            "small.isp: 2 errors, 1 warning",
            "",
        ]
    )
    quiet = run_cli("check", "--strict", "-q", "small.isp", cwd=tmp_path)
    assert quiet.returncode == 1
    assert quiet.stderr == r.stderr.replace(TILE + "\n", "")


def test_strict_passes_a_spec_whose_expectations_agree(tmp_path):
    good = SPEC.replace("110K", "111K").replace("8x8x15", "8x8x16")
    (tmp_path / "good.isp").write_text(good)
    r = run_cli("check", "--strict", "good.isp", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("good.isp: ok (1 warning): small:")


def test_strict_leaves_other_warnings_alone(in_root):
    """Only the audit's warnings are promoted: notes go (as with any error), other findings stay."""
    net = elaborate(path="specs/googlenet.isp")
    audit = [d for d in net.diagnostics if d.code == EXPECT]
    assert len(audit) == 12 and all(d.severity is Severity.WARNING for d in audit)
    strict = promote(net.diagnostics, EXPECT, "n")
    assert [d.severity for d in strict] == [Severity.ERROR] * 12
    assert [d.message for d in strict] == [d.message for d in audit]
    assert sum(d.notes[-1:] == ("n",) for d in strict) == 1  # the note once, on the first
    assert promote([], EXPECT, "n") == []


def test_strict_on_the_shipped_specs(in_root):
    r = run_cli("check", "--strict", "-q", "specs/googlenet.isp", "specs/zoo/mobilenet_v2.isp")
    assert r.returncode == 1
    assert r.stderr.count(": error: ") == 12 and r.stderr.endswith(
        "specs/googlenet.isp: 12 errors\n"
    )
    ok = run_cli("check", "--strict", "specs/zoo/mobilenet_v2.isp", "specs/blocks/googlenet.isp")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.splitlines()[1] == "specs/blocks/googlenet.isp: ok (block library)"


def test_pre_commit_hooks():
    text = (ROOT / ".pre-commit-hooks.yaml").read_text()
    assert text.startswith("- id: inspec-check\n")
    hooks = {}
    for chunk in text.split("- id: ")[1:]:
        hook_id, *lines = chunk.strip().splitlines()
        hooks[hook_id] = dict(line.strip().split(": ", 1) for line in lines)
    assert list(hooks) == ["inspec-check", "inspec-fmt"]
    assert hooks["inspec-check"]["entry"] == "inspec check --strict"
    assert hooks["inspec-fmt"]["entry"] == "inspec fmt"
    for fields in hooks.values():
        assert fields["language"] == "python"
        assert fields["files"] == r"\.isp$"
