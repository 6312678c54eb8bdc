"""Values of the spec language: evaluating expressions in a scope, the words that name enumeration
values (relu, same, ...), and coercing a value to an op attribute's kind with a clear error."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from inspec.analysis.ops import MAX_KERNEL, MAX_SPATIAL, OPS, Attr
from inspec.analysis.shapes import is_integral
from inspec.diagnostics import Span, SpecError, did_you_mean
from inspec.language import ast as A


@dataclass(frozen=True)
class Symbol:
    """A bare word that is not a parameter: an enum value such as relu, same or valid."""

    name: str

    def __str__(self) -> str:
        return self.name


def fmt_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, tuple):
        return "(" + ", ".join(fmt_value(x) for x in v) + ")"
    if isinstance(v, str):
        return f'"{v}"'
    return str(v)


# ------------------------------------------------------------------------------------------------
# Expressions


class RepeatScope(dict):
    """A scope inside one instance of a repeat: the enclosing names and the instance's own, `index`
    and `first`, which are constants (expressions lower them to their values)."""

    consts: frozenset[str] = frozenset()

    def bind(self, **values: Any) -> None:
        self.update(values)
        self.consts = self.consts | frozenset(values)


_FUNCS = {
    "int": (1, 1, lambda a: int(a[0])),
    "round": (1, 1, lambda a: round(a[0])),
    "floor": (1, 1, lambda a: math.floor(a[0])),
    "ceil": (1, 1, lambda a: math.ceil(a[0])),
    "min": (1, 64, lambda a: min(a)),
    "max": (1, 64, lambda a: max(a)),
    "make_divisible": (1, 3, lambda a: make_divisible(*a)),
}


def make_divisible(v: float, divisor: float = 8, min_value: float | None = None) -> int:
    """The nearest multiple of `divisor` to `v`, at least `min_value` (default: divisor) and not
    below 90% of `v`: the channel rounding of MobileNet, EfficientNet and RegNet
    (torchvision's `_make_divisible`)."""
    if divisor < 1:
        raise ValueError(f"the divisor must be at least 1, got {fmt_value(divisor)}")
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return int(new_v)


NUM_LIMIT = 10**15  # the largest magnitude of a number in a spec


def _num(v: Any, e: A.Expr) -> int | float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        if isinstance(v, Symbol):
            raise SpecError(f"'{v.name}' is not a number here")
        raise SpecError(f"{fmt_value(v)} is not a number", span=e.span)
    return v


def evaluate(e: A.Expr, scope: dict[str, Any]) -> Any:
    """Evaluate an expression. Names not in scope become Symbols (checked where they are used)."""
    if isinstance(e, A.Num):
        return e.value
    if isinstance(e, (A.Str, A.Bool)):
        return e.value
    if isinstance(e, A.Name):
        return scope[e.id] if e.id in scope else Symbol(e.id)
    if isinstance(e, A.Tuple):
        return tuple(evaluate(i, scope) for i in e.items)
    if isinstance(e, A.IfElse):
        c = evaluate(e.cond, scope)
        if c is UNKNOWN:
            return UNKNOWN
        return evaluate(e.then if _bool(c, e.cond, scope) else e.other, scope)
    if isinstance(e, A.Unary):
        v = evaluate(e.operand, scope)
        if v is UNKNOWN:
            return UNKNOWN
        if e.op == "not":
            return not _bool(v, e.operand, scope)
        return -_num(_defined(v, e.operand, scope), e.operand)
    if isinstance(e, A.Call):
        if e.func not in _FUNCS:
            raise SpecError(
                f"unknown function '{e.func}'",
                *filter(None, [did_you_mean(e.func, _FUNCS)]),
                f"functions: {', '.join(sorted(_FUNCS))}",
                span=e.span,
            )
        lo, hi, fn = _FUNCS[e.func]
        if not lo <= len(e.args) <= hi:
            raise SpecError(f"{e.func}() takes {lo} argument(s), got {len(e.args)}", span=e.span)
        values = [evaluate(a, scope) for a in e.args]
        if any(v is UNKNOWN for v in values):
            return UNKNOWN
        args = [_num(_defined(v, a, scope), a) for v, a in zip(values, e.args, strict=True)]
        if any(isinstance(a, float) and not math.isfinite(a) for a in args):
            raise SpecError(f"{e.func}() of a value that is not finite", span=e.span)
        try:
            return fn(args)
        except (ValueError, OverflowError) as ex:
            raise SpecError(f"{e.func}(): {ex}", span=e.span) from None
    if isinstance(e, A.BinOp):
        if e.op in ("and", "or"):
            left = _bool(evaluate(e.left, scope), e.left, scope)
            if e.op == "and" and not left:
                return False
            if e.op == "or" and left:
                return True
            return _bool(evaluate(e.right, scope), e.right, scope)
        if e.op in ("==", "!=") and (w := _word_comparison(e, scope)) is not None:
            return w
        a = _defined(evaluate(e.left, scope), e.left, scope)
        b = _defined(evaluate(e.right, scope), e.right, scope)
        if a is UNKNOWN or b is UNKNOWN:
            return UNKNOWN
        if e.op in ("==", "!="):
            return (a == b) == (e.op == "==")
        a, b = _num(a, e.left), _num(b, e.right)
        if e.op in ("<", "<=", ">", ">="):
            return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[e.op]
        if e.op in ("/", "//", "%") and b == 0:
            raise SpecError(f"division by zero in {_src(e)}", span=e.span)
        if e.op == "*" and abs(a) * abs(b) > NUM_LIMIT:
            raise SpecError("number too large", span=e.span)
        result = {
            "+": lambda: a + b,
            "-": lambda: a - b,
            "*": lambda: a * b,
            "/": lambda: a / b,
            "//": lambda: a // b,
            "%": lambda: a % b,
        }[e.op]()
        if isinstance(result, float) and result.is_integer() and e.op == "/":
            if isinstance(a, int) and isinstance(b, int):
                result = int(result)
        if abs(result) > NUM_LIMIT:
            raise SpecError("number too large", span=e.span)
        return result
    raise SpecError("unsupported expression", span=e.span)  # pragma: no cover


def _src(e: A.Expr) -> str:
    return f"{e.span.line}:{e.span.col}"


class _Unknown:
    """The value of `in` where the input shape could not be inferred (an earlier error)."""

    def __repr__(self) -> str:
        return "<unknown>"


UNKNOWN = _Unknown()


class Silent(SpecError):
    """An error that follows from one already reported: it fails the row without a message."""

    def __init__(self) -> None:
        super().__init__("(follows from an earlier error)")


# Words that are values of some op's enumerated attribute or flag: they may be passed to a block
# or given as a parameter's default (`block unit(act = relu)`).
ENUM_WORDS = frozenset(
    {c for op in OPS.values() for a in op.attrs for c in a.choices}
    | {"same", "valid"}
    | {f for op in OPS.values() for f in op.flags}
)


def _value(v: Any, e: A.Expr, scope: dict[str, Any]) -> Any:
    """A block argument or parameter default: any value, or an enumeration word."""
    if isinstance(v, Symbol) and v.name in ENUM_WORDS:
        return v
    return _defined(v, e, scope)


def _word_comparison(e: A.BinOp, scope: dict[str, Any]) -> Any:
    """`act == relu6`: a parameter whose value is a word compared with a bare word (a name that is
    not a parameter), by the word; None when the comparison is not of that kind."""
    sides = (e.left, e.right)
    bare = [isinstance(x, A.Name) and x.id not in scope for x in sides]
    if bare.count(True) != 1:
        return None
    word = sides[bare.index(True)].id
    v = evaluate(sides[bare.index(False)], scope)
    if v is UNKNOWN:
        return UNKNOWN
    if not isinstance(v, (Symbol, str)) or isinstance(v, bool):
        return None  # a number against an undefined name: reported as undefined
    name = v.name if isinstance(v, Symbol) else v
    return (name == word) == (e.op == "==")


def _defined(v: Any, e: A.Expr, scope: dict[str, Any]) -> Any:
    if isinstance(v, Symbol):
        names = [k for k in scope if not k.startswith("_")]
        raise SpecError(
            f"undefined parameter '{v.name}'",
            *filter(None, [did_you_mean(v.name, names)]),
            span=e.span,
        )
    return v


def _bool(v: Any, e: A.Expr, scope: dict[str, Any]) -> bool:
    v = _defined(v, e, scope)
    if v is UNKNOWN:
        raise Silent()
    if not isinstance(v, bool):
        raise SpecError(f"expected true or false, got {fmt_value(v)}", span=e.span)
    return v


# ------------------------------------------------------------------------------------------------
# Attribute coercion


def coerce(attr: Attr, v: Any, span: Span, scope: dict[str, Any], op: str) -> Any:
    if v is UNKNOWN or (isinstance(v, tuple) and UNKNOWN in v):
        raise Silent()
    where = f"{op} {attr.name}"

    def bad(expected: str):
        if isinstance(v, Symbol):
            names = [k for k in scope if not k.startswith("_")]
            return SpecError(
                f"undefined parameter '{v.name}' (for {where}, which expects {expected})",
                *filter(None, [did_you_mean(v.name, names + list(attr.choices))]),
                span=span,
            )
        return SpecError(f"{where} expects {expected}, got {fmt_value(v)}", span=span)

    if attr.kind == "int":
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise bad("an integer")
        if not is_integral(v):
            raise SpecError(f"{where} must be an integer, got {v:g}", span=span)
        v = int(v)
        _range(attr, v, span, where)
        return v
    if attr.kind == "float":
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise bad("a number")
        v = float(v)
        if not math.isfinite(v):
            raise SpecError(f"{where} must be finite", span=span)
        _range(attr, v, span, where)
        return v
    if attr.kind == "bool":
        if not isinstance(v, bool):
            raise bad("true or false")
        return v
    if attr.kind == "enum":
        name = v.name if isinstance(v, Symbol) else v if isinstance(v, str) else None
        if name not in attr.choices:
            if isinstance(v, Symbol) and v.name in scope:
                raise bad(" | ".join(attr.choices))
            raise SpecError(
                f"{where} must be one of {', '.join(attr.choices)}; got {fmt_value(name or v)}",
                *filter(None, [did_you_mean(str(name), attr.choices)]),
                span=span,
            )
        return name
    if attr.kind == "pad":
        if isinstance(v, (Symbol, str)):
            name = v.name if isinstance(v, Symbol) else v
            if name in ("same", "valid", "half"):
                return name
            raise bad("same, valid, half or a number of pixels")
        if isinstance(v, tuple) and len(v) in (2, 4):
            return tuple(_pad_int(x, span, where) for x in v)
        return _pad_int(v, span, where)
    if attr.kind == "kernel":
        if isinstance(v, tuple) and len(v) == 2:
            k = tuple(_pad_int(x, span, where) for x in v)
        else:
            k = (_pad_int(v, span, where),) * 2
        if min(k) < 1 or max(k) > MAX_KERNEL:
            raise SpecError(f"{where} must be between 1 and {MAX_KERNEL}", span=span)
        return k
    return v


def _pad_int(v: Any, span: Span, where: str) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not is_integral(v):
        raise SpecError(f"{where} expects whole numbers, got {fmt_value(v)}", span=span)
    v = int(v)
    if v < 0 or v > MAX_SPATIAL:
        raise SpecError(f"{where} must be between 0 and {MAX_SPATIAL}, got {v}", span=span)
    return v


def _range(attr: Attr, v, span: Span, where: str) -> None:
    if attr.minimum is not None and v < attr.minimum:
        raise SpecError(f"{where} must be at least {attr.minimum:g}, got {v:g}", span=span)
    if attr.maximum is not None and v > attr.maximum:
        raise SpecError(f"{where} must be at most {attr.maximum:g}, got {v:g}", span=span)
