"""The table backend: golden tables of GoogLeNet and the figures of the paper's Table 1."""

import csv
import io
import json

import pytest

from inspec.analysis.elaborate import elaborate
from inspec.backends.table import RENDERERS, to_json
from tests.conftest import run_cli
from tests.golden import assert_golden


@pytest.fixture(scope="module")
def googlenet():
    import os

    from tests.conftest import ROOT

    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        return elaborate(path="specs/googlenet.isp")
    finally:
        os.chdir(cwd)


@pytest.mark.parametrize(
    "fmt,units,granularity",
    [
        ("text", "paper", "rows"),
        ("text", "exact", "rows"),
        ("markdown", "paper", "rows"),
        ("json", "exact", "rows"),
        ("csv", "exact", "rows"),
        ("text", "exact", "layers"),
    ],
)
def test_googlenet_table_golden(googlenet, fmt, units, granularity):
    text = RENDERERS[fmt](googlenet, granularity, units)
    ext = {"text": "txt", "markdown": "md", "json": "json", "csv": "csv"}[fmt]
    assert_golden(f"googlenet.table.{units}.{granularity}.{ext}", text)


# Table 1 of the paper, as printed: output sizes (all reproduced) and the rows it got right.
TABLE1_OUTPUTS = {
    "conv1": (112, 112, 64),
    "maxpool1": (56, 56, 64),
    "conv2": (56, 56, 192),
    "maxpool2": (28, 28, 192),
    "inception3a": (28, 28, 256),
    "inception3b": (28, 28, 480),
    "maxpool3": (14, 14, 480),
    "inception4a": (14, 14, 512),
    "inception4b": (14, 14, 512),
    "inception4c": (14, 14, 512),
    "inception4d": (14, 14, 528),
    "inception4e": (14, 14, 832),
    "maxpool4": (7, 7, 832),
    "inception5a": (7, 7, 832),
    "inception5b": (7, 7, 1024),
    "avgpool": (1, 1, 1024),
    "fc": (1, 1, 1000),
}


def test_googlenet_reproduces_every_output_size_of_table1(googlenet):
    by_name = {r.node.name: r.node for r in googlenet.rows}
    for name, shape in TABLE1_OUTPUTS.items():
        s = by_name[name].out_shape
        assert (s.h, s.w, s.c) == shape, name


def test_googlenet_audit_flags_exactly_the_misprints(googlenet):
    """Computed by hand from the paper's widths (weights only, K = 1024, M = 10^6)."""
    flagged = {
        (d.span.line, d.message.split(":")[0])
        for d in googlenet.diagnostics
        if not d.is_error and ("weights:" in d.message or "ops:" in d.message)
    }
    rows = {r.node.name: r.node.span.line for r in googlenet.rows}
    want = {
        (rows["conv1"], "weights"),  # 9,408 weights = 9.2K, printed 2.7K
        (rows["conv1"], "ops"),  # 118.0M, printed 34M
        (rows["inception3b"], "weights"),  # 379.0K, printed 380K
        (rows["inception4a"], "weights"),  # 366.75K, printed 364K
        (rows["inception4a"], "ops"),  # 73.6M, printed 73M
        (rows["inception4b"], "weights"),  # 438.0K, printed 437K
        (rows["inception4c"], "weights"),  # 497.5K, printed 463K
        (rows["inception4d"], "weights"),  # 590.5K, printed 580K
        (rows["inception4e"], "weights"),  # 847.0K, printed 840K
        (rows["inception5a"], "weights"),  # 1018K, printed 1072K
        (rows["inception5a"], "ops"),  # 51.1M, printed 54M
        (rows["inception5b"], "weights"),  # 1409K, printed 1388K
    }
    assert flagged == want
    assert googlenet.ok


def test_googlenet_numbers_against_reference(googlenet):
    # REFERENCE.md 2.2: weight-only count for the paper's widths (no aux) is 6,990,272
    assert googlenet.totals().weights == 6_990_272
    aux = {r.node.name: r.node.cost for r in googlenet.rows if r.side}
    # REFERENCE.md 1.4: the two auxiliary heads
    assert aux["aux1"].params == 3_188_840 and aux["aux1"].ops == 4_169_728
    assert aux["aux2"].params == 3_190_888 and aux["aux2"].ops == 4_202_496


def test_json_schema(googlenet):
    data = to_json(googlenet)
    assert data["network"] == "googlenet"
    assert data["input"] == [224, 224, 3]
    assert set(data["convention"]) == {"params", "weights", "ops"}
    keys = {
        "name",
        "label",
        "type",
        "patch",
        "stride",
        "output",
        "depth",
        "args",
        "params",
        "weights",
        "ops",
        "side",
        "active",
    }
    for row in data["rows"]:
        assert set(row) == keys
    inc = next(r for r in data["rows"] if r["label"] == "3a")
    assert inc["args"] == {
        "#1x1": 64,
        "#3x3 reduce": 96,
        "#3x3": 128,
        "#5x5 reduce": 16,
        "#5x5": 32,
        "pool proj": 32,
    }
    assert inc["output"] == [28, 28, 256] and inc["depth"] == 2
    main = sum(r["params"] for r in data["rows"] if not r["side"])
    side = sum(r["params"] for r in data["rows"] if r["side"])
    assert data["totals"]["params"] == main
    assert data["totals"]["with_side_heads"]["params"] == main + side


def test_csv_parses(googlenet):
    rows = list(csv.DictReader(io.StringIO(RENDERERS["csv"](googlenet, "rows", "exact"))))
    assert rows[0]["type"] == "convolution (conv1)"
    assert rows[0]["output"] == "112x112x64"
    assert int(rows[0]["params"]) == 7 * 7 * 3 * 64 + 64


def test_cli_table_formats():
    for fmt in ("text", "markdown", "csv", "json"):
        proc = run_cli("table", "specs/googlenet.isp", "-f", fmt)
        assert proc.returncode == 0, proc.stderr
        assert "Traceback" not in proc.stderr
    proc = run_cli("table", "specs/googlenet.isp", "-f", "json")
    assert json.loads(proc.stdout)["totals"]["params"] == 6_998_552


def test_cli_table_param_override():
    proc = run_cli(
        "table",
        "specs/googlenet.isp",
        "-f",
        "json",
        "-p",
        "num_classes=10",
        "-p",
        "aux_logits=false",
    )
    data = json.loads(proc.stdout)
    assert data["rows"][-1]["output"] == [1, 1, 10]
    assert all(not r["active"] for r in data["rows"] if r["side"])


def test_a_repeat_of_none_names_what_it_repeats():
    """`k x rb 16` with k = 0: the row reads `0 x rb`, not its path (`0 x rb1`)."""
    from inspec.backends.table import rows as table_rows

    text = (
        "network n(k = 0)\ninput 8x8x8\nblock rb(out) {\n  conv 1x1 out\n}\nk x rb 8\nconv 1x1 4\n"
    )
    (first, _) = table_rows(elaborate(text=text))
    assert first.type == "0 x rb"
