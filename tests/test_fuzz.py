"""Fuzzing: mutated shipped specs and hostile inputs never crash inspec, never take more than a second,
and every diagnostic points inside its file. `scripts/fuzz` runs 10,000 inputs; this runs a few hundred.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inspec.analysis.elaborate import elaborate
from tests.conftest import run_cli
from tests.strategies import (
    OPEN_BUGS,
    check_input,
    file_bytes,
    fuzz_input,
    fuzz_params,
    load_corpus,
    param_args,
    round_two_input,
)

ROOT = Path(__file__).resolve().parent.parent
CORPUS = load_corpus(ROOT)
LIMIT_S = 1.0


def test_corpus_is_the_shipped_specs():
    names = {Path(n).name for n, _ in CORPUS}
    assert {"googlenet.isp", "alexnet.isp", "inception_v4.isp"} <= names
    assert any("blocks" in n for n, _ in CORPUS)  # block libraries are fuzzed too


@pytest.mark.parametrize("chunk", range(4))
def test_mutated_specs_through_the_api(chunk):
    """400 mutated specs (seeds 0..399), a third with -p values: no exception, located diagnostics,
    under a second each."""
    failures = []
    worst = 0.0
    for seed in range(chunk * 100, chunk * 100 + 100):
        name, text, how = fuzz_input(seed, CORPUS, OPEN_BUGS)
        params = fuzz_params(seed, text)
        how = how + param_args(params)
        problems, elapsed = check_input(text, name, caret=False, params=params)
        worst = max(worst, elapsed)
        if elapsed > LIMIT_S:
            problems.append(f"took {elapsed:.2f}s")
        if problems:
            failures.append(f"seed {seed} ({', '.join(how)}): " + "; ".join(problems))
    assert not failures, "\n".join(failures)


def test_round_two_inputs_build():
    """40 small specs of issue 16's kinds (4-value pool padding with ceil, conditional rows before
    in-place activations, residual bodies ending in flatten, helper and import names for blocks,
    hostile labels, init options, `defaults add`, `-p` values): every accepted one renders, builds
    (meta device) and gives the analysis's output shape and parameter count."""
    failures, accepted = [], 0
    for seed in range(40):
        name, text, _ = round_two_input(seed, OPEN_BUGS)
        params = fuzz_params(seed, text)
        stats: dict = {}
        problems, elapsed = check_input(text, name, params=params, build=True, stats=stats)
        accepted += stats["accepted"]
        if elapsed > LIMIT_S:
            problems.append(f"took {elapsed:.2f}s")
        if problems:
            failures.append(f"seed {seed} {param_args(params)}:\n{text}\n" + "; ".join(problems))
    assert not failures, "\n".join(failures)
    assert accepted >= 10  # not only refusals: the module of each accepted one was built


@settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.text(alphabet=st.characters(codec=None), max_size=300))
def test_arbitrary_text(text):
    problems, elapsed = check_input(text, "fuzz.isp", caret=False)
    assert not problems and elapsed < LIMIT_S, problems


_WORDS = st.sampled_from(
    [
        "network n",
        "input 8x8x3",
        "conv",
        "3x3/2",
        "16",
        "block b",
        "{",
        "}",
        "(",
        ")",
        "branch",
        "residual",
        "x",
        "in",
        "=",
        "same",
        "valid",
        "\n",
        ";",
        "maxpool",
        "linear 10",
        "flatten",
        "2 x",
        "b",
        "if",
        "not",
        "true",
        "expect output=8x8x16",
        "side",
        "(a)",
        "-",
        "*",
        "//",
        "0",
    ]
)


@settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.lists(_WORDS, max_size=40).map(" ".join))
def test_token_soup(text):
    """Plausible tokens in random order reach deeper into the elaborator than random characters."""
    problems, elapsed = check_input(text, "soup.isp", caret=False)
    assert not problems and elapsed < LIMIT_S, problems


HOSTILE = {
    "long number": "network n\ninput 8x8x3\nconv 3x3 " + "9" * 5000 + "\n",
    "unary chain": "network n\ninput 8x8x3\nconv 3x3 " + "-" * 100_000 + "1\n",
    "not chain": "network n(a = true)\ninput 8x8x3\nconv 3x3 4 if " + "not " * 50_000 + "a\n",
    "plus chain": "network n\ninput 8x8x3\nconv 3x3 " + "+".join(["1"] * 50_000) + "\n",
    "long tuple": "network n\ninput 8x8x3\nconv 3x3 4 pad=(" + ",".join(["1"] * 50_000) + ")\n",
    "parens": "network n\ninput 8x8x3\nconv 3x3 " + "(" * 5000 + "1" + ")" * 5000 + "\n",
    "braces": "network n\ninput 8x8x3\n" + "branch { " * 5000 + "relu" + " }" * 5000 + "\n",
    "import /dev/zero": 'import "/dev/zero"\nnetwork n\ninput 8x8x3\n',
    "import directory": 'import "/"\nnetwork n\ninput 8x8x3\n',
    "import itself": 'import "fuzz.isp"\nnetwork n\ninput 8x8x3\n',
    "NUL": "network n\x00\ninput 8x8x3\n",
    "BOM": "\ufeffnetwork n\ninput 8x8x3\n",
    "lone surrogate": "network n\ud800\ninput 8x8x3\n",
    "RTL override": "network n\u202e\ninput 8x8x3\n",
    "combining": "network n\u0301\ninput 8x8x3\n",
    "CR only": "network n\rinput 8x8x3\rconv 3x3 4\r",
    "float overflow": "network n\ninput 8x8x3\nconv 3x3 (1e308 * 10)\ndropout 1e999\n",
    "float floor-div": "network n\ninput 8x8x3\nconv 3x3 (1e15 // 1e-300)\n",
    "huge round": "network n\ninput 8x8x3\nconv 3x3 round(1e300)\n",
    "huge patch": "network n\ninput 8x8x3\nconv 99999999999999999999x3/99999999999999999999 4\n",
    "huge expect": "network n\ninput 8x8x3\nconv 3x3 4 expect output=99999999999999999999x1x1 ops=9999999999G\n",
    "empty": "",
    "only comment": "# nothing\n",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_input(name):
    text = HOSTILE[name]
    problems, elapsed = check_input(text, "fuzz.isp", caret=False)
    assert not problems, problems
    assert elapsed < LIMIT_S, f"{elapsed:.2f}s"


@pytest.fixture(scope="module")
def spec_copy(tmp_path_factory):
    """A copy of specs/ to write mutated files into (imports resolve as in the repository)."""
    root = tmp_path_factory.mktemp("fuzz")
    shutil.copytree(ROOT / "specs", root / "specs")
    return root


@pytest.mark.parametrize("seed", range(0, 10_000, 625))  # 16 inputs spread over the fuzz range
def test_mutated_specs_through_the_cli(seed, spec_copy):
    """`python -m inspec check` on a mutated file, with its -p values: exit 0 or 1 (2 for a -p value
    out of bounds), no traceback, under a few seconds."""
    name, text, _ = fuzz_input(seed, CORPUS, OPEN_BUGS)
    params = param_args(fuzz_params(seed, text))
    target = spec_copy / Path(name).relative_to(ROOT)
    original = target.read_bytes() if target.exists() else None
    target.write_bytes(file_bytes(text))  # lone surrogates become raw bytes
    try:
        t0 = time.perf_counter()
        r = run_cli("check", str(target), *params, timeout=60)
        elapsed = time.perf_counter() - t0
    finally:
        if original is None:
            target.unlink()
        else:
            target.write_bytes(original)
    assert r.returncode in (0, 1) or (params and r.returncode == 2), r.stderr
    assert "Traceback" not in r.stderr + r.stdout, r.stderr
    assert elapsed < 10, elapsed  # interpreter start-up included
    if r.returncode == 1:
        # a file that is not UTF-8 is the one error without a line and column (docs/reliability.md)
        assert ": error: " in r.stderr or " is not UTF-8 text (byte " in r.stderr, r.stderr


@pytest.mark.parametrize("data", [b"\xff\xfe\x00n", b"network n\ninput 8x8x3\n\xc3("])
def test_cli_non_utf8(tmp_path, data):
    p = tmp_path / "bad.isp"
    p.write_bytes(data)
    r = run_cli("check", str(p), timeout=60)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr


@pytest.mark.parametrize("sep", ["\x0c", "\x0b", "\u2028", "\x85", "\x1c"])
def test_diagnostics_quote_the_line_they_name(sep):
    """Lark counts lines by \\n only; the caret must quote that line, whatever other line-break-like
    characters (form feed, vertical tab, U+2028, NEL, file separator) a line holds."""
    text = f"network n\ninput 8x8x3  # a{sep}b\nconv 3x3 4\nconv 3x3 oops\n"
    net = elaborate(text=text, name="ff.isp")
    (err,) = [d for d in net.diagnostics if d.is_error]
    assert err.span.line == 4
    assert " 4 | conv 3x3 oops" in err.render(net.sources).split("\n")
