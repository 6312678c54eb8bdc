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
        self.blocks = 0  # how many block bodies deep the pass is (0: the network's own rows)

    def seq(self, seq: ir.Seq, chan: E.Expr) -> E.Expr:
        for node in seq.items:
            if isinstance(node, ir.Side):
                self.node(node.head, chan)
                node.chan = node.head.chan
                continue
            out = self.node(node, chan)
            if node.cond is not None and not self.blocks:
                # a network's conditional row keeps its input's shape, whichever way it is switched
                what = "a conditional row must keep its input's channels: {a} in, {b} out"
                node.rules += _rules([ir.ChannelRule("keep", chan, out, what)])
            if node.cond is not None and _differs(out, chan):
                # in a block, a row its arguments switch on or off may change the width
                chan = E.IfElse(node.cond.span, node.cond, out, chan)
            elif node.active:
                chan = out
        seq.chan = chan
        return chan

    def node(self, node: ir.Node, chan: E.Expr) -> E.Expr:
        node.in_chan = chan
        node.chan = _HANDLERS[type(node)](self, node, chan)
        return node.chan

    def layer(self, node: ir.Layer, chan: E.Expr) -> E.Expr:
        x, y = node.in_shape, node.out_shape
        out = chan
        if node.op.attr("out") is not None:
            e = node.sources.get("out") or E.lit(y.c)
            out = E.Fn(e.span, "int", (e,)) if E.has_div(e) else e
        elif y.flat and not x.flat:
            out = E.scaled(chan, x.h * x.w)
        if node.op.attr("groups") is not None:  # grouped channels: the groups divide them
            g = node.sources.get("groups") or E.lit(node.attrs["groups"])
            sides = [("input", chan)] + [("output", out)] * (node.op.attr("out") is not None)
            node.rules = _rules(
                [
                    ir.ChannelRule(
                        "divides", c, g, f"groups={{b}} does not divide the {{a}} {s} channels"
                    )
                    for s, c in sides
                ]
            )
        return out

    def call(self, node: ir.Call, chan: E.Expr) -> E.Expr:
        body = node.body
        if id(body) not in self.done:
            self.done.add(id(body))
            self.blocks += 1
            self.seq(body, IN)
            self.blocks -= 1
        return E.substitute(body.chan, {**node.arg_exprs, "in": chan})

    def repeat(self, node: ir.Repeat, chan: E.Expr) -> E.Expr:
        for item in node.items:
            chan = self.node(item, chan)
        return chan

    def merge(self, node: ir.Merge, chan: E.Expr) -> E.Expr:
        kind = node.op.name
        if kind == "split":  # each branch takes its share of the channels
            n = E.lit(len(node.branches))
            whole = "split: {a} channels do not split into {b} equal parts"
            node.rules = _rules([ir.ChannelRule("divides", chan, n, whole)])
            chan = E.fold(E.BinOp(None, "//", chan, n))
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
        first = (full or node.branches)[0]
        if kind in ("add", "mul"):
            rules = []
            for br in node.branches:
                if br is first or (kind == "mul" and br.out_shape.c == 1):
                    continue  # a mul's 1-channel branch (a spatial mask) broadcasts
                what = f"{kind}: {first.name} gives {{a}} channels, {br.name} {{b}}"
                rules.append(ir.ChannelRule("equal", first.chan, br.chan, what))
            node.rules = _rules(rules)
        return first.chan

    def residual(self, node: ir.Residual, chan: E.Expr) -> E.Expr:
        out = self.seq(node.body, chan)
        what = "residual: the skip brings {a} channels, the body gives {b}"
        node.rules = _rules([ir.ChannelRule("equal", chan, out, what, node.skip_if)])
        # with a skip that the arguments switch, the body's width (equal to the input's when on)
        return out if node.skip_if is not None else chan

    def side(self, node: ir.Side, chan: E.Expr) -> E.Expr:
        return self.node(node.head, chan)


def _differs(a: E.Expr, b: E.Expr) -> bool:
    return not E.same(E.fold(a), E.fold(b))


def _rules(rules: list[ir.ChannelRule]) -> tuple[ir.ChannelRule, ...]:
    """The rules that some parameter values could break (not those that hold whatever they are)."""
    return tuple(r for r in rules if not _holds(r))


def _holds(rule: ir.ChannelRule, whole=lambda e: isinstance(e, E.Lit)) -> bool:
    """Whether the rule holds whatever the parameters; `whole` tells the expressions known to be
    whole numbers (in a block's terms only literals: an argument may be a fraction)."""
    a, b = E.fold(rule.a), E.fold(rule.b)
    if rule.kind == "divides" and (_is_one(b) or _multiple(a, b, whole)):
        return True
    return E.same(a, b) or (E.is_const(a) and E.is_const(b))


def _is_one(e: E.Expr) -> bool:
    return isinstance(e, E.Lit) and e.value == 1


def _multiple(a: E.Expr, b: E.Expr, whole) -> bool:
    """Whether `a` is `b` times whole numbers (`x * g` for g): b divides it whatever the values."""
    if E.same(a, b):
        return True
    if not (isinstance(a, E.BinOp) and a.op == "*"):
        return False
    return (_multiple(a.left, b, whole) and whole(a.right)) or (
        _multiple(a.right, b, whole) and whole(a.left)
    )


def _whole_in(net: ir.Network):
    """Whether an expression of the network's parameters is a whole number for any values of them
    (parameters declared with whole-number defaults are passed whole numbers)."""

    def whole(e: E.Expr) -> bool:
        if isinstance(e, E.Lit):
            return isinstance(e.value, int)
        if isinstance(e, E.Ref):
            v = net.values.get(e.name)
            return isinstance(v, int) and not isinstance(v, bool)
        if isinstance(e, E.Fn):
            return e.func in ("int", "round", "floor", "ceil", "make_divisible") or (
                e.func in ("min", "max") and all(map(whole, e.args))
            )
        if isinstance(e, E.BinOp):
            return e.op in ("+", "-", "*", "//", "%") and whole(e.left) and whole(e.right)
        if isinstance(e, E.IfElse):
            return whole(e.then) and whole(e.other)
        return False

    return whole


def network_rules(net: ir.Network) -> list[tuple[ir.ChannelRule, tuple[E.Expr, ...], ir.Node]]:
    """Every channel rule of the network in terms of the network's parameters, with the conditions
    (network terms too) under which its node runs, for the rules that the parameters can break:
    what the generated network's constructor checks. Empty without parameters."""
    out: list[tuple[ir.ChannelRule, tuple[E.Expr, ...], ir.Node]] = []
    if not net.params or net.input is None:
        return out
    seen: set[tuple] = set()
    whole = _whole_in(net)

    def sub(e: E.Expr | None, env: dict[str, E.Expr]) -> E.Expr | None:
        return None if e is None else E.substitute(e, env) if env else E.fold(e)

    def visit(node: ir.Node, env: dict[str, E.Expr], conds: tuple[E.Expr, ...] | None) -> None:
        outer = conds  # a `keep` rule holds whichever way the node's own condition goes
        if node.cond is not None and conds is not None:
            conds = _conj(conds, sub(node.cond, env))
        for r in node.rules:
            cs = outer if r.kind == "keep" else conds
            cs = cs if r.cond is None or cs is None else _conj(cs, sub(r.cond, env))
            if cs is None:
                continue
            rule = ir.ChannelRule(r.kind, sub(r.a, env), sub(r.b, env), r.what)
            if _holds(rule, whole) or any(_implies(c, rule) for c in cs):
                continue
            key = (rule.kind, E.show(rule.a), E.show(rule.b), tuple(E.show(c) for c in cs))
            if key not in seen:
                seen.add(key)
                out.append((rule, cs, node))
        if isinstance(node, ir.Call):
            inner = {k: sub(e, env) for k, e in node.arg_exprs.items()}
            inner["in"] = sub(node.in_chan, env)
            for item in node.body.items:
                visit(item, inner, conds)
            return
        for child in node.children():
            visit(child, env, conds)

    for item in net.body.items:
        visit(item, {}, ())
    return out


def _implies(cond: E.Expr, rule: ir.ChannelRule) -> bool:
    """Whether the condition says the rule holds: `in == out` guarding a residual of in and out."""
    if isinstance(cond, E.BinOp) and cond.op == "and":
        return _implies(cond.left, rule) or _implies(cond.right, rule)
    if rule.kind == "divides" or not (isinstance(cond, E.BinOp) and cond.op == "=="):
        return False
    pair = {E.show(cond.left), E.show(cond.right)}
    return pair == {E.show(rule.a), E.show(rule.b)}


def _conj(conds: tuple[E.Expr, ...], c: E.Expr | None) -> tuple[E.Expr, ...] | None:
    """conds with c added; None when c is false whatever the parameters (the rule cannot apply)."""
    if c is None:
        return conds
    truth = E.fold(c)
    if isinstance(truth, E.Lit):
        return conds if truth.value else None
    return (*conds, truth)


_HANDLERS = {
    ir.Layer: _Channels.layer,
    ir.Call: _Channels.call,
    ir.Repeat: _Channels.repeat,
    ir.Merge: _Channels.merge,
    ir.Residual: _Channels.residual,
    ir.Side: _Channels.side,
}
