"""The diagram's front end: what is drawn, as a tiny view tree of boxes (one per layer, collapsed block
or repeat), sequences, splits (a concat's branches or a residual's body and skip) and clusters (an
opened block instance). `_IRView` reads the elaborated network, with shapes and costs; `_ASTView` reads
a block definition on its own, with symbolic widths.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from inspec.analysis import ir
from inspec.analysis.naming import scoped_name
from inspec.analysis.ops import OPS, ROW_OPS, Cost
from inspec.analysis.units import fmt_paper, fmt_si
from inspec.language import ast as A

# ------------------------------------------------------------------------------------------------
# The view tree


@dataclass
class VBox:
    id: str
    category: str
    title: str
    lines: list[str] = field(default_factory=list)
    out: str = ""  # the shape that leaves this box, as the edge label
    count: int = 1  # "x 7" for a collapsed repeat
    inactive: bool = False
    side: bool = False
    tooltip: str = ""
    shape: str = "box"


@dataclass
class VSeq:
    items: list[Any] = field(default_factory=list)


@dataclass
class VSplit:
    """Branches from one point joined by a merge box (concat), or a body plus a skip (residual add)."""

    id: str
    branches: list[VSeq]
    merge: VBox
    skip: bool = False
    scale: str = ""  # the label of the body's edge into the add, e.g. "x 0.17"
    inactive: bool = False


@dataclass
class VCluster:
    id: str
    title: str
    lines: list[str]
    body: VSeq
    out: str = ""
    inactive: bool = False
    side: bool = False
    tooltip: str = ""


@dataclass
class VSide:
    """A side head: leaves the trunk, ends in its own output."""

    id: str
    head: Any
    name: str
    out: str
    inactive: bool = False


def _titled(title: str, label: str | None) -> str:
    """`type (label)` as the table prints it, without repeating a label that only restates the type."""
    if not label or label == title or label == title.replace(" ", ""):
        return title
    return f"{title} ({label})"


def _shape(s) -> str:
    return str(s) if s is not None else "?"


# ------------------------------------------------------------------------------------------------
# Front end 1: the elaborated network


class _IRView:
    def __init__(self, net: ir.Network, detail: str, costs: bool, repeats: str):
        self.net = net
        self.open_blocks = detail == "blocks"
        self.costs = costs
        self.repeats = repeats
        self.units = net.units
        self.handlers: dict[type, Callable[[Any, str], Any]] = {
            ir.Layer: self.layer,
            ir.Call: self.call,
            ir.Concat: self.concat,
            ir.Residual: self.residual,
            ir.Repeat: self.repeat,
            ir.Side: self.side,
            ir.Seq: self.seq,
        }

    # -- helpers -----------------------------------------------------------------------------------
    def cost_line(self, c: Cost) -> list[str]:
        if not self.costs:
            return []
        fmt = (
            (lambda n, k: fmt_paper(n, k) or "0")
            if self.units == "paper"
            else (lambda n, k: fmt_si(n))
        )
        return [f"{fmt(c.params, 'params')} params, {fmt(c.ops, 'ops')} ops"]

    def view(self, node: ir.Node, path: str, prefix: str = "") -> Any:
        """path: the node's id, its module path as the table prints it; prefix: the enclosing scope, where
        a concat's branches and a residual's rows live (they are transparent in module paths)."""
        if isinstance(node, (ir.Concat, ir.Residual)):
            return self.handlers[type(node)](node, path, prefix)
        return self.handlers[type(node)](node, path)

    def seq(self, seq: ir.Seq | None, prefix: str) -> VSeq:
        out = VSeq()
        for n in seq.items if seq is not None else []:
            out.items.append(self.view(n, f"{prefix}{n.name}", prefix))
        return out

    @staticmethod
    def category(node: ir.Node) -> str:
        """A collapsed node takes the colour of what produces its output (an inception module: concat)."""
        while True:
            if isinstance(node, (ir.Layer, ir.Concat, ir.Residual)):
                return node.op.category
            items = (
                node.items
                if isinstance(node, ir.Repeat)
                else (node.body.items if getattr(node, "body", None) else [])
            )
            if isinstance(node, ir.Side):
                items = [node.head]
            main = [n for n in items if n.active and not isinstance(n, ir.Side)]
            if not main:
                return "block"
            node = main[-1]

    @staticmethod
    def args_text(call: ir.Call) -> str:
        parts = []
        for p in call.block.params:
            v = call.args.get(p.name)
            v = f"{v:g}" if isinstance(v, float) else v
            parts.append(f"{p.header or p.name} = {v}")
        return ", ".join(parts)

    # -- nodes -------------------------------------------------------------------------------------
    def layer(self, node: ir.Layer, path: str, count: int = 1) -> VBox:
        title = _titled(node.title, node.label)
        detail = []
        if node.patch is not None:
            kh, kw = node.patch
            detail.append(f"{kh}x{kw}/{node.stride}")
        if node.op.attr("out") is not None and "out" in node.attrs:
            detail.append(str(node.attrs["out"]))
        lines = [", ".join(detail)] if detail else []
        return VBox(
            id=path,
            category=node.op.category,
            title=title,
            lines=lines + self.cost_line(node.cost),
            out=_shape(node.out_shape),
            count=count,
            inactive=not node.active,
            tooltip=path,
        )

    def call(self, node: ir.Call, path: str, count: int = 1, cost: Cost | None = None) -> Any:
        cost = node.cost if cost is None else cost
        if not self.open_blocks:
            lines = []
            if (
                node.body is not None
                and node.body.items
                and all(isinstance(n, ir.Layer) for n in node.body.items)
            ):
                last = node.body.items[-1]
                if last.patch is not None:
                    lines.append(f"{last.patch[0]}x{last.patch[1]}/{last.stride}")
            return VBox(
                id=path,
                category=self.category(node),
                title=_titled(node.block.name, node.label),
                lines=lines + self.cost_line(cost),
                out=_shape(node.out_shape),
                count=count,
                inactive=not node.active,
                tooltip=f"{path}: {node.block.name}({self.args_text(node)})",
            )
        title = _titled(node.block.name, node.label) + (f" x {count}" if count > 1 else "")
        return VCluster(
            id=path,
            title=title,
            lines=self.cost_line(cost),
            body=self.seq(node.body, f"{path}."),
            out=_shape(node.out_shape),
            inactive=not node.active,
            tooltip=f"{path}: {node.block.name}({self.args_text(node)})",
        )

    def concat(self, node: ir.Concat, path: str, prefix: str) -> VSplit:
        merge = VBox(
            id=path,
            category=node.op.category,
            title=node.op.display({}),
            out=_shape(node.out_shape),
            tooltip=path,
        )
        branches = [
            VSeq([self.view(b.single, f"{prefix}{b.name}")])
            if b.single is not None
            else self.seq(b.body, f"{prefix}{b.name}.")
            for b in node.branches
        ]
        return VSplit(id=path, branches=branches, merge=merge, inactive=not node.active)

    def residual(self, node: ir.Residual, path: str, prefix: str) -> VSplit:
        scale = node.attrs.get("scale", 1.0)
        act = node.attrs.get("act", "none")
        lines = [] if act in ("none", None) else [str(act)]
        merge = VBox(
            id=path,
            category=node.op.category,
            title=node.op.display(node.attrs),
            lines=lines,
            out=_shape(node.out_shape),
            tooltip=path,
        )
        return VSplit(
            id=path,
            branches=[self.seq(node.body, prefix)],
            merge=merge,
            skip=True,
            scale="" if scale == 1 else f"\u00d7 {scale:g}",
            inactive=not node.active,
        )

    def repeat(self, node: ir.Repeat, path: str) -> Any:
        items = node.items
        uniform = items and all(
            (n.in_shape, n.out_shape, type(n))
            == (items[0].in_shape, items[0].out_shape, type(items[0]))
            for n in items
        )
        if not items:
            return VSeq()
        if self.repeats == "expand" or not uniform:
            return VSeq([self.view(n, f"{path}.{n.name}") for n in items])
        first = items[0]
        if isinstance(first, ir.Call):
            v = self.call(first, f"{path}.{first.name}", count=node.count, cost=node.cost)
        else:
            v = self.layer(first, f"{path}.{first.name}", count=node.count)
            v.lines = [ln for ln in v.lines if not ln.endswith(" ops")] + self.cost_line(node.cost)
        v.inactive = not node.active
        return v

    def side(self, node: ir.Side, path: str) -> VSide:
        head = self.view(node.head, path)
        head.side = True
        return VSide(
            id=path,
            head=head,
            name=node.name,
            out=_shape(node.out_shape),
            inactive=not node.active,
        )


# ------------------------------------------------------------------------------------------------
# Front end 2: a block definition with symbolic widths


class _ASTView:
    def __init__(self, net: ir.Network, block: A.BlockDef):
        self.net = net
        self.block = block

    def text(self, e) -> str:
        """An expression as written in the spec."""
        src = self.net.sources.get(e.span.file)
        if src is None:
            return "?"
        lines = src.splitlines()
        if e.span.line == e.span.end_line:
            return lines[e.span.line - 1][e.span.col - 1 : e.span.end_col - 1]
        first = lines[e.span.line - 1][e.span.col - 1 :]
        middle = lines[e.span.line : e.span.end_line - 1]
        last = lines[e.span.end_line - 1][: e.span.end_col - 1]
        return " ".join(s.strip() for s in [first, *middle, last])

    def body(self, stmts, prefix: str, counters: dict | None = None, indexed: bool = False) -> VSeq:
        """Names follow the elaborator: branches and residual rows in the enclosing scope, the unlabelled
        rows of a branch by position."""
        out = VSeq()
        counters = {} if counters is None else counters
        for s in A.grouped(stmts):
            if isinstance(s, tuple):
                out.items.append(self.concat(list(s), prefix, counters))
            elif isinstance(s, A.Residual):
                out.items.append(self.residual(s, prefix, counters))
            elif isinstance(s, (A.RowStmt, A.SideStmt)):
                index = str(len(out.items)) if indexed and s.row.label is None else None
                out.items.append(self.row(s, prefix, counters, index))
        return out

    @staticmethod
    def _name(base: str, label: str | None, counters: dict[str, int]) -> str:
        return scoped_name(base, label, counters)

    def row(self, s, prefix: str, counters, index: str | None = None) -> VBox:
        row: A.Row = s.row
        count = getattr(s, "repeat", None) or 1
        name = index if index is not None else self._name(row.op, row.label, counters)
        op = ROW_OPS.get(row.op)
        args = [self.text(a) for a in row.args] + [
            f"{k.name}={self.text(k.value)}" for k in row.kwargs
        ]
        detail = ", ".join(filter(None, [str(row.patch) if row.patch else "", *args]))
        if op is None:  # a block call
            return VBox(
                id=f"{prefix}{name}",
                category="block",
                title=row.op + (f" ({row.label})" if row.label else ""),
                lines=[detail] if detail else [],
                count=count,
                tooltip=f"{prefix}{name}",
            )
        attrs = {a.name: a.default for a in op.attrs}
        for pos, a in zip(op.positional, row.args, strict=False):
            if isinstance(a, A.Num):
                attrs[pos] = a.value
        try:
            title = op.display(attrs)
        except (
            KeyError,
            TypeError,
            ValueError,
        ):  # a title that needs an attribute given symbolically
            title = op.title
        return VBox(
            id=f"{prefix}{name}",
            category=op.category,
            title=title + (f" ({row.label})" if row.label else ""),
            lines=[detail] if detail else [],
            count=count,
            tooltip=f"{prefix}{name}",
        )

    def concat(self, group, prefix: str, counters) -> VSplit:
        branches = []
        for b in group:
            bname = b.name or self._name("branch", None, counters)
            branches.append(self.body(b.body, f"{prefix}{bname}.", indexed=True))
        path = f"{prefix}{self._name('mixed', None, counters)}"
        op = OPS["concat"]
        merge = VBox(id=path, category=op.category, title=op.display({}), tooltip=path)
        return VSplit(id=path, branches=branches, merge=merge)

    def residual(self, s: A.Residual, prefix: str, counters) -> VSplit:
        body = self.body(s.body, prefix, counters=counters)
        path = f"{prefix}{self._name('residual', None, counters)}"
        op = OPS["add"]
        kw = {k.name: self.text(k.value) for k in s.kwargs}
        lines = [kw["act"]] if "act" in kw else []
        merge = VBox(id=path, category=op.category, title=op.title, lines=lines, tooltip=path)
        scale = f"\u00d7 {kw['scale']}" if "scale" in kw else ""
        return VSplit(id=path, branches=[body], merge=merge, skip=True, scale=scale)
