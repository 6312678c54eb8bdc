"""Shared fixtures and helpers of the test suite (ROOT, SPECS, the in_root fixture, run_cli).

Switches. The suite and inspec read two environment variables, each on when set to 1 and off when unset
(or set to anything else):

- INSPEC_REGEN=1: the golden tests rewrite their files instead of comparing (tests/golden.py:
  regenerating() and assert_golden; scripts/regen-golden sets it).
- INSPEC_NO_CACHE=1: inspec builds its parser on every run instead of keeping it in
  $XDG_CACHE_HOME/inspec (inspec/language/parser.py). The cache's own tests set XDG_CACHE_HOME to a
  temporary folder and clear INSPEC_NO_CACHE.

There are no opt-out markers: no pytest markers (slow, gpu, ...), no `# inspec:` comments in specs,
and no test skips itself for a missing tool (scripts/test installs torch, onnx and Graphviz's dot).
"""

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


def run_cli(*args, cwd=ROOT, env=None, timeout=120, input=None):
    """Run `python -m inspec ARGS` in a subprocess (`input`: its standard input); returns
    CompletedProcess. With bytes for input, stdout and stderr are bytes too (no decoding)."""
    import subprocess

    full_env = dict(os.environ)
    full_env.update(env or {})
    as_text = {} if isinstance(input, bytes) else {"text": True, "errors": "replace"}
    return subprocess.run(
        [sys.executable, "-m", "inspec", *args],
        input=input,
        cwd=cwd,
        env=full_env,
        capture_output=True,
        timeout=timeout,
        **as_text,
    )


@pytest.fixture
def work(tmp_path, monkeypatch):
    """A folder holding small.isp (tests/fixtures/weights/refs.py's SPEC), the working directory (the
    paths in messages are short): the weights and verify tests."""
    from tests.fixtures.weights.refs import SPEC

    monkeypatch.chdir(tmp_path)
    (tmp_path / "small.isp").write_text(SPEC)
    return tmp_path
