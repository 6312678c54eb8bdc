"""Sweeps on `inspec table`: -p NAME=v1,v2 and NAME=START:STOP:STEP print one line per point."""

import csv
import io
import json

import pytest

from inspec.backends.sweep import MAX_POINTS, SweepError, frange, grid
from tests.conftest import run_cli

SPEC = "network t(c = 8, g = 1)\ninput 8x8x4\nconv 3x3 c groups=g\nconv 1x1 10\n"


@pytest.fixture
def spec(tmp_path):
    (tmp_path / "t.isp").write_text(SPEC)
    return tmp_path


def table(cwd, *args):
    return run_cli("table", "t.isp", *args, cwd=cwd)


@pytest.mark.parametrize(
    "bounds,values",
    [
        (("0.5", "1.5", "0.25"), [0.5, 0.75, 1.0, 1.25, 1.5]),
        (("0.1", "0.3", "0.1"), [0.1, 0.2, 0.3]),  # decimal arithmetic: 0.3 is reached exactly
        (("1", "10", "4"), [1, 5, 9]),  # 13 would pass the stop
        (("16", "64", "16"), [16, 32, 48, 64]),
        (("10", "1", "-3"), [10, 7, 4, 1]),
        (("0", "1", "0.3"), [0.0, 0.3, 0.6, 0.9]),
        (("1", "3", "1.0"), [1.0, 2.0, 3.0]),  # a decimal point anywhere: floats
        (("1_000", "2_000", "1_000"), [1000, 2000]),
    ],
)
def test_frange(bounds, values):
    got = frange(*bounds)
    assert got == values
    assert [type(v) for v in got] == [type(v) for v in values]


@pytest.mark.parametrize(
    "bounds,message",
    [
        (("1", "4", "0"), "the step of a range must not be 0"),
        (("1", "0", "1"), "the range 1:0:1 holds no value (it counts from start towards stop)"),
        (("1", "5000", "1"), f"the range 1:5000:1 holds 5,000 values (at most {MAX_POINTS:,})"),
    ],
)
def test_frange_errors(bounds, message):
    with pytest.raises(SweepError) as e:
        frange(*bounds)
    assert str(e.value) == message


def test_grid_is_the_product_first_parameter_slowest():
    assert grid({"a": [1, 2], "b": ["x", "y"]}) == [
        {"a": 1, "b": "x"},
        {"a": 1, "b": "y"},
        {"a": 2, "b": "x"},
        {"a": 2, "b": "y"},
    ]
    with pytest.raises(SweepError, match="the sweep has 1,600 points"):
        grid({"a": list(range(40)), "b": list(range(40))})


def test_sweep_text_with_a_failing_point(spec):
    r = table(spec, "-p", "c=8,16", "-p", "g=1:3:1")
    assert r.returncode == 1  # a point with errors
    assert r.stdout == (
        "t: input 8x8x4; sweep of c (2 values) x g (3 values) = 6 points\n"
        "\n"
        " c  g  params     ops  output\n"
        "--  -  ------  ------  ----------------------------------------------------\n"
        " 8  1     386  23,552  8x8x10\n"
        " 8  2     242  14,336  8x8x10\n"
        " 8  3                  error: groups=3 does not divide the 4 input channels\n"
        "16  1     762  47,104  8x8x10\n"
        "16  2     474  28,672  8x8x10\n"
        "16  3                  error: groups=3 does not divide the 4 input channels\n"
        "\n"
        "params and ops: the totals without side heads (the table's first total); "
        "units: exact counts.\n"
    )
    # the error once (the same diagnostic at both points), then a line for each failing point
    assert r.stderr == (
        "t.isp:3:1: error: groups=3 does not divide the 4 input channels\n"
        " 3 | conv 3x3 c groups=g\n"
        "   | ^^^^^^^^^^^^^^^^^^^\n"
        "   = note: 4 / 3 = 1.33333\n"
        "   = note: input: 8x8x4\n"
        "t.isp with c=8, g=3: 1 error\n"
        "t.isp with c=16, g=3: 1 error\n"
    )


def test_sweep_with_a_fixed_parameter_markdown(spec):
    r = table(spec, "-p", "c=4,8", "-p", "g=2", "-f", "markdown")
    assert r.returncode == 0, r.stderr
    assert r.stdout == (
        "**t**: input 8x8x4, g=2; sweep of c (2 values) = 2 points\n"
        "\n"
        "| c | params | ops | output |\n"
        "|---:|---:|---:|---|\n"
        "| 4 | 126 | 7,168 | 8x8x10 |\n"
        "| 8 | 242 | 14,336 | 8x8x10 |\n"
        "\n"
        "params and ops: the totals without side heads (the table's first total); "
        "units: exact counts.\n"
    )


def test_sweep_csv_and_json(spec):
    r = table(spec, "-p", "c=8,16", "-p", "g=1,3", "-f", "csv")
    assert r.returncode == 1
    assert list(csv.reader(io.StringIO(r.stdout))) == [
        ["c", "g", "params", "weights", "ops", "output", "ok"],
        ["8", "1", "386", "368", "23552", "8x8x10", "1"],
        ["8", "3", "", "", "", "", "0"],
        ["16", "1", "762", "736", "47104", "8x8x10", "1"],
        ["16", "3", "", "", "", "", "0"],
    ]
    r = table(spec, "-p", "c=0.5:1:0.5", "-p", "c=8,16", "-f", "json")  # the later -p of c wins
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["swept"] == {"c": [8, 16]} and data["fixed"] == {}
    first = data["points"][0]
    assert first == {
        "values": {"c": 8},
        "parameters": {"c": 8, "g": 1},
        "ok": True,
        "errors": [],
        "input": [8, 8, 4],
        "output": [8, 8, 10],
        "totals": {
            "params": 386,
            "weights": 368,
            "ops": 23552,
            "with_side_heads": {"params": 386, "weights": 368, "ops": 23552},
        },
    }
    r = table(spec, "-p", "g=1,3", "-f", "json")
    bad = json.loads(r.stdout)["points"][1]
    assert bad["ok"] is False and bad["output"] is None and bad["totals"] is None
    assert bad["errors"] == ["groups=3 does not divide the 4 input channels"]


def test_sweep_latex(spec):
    r = table(spec, "-p", "c=8,16", "-f", "latex")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[6:14] == [
        r"\begin{tabular}{rrrl}",
        r"\toprule",
        r" c & params &    ops & output               \\",
        r"\midrule",
        r" 8 &    386 & 23,552 & 8$\times$8$\times$10 \\",
        r"16 &    762 & 47,104 & 8$\times$8$\times$10 \\",
        r"\bottomrule",
        r"\end{tabular}",
    ]


def test_a_list_of_one_value_is_an_ordinary_param(spec):
    plain = table(spec, "-p", "c=16")
    assert plain.returncode == 0 and plain.stdout.startswith("t: input 8x8x4\n\ntype")
    for same in ("c=16:16:1", "c=16:20:8"):
        assert table(spec, "-p", same).stdout == plain.stdout


def test_sweep_of_words_and_a_googlenet_width(in_root):
    r = run_cli(
        "table", "specs/googlenet.isp", "-p", "num_classes=10,1000", "-p", "aux_logits=true,false"
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[2:8] == [
        "num_classes  aux_logits  params  with side heads    ops  output",
        "-----------  ----------  ------  ---------------  -----  --------",
        "         10  true         5844K           10092K  1582M  1x1x10",
        "         10  false        5844K            5844K  1582M  1x1x10",
        "       1000  true         6835K           13065K  1583M  1x1x1000",
        "       1000  false        6835K            6835K  1583M  1x1x1000",
    ]


@pytest.mark.parametrize(
    "value,message",
    [
        ("c=8,", "c: an empty value in the list '8,'"),
        ("c=1:4:0", "c: the step of a range must not be 0"),
        ("c=1:2000:1", "c: the range 1:2000:1 holds 2,000 values (at most 1,000)"),
        ("c=1:" + "9" * 20 + ":1", "c: a number may have at most 15 digits (this one has 20)"),
    ],
)
def test_sweep_usage_errors(spec, value, message):
    r = table(spec, "-p", value)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.splitlines()[-1] == f"Error: Invalid value for --param: {message}"


def test_other_commands_keep_a_comma_as_a_string(spec):
    r = run_cli("check", "t.isp", "-p", "c=8,16", cwd=spec)
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_sweep_imports_no_torch():
    from tests.test_cli import _modules_loaded_by

    assert _modules_loaded_by("table", "specs/googlenet.isp", "-p", "num_classes=10,20") == []
