"""Documentation that is generated or quoted must agree with the code."""

import os
import re

from inspec.analysis.ops import OPS
from inspec.backends.docgen import BEGIN, END, ops_markdown
from tests.conftest import ROOT

LANG = ROOT / "docs" / "language.md"


def test_language_reference_ops_golden():
    text = LANG.read_text(encoding="utf-8")
    start, end = text.index(BEGIN), text.index(END) + len(END)
    current = text[start:end] + "\n"
    generated = ops_markdown()
    if os.environ.get("INSPEC_REGEN") == "1":
        LANG.write_text(text[:start] + generated.rstrip("\n") + text[end:], encoding="utf-8")
        return
    assert current == generated, "docs/language.md is out of date: run scripts/regen-golden"


def test_every_op_and_attribute_is_documented():
    text = LANG.read_text(encoding="utf-8")
    for op in OPS.values():
        assert f"`{op.name}`" in text
        for a in op.attrs:
            assert re.search(rf"\| `{re.escape(a.name)}` \|", text), (op.name, a.name)
