"""Golden files: compare an output with the file that holds what it should be; INSPEC_REGEN=1 rewrites them.

Every golden comparison of the suite goes through assert_golden (tables, DOT, generated code, parse
dumps, the bad specs' expected diagnostics, the generated part of docs/language.md). Regenerate them all
after an intended change with scripts/regen-golden (it runs every test whose name holds "golden" with
INSPEC_REGEN=1), then review the diff.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

GOLDEN = Path(__file__).parent / "golden"
ROOT = Path(__file__).resolve().parent.parent


def regenerating() -> bool:
    """True when the run rewrites golden files instead of comparing (INSPEC_REGEN=1)."""
    return os.environ.get("INSPEC_REGEN") == "1"


def assert_golden(path: str | Path, text: str) -> None:
    """`text` must equal the golden file `path` (relative: under tests/golden/; or absolute).

    When regenerating, write `text` there instead (creating folders as needed)."""
    path = GOLDEN / path
    shown = _shown(path)
    if regenerating():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="\n")
        return
    assert path.exists(), f"missing golden file {shown}; run scripts/regen-golden"
    want = path.read_text(encoding="utf-8")
    if text != want:
        diff = "".join(
            difflib.unified_diff(want.splitlines(True), text.splitlines(True), shown, "actual", n=2)
        )
        raise AssertionError(
            f"{shown} differs from the output (scripts/regen-golden rewrites it):\n{diff[:6000]}"
        )


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)
