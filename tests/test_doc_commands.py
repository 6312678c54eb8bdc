"""Every `$ inspec ...` example in the README and docs/ prints what the command prints today.

A fenced block's lines after `$ inspec CMD ...` (up to the next `$` line or the block's end) are that
command's output: standard output and standard error together, in either order. Checked here are the
torch-free commands whose output does not depend on the machine (check, table, diff, fmt), run from
the repository root, whose files exist in the repository; an output shortened with `...`, or a
command that writes a file (--plot, -o), is left out. docs/gallery.md's tables are checked by
test_doc_outputs.py. `scripts/regen-golden` (INSPEC_REGEN=1) rewrites the outputs in place."""

from __future__ import annotations

import os
import re
import shlex

import pytest

from tests.conftest import ROOT, run_cli

CHECKED = {"check", "table", "diff", "fmt"}
DOCS = [
    ROOT / "README.md",
    *sorted(p for p in (ROOT / "docs").glob("*.md") if p.name != "gallery.md"),
]
BLOCK = re.compile(r"^```[a-z]*\n(.*?)^```", re.S | re.M)


def _examples(text: str):
    """(command, output lines, offset of the output in text, its length) for every example."""
    for block in BLOCK.finditer(text):
        lines = block.group(1).splitlines(keepends=True)
        starts = [i for i, line in enumerate(lines) if line.startswith("$ ")]
        offsets = [block.start(1)]
        for line in lines:
            offsets.append(offsets[-1] + len(line))
        for k, i in enumerate(starts):
            end = starts[k + 1] if k + 1 < len(starts) else len(lines)
            command = lines[i][2:].split("  #")[0].strip()
            output = [line.rstrip("\n") for line in lines[i + 1 : end]]
            yield command, output, offsets[i + 1], offsets[end] - offsets[i + 1]


def _runnable(command: str, output: list[str]) -> bool:
    try:
        args = shlex.split(command)
    except ValueError:
        return False
    if args[:1] != ["inspec"] or len(args) < 2 or args[1] not in CHECKED:
        return False
    if any(a in ("--plot", "-o", "--output") or a.startswith(("<", ">", "|")) for a in args):
        return False
    files = [a for a in args[2:] if a.endswith(".isp")]
    if not files or not all((ROOT / f).is_file() for f in files):
        return False
    return not any(line.startswith("...") for line in output)


def _printed(command: str, want: str) -> tuple[str, list[str]]:
    """What the command prints: the doc's order of its two streams if either order matches, else
    standard output first; and both orders."""
    r = run_cli(*shlex.split(command)[1:], cwd=ROOT)
    both = [(r.stdout + r.stderr).rstrip("\n"), (r.stderr + r.stdout).rstrip("\n")]
    return (want if want in both else both[0]), both


EXAMPLES = [
    pytest.param(doc, command, output, id=f"{doc.name}: {command}")
    for doc in DOCS
    for command, output, _, _ in _examples(doc.read_text())
    if _runnable(command, output)
]


def test_the_docs_have_examples_to_check():
    assert len(EXAMPLES) >= 8


@pytest.mark.parametrize("doc, command, expected", EXAMPLES)
def test_doc_example_golden(doc, command, expected):
    want = "\n".join(expected).rstrip("\n")
    got, both = _printed(command, want)
    if os.environ.get("INSPEC_REGEN") and want not in both:
        text = doc.read_text()
        for cmd, output, start, size in _examples(text):
            if cmd == command and output == expected:
                text = text[:start] + got + "\n" + text[start + size :]
                break
        doc.write_text(text)
        return
    assert want in both, f"$ {command}\n--- the docs say:\n{want}\n--- it prints:\n{got}"
