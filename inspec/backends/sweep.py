"""Sweeps: a network's totals and output shape at every point of a grid of parameter values
(`inspec table SPEC -p width=0.5:1.5:0.25 -p num_classes=10,100`), one line per point, as text,
markdown, csv, json or LaTeX. The command line elaborates the spec once per point; this module makes
the grid and writes what the networks hold."""

from __future__ import annotations

import csv
import io
import itertools
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from inspec.analysis import ir
from inspec.analysis.conventions import DEFAULT
from inspec.analysis.units import fmt_count
from inspec.backends.grid import latex_escape, latex_label, latex_lines, markdown_lines, text_lines
from inspec.backends.table import SCHEMA_VERSION, dump_json, ops_line, totals, units_line

MAX_POINTS = 1000  # a sweep elaborates the spec once per point (googlenet: about 20 ms each)


class SweepError(ValueError):
    """A range or grid that cannot be swept (a step of 0, no value, too many points)."""


def frange(start: str, stop: str, step: str) -> list[int | float]:
    """start, start + step, start + 2 step, ... while not past stop: stop is included when it lands on
    it exactly. The arithmetic is decimal, on the numbers as written, so 0.1:0.3:0.1 ends at 0.3 and
    0.5:1.5:0.25 gives 0.5, 0.75, 1, 1.25, 1.5. A negative step counts down. The values are ints when
    all three numbers are integers, else floats."""
    try:
        a, b, d = (Decimal(x.replace("_", "")) for x in (start, stop, step))
        if not all(x.is_finite() for x in (a, b, d)):
            raise InvalidOperation
    except InvalidOperation as e:
        raise SweepError(f"not a finite number in {start}:{stop}:{step}") from e
    if d == 0:
        raise SweepError("the step of a range must not be 0")
    count = int((b - a) / d) + 1 if (b - a) / d >= 0 else 0
    if count < 1:
        raise SweepError(
            f"the range {start}:{stop}:{step} holds no value (it counts from start towards stop)"
        )
    if count > MAX_POINTS:
        raise SweepError(
            f"the range {start}:{stop}:{step} holds {count:,} values (at most {MAX_POINTS:,})"
        )
    whole = not any(c in x.lower() for x in (start, stop, step) for c in ".e")
    values = [a + i * d for i in range(count)]
    return [int(v) for v in values] if whole else [float(v) for v in values]


def grid(swept: dict[str, list]) -> list[dict[str, Any]]:
    """Every combination of the swept values, the first parameter varying slowest."""
    size = 1
    for values in swept.values():
        size *= len(values)
    if size > MAX_POINTS:
        raise SweepError(f"the sweep has {size:,} points (at most {MAX_POINTS:,})")
    names = list(swept)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*swept.values())]


def show(value: Any) -> str:
    """A parameter value as -p writes it: true/false, 0.75, 16, relu."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


@dataclass
class Point:
    """One point of a sweep: the swept values and the network elaborated with them."""

    values: dict[str, Any]
    net: ir.Network
    errors: list[str] = field(default_factory=list)  # the messages of its errors

    @property
    def ok(self) -> bool:
        return not self.errors and self.net.input is not None

    def output(self) -> str:
        out = self.net.output if self.ok else None
        return "x".join(map(str, out.as_list())) if out else ""


@dataclass
class Sweep:
    swept: dict[str, list]  # each swept parameter's values, in the order given
    fixed: dict[str, Any]  # the -p values that do not vary
    points: list[Point]
    count: str = DEFAULT  # the counting convention of the ops (inspec table --count)

    @property
    def names(self) -> list[str]:
        return list(self.swept)

    @property
    def network(self) -> str:
        return self.points[0].net.name if self.points else ""

    def title(self) -> str:
        counts = " x ".join(f"{n} ({len(v)} values)" for n, v in self.swept.items())
        fixed = "".join(f", {k}={show(v)}" for k, v in self.fixed.items())
        net = self.points[0].net if self.points else None
        inp = "x".join(map(str, net.input.as_list())) if net and net.input else "?"
        return f"{self.network}: input {inp}{fixed}; sweep of {counts} = {len(self.points)} points"

    def sides(self) -> bool:
        """Whether a point has active side heads: then a column gives the params with them."""
        return any(p.ok and any(h.active for h in p.net.sides) for p in self.points)

    def grid(self, units: str) -> tuple[list[str], list[list[str]], set[int]]:
        """Header, cells and the right-aligned columns: the swept values, params (and params with
        side heads, when a point has them), ops, output."""
        sides = self.sides()
        head = [*self.names, "params", *(["with side heads"] if sides else []), "ops", "output"]
        body = []
        for p in self.points:
            line = [show(p.values[n]) for n in self.names]
            if p.ok:
                t = totals(p.net, self.count)
                full = t["with_side_heads"]
                line += [fmt_count(t["params"], "params", units)]
                line += [fmt_count(full["params"], "params", units)] if sides else []
                line += [fmt_count(t["ops"], "ops", units), p.output()]
            else:
                line += [""] * (len(head) - len(self.names) - 1)
                line += [f"error: {p.errors[0]}" if p.errors else "error"]
            body.append(line)
        numeric = {
            i
            for i, n in enumerate(self.names)
            if all(
                isinstance(p.values[n], (int, float)) and not isinstance(p.values[n], bool)
                for p in self.points
            )
        }
        return head, body, numeric | set(range(len(self.names), len(head) - 1))


FOOTER = "params and ops: the totals without side heads (the table's first total)"


def footer(sw: Sweep) -> str:
    """The footer, with what the ops count under a convention other than the default."""
    return FOOTER if sw.count == DEFAULT else f"{FOOTER}; ops = {ops_line(sw.count)}"


def render_text(sw: Sweep, units: str) -> str:
    head, body, right = sw.grid(units)
    out = [sw.title(), "", *text_lines(head, body, right), ""]
    out.append(f"{footer(sw)}; {units_line(units)}.")
    return "\n".join(out) + "\n"


def render_markdown(sw: Sweep, units: str) -> str:
    head, body, right = sw.grid(units)
    out = [
        f"**{sw.network}**{sw.title()[len(sw.network) :]}",
        "",
        *markdown_lines(head, body, right),
    ]
    out += ["", f"{footer(sw)}; {units_line(units)}."]
    return "\n".join(out) + "\n"


def render_latex(sw: Sweep, units: str) -> str:
    head, body, right = sw.grid(units)
    out = [
        f"% {sw.title()}; written by inspec table --format latex",
        f"% {footer(sw)}; {units_line(units)}",
        r"% needs \usepackage{booktabs}",
        r"\begin{table}",
        r"\centering",
        r"\small",
        *latex_lines(head, body, right),
        rf"\caption{{{latex_escape(sw.network)}: a sweep of {latex_escape(', '.join(sw.names))}.}}",
        rf"\label{{tab:{latex_label(sw.network)}-sweep}}",
        r"\end{table}",
    ]
    return "\n".join(out) + "\n"


def render_csv(sw: Sweep, units: str = "exact") -> str:
    """Exact counts, whatever the units (as the table's csv)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([*sw.names, "params", "weights", "ops", "output", "ok"])
    for p in sw.points:
        t = totals(p.net, sw.count) if p.ok else None
        counts = [t["params"], t["weights"], t["ops"]] if t else ["", "", ""]
        w.writerow([show(p.values[n]) for n in sw.names] + counts + [p.output(), int(p.ok)])
    return buf.getvalue()


def to_json(sw: Sweep) -> dict[str, Any]:
    return {
        "schema": SCHEMA_VERSION,
        "network": sw.network,
        "swept": {n: list(v) for n, v in sw.swept.items()},
        "fixed": dict(sw.fixed),
        **({"count": sw.count} if sw.count != DEFAULT else {}),
        "points": [
            {
                "values": dict(p.values),
                "parameters": {q.name: p.net.values.get(q.name) for q in p.net.params},
                "ok": p.ok,
                "errors": list(p.errors),
                "input": p.net.input.as_list() if p.net.input else None,
                "output": p.net.output.as_list() if p.ok and p.net.output else None,
                "totals": totals(p.net, sw.count) if p.ok else None,
            }
            for p in sw.points
        ],
    }


def render_json(sw: Sweep, units: str = "exact") -> str:
    """Exact integers, whatever the units (as the table's json)."""
    return dump_json(to_json(sw))


RENDERERS = {
    "text": render_text,
    "markdown": render_markdown,
    "csv": render_csv,
    "json": render_json,
    "latex": render_latex,
}
