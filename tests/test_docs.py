"""Documentation that is generated or quoted must agree with the code."""

import re

from inspec.analysis.ops import OPS
from inspec.backends.docgen import BEGIN, END, ops_markdown
from tests.conftest import ROOT
from tests.golden import assert_golden

LANG = ROOT / "docs" / "language.md"


def test_language_reference_ops_golden():
    """The op reference between the markers in docs/language.md is generated from inspec's op table."""
    text = LANG.read_text(encoding="utf-8")
    start, end = text.index(BEGIN), text.index(END) + len(END)
    assert_golden(LANG, text[:start] + ops_markdown().rstrip("\n") + text[end:])


def test_every_op_and_attribute_is_documented():
    text = LANG.read_text(encoding="utf-8")
    for op in OPS.values():
        assert f"`{op.name}`" in text
        for a in op.attrs:
            assert re.search(rf"\| `{re.escape(a.name)}` \|", text), (op.name, a.name)
