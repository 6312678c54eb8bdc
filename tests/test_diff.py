"""`inspec diff A.isp B.isp`: rows aligned by module path, then by order; deltas and totals."""

import json

import pytest

from inspec.analysis.elaborate import elaborate
from inspec.backends.diff import align, diff, kind, percent
from inspec.backends.table import rows
from tests.conftest import run_cli

A = """network a(c = 16)
input 32x32x3
conv (stem) 3x3 c
maxpool 2x2/2
conv (mid) 3x3 32
conv (head) 1x1 10
"""
B = """network b(c = 16)
input 32x32x3
conv (stem) 3x3 c
conv (extra) 3x3 c
maxpool 2x2/2
conv (head) 1x1 10
"""
FOOTER = (
    "~ changed, + added (only in B), - removed (only in A); Δ = B - A, in percent of A; "
    "(n): a row switched off, left out of the totals; units: exact counts.\n"
)


@pytest.fixture
def specs(tmp_path):
    (tmp_path / "a.isp").write_text(A)
    (tmp_path / "b.isp").write_text(B)
    return tmp_path


def test_diff_text(specs):
    r = run_cli("diff", "a.isp", "b.isp", cwd=specs)
    assert r.returncode == 0 and r.stderr == ""
    assert r.stdout == (
        "A = a.isp (a), B = b.isp (b)\n"
        "rows: 1 changed, 1 added, 1 removed, 2 same\n"
        "\n"
        "row        type         output A  output B  params A  params B          Δ params      ops A      ops B                 Δ ops\n"
        "---------  -----------  --------  --------  --------  --------  ----------------  ---------  ---------  --------------------\n"
        "  stem     convolution  32x32x16  32x32x16       448       448                      442,368    442,368\n"
        "+ extra    convolution            32x32x16               2,320            +2,320             2,359,296            +2,359,296\n"
        "  maxpool  max pool     16x16x16  16x16x16         0         0                            0          0\n"
        "- mid      convolution  16x16x32               4,640                      -4,640  1,179,648                       -1,179,648\n"
        "~ head     convolution  16x16x10  16x16x10       330       170              -160     81,920     40,960               -40,960\n"
        "---------  -----------  --------  --------  --------  --------  ----------------  ---------  ---------  --------------------\n"
        "  total                                        5,418     2,938  -2,480 (-45.77%)  1,703,936  2,842,624  +1,138,688 (+66.83%)\n"
        "\n" + FOOTER
    )


def test_diff_a_spec_with_itself_markdown(specs):
    """-p applies to both sides, --pb (after it) to B only."""
    r = run_cli("diff", "a.isp", "a.isp", "-p", "c=8", "--pa", "c=16", "-f", "markdown", cwd=specs)
    assert r.returncode == 0, r.stderr
    assert r.stdout == (
        "**diff**: A = a.isp (a), B = a.isp (a); rows: 3 changed, 0 added, 0 removed, 1 same\n"
        "\n"
        "| row | type | output A | output B | params A | params B | Δ params | ops A | ops B | Δ ops |\n"
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|\n"
        "| ~ stem | convolution | 32x32x16 | 32x32x8 | 448 | 224 | -224 | 442,368 | 221,184 | -221,184 |\n"
        "| ~ maxpool | max pool | 16x16x16 | 16x16x8 | 0 | 0 |   | 0 | 0 |   |\n"
        "| ~ mid | convolution | 16x16x32 | 16x16x32 | 4,640 | 2,336 | -2,304 | 1,179,648 | 589,824 | -589,824 |\n"
        "| head | convolution | 16x16x10 | 16x16x10 | 330 | 330 |   | 81,920 | 81,920 |   |\n"
        "| **total** |   |   |   | **5,418** | **2,890** | **-2,528 (-46.66%)** | **1,703,936** | **892,928** | **-811,008 (-47.60%)** |\n"
        "\n" + FOOTER
    )
    same = run_cli("diff", "a.isp", "a.isp", "--pb", "c=16", cwd=specs)
    assert "rows: 0 changed, 0 added, 0 removed, 4 same" in same.stdout
    assert "  total" in same.stdout and "0 (+0.00%)" in same.stdout


def test_diff_json(specs):
    r = run_cli("diff", "a.isp", "b.isp", "-f", "json", cwd=specs)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["schema"] == 1 and data["granularity"] == "rows"
    assert data["a"] == {
        "file": "a.isp",
        "network": "a",
        "input": [32, 32, 3],
        "parameters": {"c": 16},
    }
    assert data["summary"] == {"same": 2, "changed": 1, "added": 1, "removed": 1}
    assert [
        (x["status"], (x["a"] or {}).get("name"), (x["b"] or {}).get("name")) for x in data["rows"]
    ] == [
        ("same", "stem", "stem"),
        ("added", None, "extra"),
        ("same", "maxpool", "maxpool"),
        ("removed", "mid", None),
        ("changed", "head", "head"),
    ]
    head = data["rows"][4]
    assert head["a"] == {
        "name": "head",
        "type": "convolution (head)",
        "kind": "convolution",
        "output": [16, 16, 10],
        "args": {},
        "params": 330,
        "weights": 320,
        "ops": 81920,
        "side": False,
        "active": True,
    }
    assert head["delta"] == {"params": -160, "weights": -160, "ops": -40960}
    t = data["totals"]
    assert t["a"] == {"params": 5418, "weights": 5360, "ops": 1703936}
    assert t["delta"] == {"params": -2480, "weights": -2464, "ops": 1138688}
    assert t["percent"]["params"] == pytest.approx(-2480 / 5418 * 100)
    assert t["with_side_heads"]["delta"] == t["delta"]


def test_errors_of_either_side_exit_1_a_bad_param_2(specs):
    (specs / "bad.isp").write_text("network x\ninput 8x8x3\nconv 3x3 16 groups=5\n")
    r = run_cli("diff", "bad.isp", "b.isp", cwd=specs)
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.startswith(
        "bad.isp:3:1: error: groups=5 does not divide the 3 input channels\n"
    )
    assert r.stderr.endswith("bad.isp: 1 error\n")
    r = run_cli("diff", "a.isp", "a.isp", "--pb", "nosuch=1", cwd=specs)
    assert r.returncode == 2 and r.stdout == ""  # a bad -p is a usage error, as for table
    assert "network 'a' has no parameter 'nosuch'" in r.stderr
    assert run_cli("diff", "a.isp", cwd=specs).returncode == 2
    assert run_cli("diff", "a.isp", "b.isp", "--pa", "oops", cwd=specs).returncode == 2


def test_align_by_path_then_by_order():
    a = rows(elaborate(text=A))
    renamed = rows(elaborate(text=A.replace("(mid)", "").replace("(head)", "(top)")))
    assert [(p.status, p.path()) for p in align(a, renamed)] == [
        ("same", "stem"),
        ("same", "maxpool"),
        ("changed", "mid -> conv"),  # after the last match, the rest paired by order
        ("changed", "head -> top"),  # only the name differs: still a change
    ]
    b = rows(elaborate(text=B.replace("(extra)", "").replace("(head)", "(top)")))
    assert [(p.status, p.path()) for p in align(a, b)] == [
        ("same", "stem"),
        ("added", "conv"),
        ("same", "maxpool"),
        ("changed", "mid -> top"),  # by order, whatever the rows are
        ("removed", "head"),
    ]


def test_googlenet_against_torchvisions(in_root):
    a, b = elaborate(path="specs/googlenet.isp"), elaborate(path="specs/googlenet_bn.isp")
    d = diff(a, b)
    assert d.counts() == {"same": 5, "changed": 16, "added": 0, "removed": 2}
    removed = [p.a.path for p in d.pairs if p.status == "removed"]
    assert removed == ["lrn1", "softmax"]
    (inception,) = [p for p in d.pairs if p.a and p.a.path == "inception3a"]
    assert kind(inception.a) == kind(inception.b) == "inception"  # labels (3a) and names differ
    assert inception.delta("params") == 155_872 - 163_696
    assert percent(0, 0) == 0.0 and percent(0, 5) is None and percent(4, 5) == 25.0


def test_diff_imports_no_torch():
    from tests.test_cli import _modules_loaded_by

    assert _modules_loaded_by("diff", "specs/googlenet.isp", "specs/googlenet_bn.isp") == []
