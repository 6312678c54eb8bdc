"""The command line: exit codes, messages, and the torch-free promise."""

import json

from tests.conftest import run_cli

NO_TORCH = """
import sys, runpy
sys.argv = ["inspec", *{args!r}]
try:
    runpy.run_module("inspec", run_name="__main__")
except SystemExit as e:
    code = e.code
heavy = sorted(m for m in ("torch", "graphviz", "numpy") if m in sys.modules)
print("HEAVY=" + ",".join(heavy), file=sys.stderr)
"""


def _modules_loaded_by(*args, tmp_path=None):
    import subprocess
    import sys

    from tests.conftest import ROOT

    proc = subprocess.run(
        [sys.executable, "-c", NO_TORCH.format(args=list(args))],
        cwd=tmp_path or ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    line = [x for x in proc.stderr.splitlines() if x.startswith("HEAVY=")]
    assert line, proc.stderr
    return line[-1][len("HEAVY=") :].split(",") if line[-1] != "HEAVY=" else []


def test_no_command_imports_torch(tmp_path):
    assert _modules_loaded_by("check", "specs/googlenet.isp") == []
    assert _modules_loaded_by("table", "specs/googlenet.isp", "-f", "json") == []
    out = tmp_path / "g.py"
    assert "torch" not in _modules_loaded_by("compile", "specs/googlenet.isp", "-q", "-o", str(out))
    assert out.exists()
    dot = tmp_path / "g.dot"
    assert "torch" not in _modules_loaded_by("diagram", "specs/googlenet.isp", "-o", str(dot))
    assert dot.exists()


def test_check_ok_exit_0_with_summary():
    proc = run_cli("check", "specs/googlenet.isp")
    assert proc.returncode == 0
    assert "specs/googlenet.isp: ok (12 warnings, 5 notes)" in proc.stdout
    assert "6,998,552 params" in proc.stdout


def test_check_quiet_prints_no_warnings():
    proc = run_cli("check", "-q", "specs/googlenet.isp")
    assert proc.returncode == 0 and proc.stderr == "" and proc.stdout == ""


def test_usage_errors_exit_2():
    assert run_cli("check").returncode == 2
    assert run_cli("check", "no/such/file.isp").returncode == 2
    assert run_cli("table", "specs/googlenet.isp", "-f", "yaml").returncode == 2
    assert run_cli("frobnicate").returncode == 2
    proc = run_cli("table", "specs/googlenet.isp", "-p", "oops")
    assert proc.returncode == 2 and "NAME=VALUE" in proc.stderr
    for p in (run_cli("check"), run_cli("check", "no/such/file.isp")):
        assert "Traceback" not in p.stderr


def test_unknown_network_parameter_is_a_usage_error():
    proc = run_cli("check", "specs/googlenet.isp", "-p", "num_clases=10")
    assert proc.returncode == 2  # a usage error since the papercuts (tests/test_papercuts.py)
    assert "has no parameter 'num_clases'" in proc.stderr
    assert "did you mean 'num_classes'?" in proc.stderr


def test_spec_errors_exit_1_without_traceback(tmp_path):
    bad = tmp_path / "bad.isp"
    bad.write_text("network x\ninput 8x8x3\nconv 3x3 16 groups=5\n")
    for cmd in ("check", "table", "compile", "diagram"):
        proc = run_cli(cmd, str(bad), cwd=tmp_path)
        assert proc.returncode == 1, (cmd, proc.stderr)
        assert "Traceback" not in proc.stderr
        assert f"{bad}:3:1: error: groups=5 does not divide the 3 input channels" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.isp"]


def test_binary_and_empty_files(tmp_path):
    binf = tmp_path / "bin.isp"
    binf.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff")
    proc = run_cli("check", str(binf))
    assert proc.returncode == 1 and "not UTF-8" in proc.stderr
    empty = tmp_path / "empty.isp"
    empty.write_text("")
    proc = run_cli("check", str(empty))
    assert proc.returncode == 0 and "block library" in proc.stdout


def test_version_and_help():
    proc = run_cli("--version")
    assert proc.returncode == 0 and "inspec" in proc.stdout
    proc = run_cli("--help")
    assert proc.returncode == 0
    for cmd in ("check", "table", "compile", "diagram"):
        assert cmd in proc.stdout


def test_json_table_roundtrip():
    proc = run_cli("table", "specs/googlenet.isp", "-f", "json", "-g", "layers")
    data = json.loads(proc.stdout)
    assert data["granularity"] == "layers"
    assert sum(r["params"] for r in data["rows"] if not r["side"]) == data["totals"]["params"]


def test_parser_cache_is_optional_and_self_healing(tmp_path):
    env = {"XDG_CACHE_HOME": str(tmp_path)}
    first = run_cli("check", "-q", "specs/googlenet.isp", env=env)
    assert first.returncode == 0 and first.stderr == ""
    (cached,) = (tmp_path / "inspec").glob("parser-*.json")
    cached.write_bytes(b"not a pickle")
    again = run_cli("check", "-q", "specs/googlenet.isp", env=env)
    assert again.returncode == 0 and again.stderr == ""
    assert cached.read_bytes() != b"not a pickle"  # rebuilt and saved again
    (tmp_path / "inspec").chmod(0o500)
    try:
        ro = run_cli(
            "check",
            "-q",
            "specs/googlenet.isp",
            env={"XDG_CACHE_HOME": str(tmp_path / "inspec" / "sub")},
        )
        assert ro.returncode == 0 and ro.stderr == ""
    finally:
        (tmp_path / "inspec").chmod(0o700)
