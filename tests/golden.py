"""Golden files: compare a backend's output with tests/golden/NAME; INSPEC_REGEN=1 rewrites them.

Regenerate every golden file after an intended change with: scripts/regen-golden
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

GOLDEN = Path(__file__).parent / "golden"


def assert_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("INSPEC_REGEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"missing golden file {path}; run scripts/regen-golden"
    want = path.read_text(encoding="utf-8")
    if text != want:
        diff = "".join(
            difflib.unified_diff(
                want.splitlines(True), text.splitlines(True), f"golden/{name}", "actual", n=2
            )
        )
        raise AssertionError(f"{name} differs from its golden file:\n{diff[:6000]}")
