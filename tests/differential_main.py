"""Differential testing: random valid specs, inspec's analysis against a brute-force reference model
and against the PyTorch module inspec builds. Prints the result.

    scripts/differential [-n 10000] [--seed 0] [--jobs 2] [--no-torch] [--skip KIND,...]

Case k is the spec tests.strategies.random_spec(k) (stacks of convs with square and asymmetric kernels,
strides, same/valid/explicit padding, groups, dilation, bn, bias, max/avg pools with ceil/floor,
count_include_pad and global, concatenated branches, residual blocks projecting back with `in`, `N x`
repeats, nested blocks, linear/flatten/dropout heads; and the kinds of case of issue 16: pools with
4-value padding and ceil, rows switched off by a parameter before in-place activations, parameter
overrides, residual scales and activations from parameters and `defaults add`, hostile block, label
and parameter names, `b w/2`, init lines, chains and fan-outs of blocks, `2 x linear`, `2 x softmax`,
and specs that must be refused; and the newer language: add/mul/split/concat merges, conditional
branches, seqs, `residual if`, reshaping rows and counts in blocks, `index`/`first`, newer rows and
activations, `padding torch`, parameter values inspec must refuse, and refusals of its kinds). For
each: every top-level row's shape, the params and the
multiply-adds must equal the reference model's; the totals must be the sum of the rows and of the
layers; and, built with inspec.backends.torch.build_module, every layer's output shape (forward hooks),
parameter count and multiply-adds (counted from the module's nn.Conv2d and nn.Linear layers) must
equal inspec's, as must the whole network's; the forward pass must leave its input alone, give a
finite output and the same output with every in-place op made out-of-place. With other parameter
values the same holds for the module compiled with them, and the default-compiled module's
constructor must follow them exactly or refuse them. A spec made to be refused must be refused at its
line. `--show K` prints case K and its problems; `--skip` leaves kinds of case out (the test suite
leaves out tests.strategies.OPEN_BUGS).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import re
import sys
import time
import traceback
from collections import Counter

from tests.strategies import OPEN_BUGS, differential, random_spec

_opts: dict = {"torch": True, "skip": frozenset()}


def _init(torch_too: bool, skip: frozenset = frozenset()) -> None:
    _opts["torch"] = torch_too
    _opts["skip"] = skip
    if torch_too:
        import torch

        torch.set_num_threads(1)


def _one(seed: int):
    t0 = time.perf_counter()
    kinds: set = set()
    try:
        spec = random_spec(seed, _opts["skip"])
        kinds = spec.kinds
        problems = differential(spec, torch_too=_opts["torch"])
    except Exception:
        problems = ["raised:\n" + traceback.format_exc(limit=-4)]
    return seed, problems, time.perf_counter() - t0, kinds


def _kind(problem: str) -> str:
    first = problem.split("\n")[0]
    if first.startswith("raised"):
        last = problem.strip().splitlines()[-1]
        return re.sub(r"'[^']*'", "'...'", re.sub(r"\d+", "N", last))[:110]
    return re.sub(r"\d+", "N", first.split(":")[0])[:60]


def main() -> int:
    ap = argparse.ArgumentParser(prog="scripts/differential", description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", "--count", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0, help="first seed")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--no-torch", action="store_true", help="the analysis checks only")
    ap.add_argument(
        "--show", type=int, default=None, metavar="K", help="print case K and its problems"
    )
    ap.add_argument(
        "--skip", default="", metavar="KIND,...", help="leave out these kinds of case (see --help)"
    )
    args = ap.parse_args()
    skip = frozenset(k for k in args.skip.split(",") if k)
    if args.show is not None:
        _init(not args.no_torch, skip)
        spec = random_spec(args.show, skip)
        print(spec.text)
        if spec.overrides or spec.bad_overrides or spec.refused_overrides:
            refused = {**spec.bad_overrides, **spec.refused_overrides}
            print(f"# overrides {spec.overrides}, to be refused {refused}")
        seed, problems, _, _ = _one(args.show)
        print("\n".join(problems) or "no problems")
        return 1 if problems else 0
    seeds = range(args.seed, args.seed + args.count)
    t0 = time.perf_counter()
    failures = []
    kinds: Counter = Counter()
    cases: Counter = Counter()  # kinds of case written
    failing: Counter = Counter()  # kinds of case among the failing
    unexplained: list[int] = []  # failing cases of no kind in OPEN_BUGS: a new bug
    with mp.Pool(args.jobs, initializer=_init, initargs=(not args.no_torch, skip)) as pool:
        for seed, problems, _, case_kinds in pool.imap_unordered(_one, seeds, chunksize=10):
            cases.update(case_kinds)
            if problems:
                failures.append((seed, problems))
                failing.update(case_kinds)
                if not case_kinds & OPEN_BUGS:
                    unexplained.append(seed)
                for k in {_kind(p) for p in problems}:
                    kinds[k] += 1
    wall = time.perf_counter() - t0
    failures.sort()
    for seed, problems in failures[:20]:
        print(f"FAIL case {seed} (scripts/differential --show {seed}):")
        for p in problems[:3]:
            print("    " + p.replace("\n", "\n    ")[:1200])
    for k, v in kinds.most_common():
        print(f"  {v:6,} cases: {k}")
    print(
        "kinds of case (failing/written): "
        + ", ".join(f"{k} {failing[k]}/{v}" for k, v in sorted(cases.items()))
    )
    print(
        f"failing cases of no kind in tests.strategies.OPEN_BUGS ({', '.join(sorted(OPEN_BUGS))}): "
        f"{len(unexplained):,}" + (f" (seeds {sorted(unexplained)[:20]})" if unexplained else "")
    )
    what = "analysis + torch" if not args.no_torch else "analysis only"
    if skip:
        what += ", without " + ",".join(sorted(skip))
    print(
        f"differential ({what}): {args.count:,} cases "
        f"(seeds {args.seed}..{args.seed + args.count - 1}), "
        f"{len(failures):,} failing; wall {wall:.0f} s with {args.jobs} jobs"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
