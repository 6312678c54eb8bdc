"""`inspec fmt`: the canonical layout, its safety checks (same IR, every comment kept, stable) and
its command line; and the fuzz of issue 14: shipped specs mutated in ways that keep their meaning
(spaces, alignment, line breaks inside parentheses, blank lines, comments, the order of keyword
arguments), then formatted, elaborated and compared. `scripts/fuzz-fmt -n N` runs N inputs
(`python -m tests.test_fmt`); test_fuzz_fmt_bounded runs a few.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from inspec.analysis.elaborate import elaborate
from inspec.analysis.ir import canonical
from inspec.cli import cli
from inspec.language import fmt
from inspec.language.fmt import comments, format_text, layout
from inspec.language.parser import parse_tree
from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parent.parent
SPEC_FILES = sorted(
    p.relative_to(ROOT).as_posix()
    for folder in ("specs", "examples")
    for p in (ROOT / folder).rglob("*.isp")
)


def squashed(text: str) -> str:
    """The spec with every run of spaces between tokens cut to one and no indentation: all the
    alignment gone (a different layout of the same spec)."""
    out, last = [], 0
    for tok in _all_tokens(text):
        gap = text[last : tok.start_pos]
        if "\n" not in gap and "#" not in gap and gap:
            gap = " "
        elif "\n" in gap:
            gap = re.sub(r"\n[ \t]+", "\n", gap)
        out += [gap, str(tok) if tok.type != "_NL" else re.sub(r"\n[ \t]+", "\n", str(tok))]
        last = tok.end_pos
    return "".join(out) + re.sub(r"\n[ \t]+", "\n", text[last:])


def _all_tokens(text: str):
    return list(fmt._tokens(parse_tree(text)))


# ------------------------------------------------------------------------------------------------
# Shipped specs


@pytest.mark.parametrize("rel", SPEC_FILES)
def test_shipped_spec_formats_back_from_its_squashed_layout(rel):
    """A shipped spec with its alignment squashed out formats back to the file as it is (the file
    is in canonical layout), and the squashed text elaborates to the same IR."""
    text = (ROOT / rel).read_text(encoding="utf-8")
    flat = squashed(text)
    assert flat != text
    result = format_text(flat, rel)  # checks the IR, the comments and stability on the way
    assert result.diagnostics == [], [d.render() for d in result.diagnostics]
    assert result.text == text
    assert result.changed


def test_every_shipped_spec_is_formatted():
    """`inspec fmt --check specs examples` passes: every shipped spec is kept in canonical layout."""
    r = CliRunner().invoke(cli, ["fmt", "--check", str(ROOT / "specs"), str(ROOT / "examples")])
    assert r.exit_code == 0, r.output
    assert f"0 files would be reformatted, {len(SPEC_FILES)} would be left unchanged" in r.output


def test_squashed_layout_elaborates_to_the_same_ir():
    rel = "specs/googlenet.isp"
    text = (ROOT / rel).read_text(encoding="utf-8")
    before = canonical(elaborate(text=text, name=rel))
    assert canonical(elaborate(text=squashed(text), name=rel)) == before
    assert canonical(elaborate(text=text.replace("64", "65", 1), name=rel)) != before


# ------------------------------------------------------------------------------------------------
# The layout, exactly

CASES = [
    (  # spaces canonical; rows aligned as a table, numbers to the right; expect items in columns
        'network  n( w=2 ,flag = true "a flag" )\ninput 32x32x3\n'
        "conv (c1)   3x3/2   w*16  bias = false expect  output=16x16x32 params=864\n"
        "bn\nmaxpool 3x3/2 expect output=8x8x32\n"
        "inception (3a) 64 96 128 expect output=8x8x288\n"
        "inception (3b) 128 128 192 expect output=8x8x448\n",
        'network n(w = 2, flag = true "a flag")\ninput 32x32x3\n'
        "conv      (c1) 3x3/2 w * 16 bias=false  expect output=16x16x32 params=864\n"
        "bn\n"
        "maxpool        3x3/2                    expect output=8x8x32\n"
        "inception (3a)  64  96 128              expect output=8x8x288\n"
        "inception (3b) 128 128 192              expect output=8x8x448\n",
    ),
    (  # blank lines: at most one, none after '{' or before '}'; `;` before a newline dropped
        "\n\nnetwork n\ninput 8x8x3\n\n\n\nblock b(k) {\n\n  conv 1x1 k ;\n  relu\n\n}\nb 4\n\n",
        "network n\ninput 8x8x3\n\nblock b(k) {\n  conv 1x1 k\n  relu\n}\nb 4\n",
    ),
    (  # comments: kept where they are, trailing ones in a column
        "# head\nnetwork n # net\ninput 8x8x3  # in\nblock b(k,  # k\n  n = 1) {\n"
        "  # inside\n  conv 1x1 k # c\n  relu\n  # last\n}\nb 4\n# end",
        "# head\nnetwork n    # net\ninput 8x8x3  # in\nblock b(k,   # k\n        n = 1) {\n"
        "  # inside\n  conv 1x1 k  # c\n  relu\n  # last\n}\nb 4\n# end\n",
    ),
    (  # bodies: one-line, hanging (the rows under the first) and block style; '{' aligned
        "network n\ninput 8x8x3\nblock b() {\nbranch x {conv 1x1 4;bn}\n"
        "branch long_name { conv (a) 1x1 4\n conv (bb) 3x3 8 }\n"
        "branch y {\nconv 1x1 2\n}\nbranch z {}\n}\nb\n",
        "network n\ninput 8x8x3\nblock b() {\n  branch x         { conv 1x1 4; bn }\n"
        "  branch long_name { conv (a)  1x1 4\n"
        "                     conv (bb) 3x3 8 }\n"
        "  branch y {\n    conv 1x1 2\n  }\n  branch z { }\n}\nb\n",
    ),
    (  # keywords after the arguments, `if` in a column, a repeat count, `side`
        "network n(on = true)\ninput 8x8x3\nconv 3x3 8 act=relu if on\n2 x conv 3x3 8\n"
        "relu if not on\nside linear (aux) 10\n",
        "network n(on = true)\ninput 8x8x3\nconv              3x3 8 act=relu if on\n"
        "2 x conv          3x3 8\nrelu                             if not on\nside linear (aux) 10\n",
    ),
    (  # `op ( x )` is not `op (x)` (a label): the space inside stays
        "network n(x = 4)\ninput 8x8x3\nconv ( x ) \n",
        "network n(x = 4)\ninput 8x8x3\nconv ( x)\n",
    ),
]


@pytest.mark.parametrize(("before", "after"), CASES)
def test_layout_golden(before, after):
    result = format_text(before, "case.isp")
    assert result.diagnostics == [], [d.render() for d in result.diagnostics]
    assert result.text == after
    assert format_text(after, "case.isp").changed is False


def test_comments_survive_in_order():
    text = CASES[2][0]
    out = format_text(text, "case.isp").text
    assert (
        comments(out)
        == comments(text)
        == ["# head", "# net", "# in", "# k", "# inside", "# c", "# last", "# end"]
    )


def test_line_ends_and_byte_order_mark_are_kept():
    text = "\ufeffnetwork  n\r\ninput 8x8x3\r\nconv 3x3  4\r\n"
    result = format_text(text, "crlf.isp")
    assert result.text == "\ufeffnetwork n\r\ninput 8x8x3\r\nconv 3x3 4\r\n"
    assert format_text(result.text, "crlf.isp").changed is False


def test_a_spec_that_does_not_parse_is_not_formatted():
    text = "network n\ninput 8x8x3\nconv 3x3 (4\n"
    result = format_text(text, "bad.isp")
    assert result.text == text and result.changed is False
    assert [d.message for d in result.diagnostics] == ["unexpected end of file"]


def test_an_unsafe_layout_is_refused(monkeypatch):
    """The safety net: a layout that would change the network is refused, the text left as it is."""
    text = "network n\ninput 8x8x3\nconv   3x3 4\n"
    monkeypatch.setattr(fmt, "layout", lambda t: t.replace("4", "5").replace("   ", " "))
    result = format_text(text, "x.isp")
    assert result.text == text and result.changed is False
    (d,) = result.diagnostics
    assert d.is_error and "elaborate to a different network" in d.message
    monkeypatch.setattr(fmt, "layout", lambda t: t.replace("   ", " ") + "# new\n")
    assert "comment" in format_text(text, "x.isp").diagnostics[0].message


def test_imports_resolve_from_the_files_path():
    rel = "specs/zoo/resnet18.isp"
    text = squashed((ROOT / rel).read_text(encoding="utf-8"))
    assert format_text(text, rel).diagnostics == []
    assert format_text(text, "elsewhere/resnet18.isp").diagnostics == []  # the same error twice


# ------------------------------------------------------------------------------------------------
# The command line


def test_cli_check_diff_and_rewrite(tmp_path):
    spec = tmp_path / "a.isp"
    spec.write_text("network n\ninput 8x8x3\nconv   3x3  4\n")
    done = tmp_path / "b.isp"
    done.write_text("network n\ninput 8x8x3\n")
    run = CliRunner().invoke
    r = run(cli, ["fmt", "--check", str(spec), str(done)])
    assert r.exit_code == 1 and f"would reformat {spec}" in r.output
    assert spec.read_text() == "network n\ninput 8x8x3\nconv   3x3  4\n"
    r = run(cli, ["fmt", "--diff", str(spec)])
    assert r.exit_code == 0
    assert "-conv   3x3  4\n+conv 3x3 4\n" in r.stdout
    assert spec.read_text().endswith("conv   3x3  4\n")
    r = run(cli, ["fmt", "--check", "--diff", str(spec)])
    assert r.exit_code == 1 and "+conv 3x3 4" in r.stdout
    mode = spec.stat().st_mode
    r = run(cli, ["fmt", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert spec.read_text() == "network n\ninput 8x8x3\nconv 3x3 4\n"
    assert spec.stat().st_mode == mode
    assert "1 file reformatted, 1 left unchanged" in r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.isp", "b.isp"]  # no temporary file
    r = run(cli, ["fmt", "--check", "-q", str(tmp_path)])
    assert r.exit_code == 0 and r.output == ""


def test_cli_standard_input_and_errors(tmp_path):
    import inspec.cli

    run = CliRunner().invoke
    r = run(cli, ["fmt", "-"], input="network  n\ninput 8x8x3\n")
    assert r.exit_code == 0 and r.stdout == "network n\ninput 8x8x3\n"
    inspec.cli._stdin.clear()  # standard input is read once a process
    r = run(cli, ["fmt", "-"], input="network n\ninput 8x8x3\nconv 3x3 (4\n")
    assert r.exit_code == 1 and r.stdout == ""
    assert "<stdin>:4:1: error: unexpected end of file" in r.output
    bad = tmp_path / "bad.isp"
    bad.write_text("network n\nconv 3x3 (4\n")
    r = run(cli, ["fmt", str(bad)])
    assert r.exit_code == 1 and bad.read_text() == "network n\nconv 3x3 (4\n"
    assert run(cli, ["fmt"]).exit_code == 2
    assert run(cli, ["fmt", "--bogus", str(bad)]).exit_code == 2
    assert run(cli, ["fmt", str(tmp_path / "missing.isp")]).exit_code == 2


def test_fmt_never_imports_torch():
    import subprocess

    cmd = [
        sys.executable,
        "-X",
        "importtime",
        "-m",
        "inspec",
        "fmt",
        "--diff",
        "specs/googlenet.isp",
    ]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "inspec.language.fmt" in r.stderr  # the import log is there
    assert not [x for x in r.stderr.splitlines() if re.search(r"\| +torch\b", x)]


# ------------------------------------------------------------------------------------------------
# Fuzz: meaning-preserving mutations of the shipped specs

MUTATORS = ("spaces", "indent", "join", "split", "blank", "comment", "uncomment", "kwargs")


def mutate(text: str, rng: random.Random, kinds: list[str]) -> str:
    """`text` with the mutations `kinds` applied; each keeps the spec's meaning."""
    if "kwargs" in kinds:
        text = _reorder_kwargs(text, rng)
    out, last, depth = [], 0, 0
    toks = _all_tokens(text)
    for i, tok in enumerate(toks):
        gap = text[last : tok.start_pos]
        inside = depth > 0
        prev = toks[i - 1] if i else None
        gap = _mutate_gap(gap, inside, prev, tok, rng, kinds)
        word = str(tok)
        if tok.type == "_NL":
            if "blank" in kinds and rng.random() < 0.2:
                word = "\n" * rng.choice([1, 1, 2, 3])
            if "comment" in kinds and rng.random() < 0.1:
                word = word + "# fuzz line\n"
        out += [gap, word]
        depth += tok.type == "LPAR"
        depth -= tok.type == "RPAR"
        last = tok.end_pos
    return "".join(out) + text[last:]


def _mutate_gap(gap, inside, prev, tok, rng, kinds) -> str:
    has_comment = "#" in gap
    if "uncomment" in kinds and has_comment and rng.random() < 0.3:
        gap = re.sub(r"#[^\n]*", "", gap)
        has_comment = False
    if "\n" in gap:  # a line break inside parentheses
        if "join" in kinds and not has_comment and rng.random() < 0.5:
            return " "
        if "indent" in kinds:
            gap = re.sub(r"\n[ \t]*$", "\n" + " " * rng.randrange(0, 12), gap)
        return gap
    if prev is not None and prev.type == "_NL":  # indentation
        if "indent" in kinds:
            return rng.choice(["", " ", "  ", "\t", "      "])
        return gap
    if inside and prev is not None and prev.type == "COMMA" and "split" in kinds:
        if rng.random() < 0.3:
            return "\n" + " " * rng.randrange(0, 20)
    if "comment" in kinds and inside and prev is not None and prev.type == "COMMA":
        if rng.random() < 0.1:
            return "  # fuzz inside\n   "
    if "spaces" in kinds and (gap or rng.random() < 0.2) and prev is not None:
        return rng.choice([" ", "  ", "   ", "\t", " \t ", "        "])
    if "comment" in kinds and tok.type == "_NL" and not has_comment and rng.random() < 0.1:
        return gap + "   # fuzz trailing"
    return gap


def _reorder_kwargs(text: str, rng: random.Random) -> str:
    """Shuffle one run of consecutive keyword arguments (distinct names) of one row, `defaults`,
    `init`, merge or residual."""
    runs = []
    for node in parse_tree(text).iter_subtrees():
        if node.data not in ("row", "defaults", "init", "merge", "residual"):
            continue
        run: list = []
        for c in [*node.children, None]:
            if c is not None and getattr(c, "data", None) == "kwarg":
                run.append(c)
                continue
            if c is not None and not hasattr(c, "data") and c.type == "COMMA":
                continue
            names = [str(k.children[0]) for k in run]
            if len(run) > 1 and len(set(names)) == len(names):
                runs.append(run)
            run = []
    if not runs:
        return text
    run = rng.choice(runs)
    spans = [(_first_tok(k).start_pos, _last_tok(k).end_pos) for k in run]
    pieces = [text[a:b] for a, b in spans]
    rng.shuffle(pieces)
    out, last = [], 0
    for (a, b), piece in zip(spans, pieces, strict=True):
        out += [text[last:a], piece]
        last = b
    return "".join(out) + text[last:]


def _first_tok(node):
    return next(fmt._tokens(node))


def _last_tok(node):
    return list(fmt._tokens(node))[-1]


def fuzz_input(seed: int, corpus: list[tuple[str, str]]) -> tuple[str, str, list[str]]:
    """The input for `seed`: (spec path, mutated text, mutations applied)."""
    rng = random.Random(seed)
    name, text = corpus[seed % len(corpus)]
    kinds = rng.sample(MUTATORS, rng.randint(1, 4))
    return name, mutate(text, rng, kinds), kinds


def check_formatting(text: str, name: str, recheck: bool = True) -> list[str]:
    """What is wrong with formatting `text`: a refusal, a lost comment, a second pass that changes
    it, or (recheck) an IR that differs (format_text checks these too; here they are checked again
    from outside)."""
    try:
        parse_tree(text)
    except Exception as e:  # the mutator's fault, not the formatter's
        return [f"mutated text does not parse: {type(e).__name__}"]
    result = format_text(text, name)
    if result.diagnostics:
        return [d.message for d in result.diagnostics]
    out = result.text
    problems = []
    if comments(out) != comments(text):
        problems.append("comments differ")
    if layout(out) != out or format_text(out, name).changed:
        problems.append("not idempotent")
    if recheck and canonical(elaborate(text=out, name=name)) != canonical(
        elaborate(text=text, name=name)
    ):
        problems.append("IR differs")
    return problems


def load_corpus(limit: int | None = None) -> list[tuple[str, str]]:
    """The shipped specs (path relative to the repository root, text); with `limit`, only those of
    at most that many characters."""
    out = [(rel, (ROOT / rel).read_text(encoding="utf-8")) for rel in SPEC_FILES]
    return [(n, t) for n, t in out if limit is None or len(t) <= limit]


def test_fuzz_fmt_bounded(monkeypatch):
    """30 mutated shipped specs (the smaller ones, seeds 0..29): each formats (no refusal), keeps
    its comments, is stable and elaborates to the IR of its input."""
    monkeypatch.chdir(ROOT)
    corpus = load_corpus(limit=4000)
    assert len(corpus) >= 20
    failures = []
    for seed in range(30):
        name, text, kinds = fuzz_input(seed, corpus)
        problems = check_formatting(text, name, recheck=seed % 3 == 0)
        if problems:
            failures.append(f"seed {seed} {name} ({', '.join(kinds)}): {'; '.join(problems)}")
    assert not failures, "\n".join(failures)


def test_mutations_keep_the_meaning(monkeypatch):
    """The fuzz's mutations change the layout and never the network (but for the order of keyword
    arguments, which the IR keeps in the order written: the fuzz compares with its own input)."""
    monkeypatch.chdir(ROOT)
    rel = "specs/zoo/blocks/resnet.isp"
    text = (ROOT / rel).read_text(encoding="utf-8")
    mutated = mutate(text, random.Random(3), [k for k in MUTATORS if k != "kwargs"])
    assert mutated != text
    assert canonical(elaborate(text=mutated, name=rel)) == canonical(elaborate(text=text, name=rel))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="scripts/fuzz-fmt", description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=500, help="how many inputs (default 500)")
    ap.add_argument("--seed", type=int, default=0, help="the first seed (default 0)")
    ap.add_argument("--show", action="store_true", help="print each input and its formatting")
    args = ap.parse_args(argv)
    import os

    os.chdir(ROOT)
    corpus = load_corpus()
    failed, start = 0, time.time()
    for seed in range(args.seed, args.seed + args.n):
        name, text, kinds = fuzz_input(seed, corpus)
        problems = check_formatting(text, name)
        if args.show:
            print(f"--- seed {seed}: {name} ({', '.join(kinds)})\n{text}")
            print(f"--- formatted\n{format_text(text, name).text}")
        if problems:
            failed += 1
            print(f"seed {seed} {name} ({', '.join(kinds)}): {'; '.join(problems)}", flush=True)
    took = time.time() - start
    print(
        f"{args.n} inputs (seeds {args.seed}..{args.seed + args.n - 1}), {failed} failed, {took:.0f} s"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())


# Found in review: each once a crash, a silent change or a write it should not make


@pytest.mark.parametrize(
    "row", ["conv ( x) + 1", "conv ( 16) * 1", "conv ( x) // 2", "2 x conv ( x) + 1"]
)
def test_a_leading_parenthesis_is_not_made_a_label(row):
    text = f"network n(x = 4)\ninput 8x8x3\n{row}\n"
    result = format_text(text)
    assert result.diagnostics == [] and result.text == text


def test_carriage_return_line_ends_are_kept():
    result = format_text("network n\rinput 8x8x3\rconv   3x3 16\r")
    assert result.text == "network n\rinput 8x8x3\rconv 3x3 16\r"


def test_standard_input_that_is_not_utf8_is_refused():
    r = run_cli("fmt", "-", input=b"network n  # caf\xe9\ninput 8x8x3\nconv 3x3 16\n")
    assert r.returncode == 1 and r.stdout == b""
    assert r.stderr == b"inspec: error: <stdin> is not UTF-8 text (byte 16)\n"


def test_a_read_only_spec_is_left_alone(tmp_path):
    spec = tmp_path / "ro.isp"
    spec.write_text("network n\ninput 8x8x3\nconv   3x3 16\n")
    spec.chmod(0o444)
    r = run_cli("fmt", str(spec))
    assert r.returncode == 1
    assert f"{spec} is read-only; inspec fmt leaves it as it is" in r.stderr
    assert spec.read_text() == "network n\ninput 8x8x3\nconv   3x3 16\n"
