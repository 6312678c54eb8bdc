"""The project's own code, and the code it generates, pass its linter and formatter (configured in
pyproject.toml)."""

import subprocess
import sys
from pathlib import Path

import pytest

from inspec.analysis.elaborate import elaborate
from inspec.backends.torch import generate
from inspec.backends.torch.layout import LINE_LENGTH
from tests.conftest import ROOT, SPECS

RUFF = [sys.executable, "-m", "ruff"]
CONFIG = str(ROOT / "pyproject.toml")


def test_ruff_check_and_format():
    paths = ["inspec", "tests", "benchmarks"]
    check = subprocess.run([*RUFF, "check", *paths], cwd=ROOT, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    fmt = subprocess.run(
        [*RUFF, "format", "--check", *paths],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


# Parameter, block, label and branch names that are ambiguous (E741: l, O, I) or shadow builtins.
HOSTILE = """network hostile(l = 8, O = 16, I = 0.5, list = 10, id = true, input = 4, sum = 12,
                type = "relu", len = 2)
input 32x32x3
block mix(l "l", O "channels out", I, sum "#sum", len "len", max) {
  branch l { conv 1x1 l }
  branch O { conv 1x1 O; conv 3x3 sum }
  branch I { maxpool 3x3/1; conv 1x1 I }
  branch { conv 1x1 len * max }
}
block body(l, O) {
  residual scale=O act=relu {
    conv (I) 1x1 l
    conv (l) 1x1 in
  }
}
conv (l) 3x3 l act=type
mix (O) l O input list sum 1
side mix (I) 4 4 4 4 4 1 if id
conv (sum) 1x1 O
len x body 8 0.2
avgpool global
dropout I
linear (id) list
"""


def _generated(tmp_path: Path) -> list[Path]:
    """The generated module of every shipped network (plain, fused, with the table docstring) and
    of the hostile spec."""
    nets = [elaborate(path=str(p)) for p in sorted(SPECS.rglob("*.isp"))]
    nets = [n for n in nets if n.input is not None and n.ok]
    hostile = elaborate(text=HOSTILE, name="hostile.isp")
    assert hostile.ok, [d.message for d in hostile.diagnostics]
    files = []
    for k, net in enumerate([*nets, hostile]):
        for opts in ({}, {"fuse_bn": True}, {"table_docstring": True}):
            f = tmp_path / f"m{k}_{'_'.join(opts) or 'plain'}.py"
            f.write_text(generate(net, **opts), encoding="utf-8")
            files.append(f)
    return files


def test_generated_code_passes_the_project_lint_config(tmp_path):
    files = [str(f) for f in _generated(tmp_path)]
    hostile = Path(files[-3]).read_text()
    assert "l_: int = 8" in hostile and "O_: int = 16" in hostile and "I_: float = 0.5" in hostile
    check = subprocess.run(
        [*RUFF, "check", "--config", CONFIG, "--no-cache", *files], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    # the project's formatter settings at the generated code's line length (ruff's default, 88)
    options = ["--config", CONFIG, "--line-length", str(LINE_LENGTH), "--check", "--diff"]
    fmt = subprocess.run([*RUFF, "format", *options, *files], capture_output=True, text=True)
    assert fmt.returncode == 0, fmt.stdout[:4000] + fmt.stderr


@pytest.mark.parametrize("name", ["l", "O", "I"])
def test_ambiguous_names_are_caught_by_the_lint_config(tmp_path, name):
    """The check above is not vacuous: the project's configuration rejects an E741 name."""
    f = tmp_path / "bad.py"
    f.write_text(f"def f({name}: int) -> int:\n    return {name}\n", encoding="utf-8")
    check = subprocess.run(
        [*RUFF, "check", "--config", CONFIG, "--no-cache", str(f)], capture_output=True, text=True
    )
    assert check.returncode == 1 and "E741" in check.stdout
