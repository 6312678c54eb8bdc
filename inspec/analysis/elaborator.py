"""The elaborator: a statement list -> IR nodes. Binds block arguments, expands blocks (each distinct
instance once: bodies are memoised), repeats and branches, names every row (naming.py), resolves each
row's attributes (attributes.py) and runs its op's shape and cost rules from the registry. A problem is
a Diagnostic with a span; elaboration goes on with the shape unknown downstream, so that one run
reports all of a file's errors.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from inspec.analysis import exprs as E
from inspec.analysis import ir
from inspec.analysis.attributes import Attributes
from inspec.analysis.naming import collapse, ident, scoped_name, template_label
from inspec.analysis.ops import (
    MAX_CHANNELS,
    MAX_SPATIAL,
    OPS,
    ROW_OPS,
    ZERO,
    Attr,
    Ctx,
    OpDef,
    add_shape,
    split_input,
)
from inspec.analysis.shapes import Padding, Shape
from inspec.analysis.values import (
    UNKNOWN,
    RepeatScope,
    Silent,
    _bool,
    _value,
    coerce,
    evaluate,
)
from inspec.diagnostics import Diagnostic, DiagnosticBag, Span, SpecError, did_you_mean
from inspec.language import ast as A

MAX_REPEAT = 10_000
# a side row's reserved keyword: the weight of its head's loss in the training loss
LOSS_WEIGHT = Attr(
    "loss_weight", "float", 1.0, "the weight of a side head's loss in the training loss", minimum=0
)
MAX_LAYERS = 2_000_000
MAX_BLOCK_DEPTH = 48


# ------------------------------------------------------------------------------------------------
# The elaborator


class Elaborator:
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
        position = 0  # rows that are on, so far: an indexed body's next number
        off = 0  # rows that are off since the last one that is on
        for s in A.grouped(stmts):
            if isinstance(s, tuple):
                node = self.merge("concat", (), s, s[0].span, cur, scope, counters, names)
            elif isinstance(s, A.Merge):
                node = self.merge_stmt(s, cur, scope, counters, names)
            elif isinstance(s, A.Group):
                node = self.group(s, cur, scope, counters, names)
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
                node.expect = tuple(ir.Expectation(e.key, e.raw, e.span) for e in s.expect)
            if (
                indexed
                and isinstance(node, ir.Repeat)
                and node.label is None
                and node.template is None
                and node.cond is None
                and node.active
            ):
                # its instances join the sequence, numbered on (torchvision's layers.extend)
                node.spliced = True
                for k, item in enumerate(node.items):
                    item.name = str(position + k)
                    names[item.name] = item.span
                position += len(node.items) - 1
                node.name = f"{position}(x)"  # never a module path: its instances are
                node.auto = None
            elif (
                indexed and isinstance(node, (ir.Layer, ir.Call, ir.Repeat)) and node.label is None
            ):
                node.name = str(position)  # as an nn.Sequential numbers what it holds
                node.auto = None
            elif indexed and ir.is_group(node) and not node.branches[0].given:
                del names[node.branches[0].name]
                node.branches[0].name = str(position)
                if ir.is_on(node):
                    names[str(position)] = node.span
            if isinstance(node, ir.Repeat) and node.template:
                for item in node.items:  # its instances are attributes of this scope
                    if item.name in names:
                        self.bag.error(
                            f"duplicate label: '{item.name}' is already used in this scope",
                            self._label_span(node),
                            f"the first is at {names[item.name]}",
                        )
                    names[item.name] = item.span
            elif isinstance(node, ir.Repeat) and node.spliced:
                pass  # its instances are named in the sequence; the repeat itself is not a module
            elif indexed and not ir.is_on(node):
                # a switched-off row of a sequence has no number (the next row takes it)
                off += 1
                name = f"{position}(off)" if off == 1 else f"{position}(off{off})"
                if ir.is_group(node) and not node.branches[0].given:
                    node.branches[0].name = name
                elif node.name.isdigit():
                    node.name = name
            elif node.name in names:
                self.bag.error(
                    f"duplicate label: '{node.name}' is already used in this scope",
                    self._label_span(node),
                    f"the first is at {names[node.name]}",
                )
            transparent = getattr(node, "spliced", False) or getattr(node, "template", None)
            if (ir.is_on(node) or not indexed) and not transparent:
                names[node.name] = node.span
            seq.items.append(node)
            if ir.is_on(node) and not isinstance(node, ir.Side):
                position += 1
                off = 0
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
        for node, path in ir.scope_children([ir.Merge(name="", span=seq.span, branches=[br])]):
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
    def merge_stmt(self, s: A.Merge, x, scope, counters, names) -> ir.Node | None:
        """`add { branch ... }`, `mul { ... }`, `concat { ... }`: a body of branches only."""
        group = [b for b in s.body if isinstance(b, A.Branch)]
        ok = True
        for other in s.body:
            if not isinstance(other, A.Branch):
                self.bag.error(
                    f"{s.kind} {{ ... }} holds branches only",
                    getattr(other, "span", s.span),
                    "write each input of the merge as branch { ... } (an empty branch is the "
                    "identity)",
                )
                ok = False
        if len(group) < 2:
            self.bag.error(
                f"{s.kind} {{ ... }} needs two or more branches, got {len(group)}",
                s.span,
                "an empty branch { } is the identity",
            )
            ok = False
        if not ok:
            return None
        return self.merge(s.kind, s.kwargs, tuple(group), s.span, x, scope, counters, names)

    def group(self, s: A.Group, x, scope, counters, names) -> ir.Node | None:
        """`seq [NAME] { rows }`: a module of its own, its unlabelled rows numbered."""
        br = A.Branch(s.name, s.body, s.span, s.cond)
        node = self.merge("concat", (), (br,), s.span, x, scope, counters, names, is_seq=True)
        if node is not None and node.branches and node.branches[0].flattened:
            items = node.branches[0].body.items
            numbered = ir.numbers_rows(items)
            before = len(self.bag.items)
            for item in items:
                self._not_in_seq(item, numbered)
            if len(self.bag.items) == before:  # every refusal must say why (never a silent None)
                self.bag.error(
                    "a seq is one nn.Sequential: its rows cannot all be children", s.span
                )
            return None
        return node

    def _not_in_seq(self, item: ir.Node, numbered: bool) -> None:
        """Why a row cannot be one child of a seq's nn.Sequential, if it cannot."""
        seq_is = "a seq is one nn.Sequential"
        if isinstance(item, ir.Repeat) and item.template:
            self.bag.error(
                f"{seq_is}: a repeat's named instances ('{item.template}{item.start}..') belong "
                "in a block, or in a seq whose rows are all labelled",
                self._label_span(item),
            )
        elif isinstance(item, (ir.Layer, ir.Call, ir.Repeat)) and item.label and numbered:
            self.bag.error(
                f"{seq_is}: a seq that switches or repeats rows numbers them, so a row in it "
                f"takes no label ('{item.label}')",
                self._label_span(item),
                "drop the labels, or the conditions and repeats, of this seq",
            )
        elif isinstance(item, ir.Layer) and not item.one_module:
            self.bag.error(
                f"{seq_is}: this {item.op.name} row is not one module (it is applied in forward: "
                "an act= on bn or linear, or a linear flattening a feature map)",
                item.span,
                "write the activation (or the flatten) as a row of its own: bn; relu",
            )
        elif isinstance(item, (ir.Merge, ir.Residual)) and not ir.is_group(item):
            self.bag.error(
                f"{seq_is}: branches and residuals belong in a block, called from the seq",
                item.span,
            )

    def merge(
        self, kind, kwargs, group, span, x, scope, counters, names, is_seq: bool = False
    ) -> ir.Node | None:
        """Parallel branches of `x`, combined by the merge op `kind` (concat, add, mul; split
        gives each branch its share of the channels)."""
        op = OPS[kind]
        span = Span(span.file, span.line, span.col, group[-1].span.end_line, group[-1].span.end_col)
        attrs, _ = self.attrs_for(op, None, (), kwargs, scope, span)
        sources, defaulted = self.provenance
        node = ir.Merge(
            name="",
            span=span,
            in_shape=x,
            op=op,
            group=is_seq,
            attrs=attrs or {},
            sources=sources,
            defaulted=defaulted,
        )
        branch_names: dict[str, Span] = {}
        parts = []
        ok = x is not None and attrs is not None
        xin = x
        if kind == "split" and x is not None:
            try:
                xin = split_input(x, len(group))
            except SpecError as e:
                self.error(e, span)
                ok, xin = False, None
        for b in group:
            # Branches are named in the enclosing scope (a merge is transparent in module paths).
            kind_word = "seq" if is_seq else "branch"
            counters[kind_word] = counters.get(kind_word, 0) + 1  # position, named or not
            name = ident(b.name) if b.name else f"{kind_word}{counters[kind_word]}"
            if name in branch_names:
                self.bag.error(f"duplicate branch name '{name}'", b.span)
            branch_names[name] = b.span
            active = self.condition(b.cond, scope)
            if active is None:
                ok = False
                continue
            # an inactive branch is elaborated (drawn, generated), but is the identity
            seq = self.body(b.body, xin, scope, b.span, indexed=True)
            probe = ir.Branch(
                name=name, span=b.span, body=seq, given=b.name is not None, seq=is_seq
            )
            if not probe.flattened:
                # a module of the block; a flattened branch's name is only a forward variable
                if name in names:
                    self.bag.error(f"duplicate branch name '{name}'", b.span)
                names[name] = b.span
            self._flat_names(name, b.name is not None, seq, names)
            if not b.body or not active:
                out = xin
            else:
                out = seq.out_shape
            br = ir.Branch(
                name=name,
                span=b.span,
                in_shape=xin,
                out_shape=out,
                cost=seq.cost if active else ZERO,
                depth=seq.depth if active else 0,
                body=seq,
                given=b.name is not None,
                active=active,
                cond=E.lower(b.cond, scope) if b.cond is not None else None,
                seq=is_seq,
            )
            o = seq.out_shape
            if (
                b.cond is not None
                and not self.stack
                and o is not None
                and xin is not None
                and (o.h, o.w, o.flat) != (xin.h, xin.w, xin.flat)
            ):
                # at the network's level the module follows a width, not a height or a width
                # of the map that the rows after it are built for
                self.bag.error(
                    f"a conditional {'seq' if is_seq else 'branch'} must keep its input's height "
                    "and width",
                    b.span,
                    f"it turns {xin} into {o}; the rows after it cannot depend on a parameter",
                    "put it in a block (where a condition reads the block's arguments), or drop "
                    "the condition",
                )
                ok = False
            if br.cond is not None and br.flattened and b.body:
                self.bag.error(
                    f"a conditional branch is one module in PyTorch: its rows cannot be "
                    f"labelled, conditional or branches ('{name}')",
                    b.span,
                    "name the branch and leave its rows unlabelled: branch downsample if ... "
                    "{ conv 1x1 ...; bn }",
                )
                ok = False
            node.branches.append(br)
            if out is None:
                ok = False
            else:
                parts.append((f"{name} (line {b.span.line})", out))
        node.cost = ZERO
        for br in node.branches:
            node.cost = node.cost + br.cost
        node.depth = max((br.depth for br in node.branches), default=0)
        if ok:
            try:
                node.out_shape = op.merge(attrs, parts)
            except SpecError as e:
                self.error(e, span)
                node.out_shape = None
        node.name = self._name("mixed", None, counters)
        return node

    def residual(self, s: A.Residual, x, scope, counters, names) -> ir.Node | None:
        attrs, _ = self.attrs_for(OPS["add"], None, (), s.kwargs, scope, s.span)
        sources, defaulted = self.provenance
        skip = self.condition(s.skip_if, scope)
        if skip is None:
            return None
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
            skip_if=E.lower(s.skip_if, scope) if s.skip_if is not None else None,
            skip=skip,
        )
        if s.skip_if is not None and not self.stack:
            self.bag.error(
                "a residual's skip connection can depend only on a block's arguments",
                s.skip_if.span,
                "at the network's level it would change the shapes after it; put the residual "
                "in a block",
            )
            return node
        if not skip:  # the body alone
            node.out_shape = seq.out_shape
            return node
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
        if (
            s.cond is not None
            and x is not None
            and node.out_shape not in (None, x)
            and not self.stack
        ):
            # in a block, the condition reads only the block's arguments, fixed at each call
            self.bag.error(
                "a conditional row must keep its input's shape",
                s.span,
                f"it turns {x} into {node.out_shape}; the rows after it cannot depend on a parameter",
                "make it a side head ('side ... if ...') or drop the condition",
            )
        return node

    def repeat(self, s: A.RowStmt, x, scope, counters) -> ir.Node | None:
        """`N x row`: N instances, each reading the last one's output. In the row's arguments,
        `index` is the instance's position (0, 1, ...) and `first` is true for the first one."""
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
        if not 0 <= n <= MAX_REPEAT:
            self.bag.error(
                f"repeat count must be between 0 and {MAX_REPEAT:,}, got {n:,}", s.repeat_span
            )
            return None
        row = s.row
        base = row.op
        # a label ending in a number and `..` names the instances from that number on
        # (`(denselayer1..)`: denselayer1, denselayer2, ...; `(block1-0..)`: block1-0, block1-1),
        # attributes of the enclosing scope (or children of a seq), as torchvision's
        # add_module("denselayer%d")
        written, start = template_label(row.label)
        template = ident(written) if written else None
        name = f"{template}(x)" if template else self._name(base, row.label, counters)
        node = ir.Repeat(
            name=name, span=s.span, in_shape=x, count=n, template=template, start=start, of=row.op
        )
        node.auto = base if row.label is None else None
        cur = x
        cost = ZERO
        depth = 0
        inner: dict[str, int] = {}
        for k in range(n):
            bound = RepeatScope(scope)
            bound.bind(index=k, first=k == 0)
            item = self.row(row, cur, bound, inner, index=k)
            if item is None:
                cur = None
                break
            item.name = f"{template}{start + k}" if template else str(k)
            if template:  # the label as written: a seq's child may keep it (naming.child_key)
                item.label, item.auto = f"{written}{start + k}", None
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
        # the shape after it must not depend on a network parameter: it keeps its input's shape, or
        # every instance after the first does (a stage: the first block strides and widens)
        later_keep = n >= 1 and all(i.in_shape == i.out_shape for i in node.items[1:])
        if (
            s.repeat_expr is not None
            and x is not None
            and cur is not None
            and cur != x
            and not later_keep
            and not self.stack
        ):  # in a block, the count reads only the block's arguments, fixed at each call
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
        row, weight, weight_expr = self.loss_weight(s.row, scope)
        head = self.row(row, x, scope, {})
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
            loss_weight=weight,
            loss_weight_expr=weight_expr,
        )

    def loss_weight(self, row: A.Row, scope) -> tuple[A.Row, float, E.Expr | None]:
        """A side row's `loss_weight=W` (reserved there: the weight of the head's loss in the
        training loss, a number >= 0; 1 when not written) and the row without it, for the head.
        A wrong weight is reported and the head elaborated all the same."""
        given = [kw for kw in row.kwargs if kw.name == LOSS_WEIGHT.name]
        if not given:
            return row, LOSS_WEIGHT.default, None
        rest = replace(row, kwargs=tuple(k for k in row.kwargs if k.name != LOSS_WEIGHT.name))
        for extra in given[1:]:
            self.bag.error(f"argument '{LOSS_WEIGHT.name}' is given twice", extra.span)
        block = self.blocks.get(row.op)
        if block is not None and any(p.name == LOSS_WEIGHT.name for p in block.params):
            self.bag.error(
                f"block '{block.name}' has a parameter named '{LOSS_WEIGHT.name}', which a side "
                "row reserves for the weight of the head's loss",
                given[0].span,
                "rename the block's parameter",
            )
        kw = given[0]
        try:
            value = self.eval(kw.value, scope)
            weight = coerce(LOSS_WEIGHT, value, kw.value.span, scope, "side head's")
        except SpecError as e:
            self.error(e, kw.value.span)
            weight = LOSS_WEIGHT.default
        return rest, weight, E.lower(kw.value, scope)

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

    def attrs_for(self, op: OpDef, patch, args, kwargs, scope, span):
        """Resolve a row's attributes (see attributes.py); records their expressions in
        self.provenance. Returns (attrs or None after an error, the attributes set explicitly)."""
        r = Attributes(self, op, scope)
        r.defaults(self.defaults.get(op.name, {}))
        r.patch(patch)
        r.args(args)
        r.kwargs(kwargs)
        r.missing(span)
        attrs = r.attrs
        attrs["_round_explicit"] = "round" in r.explicit
        self.provenance = (r.sources, r.defaulted)
        if r.failed and not self.symbolic:  # a symbolic definition keeps what it could resolve
            return None, r.explicit
        return attrs, r.explicit

    def layer(self, row: A.Row, x, scope, counters) -> ir.Node | None:
        op = ROW_OPS[row.op]
        attrs, _ = self.attrs_for(op, row.patch, row.args, row.kwargs, scope, row.span)
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
        self._note_asymmetric(node, attrs, x, y)
        if max(y.h, y.w) > MAX_SPATIAL or y.c > MAX_CHANNELS * 64:
            self.bag.error(f"output {y} is larger than inspec allows", row.span)
            return node
        node.out_shape = y
        node.cost = op.cost(attrs, x, y)
        return node

    def _note_asymmetric(self, node: ir.Layer, attrs: dict, x: Shape, y: Shape) -> None:
        """TF-SAME padding that is not symmetric: PyTorch's models pad otherwise, which gives
        outputs shifted by a pixel (often of the same size): worth a note when porting weights."""
        p = attrs.get("padding")
        if attrs.get("pad") != "same" or p is None or p.symmetric or attrs.get("global"):
            return
        kh, kw = attrs["kernel"]
        d = attrs.get("dilation", 1)
        half = Padding((kh - 1) // 2 * d, (kh - 1) // 2 * d, (kw - 1) // 2 * d, (kw - 1) // 2 * d)
        try:
            z = node.op.shape({**attrs, "pad": half.torch(), "round": "floor"}, x, Ctx())
            size = "the same size" if (z.h, z.w) == (y.h, y.w) else f"{z.h}x{z.w}, not {y.h}x{y.w}"
            what = f"pad=half would pad {half} on every side and give {size}"
        except SpecError:
            what = "pad=half does not fit this input"
        sides = f"top {p.top}, bottom {p.bottom}, left {p.left}, right {p.right}"
        self.bag.note(
            f"TF-SAME pads this {node.op.name} asymmetrically: {sides}",
            node.span,
            f"PyTorch's models pad symmetrically: {what}",
            "'padding torch' at the top of the spec makes every window pad like PyTorch",
        )

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
        given = [p.name for p in block.params[: len(row.args)]]
        node.explicit = frozenset(given + [kw.name for kw in row.kwargs])
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
            names = {p.name for p in block.params}
            params = tuple(
                ir.ParamInfo(
                    p.name,
                    E.lower(p.default, names) if p.default is not None else None,
                    p.header,
                    p.span,
                )
                for p in block.params
            )
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
            lowered = E.lower(p.default, values)
            if any(values.get(n, 0) is None for n in E.refs(lowered)):
                values[p.name] = None  # it reads an argument already reported as wrong
                continue
            exprs[p.name] = E.substitute(lowered, exprs)
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


def _members(seq: ir.Seq):
    """The nodes named in a body's scope: its rows, and the rows of residual bodies (which share it)."""
    for n in seq.items:
        yield n
        if isinstance(n, ir.Residual):
            yield from _members(n.body)
