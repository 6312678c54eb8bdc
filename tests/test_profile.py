"""`inspec profile`: each table row timed on its module (forward hooks), beside its ops."""

import json
import math

import pytest
import torch
from click.testing import CliRunner

from inspec.analysis.elaborate import elaborate
from inspec.backends.profile import (
    _build,
    _CpuClock,
    _modules,
    _row_times,
    profile,
    render_text,
)
from inspec.backends.table import rows
from inspec.cli import cli
from tests.conftest import run_cli

# a stem, a seq holding a repeat (one table row for two modules), a row switched off, a side head
# (not run in eval mode) and a softmax (a function of forward, no module)
SPEC = """network p(c = 8, extra = false)
input 16x16x3

block pair(n) { conv 3x3 n act=relu; conv 1x1 n act=relu }
block head(k) { avgpool global; flatten; linear k }

conv (stem) 3x3 c act=relu
seq features {
  2 x pair c
  maxpool 2x2/2
}
conv (more) 3x3 c if extra
side head (aux) 5
avgpool global
flatten
linear (fc) 10
softmax
"""
QUICK = ("--repeats", "2", "--warmup", "1", "--threads", "1")
NOTES = {"more": "off", "aux": "not run", "softmax": "no module"}


@pytest.fixture
def spec(tmp_path):
    (tmp_path / "p.isp").write_text(SPEC)
    return tmp_path


@pytest.fixture(scope="module")
def net():
    n = elaborate(text=SPEC)
    assert n.ok, [d.message for d in n.diagnostics]
    return n


@pytest.mark.parametrize("granularity", ["rows", "layers"])
def test_rows_are_the_tables_and_times_are_positive(net, granularity):
    found = profile(net, granularity=granularity, repeats=2, warmup=1, threads=1)
    assert [r.row.path for r in found.rows] == [tr.path for tr in rows(net, granularity)]
    for r in found.rows:
        top = r.row.path.split(".")[0]
        if top in NOTES:
            assert r.ms is None and r.note == NOTES[top], r.row.path
        else:
            assert r.ms is not None and math.isfinite(r.ms) and r.ms > 0 and r.note == "", (
                r.row.path
            )
    assert found.total_ms > 0 and found.rows_ms() > 0
    timed = found.timed()
    shares = [found.shares(r) for r in timed]
    assert sum(t for t, _ in shares) == pytest.approx(100)
    assert sum(o for _, o in shares) == pytest.approx(100)
    assert found.setup.threads == 1 and found.setup.torch == torch.__version__


def test_a_repeat_row_is_timed_from_its_first_instance_to_its_last(net):
    named = dict(_build(net, {}, inference=False).named_modules())
    assert _modules(named, "features.0..1") == (named["features.0"], named["features.1"])
    assert _modules(named, "stem") == (named["stem"], named["stem"])
    assert _modules(named, "softmax") is None
    deep = {"s.b.x-0": 1, "s.b.x-5": 2}  # a range whose paths have several parts
    assert _modules(deep, "s.b.x-0..x-5") == (1, 2)
    found = profile(net, repeats=1, warmup=0, threads=1)
    row = next(r for r in found.rows if r.row.path == "features.0..1")
    assert row.row.type == "features.0..1: 2 x pair" and row.ms is not None and row.ms > 0


def test_hooks_are_removed_and_threads_restored(net):
    saved = torch.get_num_threads()
    module = _build(net, {}, inference=False)
    with torch.inference_mode():
        _row_times(module, rows(net, "layers"), _CpuClock(), torch.randn(1, 3, 16, 16), 1)
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in module.modules())
    profile(net, repeats=1, warmup=0, threads=1)
    assert torch.get_num_threads() == saved


def test_parameters_reach_the_module(net):
    four = elaborate(text=SPEC, params={"c": 4})
    assert _build(four, {"c": 4}, inference=False).stem.conv.out_channels == 4
    found = profile(four, {"c": 4}, repeats=1, warmup=0, threads=1)
    assert found.rows[0].row.output == [16, 16, 4] and found.rows[0].ms > 0


def test_inference_export_and_bfloat16(net):
    found = profile(net, dtype="bfloat16", inference=True, repeats=1, warmup=0, threads=1)
    assert found.setup.inference and found.setup.dtype == "bfloat16"
    assert all(r.ms > 0 for r in found.rows if r.row.path not in NOTES)
    text = render_text(found)
    assert "batch 1, bfloat16, the inference export" in text.splitlines()[0]


INCEPTION = """network i()
input 12x12x8
defaults conv(bn = true, act = relu)
concat {
  branch b0 { conv 1x1 6 }
  branch b1 { conv 1x1 4; conv 3x3 6; conv 3x3 6 }
  branch b2 { avgpool 3x3/1; conv 1x1 5 }
}
"""


def test_the_export_times_a_layer_on_its_own_module():
    """In the inference export a merged conv's members and a hoisted pool have no module of their
    own, and a row after a merged conv is timed on the module that now computes it (b1's second
    conv is the export's b1.0), not on the module that has its training path."""
    found = profile(elaborate(text=INCEPTION), granularity="layers", inference=True, repeats=1,
                    warmup=0, threads=1)  # fmt: skip
    notes = {r.row.path: r.note for r in found.rows}
    assert notes == {
        "b0": "no module",
        "b1.0": "no module",
        "b1.1": "",
        "b1.2": "",
        "b2.0": "no module",
        "b2.1": "no module",
    }
    assert all(r.ms > 0 for r in found.rows if not r.note)


def test_json_is_well_formed_and_says_how_it_was_measured(spec):
    r = run_cli("profile", "p.isp", "-f", "json", "--batch", "2", *QUICK, cwd=spec)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["measured"] == {
        "device": "cpu",
        "device_name": None,
        "threads": 1,
        "batch": 2,
        "dtype": "float32",
        "repeats": 2,
        "warmup": 1,
        "inference": False,
        "torch": torch.__version__,
        "timer": "time.perf_counter",
    }
    table = json.loads(run_cli("table", "p.isp", "-f", "json", cwd=spec).stdout)
    assert [row["name"] for row in doc["rows"]] == [row["name"] for row in table["rows"]]
    assert [row["ops"] for row in doc["rows"]] == [row["ops"] for row in table["rows"]]
    for row in doc["rows"]:
        if row["name"] in NOTES:
            assert row["ms"] is None and row["note"] == NOTES[row["name"]]
        else:
            assert row["ms"] > 0 and row["note"] is None and 0 <= row["time_percent"] <= 100
    assert doc["total"]["ms"] > 0
    assert doc["total"]["rows_ms"] == pytest.approx(sum(row["ms"] or 0 for row in doc["rows"]))


def test_text_says_how_it_was_measured(spec):
    r = run_cli("profile", "p.isp", "-g", "layers", *QUICK, cwd=spec)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "p: input 16x16x3, batch 1, float32, the training module in eval mode"
    assert lines[1] == (
        f"measured on cpu with 1 CPU thread, torch {torch.__version__}: "
        "1 warm-up pass, then 2 timed passes of each kind"
    )
    assert "(time.perf_counter)" in lines[2]
    assert lines[3] == "total: the median of 2 whole forward passes without hooks"
    assert lines[5].split() == [
        "row", "type", "output", "ops", "ms", "time", "%", "ops", "%", "time/ops"
    ]  # fmt: skip
    body = {line.split()[0]: line for line in lines[7:] if line and not line.startswith("-")}
    assert body["features.0.conv1"].split()[2] == "16x16x8"
    assert body["softmax"].endswith("no module") and body["aux.linear"].endswith("not run")
    assert any(line.startswith("total (whole passes)") for line in lines)
    assert "not run: its module was not called in eval mode (a side head)." in lines


@pytest.mark.parametrize(
    "args",
    [
        ("--batch", "0"),
        ("--repeats", "0"),
        ("--warmup", "-1"),
        ("--threads", "0"),
        ("--dtype", "float64"),
        ("--device", "tpu"),
        ("-g", "blocks"),
        ("-f", "csv"),
        ("-p", "nope=1"),
        ("-p", "c"),
    ],
)
def test_bad_options_exit_2(spec, args):
    r = CliRunner().invoke(cli, ["profile", str(spec / "p.isp"), *args])
    assert r.exit_code == 2, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit)


def test_cuda_without_cuda_exits_2(spec, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    r = CliRunner().invoke(cli, ["profile", str(spec / "p.isp"), "--device", "cuda"])
    assert r.exit_code == 2
    assert "Invalid value for --device: CUDA is not available here" in r.output
    assert "use --device cpu" in r.output


def test_a_spec_with_errors_exits_1(spec):
    (spec / "bad.isp").write_text("network x\ninput 8x8x3\nconv 3x3 16 groups=5\n")
    r = run_cli("profile", "bad.isp", *QUICK, cwd=spec)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "groups=5 does not divide the 3 input channels" in r.stderr and r.stdout == ""


def test_a_top_level_repeat_of_named_instances_is_one_timed_row(tmp_path):
    """`3 x cb (layer1..) 8` at the top: modules layer1..layer3, one table row spanning them, timed
    from layer1's pre-hook to layer3's hook (it was `layer(x)`, with no module)."""
    text = "network t\ninput 8x8x4\nblock cb(out) {\n  conv 3x3 out act=relu\n}\n"
    text += "3 x cb (layer1..) 8\nflatten\nlinear 10\n"
    (tmp_path / "t.isp").write_text(text)
    table = json.loads(run_cli("table", str(tmp_path / "t.isp"), "-f", "json").stdout)
    assert table["rows"][0]["name"] == "layer1..layer3"
    r = run_cli("profile", str(tmp_path / "t.isp"), "-f", "json", *QUICK)
    assert r.returncode == 0, r.stderr
    first = json.loads(r.stdout)["rows"][0]
    assert first["name"] == "layer1..layer3" and first["ms"] > 0
