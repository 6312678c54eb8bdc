"""The project's own code passes its linter and formatter (configured in pyproject.toml)."""

import subprocess
import sys

from tests.conftest import ROOT


def test_ruff_check_and_format():
    paths = ["inspec", "tests", "benchmarks"]
    check = subprocess.run(
        [sys.executable, "-m", "ruff", "check", *paths], cwd=ROOT, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    fmt = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", *paths],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr
