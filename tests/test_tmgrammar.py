"""The TextMate grammar of editors/vscode: annotated fixtures checked by vscode-tmgrammar-test (npm,
the vscode-textmate tokeniser VS Code runs), and a drift test against the lark grammar: every shipped
spec tokenised by both, their keywords compared both ways."""

import json
import re
import shutil
import subprocess

import pytest
from lark import Lark, Token

from inspec.language.parser import _LARK_OPTIONS, _ParenNewlines, normalize_source
from tests.conftest import ROOT

GRAMMAR = ROOT / "editors" / "vscode" / "syntaxes" / "inspec.tmLanguage.json"
FIXTURES = ROOT / "tests" / "fixtures" / "tmgrammar"
TMTEST = ROOT / ".venv" / "node_modules" / ".bin" / "vscode-tmgrammar-test"
SPECS = sorted((ROOT / "specs").rglob("*.isp"))


def _tmtest() -> str:
    return str(TMTEST) if TMTEST.exists() else shutil.which("vscode-tmgrammar-test") or str(TMTEST)


def test_fixtures_pass_vscode_tmgrammar_test():
    fixtures = sorted(FIXTURES.glob("*.isp"))
    assert {f.name for f in fixtures} >= {"widthexpect.isp", "googlenet.isp", "structure.isp"}
    out = subprocess.run(
        [_tmtest(), "-g", str(GRAMMAR), *map(str, fixtures)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count("run successfuly") == len(fixtures)


def test_the_widthexpect_fixture_fails_a_grammar_without_word_boundaries(tmp_path):
    """The fixture's assertion has teeth: `expect` matched inside a name is reported."""
    broken = GRAMMAR.read_text().replace(r"\\bexpect\\b", "expect")
    assert broken != GRAMMAR.read_text()
    (tmp_path / "g.json").write_text(broken)
    out = subprocess.run(
        [_tmtest(), "-g", str(tmp_path / "g.json"), str(FIXTURES / "widthexpect.isp")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode != 0
    assert "prohibited scopes: keyword.other.expect.inspec" in out.stdout


def test_the_package_declares_the_language_and_grammar():
    pkg = json.loads((ROOT / "editors" / "vscode" / "package.json").read_text())
    (lang,) = pkg["contributes"]["languages"]
    assert lang["id"] == "inspec" and lang["extensions"] == [".isp"]
    (grammar,) = pkg["contributes"]["grammars"]
    assert grammar["scopeName"] == json.loads(GRAMMAR.read_text())["scopeName"] == "source.inspec"
    assert (ROOT / "editors" / "vscode" / grammar["path"]).resolve() == GRAMMAR
    assert "vscode-languageclient" in pkg["dependencies"]
    config = json.loads((ROOT / "editors" / "vscode" / lang["configuration"]).read_text())
    assert config["comments"]["lineComment"] == "#"
    assert ["{", "}"] in config["brackets"] and ["(", ")"] in config["brackets"]


# ------------------------------------------------------------------------------------------------
# Drift: the TextMate grammar's keywords against the lark grammar's


def _rules(grammar: dict) -> list[dict]:
    """The grammar's match rules in the order a tokeniser tries them (includes expanded)."""
    out: list[dict] = []

    def add(pattern: dict) -> None:
        if "include" in pattern:
            add(grammar["repository"][pattern["include"].lstrip("#")])
        elif "patterns" in pattern:
            for p in pattern["patterns"]:
                add(p)
        else:
            assert "begin" not in pattern, "the drift test tokenises match rules only"
            out.append(pattern)

    for p in grammar["patterns"]:
        add(p)
    return out


def tm_keywords(text: str) -> set[tuple[int, int, str]]:
    """(line, column, word) of every word the TextMate grammar scopes as a keyword (keyword.* or
    constant.language.*), tokenising as vscode-textmate does with match rules: at each position the
    rule whose match starts first wins, the first listed on a tie."""
    rules = [
        (re.compile(r["match"]), r.get("name"), r.get("captures", {}))
        for r in _rules(json.loads(GRAMMAR.read_text()))
    ]
    found = set()
    for i, line in enumerate(text.split("\n")):
        pos = 0
        while pos <= len(line):
            best = None
            for rx, name, caps in rules:
                m = rx.search(line, pos)
                if m and (best is None or m.start() < best[0].start()):
                    best = (m, name, caps)
            if best is None:
                break
            m, name, caps = best
            scoped = [(m.start(), m.group(), name)] if name else []
            scoped += [
                (m.start(int(k)), m.group(int(k)), c["name"])
                for k, c in caps.items()
                if m.group(int(k))
            ]
            for col, word, scope in scoped:
                if scope.startswith(("keyword.", "constant.language.")) and word.isalpha():
                    found.add((i, col, word))
            pos = m.end() if m.end() > pos else pos + 1
    return found


def lark_keywords(text: str) -> set[tuple[int, int, str]]:
    """(line, column, word) of every keyword token the parser's lexer produces (a word that is not
    a NAME), 0-based."""
    tree = _LARK().parse(text)
    return {
        (t.line - 1, t.column - 1, t.value)
        for t in tree.scan_values(lambda v: isinstance(v, Token))
        if t.value.isalpha() and t.type != "NAME"
    }


_lark: list[Lark] = []


def _LARK() -> Lark:
    if not _lark:
        grammar = (ROOT / "inspec" / "language" / "grammar.lark").read_text()
        _lark.append(Lark(grammar, **_LARK_OPTIONS, postlex=_ParenNewlines()))
    return _lark[0]


def test_every_shipped_spec_is_tokenised_alike():
    assert len(SPECS) > 50
    words: set[str] = set()
    for spec in SPECS:
        text = normalize_source(spec.read_text())
        lark, tm = lark_keywords(text), tm_keywords(text)
        rel = spec.relative_to(ROOT)
        assert not lark - tm, f"{rel}: keywords the TextMate grammar misses: {sorted(lark - tm)}"
        assert not tm - lark, (
            f"{rel}: words the TextMate grammar takes for keywords: {sorted(tm - lark)}"
        )
        words |= {w for _, _, w in lark}
    # the specs exercise the keywords that matter (statement, structure, row and expression words)
    assert {"network", "input", "block", "branch", "residual", "expect", "if", "x", "true"} <= words


def test_the_grammars_share_one_keyword_list():
    """Every keyword of the lark grammar is a keyword of the TextMate grammar, and the other way."""
    lark_words = {
        t.pattern.value
        for t in _LARK().terminals
        if t.pattern.type == "str" and t.pattern.value.isalpha()
    }
    tm_words: set[str] = set()
    for rule in _rules(json.loads(GRAMMAR.read_text())):
        scopes = [rule.get("name") or ""] + [c["name"] for c in rule.get("captures", {}).values()]
        if any(s.startswith(("keyword.", "constant.language.")) for s in scopes):
            words = re.sub(r"\\[A-Za-z]", " ", rule["match"])  # escapes (\b, \s) are no words
            tm_words |= set(re.findall(r"(?<!\w)[a-z]+(?!\w)", words))
    assert lark_words == tm_words


@pytest.mark.parametrize(
    "line, keywords, parses",
    [
        # the typo: a name, then a DIMS where an expression belongs (lark refuses the line)
        ("conv 3x3 w=widthexpect output=8x8x16", [], False),
        ("conv 3x3 width expect output=8x8x16", ["expect"], True),
        ("4 x inception_a if (width > 8 and not false)", ["and", "false", "if", "not", "x"], True),
    ],
)
def test_the_tokeniser_of_the_drift_test(line, keywords, parses):
    text = f"network n(width = 16)\ninput 8x8x3\n{line}\n"
    assert sorted(w for ln, _, w in tm_keywords(text) if ln == 2) == keywords
    if parses:
        assert tm_keywords(text) == lark_keywords(text)
