"""Compile time of nested blocks: chains of one-row blocks nested 5..30 deep, and binary fan-outs (each
block calls the next one twice) 4..12 deep. Prints a table: layers in the network, time to check
(parse + elaborate + passes) and to compile (check + generate the PyTorch source), and compile time
per layer. Each block class is rendered once, so compile time grows with the number of distinct
block bodies, not with the number of paths through them.

    python -m benchmarks.bench_compile [--repeat 5]     (from the repository root)
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

from inspec.analysis.elaborate import elaborate
from inspec.backends.torch import generate


def chain(depth: int) -> str:
    """b1 calls b2 calls ... b{depth}: a chain of nested one-row blocks (plus the last one's conv)."""
    lines = ["network chain", "input 8x8x8"]
    for k in range(1, depth):
        lines.append(f"block b{k}(w) {{ conv 1x1 w; b{k + 1} w }}")
    lines.append(f"block b{depth}(w) {{ conv 1x1 w }}")
    lines.append("b1 8")
    return "\n".join(lines) + "\n"


def fanout(depth: int) -> str:
    """Each block calls the next twice, with different widths: 2^depth leaves, depth distinct block
    bodies per width pattern."""
    lines = ["network fanout", "input 8x8x8"]
    for k in range(1, depth):
        lines.append(f"block f{k}(w) {{ f{k + 1} w; f{k + 1} w + 1; conv 1x1 w }}")
    lines.append(f"block f{depth}(w) {{ conv 1x1 w }}")
    lines.append("f1 8")
    return "\n".join(lines) + "\n"


def measure(text: str, repeat: int) -> tuple[int, float, float]:
    checks, compiles = [], []
    layers = 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        net = elaborate(text=text, name="bench.isp")
        t1 = time.perf_counter()
        assert net.ok, [d.message for d in net.diagnostics][:3]
        generate(net)
        t2 = time.perf_counter()
        checks.append(t1 - t0)
        compiles.append(t2 - t0)
        layers = sum(1 for _ in net.body.layers())
    return layers, statistics.median(checks), statistics.median(compiles)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    print(f"python {platform.python_version()}, median of {args.repeat}")
    print()
    print(f"{'spec':<14} {'layers':>7} {'check s':>9} {'compile s':>10} {'ms/layer':>9}")
    cases = [(f"chain {d}", chain(d)) for d in (5, 10, 15, 20, 25, 30)]
    cases += [(f"fan-out {d}", fanout(d)) for d in (4, 6, 8, 10, 12)]
    measure(chain(3), 1)  # warm-up: the parser and the jinja templates are loaded once
    for name, text in cases:
        layers, check, comp = measure(text, args.repeat)
        print(f"{name:<14} {layers:>7,} {check:>9.3f} {comp:>10.3f} {1000 * comp / layers:>9.3f}")


if __name__ == "__main__":
    main()
