"""Elaboration: AST → IR tree. Binds parameters, expands blocks, repeats and imports, and runs each op's
shape and cost rule from the registry. Every problem becomes a Diagnostic with a span; elaboration goes on
after an error (with the shape unknown downstream) so that one run reports all of a file's errors.
"""

from __future__ import annotations

import gc
import math
from pathlib import Path
from typing import Any

from inspec.analysis import exprs as E
from inspec.analysis import ir
from inspec.analysis.loader import _Loader
from inspec.analysis.naming import collapse, ident, scoped_name
from inspec.analysis.ops import (
    MAX_CHANNELS,
    MAX_KERNEL,
    MAX_SPATIAL,
    OPS,
    ROW_OPS,
    ZERO,
    Attr,
    Ctx,
    OpDef,
    add_shape,
    concat_shape,
)
from inspec.analysis.passes import PASSES
from inspec.analysis.shapes import Shape
from inspec.analysis.values import (
    ENUM_WORDS,
    UNKNOWN,
    Silent,
    Symbol,
    _bool,
    _defined,
    _num,
    _value,
    coerce,
    evaluate,
)
from inspec.diagnostics import Diagnostic, DiagnosticBag, Span, SpecError, did_you_mean
from inspec.language import ast as A

MAX_REPEAT = 10_000
MAX_LAYERS = 2_000_000
MAX_BLOCK_DEPTH = 48
UNITS = ("exact", "paper")
INIT_SCHEMES: dict[str, dict[str, Any]] = {
    "default": {},
    "trunc_normal": {"std": 0.01, "a": -2.0, "b": 2.0},
    "normal": {"std": 0.01},
    "kaiming": {},
    "xavier": {},
}


# ------------------------------------------------------------------------------------------------
# The elaborator


class _Elaborator:
    def __init__(self, bag: DiagnosticBag, blocks: dict[str, A.BlockDef]):
        self.bag = bag
        self.blocks = blocks
        self.defaults: dict[str, dict[str, tuple[Any, Span, E.Expr]]] = {}
        self.infos: dict[str, ir.BlockInfo] = {}
        self.symbolic = False  # elaborating a block definition with unknown arguments
        self.provenance: tuple[dict, dict] = ({}, {})
        self.stack: list[str] = []
        self.memo: dict[tuple, tuple[ir.Seq, int]] = {}
        self.layer_count = 0
        self.too_big = False

    # -- helpers ---------------------------------------------------------------------------------
    def error(self, e: SpecError, span: Span) -> None:
        if not isinstance(e, Silent):
            self.bag.error(e.message, e.span or span, *e.notes)

    def eval(self, e: A.Expr, scope: dict[str, Any]) -> Any:
        return evaluate(e, scope)

    # -- bodies ----------------------------------------------------------------------------------
    def body(
        self,
        stmts,
        x: Shape | None,
        scope: dict[str, Any],
        span: Span,
        top: bool = False,
        ns: tuple[dict, dict] | None = None,
        indexed: bool = False,
    ) -> ir.Seq:
        """Elaborate a statement list. `ns` (names, counters) is shared with the enclosing scope when
        this body is transparent in module paths (a residual's body). In an `indexed` body (a branch,
        an nn.Sequential in PyTorch) unlabelled rows are named by position: 0, 1, 2, ..."""
        seq = ir.Seq(name="", span=span, in_shape=x)
        names, counters = ns if ns is not None else ({}, {})
        cur = x
        ok = True
        for s in A.grouped(stmts):
            if isinstance(s, tuple):
                node = self.concat(s, cur, scope, counters, names)
            elif isinstance(s, A.RowStmt):
                node = self.row_stmt(s, cur, scope, counters)
            elif isinstance(s, A.SideStmt):
                if not top:
                    self.bag.error("side heads belong to the network, not inside a block", s.span)
                    continue
                node = self.side(s, cur, scope, counters)
            elif isinstance(s, A.Residual):
                node = self.residual(s, cur, scope, counters, names)
            else:  # pragma: no cover - the grammar admits nothing else
                continue
            if node is None:
                ok = False
                cur = None
                continue
            if isinstance(s, (A.RowStmt, A.SideStmt)):
                node.label = s.row.label
                node.label_span = s.row.label_span
                node.expect = s.expect
            if indexed and isinstance(node, (ir.Layer, ir.Call, ir.Repeat)) and node.label is None:
                node.name = str(len(seq.items))
                node.auto = None
            if node.name in names:
                self.bag.error(
                    f"duplicate label: '{node.name}' is already used in this scope",
                    self._label_span(node),
                    f"the first is at {names[node.name]}",
                )
            names[node.name] = node.span
            seq.items.append(node)
            if isinstance(node, ir.Side) or not node.active:
                continue
            if node.out_shape is None:
                ok = False
            cur = node.out_shape if ok else None
        seq.out_shape = cur if ok else None
        if ns is None:  # this body owns its scope: number names only where they collide
            made = [(n, n.auto) for n in _members(seq) if n.auto is not None]
            collapse(made, names)
        main = [n for n in seq.items if n.active and not isinstance(n, ir.Side)]
        cost = ZERO
        for n in main:
            cost = cost + n.cost
        seq.cost = cost
        seq.depth = sum(n.depth for n in main)
        return seq

    def _flat_names(self, name: str, given: bool, seq: ir.Seq, names: dict[str, Span]) -> None:
        """A flattened branch's rows join the enclosing scope: their names must be free there."""
        br = ir.Branch(name=name, span=seq.span, body=seq, given=given)
        if not br.flattened:
            return
        for node, path in ir.scope_children([ir.Concat(name="", span=seq.span, branches=[br])]):
            if path in names:
                self.bag.error(
                    f"duplicate label: '{path}' is already used in this scope",
                    self._label_span(node),
                    f"the first is at {names[path]}",
                )
            names[path] = node.span

    def _label_span(self, node: ir.Node) -> Span:
        return getattr(node, "label_span", None) or node.span

    def _name(self, base: str, label: str | None, counters: dict[str, int]) -> str:
        return scoped_name(base, label, counters)

    # -- branches and residuals ----------------------------------------------------------------
    def concat(self, group, x, scope, counters, names) -> ir.Node | None:
        span = Span(
            group[0].span.file,
            group[0].span.line,
            group[0].span.col,
            group[-1].span.end_line,
            group[-1].span.end_col,
        )
        node = ir.Concat(name="", span=span, in_shape=x, op=OPS["concat"])
        branch_names: dict[str, Span] = {}
        parts = []
        ok = x is not None
        for _k, b in enumerate(group, 1):
            # Branches are named in the enclosing scope (a concat is transparent in module paths).
            counters["branch"] = counters.get("branch", 0) + 1  # position, named or not
            name = ident(b.name) if b.name else f"branch{counters['branch']}"
            if name in branch_names or name in names:
                self.bag.error(f"duplicate branch name '{name}'", b.span)
            branch_names[name] = b.span
            names[name] = b.span
            seq = self.body(b.body, x, scope, b.span, indexed=True)
            self._flat_names(name, b.name is not None, seq, names)
            if not b.body:
                seq.out_shape = x
            br = ir.Branch(
                name=name,
                span=b.span,
                in_shape=x,
                out_shape=seq.out_shape,
                cost=seq.cost,
                depth=seq.depth,
                body=seq,
                given=b.name is not None,
            )
            node.branches.append(br)
            if seq.out_shape is None:
                ok = False
            else:
                parts.append((f"{name} (line {b.span.line})", seq.out_shape))
        node.cost = ZERO
        for br in node.branches:
            node.cost = node.cost + br.cost
        node.depth = max((br.depth for br in node.branches), default=0)
        if ok:
            try:
                node.out_shape = concat_shape(parts)
            except SpecError as e:
                self.error(e, span)
                node.out_shape = None
        node.name = self._name("mixed", None, counters)
        return node

    def residual(self, s: A.Residual, x, scope, counters, names) -> ir.Node | None:
        attrs, _ = self.attrs_for(OPS["add"], None, (), s.kwargs, scope, s.span)
        sources, defaulted = self.provenance
        seq = self.body(s.body, x, scope, s.span, ns=(names, counters))
        node = ir.Residual(
            name=self._name("residual", None, counters),
            span=s.span,
            in_shape=x,
            op=OPS["add"],
            attrs=attrs or {},
            body=seq,
            sources=sources,
            defaulted=defaulted,
            cost=seq.cost,
            depth=seq.depth,
        )
        if x is not None and seq.out_shape is not None and attrs is not None:
            try:
                node.out_shape = add_shape(x, seq.out_shape)
            except SpecError as e:
                last = seq.items[-1] if seq.items else None
                where = f"the body's last row is at {last.span}" if last is not None else None
                self.bag.error(e.message, s.span, *e.notes, *filter(None, [where]))
        return node

    # -- rows -----------------------------------------------------------------------------------
    def condition(self, cond: A.Expr | None, scope) -> bool | None:
        """Whether a conditional row is on (True without a condition; None after an error). With
        symbolic arguments (a block definition on its own) every row is drawn as on."""
        if cond is None:
            return True
        try:
            if self.symbolic and self.eval(cond, scope) is UNKNOWN:
                return True
            return _bool(self.eval(cond, scope), cond, scope)
        except SpecError as e:
            if self.symbolic:
                return True
            self.error(e, cond.span)
            return None

    def row_stmt(self, s: A.RowStmt, x, scope, counters) -> ir.Node | None:
        active = self.condition(s.cond, scope)
        if active is None:
            return None
        if s.repeat is not None or s.repeat_expr is not None:
            node = self.repeat(s, x, scope, counters)
        else:
            node = self.row(s.row, x, scope, counters)
        if node is None:
            return None
        node.cond = E.lower(s.cond, scope) if s.cond is not None else None
        node.active = active
        if s.cond is not None and x is not None and node.out_shape not in (None, x):
            self.bag.error(
                "a conditional row must keep its input's shape",
                s.span,
                f"it turns {x} into {node.out_shape}; the rows after it cannot depend on a parameter",
                "make it a side head ('side ... if ...') or drop the condition",
            )
        return node

    def repeat(self, s: A.RowStmt, x, scope, counters) -> ir.Node | None:
        n = s.repeat
        if s.repeat_expr is not None and self.symbolic:
            n = 1  # a definition drawn on its own: one instance, the count shown as written
        elif s.repeat_expr is not None:
            try:
                n = coerce(
                    Attr("count", "int", None, ""),
                    self.eval(s.repeat_expr, scope),
                    s.repeat_span,
                    scope,
                    "repeat",
                )
            except SpecError as e:
                self.error(e, s.repeat_span)
                return None
        if not 1 <= n <= MAX_REPEAT:
            self.bag.error(
                f"repeat count must be between 1 and {MAX_REPEAT:,}, got {n:,}", s.repeat_span
            )
            return None
        row = s.row
        base = row.op
        name = self._name(base, row.label, counters)
        node = ir.Repeat(name=name, span=s.span, in_shape=x, count=n)
        node.auto = base if row.label is None else None
        cur = x
        cost = ZERO
        depth = 0
        inner: dict[str, int] = {}
        for k in range(n):
            item = self.row(row, cur, scope, inner, index=k)
            if item is None:
                cur = None
                break
            item.name = str(k)
            node.items.append(item)
            cost = cost + item.cost
            depth += item.depth
            cur = item.out_shape
            if self.too_big:
                break
        node.out_shape = cur
        node.cost = cost
        node.depth = depth
        node.count_expr = E.lower(s.repeat_expr, scope) if s.repeat_expr is not None else None
        if s.repeat_expr is not None and x is not None and cur is not None and cur != x:
            self.bag.error(
                "a repeat whose count is a parameter must keep its input's shape",
                s.span,
                f"{n} instances turn {x} into {cur}; the rows after it cannot depend on a parameter",
                "write the count as a number",
            )
        return node

    def side(self, s: A.SideStmt, x, scope, counters) -> ir.Node | None:
        active = self.condition(s.cond, scope)
        if active is None:
            return None
        head = self.row(s.row, x, scope, {})
        if head is None:
            return None
        label = s.row.label
        name = self._name(s.row.op, label, counters) if label else self._name("aux", None, counters)
        head.name = ""
        return ir.Side(
            auto=None if label else "aux",
            name=name,
            span=s.span,
            in_shape=x,
            out_shape=head.out_shape,
            cost=head.cost,
            depth=head.depth,
            active=active,
            cond=E.lower(s.cond, scope) if s.cond is not None else None,
            head=head,
        )

    def row(self, row: A.Row, x, scope, counters, index: int | None = None) -> ir.Node | None:
        if row.op in ROW_OPS:
            return self.layer(row, x, scope, counters)
        if row.op in self.blocks:
            return self.call(row, x, scope, counters)
        candidates = list(ROW_OPS) + list(self.blocks)
        notes = [did_you_mean(row.op, candidates)]
        if row.op in OPS:
            notes = [f"'{row.op}' is written as {OPS[row.op].written_as}"]
        self.bag.error(f"unknown op or block '{row.op}'", row.op_span, *filter(None, notes))
        return None

    def attrs_for(self, op: OpDef, patch, args, kwargs, scope, span, use_defaults=True, row=None):
        """Resolve a row's attributes: registry default < network defaults < patch < args < kwargs."""
        attrs: dict[str, Any] = {a.name: a.default for a in op.attrs}
        explicit: set[str] = set()
        reported: set[str] = set()  # attributes whose value was already reported as wrong
        # provenance: the expression that set each attribute, in the row or in `defaults`
        sources: dict[str, E.Expr] = {}
        defaulted: dict[str, E.Expr] = {}
        failed = False
        if use_defaults:
            for k, (v, vspan, expr) in self.defaults.get(op.name, {}).items():
                try:
                    attrs[k] = coerce(op.attr(k), v, vspan, scope, op.name)
                    explicit.add(k)
                    defaulted[k] = expr
                except SpecError as e:
                    self.error(e, vspan)
                    failed = True
        if patch is not None:
            if not op.patch:
                self.bag.error(f"{op.name} takes no patch size", patch.span)
                failed = True
            else:
                if max(patch.kh, patch.kw) > MAX_KERNEL or min(patch.kh, patch.kw) < 1:
                    self.bag.error(f"patch size must be between 1 and {MAX_KERNEL}", patch.span)
                    failed = True
                attrs["kernel"] = (patch.kh, patch.kw)
                defaulted.pop("kernel", None)
                if patch.stride is not None:
                    defaulted.pop("stride", None)
                    if patch.stride < 1 or patch.stride > MAX_KERNEL:
                        self.bag.error(f"stride must be between 1 and {MAX_KERNEL}", patch.span)
                        failed = True
                    attrs["stride"] = patch.stride
                    explicit.add("stride")
        positional = list(op.positional)
        for a in args:
            try:
                v = self.eval(a, scope)
            except SpecError as e:
                self.error(e, a.span)
                failed = True
                continue
            if isinstance(v, Symbol) and v.name in op.flags:
                key, val = op.flags[v.name]
                attrs[key] = val
                explicit.add(key)
                sources[key] = E.lower(a, scope)  # a flag word, or a parameter naming one
                defaulted.pop(key, None)
                continue
            if not positional:
                taken = ", ".join(op.positional) or "none"
                flags = f"; flags: {', '.join(op.flags)}" if op.flags else ""
                self.bag.error(
                    f"too many arguments for {op.name}",
                    a.span,
                    f"positional arguments of {op.name}: {taken}{flags}",
                )
                failed = True
                continue
            name = positional.pop(0)
            sources[name] = E.lower(a, scope)
            defaulted.pop(name, None)
            try:
                attrs[name] = coerce(op.attr(name), v, a.span, scope, op.name)
                explicit.add(name)
            except SpecError as e:
                self.error(e, a.span)
                failed = True
                reported.add(name)
        seen: set[str] = set()
        for kw in kwargs:
            attr = op.attr(kw.name)
            if attr is None:
                names = [a.name for a in op.attrs]
                self.bag.error(
                    f"{op.name} has no attribute '{kw.name}'",
                    kw.span,
                    *filter(None, [did_you_mean(kw.name, names)]),
                    f"attributes of {op.name}: {', '.join(names) or 'none'}",
                )
                failed = True
                continue
            if kw.name in seen:
                self.bag.error(f"'{kw.name}' is given twice", kw.span)
                failed = True
                continue
            seen.add(kw.name)
            sources[kw.name] = E.lower(kw.value, scope)
            defaulted.pop(kw.name, None)
            try:
                attrs[kw.name] = coerce(
                    attr, self.eval(kw.value, scope), kw.value.span, scope, op.name
                )
                explicit.add(kw.name)
            except SpecError as e:
                self.error(e, kw.value.span)
                failed = True
                reported.add(kw.name)
        for a in op.attrs:
            if attrs.get(a.name) is None and a.kind != "kernel" and a.name not in reported:
                self.bag.error(f"{op.name} needs {a.doc.split(' (')[0]} ('{a.name}')", span)
                failed = True
        if op.patch_required and attrs.get("kernel") is None:
            self.bag.error(f"{op.name} needs a patch size such as 3x3 or 7x7/2", span)
            failed = True
        attrs["_round_explicit"] = "round" in explicit
        self.provenance = (sources, defaulted)
        if failed and not self.symbolic:  # a symbolic definition keeps what it could resolve
            return None, explicit
        return attrs, explicit

    def layer(self, row: A.Row, x, scope, counters) -> ir.Node | None:
        op = ROW_OPS[row.op]
        attrs, _ = self.attrs_for(op, row.patch, row.args, row.kwargs, scope, row.span, row=row)
        sources, defaulted = self.provenance
        name = self._name(op.name, row.label, counters)
        node = ir.Layer(
            name=name,
            span=row.span,
            in_shape=x,
            op=op,
            attrs=attrs or {},
            label=row.label,
            sources=sources,
            defaulted=defaulted,
            auto=op.name if row.label is None else None,
        )
        node.depth = 1 if op.weighted else 0
        self._count_layers(1, row.span)
        if attrs is None or x is None:
            return node
        ctx = Ctx()
        try:
            y = op.shape(attrs, x, ctx)
            attrs.update(op.resolve(attrs, x))  # derived attributes (padding), for the backends
        except SpecError as e:
            self.bag.error(e.message, e.span or row.span, *e.notes, f"input: {x}")
            return node
        for msg, notes in ctx.warnings:
            self.bag.warning(msg, row.span, *notes)
        if max(y.h, y.w) > MAX_SPATIAL or y.c > MAX_CHANNELS * 64:
            self.bag.error(f"output {y} is larger than inspec allows", row.span)
            return node
        node.out_shape = y
        node.cost = op.cost(attrs, x, y)
        return node

    def call(self, row: A.Row, x, scope, counters) -> ir.Node | None:
        block = self.blocks[row.op]
        name = self._name(block.name, row.label, counters)
        if row.patch is not None:
            self.bag.error(f"block '{block.name}' takes no patch size", row.patch.span)
        bound = self.bind(block, row, scope)
        node = ir.Call(
            name=name, span=row.span, in_shape=x, block=self.info(block), label=row.label
        )
        node.auto = block.name if row.label is None else None
        if bound is None:
            return node
        values, node.arg_exprs = bound
        node.args = values
        if block.name in self.stack:
            chain = " -> ".join([*self.stack[self.stack.index(block.name) :], block.name])
            self.bag.error(f"recursive block '{block.name}'", row.op_span, chain)
            return node
        if len(self.stack) >= MAX_BLOCK_DEPTH:
            self.bag.error(f"blocks nested deeper than {MAX_BLOCK_DEPTH}", row.span)
            return node
        key = (block.name, x, tuple(sorted((k, repr(v)) for k, v in values.items())))
        hit = self.memo.get(key)
        if hit is not None:
            body, count = hit
            self._count_layers(count, row.span)
        else:
            before = self.layer_count
            self.stack.append(block.name)
            inner = dict(values)
            inner["in"] = x.c if x is not None else UNKNOWN
            first = len(self.bag.items)
            body = self.body(block.body, x, inner, block.span)
            self.stack.pop()
            self._note_call_site(first, block, row)
            self.memo[key] = (body, self.layer_count - before)
        node.body = body
        node.out_shape = body.out_shape if body.items else x
        node.cost = body.cost
        node.depth = body.depth
        return node

    def _count_layers(self, n: int, span: Span) -> None:
        """Count elaborated layers (a memoised block body counts each time it is used) against the
        MAX_LAYERS guard, reported once."""
        self.layer_count += n
        if self.layer_count > MAX_LAYERS and not self.too_big:
            self.too_big = True
            self.bag.error(f"the network has more than {MAX_LAYERS:,} layers", span)

    def _note_call_site(self, first: int, block: A.BlockDef, row: A.Row) -> None:
        """Diagnostics raised inside a block's body also say where the block was called."""
        note = f"in block '{block.name}', called at {row.span}"
        items = self.bag.items
        for i in range(first, len(items)):
            d = items[i]
            if d.span is not None and d.span != row.span:
                items[i] = Diagnostic(d.severity, d.message, d.span, (*d.notes, note))

    def info(self, block: A.BlockDef) -> ir.BlockInfo:
        found = self.infos.get(block.name)
        if found is None:
            params = tuple(ir.ParamInfo(p.name, None, p.header, p.span) for p in block.params)
            found = ir.BlockInfo(block.name, params, block.span, block.span.file)
            self.infos[block.name] = found
        return found

    def bind(self, block: A.BlockDef, row: A.Row, scope):
        """A call's argument values and their expressions over the caller's parameters."""
        params = block.params
        values: dict[str, Any] = {}
        exprs: dict[str, E.Expr] = {}
        ok = True
        if len(row.args) > len(params):
            extra = row.args[len(params)]
            sig = ", ".join(p.name for p in params) or "no arguments"
            self.bag.error(
                f"too many arguments: block '{block.name}' takes {len(params)}, got {len(row.args)}",
                extra.span,
                f"{block.name}({sig})",
            )
            ok = False
        for p, a in zip(params, row.args, strict=False):
            exprs[p.name] = E.lower(a, scope)
            try:
                values[p.name] = _value(self.eval(a, scope), a, scope)
            except SpecError as e:
                self.error(e, a.span)
                ok = False
                values[p.name] = None
        names = [p.name for p in params]
        for kw in row.kwargs:
            if kw.name not in names:
                self.bag.error(
                    f"block '{block.name}' has no parameter '{kw.name}'",
                    kw.span,
                    *filter(None, [did_you_mean(kw.name, names)]),
                    f"{block.name}({', '.join(names)})",
                )
                ok = False
                continue
            if kw.name in values:
                self.bag.error(f"argument '{kw.name}' is given twice", kw.span)
                ok = False
                continue
            exprs[kw.name] = E.lower(kw.value, scope)
            try:
                values[kw.name] = _value(self.eval(kw.value, scope), kw.value, scope)
            except SpecError as e:
                self.error(e, kw.value.span)
                ok = False
                values[kw.name] = None
        missing = []
        for p in params:
            if p.name in values:
                continue
            if p.default is None:
                missing.append(p.name)
                continue
            exprs[p.name] = E.substitute(E.lower(p.default, values), exprs)
            try:
                values[p.name] = _value(self.eval(p.default, values), p.default, values)
            except SpecError as e:
                self.error(e, p.default.span)
                ok = False
        if missing:
            self.bag.error(
                f"missing argument{'s' if len(missing) > 1 else ''} for block '{block.name}': "
                + ", ".join(missing),
                row.span,
                f"{block.name}({', '.join(names)})",
            )
            ok = False
        return (values, exprs) if ok else None


# ------------------------------------------------------------------------------------------------
# Entry point


def elaborate(
    path: str | None = None,
    text: str | None = None,
    params: dict[str, Any] | None = None,
    name: str | None = None,
) -> ir.Network:
    """Load a spec (from a path, or from text) and elaborate it into a checked Network."""
    # Parsing and elaboration allocate many small objects and free none: the cyclic collector would
    # only rescan them (about 10% of the time on large specs). Sizes are bounded by the resource guards.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _elaborate(path, text, params, name)
    finally:
        if enabled:
            gc.enable()


def _elaborate(path, text, params, name) -> ir.Network:
    bag = DiagnosticBag()
    loader = _Loader(bag)
    file = name or path or "<string>"
    if text is None:
        module = loader.load(path, None, (), None)
        file = path
    else:
        loader.sources[file] = text
        module = loader.load(file, text, (), None)
    el = _Elaborator(bag, loader.blocks)
    net = ir.Network(
        name=Path(file).stem,
        file=file,
        params=[],
        values={},
        input=None,
        units="exact",
        init=("default", {}),
        defaults={},
        blocks={name: el.info(b) for name, b in loader.blocks.items()},
        body=ir.Seq(name="", span=Span(file, 1, 1, 1, 1)),
        rows=[],
        diagnostics=[],
        sources=loader.sources,
    )
    if module is None:
        net.diagnostics = bag.sorted()
        return net
    if module.network is None:
        if module.body or module.input:
            first = (module.body or [module.input])[0]
            bag.error(
                "rows without a 'network' statement",
                first.span,
                "start the file with: network NAME",
            )
        _check_library(module, el, bag)
        net.definitions = _definitions(loader.blocks, el.defaults)
        net.diagnostics = bag.sorted()
        return net

    net.name = module.network.name
    scope: dict[str, Any] = {}
    given = dict(params or {})
    for p in module.network.params:
        if p.name in scope:
            bag.error(f"parameter '{p.name}' is declared twice", p.span)
            continue
        default = None
        if p.default is not None:
            try:
                default = _value(evaluate(p.default, scope), p.default, scope)
            except SpecError as e:
                bag.error(e.message, e.span or p.span, *e.notes)
        else:
            bag.error(f"network parameter '{p.name}' needs a default value", p.span)
        net.params.append(ir.ParamInfo(p.name, default, p.header, p.span))
        value = given.pop(p.name, default)
        if p.name in (params or {}) and default is not None:
            value = _override(p.name, value, default, p.span, bag)
        scope[p.name] = value
    for extra in given:
        names = [p.name for p in module.network.params]
        bag.error(
            f"network '{net.name}' has no parameter '{extra}'",
            module.network.span,
            *filter(None, [did_you_mean(extra, names)]),
            f"parameters: {', '.join(names) or 'none'}",
        )
    net.values = dict(scope)

    if module.units is not None:
        if module.units.name not in UNITS:
            bag.error(f"units must be one of {', '.join(UNITS)}", module.units.span)
        else:
            net.units = module.units.name

    if module.init is not None:
        scheme = module.init.scheme
        if scheme not in INIT_SCHEMES:
            bag.error(
                f"unknown init scheme '{scheme}'",
                module.init.span,
                *filter(None, [did_you_mean(scheme, INIT_SCHEMES)]),
                f"schemes: {', '.join(INIT_SCHEMES)}",
            )
        else:
            opts = dict(INIT_SCHEMES[scheme])
            for kw in module.init.kwargs:
                if kw.name not in opts:
                    bag.error(f"init {scheme} has no option '{kw.name}'", kw.span)
                    continue
                try:
                    v = _num(_defined(evaluate(kw.value, scope), kw.value, scope), kw.value)
                    opts[kw.name] = _init_option(kw.name, float(v), opts, kw.value.span)
                    net.init_exprs[kw.name] = E.lower(kw.value, scope)
                except SpecError as e:
                    bag.error(e.message, e.span or kw.span, *e.notes)
            if opts.get("a", 0.0) >= opts.get("b", 1.0):
                bag.error(
                    f"init {scheme}: the lower bound a = {opts['a']:g} must be below b = {opts['b']:g}",
                    module.init.span,
                )
            net.init = (scheme, opts)

    for d in module.defaults:
        op = ROW_OPS.get(d.op) or (OPS["add"] if d.op == "add" else None)
        if op is None:
            bag.error(
                f"defaults for unknown op '{d.op}'",
                d.span,
                *filter(None, [did_you_mean(d.op, ROW_OPS)]),
            )
            continue
        table = el.defaults.setdefault(op.name, {})
        for kw in d.kwargs:
            if op.attr(kw.name) is None or kw.name == "out":
                names = [a.name for a in op.attrs if a.name != "out"]
                bag.error(
                    f"{op.name} has no attribute '{kw.name}' to default",
                    kw.span,
                    *filter(None, [did_you_mean(kw.name, names)]),
                )
                continue
            try:
                v = evaluate(kw.value, scope)
                coerce(op.attr(kw.name), v, kw.value.span, scope, op.name)
            except SpecError as e:
                bag.error(e.message, e.span or kw.span, *e.notes)
                continue
            table[kw.name] = (v, kw.value.span, E.lower(kw.value, scope))
    net.defaults = {k: {n: v for n, (v, _, _) in t.items()} for k, t in el.defaults.items()}

    x = None
    if module.input is None:
        bag.error("missing 'input' statement (for example: input 224x224x3)", module.network.span)
    else:
        h, w, c = module.input.dims
        if min(h, w, c) < 1 or max(h, w) > MAX_SPATIAL or c > MAX_CHANNELS:
            bag.error(
                f"input {h}x{w}x{c} is out of range",
                module.input.span,
                f"sizes must be between 1 and {MAX_SPATIAL:,}; channels at most {MAX_CHANNELS:,}",
            )
        else:
            x = Shape(h, w, c)
    net.input = x

    body = el.body(module.body, x, scope, module.network.span, top=True)
    net.body = body
    for node in body.items:
        exps = [ir.Expectation(e.key, e.raw, e.span) for e in node.expect]
        net.rows.append(ir.Row(node=node, expectations=exps))
    net.definitions = _definitions(loader.blocks, el.defaults)

    for run in PASSES:
        run(net, bag)
    net.diagnostics = bag.sorted()
    return net


def _members(seq: ir.Seq):
    """The nodes named in a body's scope: its rows, and the rows of residual bodies (which share it)."""
    for n in seq.items:
        yield n
        if isinstance(n, ir.Residual):
            yield from _members(n.body)


def _init_option(name: str, v: float, opts: dict[str, float], span: Span) -> float:
    """An init option: finite, and a standard deviation positive."""
    if not math.isfinite(v):
        raise SpecError(f"init option {name} must be finite, got {v:g}", span=span)
    if name == "std" and v <= 0:
        raise SpecError(f"init option std must be positive, got {v:g}", span=span)
    return v


def _definitions(blocks: dict[str, A.BlockDef], defaults) -> dict[str, ir.Call]:
    """Every block elaborated once with symbolic arguments: its rows, names and expressions as the
    definition writes them, with no shapes (what `diagram --block` draws when no instance exists)."""
    el = _Elaborator(DiagnosticBag(), blocks)
    el.symbolic = True
    el.defaults = defaults
    out: dict[str, ir.Call] = {}
    for name, block in blocks.items():
        scope: dict[str, Any] = {p.name: UNKNOWN for p in block.params}
        scope["in"] = UNKNOWN
        el.stack = [name]
        body = el.body(block.body, None, scope, block.span)
        exprs = {p.name: E.Ref(p.span, p.name) for p in block.params}
        out[name] = ir.Call(
            name=name, span=block.span, block=el.info(block), arg_exprs=exprs, body=body
        )
    return out


_KINDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def _override(name: str, value: Any, default: Any, span: Span, bag: DiagnosticBag) -> Any:
    """A parameter value given from outside (-p NAME=VALUE, inspec.load(path, NAME=VALUE)), checked
    against the kind of its default. A word parameter (`act = relu`) takes a string."""
    if isinstance(default, Symbol):
        word = value.name if isinstance(value, Symbol) else value
        if isinstance(word, str) and word in ENUM_WORDS:
            return Symbol(word)
        bag.error(
            f"parameter '{name}' expects a word such as {default.name}, got {value!r}",
            span,
            *filter(None, [did_you_mean(str(word), ENUM_WORDS)]),
        )
        return default
    if type(value) is type(default):
        return value
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    kind = _KINDS.get(type(default), type(default).__name__)
    bag.error(f"parameter '{name}' expects {kind}, got {value!r}", span)
    return default


def _check_library(module: A.Module, el: _Elaborator, bag: DiagnosticBag) -> None:
    """A file without a network: check that every row names a known op or block."""
    known = set(ROW_OPS) | set(el.blocks)

    def walk(stmts):
        for s in stmts:
            if isinstance(s, (A.RowStmt, A.SideStmt)):
                if s.row.op not in known:
                    bag.error(
                        f"unknown op or block '{s.row.op}'",
                        s.row.op_span,
                        *filter(None, [did_you_mean(s.row.op, known)]),
                    )
            elif isinstance(s, (A.Branch, A.Residual)):
                walk(s.body)

    for b in module.blocks:
        walk(b.body)
