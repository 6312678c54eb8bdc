"""Fuzz inspec with mutations of the shipped specs and print what happened.

    scripts/fuzz [-n 10000] [--seed 0] [--jobs 2] [--cli 200]

Each input is a shipped spec (specs/**/*.isp) after one to three random mutations (truncation, deleted,
duplicated or swapped tokens and lines, random bytes, huge numbers, deep nesting, odd unicode, line
endings, block fan-out; see tests/strategies.py). For every input, inspec.analysis.elaborate must return (no
exception), every diagnostic must point inside its file and quote the line it names, an accepted
input's tables, code and diagram must render, and no input may take more than a second. A sample of
`--cli` inputs also goes through `python -m inspec check` in a subprocess: exit code 0 or 1, no
traceback. Input k is reproducible on its own: `--seed k -n 1 --show`.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from tests.strategies import check_input, fuzz_input, load_corpus

ROOT = Path(__file__).resolve().parent.parent

LIMIT_S = 1.0
_corpus: list = []


def _init() -> None:
    _corpus[:] = load_corpus(ROOT)


def _one(seed: int):
    name, text, how = fuzz_input(seed, _corpus)
    problems, elapsed = check_input(text, name)
    if elapsed > LIMIT_S:
        problems.append(f"took {elapsed:.2f}s (limit {LIMIT_S}s)")
    return seed, how, problems, elapsed


def cli_check(seed: int, corpus, tmp: Path) -> list[str]:
    """One fuzz input through `python -m inspec check`, written in place of its original inside a copy
    of specs/ (so that its imports resolve as they would in the repository)."""
    name, text, _ = fuzz_input(seed, corpus)
    target = tmp / Path(name).relative_to(ROOT)
    original = target.read_bytes()
    target.write_bytes(text.encode("utf-8", "surrogateescape"))
    try:
        t0 = time.perf_counter()
        r = subprocess.run(
            [sys.executable, "-m", "inspec", "check", str(target)],
            capture_output=True,
            text=True,
            errors="replace",
            cwd=ROOT,
            timeout=60,
        )
        elapsed = time.perf_counter() - t0
    finally:
        target.write_bytes(original)
    out = []
    if r.returncode not in (0, 1):
        out.append(f"exit code {r.returncode}")
    if "Traceback" in r.stderr or "Traceback" in r.stdout:
        out.append("traceback:\n" + r.stderr[-2000:])
    return out if not out else [f"cli ({elapsed:.2f}s): " + "; ".join(out)]


def _kind(problem: str) -> str:
    if problem.startswith(("elaborate raised", "codegen raised", "table raised", "diagram raised")):
        return problem.split(":")[0] + ": " + problem.strip().splitlines()[-1][:70]
    return re.sub(r"\d+", "N", problem.split("\n")[0].split(":")[0])[:80]


def main() -> int:
    ap = argparse.ArgumentParser(prog="scripts/fuzz", description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", "--count", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0, help="first seed")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--cli", type=int, default=200, help="inputs also run through the CLI")
    ap.add_argument("--show", action="store_true", help="print each input (with -n 1)")
    args = ap.parse_args()
    seeds = range(args.seed, args.seed + args.count)
    t0 = time.perf_counter()
    failures = []
    worst = (0.0, None)
    times = []
    if args.show:
        _init()
        for s in seeds:
            name, text, how = fuzz_input(s, _corpus)
            print(f"# seed {s}: {name} after {', '.join(how)}\n{text!r}")
    with mp.Pool(args.jobs, initializer=_init) as pool:
        for seed, how, problems, elapsed in pool.imap_unordered(_one, seeds, chunksize=20):
            times.append(elapsed)
            if elapsed > worst[0]:
                worst = (elapsed, seed)
            if problems:
                failures.append((seed, how, problems))
    corpus = load_corpus(ROOT)
    cli_seeds = list(seeds)[:: max(1, len(seeds) // max(args.cli, 1))][: args.cli]
    cli_failures = []
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(ROOT / "specs", Path(tmp) / "specs")
        for s in cli_seeds:
            p = cli_check(s, corpus, Path(tmp))
            if p:
                cli_failures.append((s, ["cli"], p))
    wall = time.perf_counter() - t0
    times.sort()
    kinds = Counter(
        _kind(p) for _, _, problems in failures + cli_failures for p in problems
    )  # one example of each kind first, then the rest in seed order
    shown, firsts = set(), []
    for f in sorted(failures + cli_failures):
        k = _kind(f[2][0])
        if k not in shown:
            shown.add(k)
            firsts.append(f)
    rest = [f for f in sorted(failures + cli_failures) if f not in firsts]
    for seed, how, problems in (firsts + rest)[:40]:
        print(f"FAIL seed {seed} ({', '.join(how)}):")
        for p in problems[:3]:
            print("    " + p.replace("\n", "\n    ")[:1500])
    for k, v in kinds.most_common():
        print(f"  {v:6,} x {k}")
    print(
        f"fuzz: {len(times):,} inputs (seeds {args.seed}..{args.seed + args.count - 1}) from "
        f"{len(corpus)} shipped specs, {len(cli_seeds)} of them also through the CLI\n"
        f"fuzz: {len(failures)} failing inputs, {len(cli_failures)} failing CLI runs\n"
        f"fuzz: CPU time of elaborate per input: median {times[len(times) // 2] * 1000:.1f} ms, "
        f"max {worst[0] * 1000:.0f} ms (seed {worst[1]}); wall {wall:.0f} s with {args.jobs} jobs"
    )
    return 1 if failures or cli_failures else 0


if __name__ == "__main__":
    sys.exit(main())
