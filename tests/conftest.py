import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"


@pytest.fixture
def in_root(monkeypatch):
    """Run with the repository root as the working directory (paths in diagnostics are relative)."""
    monkeypatch.chdir(ROOT)
    return ROOT


def run_cli(*args, cwd=ROOT, env=None, timeout=120):
    """Run `python -m inspec ARGS` in a subprocess; returns CompletedProcess."""
    import subprocess

    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "inspec", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=timeout,
    )
