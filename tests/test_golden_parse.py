"""The parse stage: golden dumps of the typed AST (inspec.language.ast.dump) of every shipped spec,
block libraries included (tests/golden/parse/; specs/blocks/googlenet.isp is compared with
tests/golden/parse/blocks/googlenet.txt), and the parser's cache of its LALR tables.
scripts/regen-golden rewrites the dumps after an intended change.
"""

import hashlib
import json
import os
import pickle
import shlex
import stat
from pathlib import Path

import lark
import pytest
from lark import Lark

from inspec.language import parser as P
from inspec.language.ast import dump
from inspec.language.parser import parse
from tests.conftest import ROOT, SPECS, run_cli
from tests.golden import assert_golden

SPEC_FILES = [p.relative_to(ROOT).as_posix() for p in sorted(SPECS.rglob("*.isp"))]


def golden_name(rel: str) -> str:
    """specs/blocks/googlenet.isp -> parse/blocks/googlenet.txt"""
    return (Path("parse") / Path(rel).relative_to("specs").with_suffix(".txt")).as_posix()


def test_every_shipped_spec_is_dumped():
    assert "specs/blocks/googlenet.isp" in SPEC_FILES and "specs/googlenet.isp" in SPEC_FILES


@pytest.mark.parametrize("rel", SPEC_FILES)
def test_golden_parse(rel):
    text = (
        (ROOT / rel).read_bytes().decode("utf-8")
    )  # as the loader reads it (no newline translation)
    module, diags = parse(text, rel)
    assert module is not None and diags == [], [d.render({rel: text}) for d in diags]
    assert_golden(golden_name(rel), dump(module))


def test_dump_shows_classes_fields_and_spans():
    module, _ = parse("network n(w = 2)\ninput 8x8x3\nconv (c1) 3x3/2 w * 4 act=relu\n", "x.isp")
    assert dump(module) == (
        "Module 'x.isp'\n"
        "  network: Network 1:1-1:17\n"
        "    name: 'n'\n"
        "    params: (1)\n"
        "      [0]: Param 1:11-1:16\n"
        "        name: 'w'\n"
        "        default: Num 1:15-1:16\n"
        "          value: 2\n"
        "        header: None\n"
        "  input: Input 2:1-2:12\n"
        "    dims: (8, 8, 3)\n"
        "  units: None\n"
        "  padding: None\n"
        "  defaults: ()\n"
        "  init: None\n"
        "  imports: ()\n"
        "  blocks: ()\n"
        "  body: (1)\n"
        "    [0]: RowStmt 3:1-3:31\n"
        "      row: Row 3:1-3:31\n"
        "        op: 'conv'\n"
        "        op_span: 3:1-3:5\n"
        "        label: 'c1'\n"
        "        label_span: 3:6-3:10\n"
        "        patch: Patch 3:11-3:16\n"
        "          kh: 3\n"
        "          kw: 3\n"
        "          stride: 2\n"
        "        args: (1)\n"
        "          [0]: BinOp 3:17-3:22\n"
        "            op: '*'\n"
        "            left: Name 3:17-3:18\n"
        "              id: 'w'\n"
        "            right: Num 3:21-3:22\n"
        "              value: 4\n"
        "        kwargs: (1)\n"
        "          [0]: Kwarg 3:23-3:31\n"
        "            name: 'act'\n"
        "            value: Name 3:27-3:31\n"
        "              id: 'relu'\n"
        "      repeat: None\n"
        "      repeat_span: None\n"
        "      expect: ()\n"
        "      cond: None\n"
        "      repeat_expr: None\n"
    )


def test_dump_is_the_same_for_every_line_ending_and_a_bom():
    text = (SPECS / "googlenet.isp").read_bytes().decode("utf-8")
    want = dump(parse(text, "g.isp")[0])
    for variant in (text.replace("\n", "\r\n"), text.replace("\n", "\r"), "\ufeff" + text):
        module, diags = parse(variant, "g.isp")
        assert diags == [] and dump(module) == want


# ----------------------------------------------------------------------------------------------
# The parser's cache ($XDG_CACHE_HOME/inspec/parser-KEY.json): data only, keyed on everything the
# tables depend on, rebuilt when damaged, and used when sound.

GRAMMAR = (ROOT / "inspec" / "language" / "grammar.lark").read_text(encoding="utf-8")
CHECKED = "specs/googlenet_bn.isp"  # checks without errors or warnings: exit code 0


class _Payload:
    """Unpickling this runs a shell command (what a planted cache file would do)."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def _cache_paths(cache_home: Path) -> list[Path]:
    """Every file the parser has looked at for its cache: the pickle of inspec before the JSON cache
    (keyed on lark's version and the grammar) and the JSON file of today's."""
    old_key = hashlib.sha256(f"{lark.__version__}\n{GRAMMAR}".encode()).hexdigest()[:16]
    old = cache_home / "inspec" / f"parser-{old_key}.pickle"
    return [old, _new_path(cache_home)]


def _new_path(cache_home: Path) -> Path:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(cache_home))
        mp.delenv("INSPEC_NO_CACHE", raising=False)
        path = P._cache_file(GRAMMAR)
    assert path is not None and path.parent == cache_home / "inspec"
    return path


def _check(cache_home: Path):
    proc = run_cli("check", CHECKED, env={"XDG_CACHE_HOME": str(cache_home), "INSPEC_NO_CACHE": ""})
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    return proc


def _loads(path: Path) -> bool:
    """The file is a sound cache: it loads as the parser, for today's key."""
    runtime = {"transformer": P._ToAst(), "postlex": P._ParenNewlines()}
    return P._load(path, P._cache_key(GRAMMAR), runtime).source_path == "<deserialized>"


@pytest.fixture
def fresh_parser():
    """Let a test build or load the parser again; afterwards, the next caller gets a fresh one."""
    P._parser.cache_clear()
    yield
    P._parser.cache_clear()


def test_parser_cache_never_runs_a_planted_pickle(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_Payload(f"touch {shlex.quote(str(marker))}"))
    pickle.loads(payload)  # the payload works: unpickling it creates the marker
    assert marker.exists()
    marker.unlink()
    home = tmp_path / "cache"
    paths = _cache_paths(home)
    for path in paths:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.write_bytes(payload)
    _check(home)
    _check(home)
    assert not marker.exists()
    # the planted file in the JSON cache's place was replaced by a sound cache; the old name is ignored
    assert _loads(paths[1])
    assert paths[0].read_bytes() == payload


@pytest.mark.parametrize(
    "damage",
    [
        "",
        "{",
        '{"key": "0"}',
        "[1, 2]",
        "\x00\xff",
        "truncated",
        "bad tag",
        "unhashable key",
        "wrong data",
    ],
)
def test_parser_cache_damaged_is_rebuilt(damage, tmp_path):
    home = tmp_path / "cache"
    path = _new_path(home)
    _check(home)
    sound = path.read_text(encoding="utf-8")
    doc = json.loads(sound)
    if damage == "truncated":
        text = sound[: len(sound) // 2]
    elif damage == "bad tag":
        text = json.dumps({**doc, "data": {"__tuple__": 5}})
    elif damage == "unhashable key":
        text = json.dumps({**doc, "memo": {"__items__": [[[1], 2]]}})
    elif damage == "wrong data":
        text = json.dumps({**doc, "data": {**doc["data"], "rules": [{"__type__": "os.system"}]}})
    else:
        text = damage
    path.write_text(text, encoding="utf-8", errors="surrogateescape")
    proc = _check(home)
    assert _loads(path), "the damaged cache was not rebuilt"
    assert proc.stderr == _check(tmp_path / "other").stderr


def test_parser_cache_is_written_and_then_used(tmp_path, monkeypatch, fresh_parser):
    home = tmp_path / "cache"
    path = _new_path(home)
    _check(home)
    assert path.exists() and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert _loads(path)
    before = path.stat().st_mtime_ns, path.read_bytes()
    _check(home)
    assert (path.stat().st_mtime_ns, path.read_bytes()) == before  # read, not rewritten

    # in this process: a parser that may not be built (only loaded) parses as a built one does
    text = (ROOT / "specs/googlenet.isp").read_bytes().decode("utf-8")
    monkeypatch.setenv("INSPEC_NO_CACHE", "1")
    want = dump(parse(text, "g.isp")[0])  # built

    class NoBuild(Lark):
        def __init__(self, *args, **kwargs):
            raise AssertionError("the parser was built instead of loaded from the cache")

    P._parser.cache_clear()
    monkeypatch.setenv("INSPEC_NO_CACHE", "")
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    monkeypatch.setattr(P, "Lark", NoBuild)
    assert P._parser().source_path == "<deserialized>"
    assert dump(parse(text, "g.isp")[0]) == want
    module, diags = parse("network n\ninput 8x8x3\nconv 3x3 = 4\n", "bad.isp")
    assert module is None and [d.message for d in diags] == ["unexpected '='"]


def test_parser_cache_not_used_when_others_can_write_it(tmp_path, monkeypatch, fresh_parser):
    home = tmp_path / "cache"
    path = _new_path(home)
    _check(home)
    path.parent.chmod(0o777)
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    monkeypatch.setenv("INSPEC_NO_CACHE", "")
    assert P._parser().source_path != "<deserialized>"  # built


def test_parser_cache_key_covers_grammar_lark_version_and_options(monkeypatch):
    key = P._cache_key(GRAMMAR)
    assert P._cache_key(GRAMMAR + "\n") != key
    monkeypatch.setattr(lark, "__version__", "0.0.0")
    assert P._cache_key(GRAMMAR) != key
    monkeypatch.undo()
    monkeypatch.setattr(P, "_LARK_OPTIONS", {**P._LARK_OPTIONS, "keep_all_tokens": False})
    assert P._cache_key(GRAMMAR) != key
    monkeypatch.undo()
    assert P._cache_key(GRAMMAR) == key
    monkeypatch.setenv("INSPEC_NO_CACHE", "1")
    assert P._cache_file(GRAMMAR) is None
