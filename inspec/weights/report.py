"""State_dict keys told by the spec row that made them: the error lists and the key map (no torch).

A key belongs to the layer whose module path is its longest prefix (`module_paths` of the PyTorch
backend gives every layer's path); the layer's span gives the row's file and line, and for a layer
inside a block the top-level row that called it is named too:

    specs/inception_v4.isp:41 `linear (last_linear) num_classes` (last_linear)
      mis-shaped  last_linear.weight 10x1536 <- last_linear.weight 1000x1536
    (no row of the spec)
      unexpected  aux.fc.weight 10x64
"""

from __future__ import annotations

from dataclasses import dataclass

from inspec.analysis import ir
from inspec.analysis.exprs import show
from inspec.diagnostics import Span, printable
from inspec.weights.plan import NBT, Entry, OrderMismatch, Pair, Plan

ELSEWHERE = "(no row of the spec)"
TAG = 11  # the width of an item's tag: "unexpected " and the others padded to it


def shape_text(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape)) if shape else "scalar"


def _span_text(sources: dict[str, str], span: Span) -> str:
    text = sources.get(span.file)
    if text is None:
        return ""
    lines = text.split("\n")
    if not 1 <= span.line <= len(lines):
        return ""
    line = lines[span.line - 1].rstrip("\r")
    end = span.end_col - 1 if span.end_line == span.line else len(line)
    shown = " ".join(line[span.col - 1 : end].split())
    return shown + (" ..." if span.end_line != span.line else "")


class Rows:
    """Which layer of the spec, and which row, a state_dict key belongs to. `paths` are the module
    paths of the layers that are on; a key of a layer that is off for these parameters (a side head
    behind `if aux_logits`) is told by that layer's row too, marked off."""

    def __init__(self, net: ir.Network, paths: dict[str, ir.Layer]):
        self.net = net
        self.paths = paths
        self.off: dict[str, ir.Layer] = {}
        self._top: dict[int, ir.Node] = {}
        order: list[str] = []
        for row in net.rows:
            for node in row.node.walk():
                self._top.setdefault(id(node), row.node)
            on = {id(layer) for _, layer in ir.row_layers(row.node)}
            for path, layer in ir.row_layers(row.node, include_inactive=True):
                if id(layer) not in on and path not in paths:
                    self.off.setdefault(path, layer)
                order.append(path)
        order += list(paths)
        self.place = {}
        for path in order:
            self.place.setdefault(path, len(self.place))

    def _layer(self, path: str) -> ir.Layer:
        return self.paths[path] if path in self.paths else self.off[path]

    def owner(self, key: str) -> str | None:
        """The module path of the layer that holds `key` (the longest path that prefixes it)."""
        parts = key.split(".")
        for n in range(len(parts), 0, -1):
            path = ".".join(parts[:n])
            if path in self.paths or path in self.off:
                return path
        return None

    def where(self, path: str) -> str:
        """`file:line` of the layer's row."""
        span = self._layer(path).span
        return f"{span.file}:{span.line}"

    def text(self, path: str) -> str:
        return _span_text(self.net.sources, self._layer(path).span)

    def row(self, path: str) -> tuple[str, str] | None:
        """`file:line` and text of the top-level row that holds the layer, when that is not the
        layer's own row (a layer inside a block)."""
        layer = self._layer(path)
        top = self._top.get(id(layer))
        if top is None or (top.span.file, top.span.line) == (layer.span.file, layer.span.line):
            return None
        return f"{top.span.file}:{top.span.line}", _span_text(self.net.sources, top.span)

    def heading(self, path: str) -> str:
        """specs/x.isp:12 `conv 3x3 64` (path, in specs/y.isp:3 `4 x block`)"""
        head = f"{self.where(path)} `{self.text(path)}` ({path}"
        row = self.row(path)
        if row is not None:
            head += f", in {row[0]} `{row[1]}`"
        if path in self.off:
            head += "; " + self._off_text(path)
        return printable(head + ")")

    def _off_text(self, path: str) -> str:
        layer = self.off[path]
        top = self._top.get(id(layer))
        cond = layer.cond if layer.cond is not None else getattr(top, "cond", None)
        if cond is None:
            return "off for these parameters"
        return f"off: `if {show(cond)}` is false"

    def name(self, path: str) -> str:
        """path (specs/x.isp:12 conv 3x3 64, in specs/y.isp:3 4 x block)"""
        text = f"{path} ({self.where(path)} {self.text(path)}"
        row = self.row(path)
        if row is not None:
            text += f", in {row[0]} {row[1]}"
        return printable(text + ")")


@dataclass(frozen=True)
class Sides:
    """How the report names the two sides: `target` is filled from `source`; the spec's keys are on
    the target's side (a checkpoint ported into the spec's module) or the source's (the spec's
    weights ported to the reference)."""

    target: str  # "the module"
    source: str  # "the checkpoint"
    spec_side: str = "target"


def _line(tag: str, text: str) -> str:
    return f"  {tag:<{TAG - 1}} {text}"


def _entry(e: Entry) -> str:
    return f"{e.key} {shape_text(e.shape)}"


def _pair(p: Pair, shapes: bool = False) -> str:
    t, s = p.target, p.source
    if shapes:
        return f"{_entry(t)} <- {_entry(s)}"
    return _entry(t) if s.key == t.key else f"{_entry(t)} <- {s.key}"


def _items(plan: Plan, sides: Sides, problems_only: bool):
    """(row key, line) for every item, target-side ones in the target's order, then the source's."""
    order = plan.target_order
    ranked: list[tuple[int, str, str]] = []
    spec_target = sides.spec_side == "target"

    def key_of(p: Pair) -> str:
        return p.target.key if spec_target else p.source.key

    for p in plan.misshaped:
        ranked.append((order[p.target.key], key_of(p), _line("mis-shaped", _pair(p, shapes=True))))
    for e in plan.missing:
        ranked.append((order[e.key], e.key, _line("missing", _entry(e))))
    if not problems_only:
        for p in plan.pairs:
            ranked.append((order[p.target.key], key_of(p), _line(p.how, _pair(p))))
        for e in plan.filled:
            text = f"{e.key} (absent from {sides.source}: 0)"
            ranked.append((order[e.key], e.key, _line("filled", text)))
    ranked.sort(key=lambda r: r[0])
    items = [(k, line) for _, k, line in ranked]
    items += [(e.key, _line("unexpected", _entry(e))) for e in plan.unexpected]
    if not problems_only:
        items += [
            (e.key, _line("dropped", f"{e.key} (absent from {sides.target})")) for e in plan.dropped
        ]
    return items


def grouped(plan: Plan, rows: Rows, sides: Sides, problems_only: bool = False) -> list[str]:
    """The items under a heading for each spec row, in order; keys of no row last."""
    groups: dict[str | None, list[str]] = {}
    for key, line in _items(plan, sides, problems_only):
        groups.setdefault(rows.owner(key), []).append(printable(line))
    out: list[str] = []
    place = rows.place  # the rows' order
    for path, lines in sorted(groups.items(), key=lambda g: place.get(g[0], len(place))):
        out.append(rows.heading(path) if path is not None else ELSEWHERE)
        out += lines
    return out


def _kind(kind: tuple[str, int]) -> str:
    return f"{kind[1]}-d '{kind[0]}'"


def mismatch_text(m: OrderMismatch, sides: Sides) -> str:
    counts = (
        f"{m.count_target} in {sides.target}, {m.count_source} in {sides.source}; "
        if m.count_target != m.count_source
        else f"{m.count_target} on each side; "
    )
    t = f"{sides.target}'s {_entry(m.target)}" if m.target else f"{sides.target} has no more"
    s = f"{sides.source}'s {_entry(m.source)}" if m.source else f"{sides.source} has no more"
    return f"first mismatch in order: the {_kind(m.kind)} entries ({counts}number {m.index + 1}): {t}, {s}"


def problems_text(plan: Plan, rows: Rows, sides: Sides, partial: bool = True) -> str:
    """The error: what is missing, unexpected and mis-shaped, grouped by spec row, and hints (`partial`:
    the load could leave entries out)."""
    said = []
    for n, word in (
        (len(plan.missing), "missing"),
        (len(plan.unexpected), "unexpected"),
        (len(plan.misshaped), "mis-shaped"),
    ):
        if n:
            said.append(f"{n} {word}")
    lines = [f"{sides.source} does not fit {sides.target} (map {plan.how}): {', '.join(said)}"]
    if plan.how != "key" and plan.first_mismatch is not None:
        lines.append(mismatch_text(plan.first_mismatch, sides))
    lines += grouped(plan, rows, sides, problems_only=True)
    total = len(plan.target_order)
    if plan.how == "key" and total and plan.by_key * 2 < total:
        lines.append(
            f"hint: only {plan.by_key} of {total} names agree; map 'auto' pairs the rest by "
            "structure (--map auto; map='auto' in inspec.build)"
        )
    if partial:  # a load that may leave entries out
        lines.append(
            "hint: to load what fits and leave the rest out, allow missing and unexpected entries "
            "(--allow-missing, --allow-unexpected; strict=False in inspec.build)"
        )
    return "\n".join(printable(x) for x in lines)


def summary_text(plan: Plan, sides: Sides) -> str:
    """What was ported, how, and what was left out or filled: a few lines, always shown."""
    total = len(plan.target_order)
    lines = [
        f"{sides.target} <- {sides.source} (map {plan.how}): {len(plan.pairs)} of {total} entries "
        f"ported, {plan.by_key} by key and {plan.by_order} by order"
    ]
    left = []
    if plan.missing or plan.misshaped:
        n = len(plan.missing) + len(plan.misshaped)
        left.append(f"{n} of {sides.target}'s entries (nothing fits them)")
    if plan.unexpected or plan.misshaped:
        n = len(plan.unexpected) + len(plan.misshaped)
        left.append(f"{n} of {sides.source}'s (unused)")
    if left:
        lines.append("left out: " + ", ".join(left))
    if plan.filled:
        lines.append(f"filled: {len(plan.filled)} {NBT} absent from {sides.source} (0)")
    if plan.dropped:
        lines.append(f"dropped: {len(plan.dropped)} {NBT} absent from {sides.target}")
    return "\n".join(printable(x) for x in lines)


def report_text(plan: Plan, rows: Rows, sides: Sides) -> str:
    """The whole key map, every entry under its spec row, then the summary."""
    lines = [f"key map: {sides.target} <- {sides.source} (map {plan.how})"]
    lines += grouped(plan, rows, sides)
    return "\n".join(printable(x) for x in lines) + "\n" + summary_text(plan, sides)
