"""Parse and check generated specs with 100, 1,000 and 10,000 block instances; print a table.

    .venv/bin/python -m benchmarks.bench_check [--repeat 5]

Each instance is an Inception module (4 branches, 6 convs and a pool); `distinct` gives every instance
different widths so that no two instances share an elaborated body, `same` repeats one instance (the
elaborator memoises identical instances). Also times `inspec check specs/googlenet.isp` as a whole
process (interpreter start-up included).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import time
from pathlib import Path

from inspec.analysis.elaborate import elaborate

ROOT = Path(__file__).resolve().parent.parent


HEADER = """network generated
input 16x16x64
block inception(a, b, c, d, e, f) {
  branch { conv 1x1 a }
  branch { conv 1x1 b; conv 3x3 c }
  branch { conv 1x1 d; conv 5x5 e }
  branch { maxpool 3x3/1; conv 1x1 f }
}
block unit(w) {
  inception 16 w 16 8 8 64 - w
}
"""


def spec(n: int, distinct: bool) -> str:
    # every instance maps 64 channels back to 64 (16 + 16 + 8 + (64 - w) ... + w via unit): keep it simple
    lines = [HEADER]
    for i in range(n):
        w = 8 + (i % 40) if distinct else 16
        lines.append(f"inception 16 {w} 16 8 8 24\n")
    return "".join(lines)


def timed(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    print(f"# inspec check scaling — Python {platform.python_version()}, {platform.machine()}")
    print()
    print("| instances | layers | spec lines | distinct: median s | per 1,000 | same: median s |")
    print("|---:|---:|---:|---:|---:|---:|")
    for n in (100, 1_000, 10_000):
        texts = {d: spec(n, d) for d in (True, False)}
        for t in texts.values():
            net = elaborate(text=t, name="gen.isp")
            assert net.ok, [d.message for d in net.diagnostics if d.is_error][:3]
        layers = sum(1 for r in net.rows for _ in r.node.layers())
        dt = timed(lambda t=texts[True]: elaborate(text=t, name="gen.isp"), args.repeat)
        ds = timed(lambda t=texts[False]: elaborate(text=t, name="gen.isp"), args.repeat)
        print(
            f"| {n:,} | {layers:,} | {texts[True].count(chr(10)):,} | {dt:.3f} | {dt / n * 1000:.3f} | {ds:.3f} |"
        )
    print()
    cmd = [str(ROOT / ".venv" / "bin" / "inspec"), "check", "-q", "specs/googlenet.isp"]
    runs = []
    for _ in range(10):
        t = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, check=True)
        runs.append(time.perf_counter() - t)
    print(
        f"`inspec check specs/googlenet.isp` as a whole process: median {statistics.median(runs):.3f} s over 10 runs"
    )


if __name__ == "__main__":
    main()
