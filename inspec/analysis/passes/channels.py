"""The channel pass: every node's output channel count as an expression of its scope's parameters.

Inside a block the input channels are `in`; a row with an `out` attribute sets the count to that
attribute's expression; a row that flattens a feature map multiplies it by the map's area; a concat adds
its branches; a block instance substitutes its arguments into its body's expression. A block body is
shared by every instance with the same arguments, so each body is visited once: linear in the spec.
The PyTorch backend reads `node.chan` to write a block's output width in its caller's terms.
"""

from __future__ import annotations

from inspec.analysis import exprs as E
from inspec.analysis import ir
from inspec.diagnostics import DiagnosticBag

IN = E.Ref(None, "in")


def channels(net: ir.Network, bag: DiagnosticBag) -> None:
    if bag.has_errors or net.input is None:
        return
    _Channels().seq(net.body, E.lit(net.input.c))


class _Channels:
    def __init__(self) -> None:
        self.done: set[int] = set()  # block bodies already visited (in their own terms)

    def seq(self, seq: ir.Seq, chan: E.Expr) -> E.Expr:
        for node in seq.items:
            if isinstance(node, ir.Side):
                self.node(node.head, chan)
                node.chan = node.head.chan
                continue
            out = self.node(node, chan)
            if node.cond is not None and _differs(out, chan):
                # in a block, a row its arguments switch on or off may change the width
                chan = E.IfElse(node.cond.span, node.cond, out, chan)
            elif node.active:
                chan = out
        seq.chan = chan
        return chan

    def node(self, node: ir.Node, chan: E.Expr) -> E.Expr:
        node.chan = _HANDLERS[type(node)](self, node, chan)
        return node.chan

    def layer(self, node: ir.Layer, chan: E.Expr) -> E.Expr:
        x, y = node.in_shape, node.out_shape
        if node.op.attr("out") is not None:
            e = node.sources.get("out") or E.lit(y.c)
            return E.Fn(e.span, "int", (e,)) if E.has_div(e) else e
        if y.flat and not x.flat:
            return E.scaled(chan, x.h * x.w)
        return chan

    def call(self, node: ir.Call, chan: E.Expr) -> E.Expr:
        body = node.body
        if id(body) not in self.done:
            self.done.add(id(body))
            self.seq(body, IN)
        return E.substitute(body.chan, {**node.arg_exprs, "in": chan})

    def repeat(self, node: ir.Repeat, chan: E.Expr) -> E.Expr:
        for item in node.items:
            chan = self.node(item, chan)
        return chan

    def merge(self, node: ir.Merge, chan: E.Expr) -> E.Expr:
        if node.op.name == "split":  # each branch takes its share of the channels
            chan = E.fold(E.BinOp(None, "//", chan, E.lit(len(node.branches))))
        for br in node.branches:
            out = self.seq(br.body, chan) if br.body.items else chan
            if br.cond is not None and _differs(out, chan):
                out = E.IfElse(br.cond.span, br.cond, out, chan)
            br.chan = out
        if node.op.name in ("concat", "split"):
            total = None
            for br in node.branches:
                total = br.chan if total is None else E.add(total, br.chan)
            return total if total is not None else chan
        # add and mul give the full width: that of an unconditional branch that has it
        full = [
            br for br in node.branches if br.cond is None and br.out_shape.c == node.out_shape.c
        ]
        return (full or node.branches)[0].chan

    def residual(self, node: ir.Residual, chan: E.Expr) -> E.Expr:
        out = self.seq(node.body, chan)
        # with a skip that the arguments switch, the body's width (equal to the input's when on)
        return out if node.skip_if is not None else chan

    def side(self, node: ir.Side, chan: E.Expr) -> E.Expr:
        return self.node(node.head, chan)


def _differs(a: E.Expr, b: E.Expr) -> bool:
    return not E.same(E.fold(a), E.fold(b))


_HANDLERS = {
    ir.Layer: _Channels.layer,
    ir.Call: _Channels.call,
    ir.Repeat: _Channels.repeat,
    ir.Merge: _Channels.merge,
    ir.Residual: _Channels.residual,
    ir.Side: _Channels.side,
}
