"""A row's attributes, resolved in order: the registry's defaults < the network's `defaults` line <
the patch (`3x3/2`) < positional arguments and flags < key=value. Each attribute set by the spec also
records the expression it came from (exprs.py), for the backends."""

from __future__ import annotations

from typing import Any

from inspec.analysis import exprs as E
from inspec.analysis.ops import MAX_KERNEL, OpDef
from inspec.analysis.values import Symbol, coerce
from inspec.diagnostics import SpecError, did_you_mean


class Attributes:
    def __init__(self, el, op: OpDef, scope: dict[str, Any]):
        self.el = el  # the elaborator: its diagnostic bag and expression evaluation
        self.op = op
        self.scope = scope
        self.attrs: dict[str, Any] = {a.name: a.default for a in op.attrs}
        self.explicit: set[str] = set()
        self.reported: set[str] = set()  # attributes whose value was already reported as wrong
        # provenance: the expression that set each attribute, in the row or in `defaults`
        self.sources: dict[str, E.Expr] = {}
        self.defaulted: dict[str, E.Expr] = {}
        self.failed = False

    def fail(self, message: str, span, *notes: str) -> None:
        self.el.bag.error(message, span, *notes)
        self.failed = True

    def set(self, name: str, value: Any, span, expr: E.Expr | None = None) -> None:
        """Coerce `value` to the attribute's kind; record the expression that gave it."""
        if expr is not None:
            self.sources[name] = expr
            self.defaulted.pop(name, None)
        try:
            self.attrs[name] = coerce(self.op.attr(name), value, span, self.scope, self.op.name)
            self.explicit.add(name)
        except SpecError as e:
            self.reject(name, e, span)

    def reject(self, name: str, e: SpecError, span) -> None:
        """The attribute's value is wrong (reported here, once)."""
        self.el.error(e, span)
        self.failed = True
        self.reported.add(name)

    def defaults(self, table: dict) -> None:
        for k, (v, vspan, expr) in table.items():
            self.set(k, v, vspan)
            if k in self.explicit:
                self.defaulted[k] = expr

    def patch(self, patch) -> None:
        if patch is None:
            return
        op = self.op
        if not op.patch:
            self.fail(f"{op.name} takes no patch size", patch.span)
            return
        if max(patch.kh, patch.kw) > MAX_KERNEL or min(patch.kh, patch.kw) < 1:
            self.fail(f"patch size must be between 1 and {MAX_KERNEL}", patch.span)
        self.attrs["kernel"] = (patch.kh, patch.kw)
        self.defaulted.pop("kernel", None)
        if patch.stride is not None:
            self.defaulted.pop("stride", None)
            if patch.stride < 1 or patch.stride > MAX_KERNEL:
                self.fail(f"stride must be between 1 and {MAX_KERNEL}", patch.span)
            self.attrs["stride"] = patch.stride
            self.explicit.add("stride")

    def args(self, args) -> None:
        op, positional = self.op, list(self.op.positional)
        for a in args:
            try:
                v = self.el.eval(a, self.scope)
            except SpecError as e:
                self.el.error(e, a.span)
                self.failed = True
                continue
            if isinstance(v, Symbol) and v.name in op.flags:
                key, val = op.flags[v.name]
                self.attrs[key] = val
                self.explicit.add(key)
                self.sources[key] = E.lower(a, self.scope)  # a flag word, or a parameter naming one
                self.defaulted.pop(key, None)
                continue
            if not positional:
                taken = ", ".join(op.positional) or "none"
                flags = f"; flags: {', '.join(op.flags)}" if op.flags else ""
                self.fail(
                    f"too many arguments for {op.name}",
                    a.span,
                    f"positional arguments of {op.name}: {taken}{flags}",
                )
                continue
            name = positional.pop(0)
            self.set(name, v, a.span, E.lower(a, self.scope))

    def kwargs(self, kwargs) -> None:
        op = self.op
        seen: set[str] = set()
        for kw in kwargs:
            if op.attr(kw.name) is None:
                names = [a.name for a in op.attrs]
                self.fail(
                    f"{op.name} has no attribute '{kw.name}'",
                    kw.span,
                    *filter(None, [did_you_mean(kw.name, names)]),
                    f"attributes of {op.name}: {', '.join(names) or 'none'}",
                )
                continue
            if kw.name in seen:
                self.fail(f"'{kw.name}' is given twice", kw.span)
                continue
            seen.add(kw.name)
            expr = E.lower(kw.value, self.scope)
            try:
                value = self.el.eval(kw.value, self.scope)
            except SpecError as e:
                self.sources[kw.name] = expr
                self.defaulted.pop(kw.name, None)
                self.reject(kw.name, e, kw.value.span)
                continue
            self.set(kw.name, value, kw.value.span, expr)

    def missing(self, span) -> None:
        op = self.op
        for a in op.attrs:
            if (
                self.attrs.get(a.name) is None
                and a.kind != "kernel"
                and a.name not in self.reported
            ):
                self.fail(f"{op.name} needs {a.doc.split(' (')[0]} ('{a.name}')", span)
        if op.patch_required and self.attrs.get("kernel") is None:
            self.fail(f"{op.name} needs a patch size such as 3x3 or 7x7/2", span)
