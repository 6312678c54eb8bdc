"""The author's workbench, point 6: papercuts of the CLI and the API (exact messages and codes)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import inspec
from inspec.api import SpecErrors
from tests.conftest import ROOT, run_cli

USAGE_P = "Error: Invalid value for '-p' / '--param': "
BAD = "network x\ninput 8x8x3\nconv 3x3 16 groups=5\n"


@pytest.mark.parametrize("cmd", ["check", "table", "compile", "diagram"])
@pytest.mark.parametrize(
    "param, message",
    [
        ("num_classes=abc", "parameter 'num_classes' expects an integer, got 'abc'"),
        (
            "nope=1",
            "network 'googlenet' has no parameter 'nope' "
            "(parameters: num_classes, dropout, aux_logits)",
        ),
        (
            "num_clases=3",
            "network 'googlenet' has no parameter 'num_clases' "
            "(did you mean 'num_classes'?; parameters: num_classes, dropout, aux_logits)",
        ),
    ],
)
def test_a_bad_param_is_a_usage_error(cmd, param, message, tmp_path):
    extra = ["-o", str(tmp_path / "out.x")] if cmd in ("compile", "diagram") else []
    r = run_cli(cmd, "specs/googlenet.isp", "-p", param, *extra)
    assert r.returncode == 2, r.stderr
    assert r.stdout == "" and "Traceback" not in r.stderr
    assert r.stderr.startswith("Usage: ") and f" {cmd} [OPTIONS]" in r.stderr.splitlines()[0]
    assert r.stderr.splitlines()[-1] == USAGE_P + message
    assert list(tmp_path.iterdir()) == []


def test_a_swept_bad_param_is_a_usage_error():
    r = run_cli("table", "specs/googlenet.isp", "-p", "nope=1,2")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.splitlines()[-1] == (
        USAGE_P + "network 'googlenet' has no parameter 'nope' "
        "(parameters: num_classes, dropout, aux_logits)"
    )


def test_a_good_param_still_works():
    r = run_cli("check", "specs/googlenet.isp", "-q", "-p", "num_classes=10")
    assert r.returncode == 0, r.stderr


def test_load_of_a_missing_file_raises(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        inspec.load(tmp_path / "nope.isp")
    assert e.value.filename == str(tmp_path / "nope.isp")
    with pytest.raises(FileNotFoundError):
        inspec.load("no/such/file.isp")
    with pytest.raises(IsADirectoryError):
        inspec.load(tmp_path)


def test_load_of_an_unreadable_file_raises(tmp_path, monkeypatch):
    """(root reads any file whatever its mode, so the permission is denied by os.access here)"""
    p = tmp_path / "secret.isp"
    p.write_text(BAD)
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != p)
    with pytest.raises(PermissionError) as e:
        inspec.load(p)
    assert e.value.filename == str(p)


def test_table_and_totals_of_a_spec_with_errors_raise():
    spec = inspec.load(BAD)
    assert not spec.ok
    for call in (spec.table, spec.totals):
        with pytest.raises(SpecErrors) as e:
            call()
        assert str(e.value).startswith(
            "<string>:3:1: error: groups=5 does not divide the 3 input channels"
        )
    assert spec.totals(partial=True).params == 0
    assert "input" in spec.table(partial=True)
    good = inspec.load(ROOT / "specs" / "googlenet.isp")
    assert good.totals().params == 6_998_552
    assert good.table().startswith(good.table(partial=True)[:20])


def test_diagram_format_follows_the_extension(tmp_path):
    r = run_cli("diagram", "specs/lenet5.isp", "-o", str(tmp_path / "x.png"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "x.png").read_bytes().startswith(b"\x89PNG")


def test_diagram_format_conflicting_with_the_extension_is_a_usage_error(tmp_path):
    r = run_cli("diagram", "specs/lenet5.isp", "-f", "svg", "-o", str(tmp_path / "x.PNG"))
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.splitlines()[-1] == (
        "Error: Invalid value for '-f' / '--format': "
        "svg does not match the output's extension .PNG (give one or the other)"
    )
    assert list(tmp_path.iterdir()) == []
    # an extension that is no format is no conflict
    r = run_cli("diagram", "specs/lenet5.isp", "-f", "dot", "-o", str(tmp_path / "x.gv"))
    assert r.returncode == 0, r.stderr


def test_diagram_into_a_missing_folder_is_one_line(tmp_path):
    spec = str(ROOT / "specs" / "lenet5.isp")
    r = run_cli("diagram", spec, "-f", "dot", "-o", "missing_dir/x.dot", cwd=tmp_path)
    assert r.returncode == 1 and r.stdout == ""
    errors = [x for x in r.stderr.splitlines() if "error" in x]
    assert errors == ["inspec: error: directory missing_dir does not exist"]
    assert "Traceback" not in r.stderr


def test_check_and_table_read_standard_input():
    text = (ROOT / "specs" / "googlenet.isp").read_text()
    r = run_cli("check", "-q", "-", input=text, cwd=ROOT / "specs")  # imports from the cwd
    assert r.returncode == 0, r.stderr
    r = run_cli("check", "-", input=text, cwd=ROOT / "specs")
    assert r.stdout.startswith("<stdin>: ok (12 warnings, 5 notes): googlenet: 224x224x3")
    r = run_cli("table", "-", "-f", "csv", input=text, cwd=ROOT / "specs")
    assert r.returncode == 0, r.stderr
    file = run_cli("table", "googlenet.isp", "-f", "csv", cwd=ROOT / "specs")
    assert r.stdout == file.stdout


def test_standard_input_is_named_in_diagnostics(tmp_path):
    for cmd in ("check", "table"):
        r = run_cli(cmd, "-", input=BAD, cwd=tmp_path)
        assert r.returncode == 1 and r.stdout == ""
        lines = r.stderr.splitlines()
        assert lines[0] == "<stdin>:3:1: error: groups=5 does not divide the 3 input channels"
        assert lines[-1] == "<stdin>: 1 error"
    # a swept table reads standard input once
    text = "network t(w = 8)\ninput 8x8x3\nconv 3x3 w\n"
    r = run_cli("table", "-", "-p", "w=4,8", "-f", "csv", input=text, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.strip().splitlines()) == 3


def test_compile_and_diagram_read_standard_input(tmp_path):
    text = (ROOT / "specs" / "lenet5.isp").read_text()
    r = run_cli("compile", "-", "-q", input=text, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "wrote lenet5.py\n"
    code = (tmp_path / "lenet5.py").read_text()
    assert code.startswith("# Generated by inspec 0.1.0 from <stdin>. Do not edit by hand:\n")
    assert "# change the spec and run `inspec compile -`.\n" in code
    r = run_cli("compile", "-", "-o", "-", input=text, cwd=tmp_path)
    assert r.returncode == 0 and r.stdout == code
    r = run_cli("diagram", "-", "-o", "-", "-f", "dot", input=text, cwd=tmp_path)
    assert r.returncode == 0 and 'digraph "lenet5" {' in r.stdout
    r = run_cli("compile", "-", input=BAD, cwd=tmp_path)
    assert r.returncode == 1 and r.stderr.startswith("<stdin>:3:1: error: groups=5")


def test_diagram_takes_several_specs_into_a_folder(tmp_path):
    specs = [str(ROOT / "specs" / n) for n in ("lenet5.isp", "alexnet.isp")]
    r = run_cli("diagram", *specs, "-f", "dot", "-o", "out/", cwd=tmp_path)
    assert r.returncode == 1 and "directory out does not exist" in r.stderr
    (tmp_path / "out").mkdir()
    r = run_cli("diagram", *specs, "-f", "dot", "-o", "out/", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "wrote out/lenet5.dot\nwrote out/alexnet.dot\n"
    r = run_cli("diagram", *specs, "-o", "one.svg", cwd=tmp_path)
    assert r.returncode == 2 and "with several specs, -o names a folder" in r.stderr
    r = run_cli("diagram", "-q", *specs, "-f", "dot", "-o", "out", cwd=tmp_path)
    assert r.returncode == 0 and r.stdout == "" and r.stderr == ""


def test_diagram_of_several_specs_goes_on_after_one_fails(tmp_path):
    (tmp_path / "bad.isp").write_text(BAD)
    good = str(ROOT / "specs" / "lenet5.isp")
    r = run_cli("diagram", "bad.isp", good, "-f", "dot", "-o", ".", cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr.startswith("bad.isp:3:1: error: groups=5")
    assert r.stdout == "wrote lenet5.dot\n"


COMMANDS = [
    "check",
    "table",
    "diff",
    "compile",
    "diagram",
    "report",
    "fmt",
    "profile",
    "weights",
    "verify",
]


@pytest.mark.parametrize("cmd", COMMANDS)
def test_every_command_takes_quiet(cmd):
    r = run_cli(cmd, "--help")
    assert r.returncode == 0 and "-q, --quiet" in r.stdout


def test_table_takes_several_specs(tmp_path):
    specs = [str(ROOT / "specs" / n) for n in ("lenet5.isp", "alexnet.isp")]
    one = [run_cli("table", s, "-f", "csv").stdout for s in specs]
    r = run_cli("table", *specs, "-f", "csv")
    assert r.returncode == 0 and r.stdout == one[0] + "\n" + one[1]
    r = run_cli("table", *specs, "-f", "json")
    assert [t["network"] for t in json.loads(r.stdout)] == ["lenet5", "alexnet"]
    (tmp_path / "bad.isp").write_text(BAD)
    r = run_cli("table", str(tmp_path / "bad.isp"), specs[0], "-f", "csv")
    assert r.returncode == 1 and r.stdout == one[0]
    assert r.stderr.startswith(f"{tmp_path / 'bad.isp'}:3:1: error: groups=5")
    r = run_cli("table", *specs, "-p", "num_classes=10,20")
    assert r.returncode == 2 and "a sweep (a -p with several values) takes one spec" in r.stderr


def test_quiet_table_and_diagram_print_no_warning_count(tmp_path):
    spec = str(ROOT / "specs" / "googlenet.isp")
    loud = run_cli("table", spec)
    assert "12 warnings" in loud.stderr
    r = run_cli("table", "-q", spec)
    assert r.returncode == 0 and r.stderr == "" and r.stdout == loud.stdout
    r = run_cli("diagram", "-q", spec, "-f", "dot", "-o", str(tmp_path / "g.dot"))
    assert r.returncode == 0 and r.stdout == r.stderr == ""
    assert (tmp_path / "g.dot").is_file()


NO_TORCH = "import sys; sys.modules['torch'] = None; sys.argv[0] = 'inspec'; "


def test_without_torch_a_one_line_message(tmp_path):
    spec = str(ROOT / "specs" / "lenet5.isp")
    code = NO_TORCH + f"import inspec; inspec.build({spec!r})"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 1
    assert r.stderr.splitlines()[-1] == (
        "ModuleNotFoundError: inspec.build needs torch, which is not installed: pip install torch "
        "(pytorch.org lists the builds for each CUDA version), or pip install 'inspec[torch]'"
    )
    (tmp_path / "w.pt").write_bytes(b"x")
    code = NO_TORCH + "from inspec.cli import main; main()"
    argv = ["weights", spec, "--from", str(tmp_path / "w.pt"), "-o", str(tmp_path / "o.pt")]
    r = subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, cwd=ROOT
    )
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == (
        "inspec: error: inspec weights needs torch, which is not installed: pip install torch "
        "(pytorch.org lists the builds for each CUDA version), or pip install 'inspec[torch]'\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.pt"]
    r = subprocess.run(
        [sys.executable, "-c", code, "profile", spec], capture_output=True, text=True, cwd=ROOT
    )
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.startswith(
        "inspec: error: inspec profile needs torch, which is not installed: "
    )


def test_the_torch_extra_does_not_pin_a_build():
    text = (ROOT / "pyproject.toml").read_text()
    assert 'torch = ["torch>=2.2"]' in text and "torch==" not in text.split("[project.scripts]")[0]


def test_shell_completion_as_documented():
    """docs/workbench.md's completion line works: bash gets a script, and completing `inspec ta`
    offers table."""
    script = Path(sys.executable).parent / "inspec"
    env = {**os.environ, "_INSPEC_COMPLETE": "bash_source"}
    r = subprocess.run([str(script)], capture_output=True, text=True, env=env)
    assert r.returncode == 0 and "_inspec_completion()" in r.stdout
    env.update(_INSPEC_COMPLETE="bash_complete", COMP_WORDS="inspec ta", COMP_CWORD="1")
    r = subprocess.run([str(script)], capture_output=True, text=True, env=env)
    assert r.stdout.splitlines() == ["plain,table"]
    docs = (ROOT / "docs" / "workbench.md").read_text()
    assert 'eval "$(_INSPEC_COMPLETE=bash_source inspec)"' in docs
    assert 'eval "$(_INSPEC_COMPLETE=zsh_source inspec)"' in docs


def test_diff_reads_standard_input():
    text = "network t(w = 8)\ninput 8x8x3\nconv (c) 3x3 w\n"
    r = run_cli("diff", "-", "-", "--pb", "w=16", "-f", "json", input=text)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert (d["a"]["file"], d["b"]["file"]) == ("<stdin>", "<stdin>")
    assert d["totals"]["delta"]["params"] == (3 * 3 * 3 * 16 + 16) - (3 * 3 * 3 * 8 + 8)


def test_report_into_a_folder(tmp_path):
    spec = str(ROOT / "specs" / "lenet5.isp")
    r = run_cli("report", spec, "-o", "pages/", cwd=tmp_path)
    assert r.returncode == 1 and "directory pages does not exist" in r.stderr
    (tmp_path / "pages").mkdir()
    r = run_cli("report", spec, "-o", "pages", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "wrote pages/lenet5.html\n"
    assert (tmp_path / "pages" / "lenet5.html").read_text().startswith("<!DOCTYPE html>")
