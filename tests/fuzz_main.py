"""Fuzz inspec with mutations of the shipped specs and print what happened.

    scripts/fuzz [-n 10000] [--seed 0] [--jobs 2] [--cli 200] [--no-build] [--skip KIND,...]

Each input is a shipped spec (specs/**/*.isp), or one time in five a spec of the differential
generator, after one to three random mutations (truncation, deleted, duplicated or swapped tokens and
lines, random bytes, huge numbers, deep nesting, odd unicode, line endings, block fan-out, and the
kinds of case of issue 16: pools with 4-value padding and ceil, conditional rows before in-place
activations, residual bodies ending in flatten, blocks named like helpers or imports, hostile labels,
`b w/2`, init options, `defaults add`; see tests/strategies.py); about a third of the inputs also get
`-p` values for their network parameters (in and out of range, of the wrong kind, unknown names). For
every input, inspec.analysis.elaborate must return (no exception), every diagnostic must point inside
its file and quote the line it names, an accepted input's tables, code and diagram must render, its
module must build (on the meta device) with the analysis's output shape and parameter count, and no
input may take more than a second to elaborate. A sample of `--cli` inputs also goes through
`python -m inspec check` (one in four through `compile`) in a subprocess, with the same `-p` values:
exit code 0 or 1 (2 for a `-p` value out of bounds), no traceback. Input k is reproducible on its own:
`--seed k -n 1 --show`.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from tests.strategies import (
    check_input,
    file_bytes,
    fuzz_input,
    fuzz_params,
    load_corpus,
    param_args,
)

ROOT = Path(__file__).resolve().parent.parent

LIMIT_S = 1.0
_corpus: list = []
_opts: dict = {"build": True, "skip": frozenset()}


def _init(build: bool = True, skip: frozenset = frozenset()) -> None:
    _corpus[:] = load_corpus(ROOT)
    _opts["build"] = build
    _opts["skip"] = skip
    if build:
        import torch

        torch.set_num_threads(1)


def _one(seed: int):
    name, text, how = fuzz_input(seed, _corpus, _opts["skip"])
    params = fuzz_params(seed, text)
    how = how + param_args(params)
    stats: dict = {}
    problems, elapsed = check_input(text, name, params=params, build=_opts["build"], stats=stats)
    if elapsed > LIMIT_S:
        problems.append(f"took {elapsed:.2f}s (limit {LIMIT_S}s)")
    return seed, how, problems, elapsed, stats


def _through_compile(seed: int) -> bool:
    """One CLI input in four goes through `compile` instead of `check`."""
    return random.Random(seed + 0x5EED).random() < 0.25


def cli_check(seed: int, corpus, tmp: Path, skip: frozenset = frozenset()) -> list[str]:
    """One fuzz input through `python -m inspec check` (one seed in four: `compile`), with its `-p`
    values, written in place of its original inside a copy of specs/ (so that its imports resolve as
    they would in the repository)."""
    name, text, _ = fuzz_input(seed, corpus, skip)
    params = fuzz_params(seed, text)
    target = tmp / Path(name).relative_to(ROOT)
    original = target.read_bytes() if target.exists() else None
    target.write_bytes(file_bytes(text))
    command = ["check", str(target)]
    if _through_compile(seed):
        command = ["compile", str(target), "-o", str(tmp / "out.py"), "--force", "-q"]
    try:
        t0 = time.perf_counter()
        r = subprocess.run(
            [sys.executable, "-m", "inspec", *command, *param_args(params)],
            capture_output=True,
            text=True,
            errors="replace",
            cwd=ROOT,
            timeout=60,
        )
        elapsed = time.perf_counter() - t0
    finally:
        if original is None:
            target.unlink()
        else:
            target.write_bytes(original)
    out = []
    if r.returncode not in (0, 1) and not (params and r.returncode == 2):
        out.append(f"exit code {r.returncode}")
    if "Traceback" in r.stderr or "Traceback" in r.stdout:
        out.append("traceback:\n" + r.stderr[-2000:])
    return out if not out else [f"cli ({elapsed:.2f}s): " + "; ".join(out)]


def _kind(problem: str) -> str:
    if problem.startswith(
        ("elaborate raised", "codegen raised", "table raised", "diagram raised", "build raised")
    ):
        return problem.split(":")[0] + ": " + problem.strip().splitlines()[-1][:70]
    return re.sub(r"\d+", "N", problem.split("\n")[0].split(":")[0])[:80]


def main() -> int:
    ap = argparse.ArgumentParser(prog="scripts/fuzz", description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", "--count", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0, help="first seed")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--cli", type=int, default=200, help="inputs also run through the CLI")
    ap.add_argument("--show", action="store_true", help="print each input (with -n 1)")
    ap.add_argument(
        "--no-build", action="store_true", help="do not build the modules of accepted inputs"
    )
    ap.add_argument(
        "--skip",
        default="",
        metavar="KIND,...",
        help="kinds of case the generated specs and round-two mutations leave out "
        "(tests.strategies.OPEN_BUGS in the test suite)",
    )
    args = ap.parse_args()
    skip = frozenset(k for k in args.skip.split(",") if k)
    seeds = range(args.seed, args.seed + args.count)
    t0 = time.perf_counter()
    failures = []
    worst = (0.0, None)
    times = []
    accepted = built = with_params = generated = 0
    if args.show:
        _init(False, skip)
        for s in seeds:
            name, text, how = fuzz_input(s, _corpus, skip)
            how = how + param_args(fuzz_params(s, text))
            print(f"# seed {s}: {name} after {', '.join(how)}\n{text!r}")
    with mp.Pool(args.jobs, initializer=_init, initargs=(not args.no_build, skip)) as pool:
        for seed, how, problems, elapsed, stats in pool.imap_unordered(_one, seeds, chunksize=20):
            accepted += stats.get("accepted", False)
            built += stats.get("built", False)
            with_params += any(h == "-p" for h in how)
            generated += any(h.startswith("generated(") for h in how)
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
            p = cli_check(s, corpus, Path(tmp), skip)
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
        f"{len(corpus)} shipped specs ({generated:,} from generated specs, {with_params:,} with -p "
        f"values), {len(cli_seeds)} of them also through the CLI "
        f"({sum(map(_through_compile, cli_seeds))} through compile)\n"
        f"fuzz: {accepted:,} inputs accepted, {built:,} of them built and run (meta device)\n"
        f"fuzz: {len(failures)} failing inputs, {len(cli_failures)} failing CLI runs\n"
        f"fuzz: CPU time of elaborate per input: median {times[len(times) // 2] * 1000:.1f} ms, "
        f"max {worst[0] * 1000:.0f} ms (seed {worst[1]}); wall {wall:.0f} s with {args.jobs} jobs"
        + (f"; without {','.join(sorted(skip))}" if skip else "")
    )
    return 1 if failures or cli_failures else 0


if __name__ == "__main__":
    sys.exit(main())
