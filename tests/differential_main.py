"""Differential testing: random valid specs, inspec's analysis against a brute-force reference model and
against the PyTorch module inspec builds. Prints the result.

    scripts/differential [-n 10000] [--seed 0] [--jobs 2] [--no-torch]

Case k is the spec tests.strategies.random_spec(k) (stacks of convs with square and asymmetric kernels,
strides, same/valid/explicit padding, groups, dilation, bn, bias, max/avg pools with ceil/floor,
count_include_pad and global, concatenated branches, residual blocks projecting back with `in`, `N x`
repeats, nested blocks, linear/flatten/dropout heads). For each: every top-level row's shape, the
params and the multiply-adds must equal the reference model's; the totals must be the sum of the rows
and of the layers; and, built with inspec.backends.torch.build_module, every layer's output shape (forward
hooks), parameter count and multiply-adds (counted from the module's nn.Conv2d and nn.Linear layers)
must equal inspec's, as must the whole network's. `--show K` prints case K and its problems.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import time
import traceback
from collections import Counter

from tests.strategies import differential, random_spec

_opts = {"torch": True}


def _init(torch_too: bool) -> None:
    _opts["torch"] = torch_too
    if torch_too:
        import torch

        torch.set_num_threads(1)


def _one(seed: int):
    t0 = time.perf_counter()
    try:
        spec = random_spec(seed)
        problems = differential(spec, torch_too=_opts["torch"])
    except Exception:
        problems = ["raised:\n" + traceback.format_exc(limit=-4)]
    return seed, problems, time.perf_counter() - t0


def _kind(problem: str) -> str:
    first = problem.split("\n")[0]
    if first.startswith("raised"):
        return problem.strip().splitlines()[-1][:90]
    return first.split(":")[0][:60]


def main() -> int:
    ap = argparse.ArgumentParser(prog="scripts/differential", description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", "--count", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0, help="first seed")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--no-torch", action="store_true", help="the analysis checks only")
    ap.add_argument(
        "--show", type=int, default=None, metavar="K", help="print case K and its problems"
    )
    args = ap.parse_args()
    if args.show is not None:
        _init(not args.no_torch)
        print(random_spec(args.show).text)
        seed, problems, _ = _one(args.show)
        print("\n".join(problems) or "no problems")
        return 1 if problems else 0
    seeds = range(args.seed, args.seed + args.count)
    t0 = time.perf_counter()
    failures = []
    kinds: Counter = Counter()
    with mp.Pool(args.jobs, initializer=_init, initargs=(not args.no_torch,)) as pool:
        for seed, problems, _ in pool.imap_unordered(_one, seeds, chunksize=10):
            if problems:
                failures.append((seed, problems))
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
    what = "analysis + torch" if not args.no_torch else "analysis only"
    print(
        f"differential ({what}): {args.count:,} cases (seeds {args.seed}..{args.seed + args.count - 1}), "
        f"{len(failures):,} failing; wall {wall:.0f} s with {args.jobs} jobs"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
