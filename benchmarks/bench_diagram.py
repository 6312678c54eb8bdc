"""Time `inspec diagram`: DOT generation and SVG rendering, per spec and detail level.

    .venv/bin/python benchmarks/bench_diagram.py [SPEC ...]

Prints a table (best of 3 runs). The issue's bar: inception_resnet_v2 at full block detail renders to
SVG in under 5 s. "blocks+expand" opens every instance of every repeat (39 residual blocks).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from inspec.analysis.elaborate import elaborate
from inspec.backends.diagram import render, to_dot

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ["googlenet", "inception_v4", "inception_resnet_v2"]
CASES = [
    ("network", {}),
    ("blocks", {"detail": "blocks"}),
    ("blocks+expand", {"detail": "blocks", "repeats": "expand"}),
]


def best(fn, runs: int = 3) -> tuple[float, object]:
    times, out = [], None
    for _ in range(runs):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def main(names: list[str]) -> None:
    rows = []
    for name in names:
        path = ROOT / "specs" / f"{name}.isp" if not name.endswith(".isp") else Path(name)
        net = elaborate(path=str(path))
        for case, kw in CASES:
            t_dot, src = best(lambda net=net, kw=kw: to_dot(net, **kw))
            t_svg, svg = best(lambda src=src: render(src, "svg"))
            nodes = src.count(" [label=") + src.count("[shape=point")
            rows.append((path.stem, case, nodes, len(src), t_dot, t_svg, len(svg)))
    head = ("spec", "detail", "nodes", "DOT bytes", "to_dot s", "dot -Tsvg s", "SVG bytes")
    table = [head] + [
        (a, b, str(c), str(d), f"{e:.3f}", f"{f:.3f}", str(g)) for a, b, c, d, e, f, g in rows
    ]
    widths = [max(len(r[i]) for r in table) for i in range(len(head))]
    for k, r in enumerate(table):
        print(
            "  ".join(
                c.ljust(w) if i < 2 else c.rjust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=False))
            )
        )
        if k == 0:
            print("  ".join("-" * w for w in widths))


if __name__ == "__main__":
    main(sys.argv[1:] or DEFAULT)
