"""`inspec diff A.isp B.isp`: two networks row by row, as text, markdown or json.

Rows are the table's rows (`table.rows`), aligned by their module path: the longest run of paths the
two share in order (difflib's matching, no junk heuristics) pairs rows of equal paths; between two
such pairs, the rows left on each side are paired by order, and the surplus is added (only in B) or
removed (only in A). A pair is `same` when its type, arguments, output, params, weights, ops, side and
active flags agree, else `changed`. Deltas are B - A; percentages are of A.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from inspec.analysis import ir
from inspec.analysis.conventions import DEFAULT
from inspec.analysis.units import fmt_count
from inspec.backends.grid import markdown_lines, text_lines
from inspec.backends.table import (
    SCHEMA_VERSION,
    TableRow,
    dump_json,
    ops_line,
    rows,
    totals,
    units_line,
)

MARKS = {"same": " ", "changed": "~", "added": "+", "removed": "-"}
KINDS = ("params", "weights", "ops")


@dataclass
class Pair:
    """One line of the diff: a row of A, of B, or of both."""

    a: TableRow | None
    b: TableRow | None

    @property
    def status(self) -> str:
        if self.a is None:
            return "added"
        if self.b is None:
            return "removed"
        return "same" if _key(self.a) == _key(self.b) and self.a.path == self.b.path else "changed"

    def path(self) -> str:
        a, b = self.a.path if self.a else None, self.b.path if self.b else None
        return a if b is None or a == b else b if a is None else f"{a} -> {b}"

    def delta(self, kind: str) -> int:
        return _count(self.b, kind) - _count(self.a, kind)


def kind(tr: TableRow) -> str:
    """A row's type without what names it (its label, a seq's path): `inception`, `max pool`."""
    text = tr.type
    if tr.path and text.startswith(f"{tr.path}: "):
        text = text[len(tr.path) + 2 :]
    if tr.label and text.endswith(f" ({tr.label})"):
        text = text[: -len(tr.label) - 3]
    return text


def args(tr: TableRow) -> dict[str, Any]:
    """A block row's arguments under their column headers (or names)."""
    return {(tr.headers.get(k) or k): v for k, v in tr.args.items()}


def _key(tr: TableRow) -> tuple:
    return (
        kind(tr),
        sorted((k, repr(v)) for k, v in args(tr).items()),
        tr.output,
        tr.params,
        tr.weights,
        tr.ops,
        tr.side,
        tr.active,
    )


def _count(tr: TableRow | None, kind: str) -> int:
    """A row's count as it adds to the totals: 0 for no row or a row switched off."""
    return getattr(tr, kind) if tr is not None and tr.active else 0


def align(a: list[TableRow], b: list[TableRow]) -> list[Pair]:
    """The rows of A and B paired: equal paths in order, then by order between them."""
    matcher = difflib.SequenceMatcher(
        None, [r.path for r in a], [r.path for r in b], autojunk=False
    )
    out: list[Pair] = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            out += [Pair(x, y) for x, y in zip(a[i1:i2], b[j1:j2], strict=True)]
            continue
        left, right = a[i1:i2], b[j1:j2]
        n = min(len(left), len(right))
        out += [Pair(x, y) for x, y in zip(left[:n], right[:n], strict=True)]
        out += [Pair(x, None) for x in left[n:]]
        out += [Pair(None, y) for y in right[n:]]
    return out


@dataclass
class Diff:
    a: ir.Network
    b: ir.Network
    a_file: str
    b_file: str
    pairs: list[Pair]
    granularity: str = "rows"
    count: str = DEFAULT  # the counting convention of the ops (inspec diff --count)

    def counts(self) -> dict[str, int]:
        found = {s: 0 for s in MARKS}
        for p in self.pairs:
            found[p.status] += 1
        return found

    def sides(self) -> bool:
        return bool(self.a.sides or self.b.sides)


def diff(
    a: ir.Network,
    b: ir.Network,
    a_file: str = "",
    b_file: str = "",
    granularity: str = "rows",
    count: str = DEFAULT,
) -> Diff:
    pairs = align(rows(a, granularity, count), rows(b, granularity, count))
    return Diff(a, b, a_file, b_file, pairs, granularity, count)


def percent(a: int, b: int) -> float | None:
    """(b - a) / a in percent, None when a is 0 (and b is not)."""
    if a == 0:
        return 0.0 if b == 0 else None
    return (b - a) / a * 100


def _signed(n: int, kind: str, units: str) -> str:
    """A delta with its sign (+1,024 or +1K; 0 as 0)."""
    if n == 0:
        return "0"
    text = fmt_count(abs(n), kind, units) or "0"
    return ("+" if n > 0 else "-") + text


def _pct(a: int, b: int) -> str:
    p = percent(a, b)
    return "new" if p is None else f"{p:+.2f}%"


def _shape(tr: TableRow | None) -> str:
    return "" if tr is None else tr.output_text()


def _value(tr: TableRow | None, kind: str, units: str) -> str:
    if tr is None:
        return ""
    text = fmt_count(getattr(tr, kind), kind, units) or "0"
    return text if tr.active else f"({text})"


def _type(p: Pair) -> str:
    a = (kind(p.a) + ("" if p.a.active else " [off]")) if p.a else None
    b = (kind(p.b) + ("" if p.b.active else " [off]")) if p.b else None
    return a if b is None or a == b else b if a is None else f"{a} -> {b}"


HEAD = [
    "row",
    "type",
    "output A",
    "output B",
    "params A",
    "params B",
    "Δ params",
    "ops A",
    "ops B",
    "Δ ops",
]
RIGHT = set(range(4, 10))


def _grid(d: Diff, units: str) -> tuple[list[list[str]], list[list[str]]]:
    body = []
    for p in d.pairs:
        line = [f"{MARKS[p.status]} {p.path()}", _type(p), _shape(p.a), _shape(p.b)]
        for kind in ("params", "ops"):
            dv = p.delta(kind)
            line += [_value(p.a, kind, units), _value(p.b, kind, units)]
            line += ["" if dv == 0 else _signed(dv, kind, units)]
        body.append(line)
    sums = []
    for label, sides in (("total", False), ("total with side heads", True)):
        if sides and not d.sides():
            continue
        ta, tb = totals(d.a, d.count), totals(d.b, d.count)
        if sides:
            ta, tb = ta["with_side_heads"], tb["with_side_heads"]
        line = [f"  {label}", "", "", ""]
        for kind in ("params", "ops"):
            x, y = ta[kind], tb[kind]
            line += [fmt_count(x, kind, units), fmt_count(y, kind, units)]
            line += [f"{_signed(y - x, kind, units)} ({_pct(x, y)})"]
        sums.append(line)
    return body, sums


def _title(d: Diff) -> str:
    return f"A = {d.a_file} ({d.a.name}), B = {d.b_file} ({d.b.name})"


def _summary(d: Diff) -> str:
    c = d.counts()
    return ", ".join(f"{c[s]} {s}" for s in ("changed", "added", "removed", "same"))


FOOTER = (
    "~ changed, + added (only in B), - removed (only in A); Δ = B - A, in percent of A; "
    "(n): a row switched off, left out of the totals"
)


def footer(d: Diff) -> str:
    """The footer, with what the ops count under a convention other than the default."""
    return FOOTER if d.count == DEFAULT else f"{FOOTER}; ops = {ops_line(d.count)}"


def render_text(d: Diff, units: str = "exact") -> str:
    body, sums = _grid(d, units)
    out = [_title(d), f"rows: {_summary(d)}", ""]
    out += [*text_lines(HEAD, body, RIGHT, sums, fit_totals=True), ""]
    out += [f"{footer(d)}; {units_line(units)}."]
    return "\n".join(out) + "\n"


def render_markdown(d: Diff, units: str = "exact") -> str:
    body, sums = _grid(d, units)
    sums = [[r[0].strip(), *r[1:]] for r in sums]
    out = [f"**diff**: {_title(d)}; rows: {_summary(d)}", ""]
    out += markdown_lines(HEAD, body, RIGHT, sums)
    out += ["", f"{footer(d)}; {units_line(units)}."]
    return "\n".join(out) + "\n"


def _side(net: ir.Network, file: str) -> dict[str, Any]:
    return {
        "file": file,
        "network": net.name,
        "input": net.input.as_list() if net.input else None,
        "parameters": {p.name: net.values.get(p.name) for p in net.params},
    }


def _row_json(tr: TableRow | None) -> dict[str, Any] | None:
    if tr is None:
        return None
    return {
        "name": tr.path,
        "type": tr.type,
        "output": tr.output,
        "kind": kind(tr),
        "args": args(tr),
        "params": tr.params,
        "weights": tr.weights,
        "ops": tr.ops,
        "side": tr.side,
        "active": tr.active,
    }


def _totals_json(d: Diff) -> dict[str, Any]:
    ta, tb = totals(d.a, d.count), totals(d.b, d.count)

    def compare(x: dict, y: dict) -> dict[str, Any]:
        return {
            "a": {k: x[k] for k in KINDS},
            "b": {k: y[k] for k in KINDS},
            "delta": {k: y[k] - x[k] for k in KINDS},
            "percent": {k: percent(x[k], y[k]) for k in KINDS},
        }

    out = compare(ta, tb)
    out["with_side_heads"] = compare(ta["with_side_heads"], tb["with_side_heads"])
    return out


def to_json(d: Diff) -> dict[str, Any]:
    return {
        "schema": SCHEMA_VERSION,
        "a": _side(d.a, d.a_file),
        "b": _side(d.b, d.b_file),
        "granularity": d.granularity,
        **({"count": d.count} if d.count != DEFAULT else {}),
        "summary": d.counts(),
        "rows": [
            {
                "status": p.status,
                "a": _row_json(p.a),
                "b": _row_json(p.b),
                "delta": {k: p.delta(k) for k in KINDS},
            }
            for p in d.pairs
        ],
        "totals": _totals_json(d),
    }


def render_json(d: Diff, units: str = "exact") -> str:
    """Exact integers, whatever the units (as the table's json)."""
    return dump_json(to_json(d))


RENDERERS = {"text": render_text, "markdown": render_markdown, "json": render_json}
