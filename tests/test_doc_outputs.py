"""The tables that docs/gallery.md shows are what `inspec table` prints today: each block
`$ inspec table ARGS` holds the command's output up to its legend (and the side-head note, where
there is one). A change to a spec or to the table that leaves the gallery behind fails here."""

import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from inspec.cli import cli

ROOT = Path(__file__).resolve().parent.parent
GALLERY = ROOT / "docs" / "gallery.md"
BLOCK = re.compile(r"```\n\$ inspec (table [^\n]+)\n(.*?)```", re.S)


def shown(output: str) -> str:
    """A table's output as the gallery shows it: up to the legend, then the side-head note."""
    lines = output.rstrip("\n").split("\n")
    end = next(i for i, line in enumerate(lines) if line.startswith("params = "))
    body = "\n".join(lines[:end]).rstrip("\n") + "\n"
    side = [line for line in lines[end:] if line.startswith("side: ")]
    return body + (f"\n{side[0]}\n" if side else "")


BLOCKS = BLOCK.findall(GALLERY.read_text())


def test_the_gallery_has_tables():
    assert len(BLOCKS) >= 10


@pytest.mark.parametrize(("args", "text"), BLOCKS, ids=[a for a, _ in BLOCKS])
def test_gallery_table_is_current(args, text, monkeypatch):
    monkeypatch.chdir(ROOT)
    r = CliRunner().invoke(cli, shlex.split(args))
    assert r.exit_code == 0, r.output
    assert shown(r.stdout) == text
