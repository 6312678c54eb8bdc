"""The IR's expressions: where a value came from.

Elaboration evaluates every expression of the spec to a value, and also *lowers* it to one of these
small frozen trees, so that the IR carries both: `conv 1x1 n1x1` inside a block has the value 64 for
one instance and the expression `Ref("n1x1")`. Names are resolved when lowering: a parameter of the
enclosing scope (a network parameter, a block parameter, or `in`, the block's input channels) becomes a
`Ref`; any other word (`relu`, `same`) a `Word`. Backends read only these (the PyTorch backend turns
them into Python over the constructor's arguments; the diagram prints them), never the syntax tree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from inspec.analysis.values import fmt_value
from inspec.diagnostics import Span
from inspec.language import ast as A


@dataclass(frozen=True)
class Expr:
    span: Span | None


@dataclass(frozen=True)
class Lit(Expr):
    """A constant: a number, string, boolean, or a value computed from constants."""

    value: Any


@dataclass(frozen=True)
class Ref(Expr):
    """A parameter of the enclosing scope (network or block), or `in`."""

    name: str


@dataclass(frozen=True)
class Word(Expr):
    """An enumeration word: relu, same, valid, ceil, ..."""

    name: str


@dataclass(frozen=True)
class BinOp(Expr):
    op: str  # + - * / // % == != < <= > >= and or
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Unary(Expr):
    op: str  # - not
    operand: Expr


@dataclass(frozen=True)
class Fn(Expr):
    """A function call: int, round, floor, ceil, min, max."""

    func: str
    args: tuple[Expr, ...]


@dataclass(frozen=True)
class Tup(Expr):
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class IfElse(Expr):
    """`then if cond else other`."""

    cond: Expr
    then: Expr
    other: Expr


def lit(value: Any) -> Lit:
    return Lit(None, value)


def lower(e: A.Expr, params) -> Expr:
    """A syntax-tree expression as an IR expression; `params` are the names in scope."""
    if isinstance(e, (A.Num, A.Str, A.Bool)):
        return Lit(e.span, e.value)
    if isinstance(e, A.Name):
        if e.id in getattr(params, "consts", ()):  # a repeat instance's index or first
            return Lit(e.span, params[e.id])
        return Ref(e.span, e.id) if e.id in params else Word(e.span, e.id)
    if isinstance(e, A.BinOp):
        return BinOp(e.span, e.op, lower(e.left, params), lower(e.right, params))
    if isinstance(e, A.Unary):
        return Unary(e.span, e.op, lower(e.operand, params))
    if isinstance(e, A.Call):
        return Fn(e.span, e.func, tuple(lower(a, params) for a in e.args))
    if isinstance(e, A.Tuple):
        return Tup(e.span, tuple(lower(i, params) for i in e.items))
    if isinstance(e, A.IfElse):
        return IfElse(e.span, lower(e.cond, params), lower(e.then, params), lower(e.other, params))
    raise TypeError(type(e).__name__)  # pragma: no cover - the parser builds nothing else


def children(e: Expr) -> tuple[Expr, ...]:
    if isinstance(e, BinOp):
        return (e.left, e.right)
    if isinstance(e, Unary):
        return (e.operand,)
    if isinstance(e, Fn):
        return e.args
    if isinstance(e, Tup):
        return e.items
    if isinstance(e, IfElse):
        return (e.cond, e.then, e.other)
    return ()


def walk(e: Expr) -> Iterator[Expr]:
    yield e
    for c in children(e):
        yield from walk(c)


def refs(e: Expr) -> frozenset[str]:
    """The parameters an expression reads."""
    return frozenset(n.name for n in walk(e) if isinstance(n, Ref))


def is_const(e: Expr | None) -> bool:
    return e is None or not any(isinstance(n, Ref) for n in walk(e))


def has_div(e: Expr) -> bool:
    """Whether a true division may make the value a float (so an integer attribute needs int())."""
    return any(isinstance(n, BinOp) and n.op == "/" for n in walk(e))


def rebuild(e: Expr, fn: Callable[[Expr], Expr | None]) -> Expr:
    """`e` with every node for which fn returns an expression replaced by it (bottom-up otherwise)."""
    new = fn(e)
    if new is not None:
        return new
    if isinstance(e, BinOp):
        return BinOp(e.span, e.op, rebuild(e.left, fn), rebuild(e.right, fn))
    if isinstance(e, Unary):
        return Unary(e.span, e.op, rebuild(e.operand, fn))
    if isinstance(e, Fn):
        return Fn(e.span, e.func, tuple(rebuild(a, fn) for a in e.args))
    if isinstance(e, Tup):
        return Tup(e.span, tuple(rebuild(i, fn) for i in e.items))
    if isinstance(e, IfElse):
        return IfElse(e.span, rebuild(e.cond, fn), rebuild(e.then, fn), rebuild(e.other, fn))
    return e


def substitute(e: Expr, mapping: dict[str, Expr]) -> Expr:
    """`e` with each Ref in `mapping` replaced: a block's expression in its caller's terms."""
    if is_const(e):
        return e
    return fold(rebuild(e, lambda n: mapping.get(n.name) if isinstance(n, Ref) else None))


_ARITH = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "//": lambda a, b: a // b,
    "%": lambda a, b: a % b,
}


def _number(e: Expr) -> bool:
    return (
        isinstance(e, Lit) and isinstance(e.value, (int, float)) and not isinstance(e.value, bool)
    )


def fold(e: Expr) -> Expr:
    """Arithmetic on constants done: `(64 + 32) + n` is `96 + n`."""
    if isinstance(e, BinOp):
        a, b = fold(e.left), fold(e.right)
        if _number(a) and _number(b) and e.op in _ARITH and not (e.op in "//%" and b.value == 0):
            return Lit(e.span, _ARITH[e.op](a.value, b.value))
        return BinOp(e.span, e.op, a, b)
    if isinstance(e, Fn):
        args = tuple(fold(a) for a in e.args)
        if e.func in ("int", "min", "max") and args and all(_number(a) for a in args):
            values = [a.value for a in args]
            return Lit(e.span, int(values[0]) if e.func == "int" else _MINMAX[e.func](values))
        return Fn(e.span, e.func, args)
    if isinstance(e, IfElse):
        c = fold(e.cond)
        if isinstance(c, Lit) and isinstance(c.value, bool):
            return fold(e.then if c.value else e.other)
        return IfElse(e.span, c, fold(e.then), fold(e.other))
    return e


_MINMAX = {"min": min, "max": max}


def add(a: Expr, b: Expr) -> Expr:
    return fold(BinOp(None, "+", a, b))


def scaled(a: Expr, k: int) -> Expr:
    return a if k == 1 else fold(BinOp(None, "*", a, lit(k)))


_PREC = {"or": 1, "and": 2, "==": 4, "!=": 4, "<": 4, "<=": 4, ">": 4, ">=": 4}
_PREC.update({"+": 5, "-": 5, "*": 6, "/": 6, "//": 6, "%": 6})


def show(e: Expr, prec: int = 0) -> str:
    """An expression as a spec writes it (for diagrams and messages)."""
    if isinstance(e, Lit):
        return fmt_value(e.value)
    if isinstance(e, (Ref, Word)):
        return e.name
    if isinstance(e, BinOp):
        p = _PREC[e.op]
        s = f"{show(e.left, p)} {e.op} {show(e.right, p + 1)}"
        return f"({s})" if p < prec else s
    if isinstance(e, Unary):
        s = f"not {show(e.operand, 3)}" if e.op == "not" else f"-{show(e.operand, 7)}"
        return f"({s})" if (3 if e.op == "not" else 7) < prec else s
    if isinstance(e, Fn):
        return f"{e.func}({', '.join(show(a) for a in e.args)})"
    if isinstance(e, Tup):
        return f"({', '.join(show(i) for i in e.items)})"
    if isinstance(e, IfElse):
        s = f"{show(e.then, 1)} if {show(e.cond, 1)} else {show(e.other)}"
        return f"({s})" if prec > 0 else s
    raise TypeError(type(e).__name__)  # pragma: no cover
