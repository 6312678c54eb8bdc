"""The diagram's front end: what is drawn, as a tiny view tree of boxes (one per layer, collapsed block
or repeat), sequences, splits (a concat's branches or a residual's body and skip) and clusters (an
opened block instance). `_IRView` reads the elaborated network, with shapes and costs, or a block's
definition elaborated with symbolic arguments (its widths are the expressions the spec writes). Node ids
are module paths, named by inspec/analysis/naming.py as the table and the PyTorch module name them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from inspec.analysis import exprs as E
from inspec.analysis import ir
from inspec.analysis.naming import child_key, member, standalone
from inspec.analysis.ops import Cost
from inspec.analysis.units import fmt_paper, fmt_si

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
    layer: bool = False  # the box of one layer (its id is the layer's module path)


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
    def __init__(
        self, net: ir.Network, detail: str, costs: bool, repeats: str, symbolic: bool = False
    ):
        self.net = net
        self.symbolic = symbolic  # a block definition: no shapes, widths as written
        self.open_blocks = detail == "blocks"
        self.costs = costs
        self.repeats = repeats
        self.units = net.units
        self.handlers: dict[type, Callable[[Any, str], Any]] = {
            ir.Layer: self.layer,
            ir.Call: self.call,
            ir.Merge: self.concat,
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

    def view(self, node: ir.Node, path: str, prefix: str = "", flat: str = "") -> Any:
        """path: the node's id, its module path as the table prints it; prefix: the enclosing scope, where
        a concat's branches and a residual's rows live (they are transparent in module paths); flat:
        the prefix of flattened branches around it (naming.member)."""
        if isinstance(node, (ir.Merge, ir.Residual)):
            return self.handlers[type(node)](node, path, prefix, flat)
        return self.handlers[type(node)](node, path)

    def seq(self, seq: ir.Seq | None, prefix: str, flat: str = "", keyed: bool = False) -> VSeq:
        """`keyed`: the rows are a sequence's children, a label keeping its written form where it
        is no Python identifier (naming.child_key)."""
        out = VSeq()
        for n in seq.items if seq is not None else []:
            if isinstance(n, ir.Repeat) and (n.spliced or n.template):  # its instances are rows
                for item in n.items:
                    alone = n.template is not None
                    name = child_key(item.name, item.label) if keyed else item.name
                    out.items.append(self.view(item, member(prefix, flat, name, alone)))
                continue
            name = child_key(n.name, n.label) if keyed else n.name
            path = member(prefix, flat, name, standalone(n.label))
            out.items.append(self.view(n, path, prefix, flat))
        return out

    def shape(self, s) -> str:
        return "" if self.symbolic else _shape(s)

    def written(self, e: E.Expr | None, value: Any) -> str:
        """A value as the table shows it, or as the spec writes it in a symbolic definition."""
        if self.symbolic and e is not None:
            return E.show(e)
        return f"{value:g}" if isinstance(value, float) else str(value)

    @staticmethod
    def category(node: ir.Node) -> str:
        """A collapsed node takes the colour of what produces its output (an inception module: concat)."""
        while True:
            if isinstance(node, (ir.Layer, ir.Merge, ir.Residual)):
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

    def args_text(self, call: ir.Call) -> str:
        parts = []
        for p in call.block.params:
            v = self.written(call.arg_exprs.get(p.name), call.args.get(p.name))
            parts.append(f"{p.header or p.name} = {v}")
        return ", ".join(parts)

    def title(self, node: ir.Layer) -> str:
        try:
            return node.title if node.attrs else node.op.title
        except (KeyError, TypeError, ValueError):  # a symbolic definition lacks some attribute
            return node.op.title

    # -- nodes -------------------------------------------------------------------------------------
    def layer(self, node: ir.Layer, path: str, count: int = 1) -> VBox:
        title = _titled(self.title(node), node.label)
        detail = []
        if node.patch is not None:
            kh, kw = node.patch
            detail.append(f"{kh}x{kw}/{node.stride}")
        if self.symbolic:  # the row's arguments as written
            detail += [E.show(e) for k, e in node.sources.items() if k not in ("kernel", "stride")]
        elif node.op.attr("out") is not None and "out" in node.attrs:
            detail.append(str(node.attrs["out"]))
        lines = [", ".join(detail)] if detail else []
        return VBox(
            id=path,
            category=node.op.category,
            title=title,
            lines=lines + self.cost_line(node.cost),
            out=self.shape(node.out_shape),
            count=count,
            inactive=not node.active,
            tooltip=path,
            layer=True,
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
            if self.symbolic:
                lines.append(", ".join(E.show(e) for e in node.arg_exprs.values()))
            return VBox(
                id=path,
                category=self.category(node),
                title=_titled(node.block.name, node.label),
                lines=lines + self.cost_line(cost),
                out=self.shape(node.out_shape),
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
            out=self.shape(node.out_shape),
            inactive=not node.active,
            tooltip=f"{path}: {node.block.name}({self.args_text(node)})",
        )

    def concat(self, node: ir.Merge, path: str, prefix: str, flat: str = "") -> VSplit | VCluster:
        if ir.is_group(node):  # a seq: its rows as one cluster
            b = node.branches[0]
            name = member("", flat, b.name, b.given)
            return VCluster(
                id=f"{prefix}{name}",
                title=f"seq {b.name}" if b.given else "seq",
                lines=[],
                body=self.seq(b.body, f"{prefix}{name}.", keyed=b.is_sequence),
                out=self.shape(b.out_shape),
                inactive=not ir.is_on(node),
                tooltip=f"{prefix}{name}",
            )
        merge = VBox(
            id=path,
            category=node.op.category,
            title=node.op.display(node.attrs),
            lines=self.merge_lines(node),
            out=self.shape(node.out_shape),
            tooltip=path,
        )
        scale = self.merge_scale(node)
        if scale != 1.0:  # on the first branch
            merge.lines.insert(0, f"scale {scale if isinstance(scale, str) else f'{scale:g}'}")
        branches = []
        for b in node.branches:
            name = member("", flat, b.name, b.given)
            if b.single is not None:
                branches.append(VSeq([self.view(b.single, prefix + name)]))
            elif b.is_sequence:
                branches.append(self.seq(b.body, f"{prefix}{name}.", keyed=True))
            else:
                branches.append(self.seq(b.body, prefix, f"{name}_"))
        return VSplit(id=path, branches=branches, merge=merge, inactive=not node.active)

    def merge_lines(self, node: ir.Residual | ir.Merge) -> list[str]:
        """An add's activation, as the diagram's merge box prints it."""
        act = node.attrs.get("act", "none")
        if self.symbolic and "act" in node.sources:
            act = E.show(node.sources["act"])
        return [] if act in ("none", None) else [str(act)]

    def merge_scale(self, node: ir.Residual | ir.Merge) -> float | str:
        scale = node.attrs.get("scale", 1.0)
        if self.symbolic and "scale" in node.sources:
            scale = E.show(node.sources["scale"])
        return scale

    def residual(self, node: ir.Residual, path: str, prefix: str, flat: str = "") -> Any:
        if not node.skip and not self.symbolic:  # its arguments leave the skip out: the body
            return self.seq(node.body, prefix, flat)
        lines = self.merge_lines(node)
        scale = self.merge_scale(node)
        merge = VBox(
            id=path,
            category=node.op.category,
            title=f"residual {node.op.display(node.attrs)}",
            lines=lines,
            out=self.shape(node.out_shape),
            tooltip=path,
        )
        return VSplit(
            id=path,
            branches=[self.seq(node.body, prefix, flat)],
            merge=merge,
            skip=True,
            scale=""
            if scale == 1
            else f"\u00d7 {scale if isinstance(scale, str) else f'{scale:g}'}",
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
        if self.symbolic and node.count_expr is not None:
            v.title += f" x {E.show(node.count_expr)}"
        return v

    def side(self, node: ir.Side, path: str) -> VSide:
        head = self.view(node.head, path)
        head.side = True
        return VSide(
            id=path,
            head=head,
            name=node.name,
            out=self.shape(node.out_shape),
            inactive=not node.active,
        )
