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


def same(a: Expr, b: Expr, memo: set | None = None) -> bool:
    """Whether two expressions are the same, spans aside (shared subexpressions compared once)."""
    if a is b:
        return True
    memo = set() if memo is None else memo
    if (id(a), id(b)) in memo:
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, Lit):
        return type(a.value) is type(b.value) and a.value == b.value
    if isinstance(a, (Ref, Word)):
        return a.name == b.name
    if getattr(a, "op", None) != getattr(b, "op", None):
        return False
    if getattr(a, "func", None) != getattr(b, "func", None):
        return False
    ca, cb = children(a), children(b)
    ok = len(ca) == len(cb) and all(same(x, y, memo) for x, y in zip(ca, cb, strict=True))
    if ok:
        memo.add((id(a), id(b)))
    return ok


def is_const(e: Expr | None) -> bool:
    return e is None or not any(isinstance(n, Ref) for n in walk(e))


def has_div(e: Expr) -> bool:
    """Whether a true division may make the value a float (so an integer attribute needs int())."""
    return any(isinstance(n, BinOp) and n.op == "/" for n in walk(e))


def rebuild(e: Expr, fn: Callable[[Expr], Expr | None], memo: dict | None = None) -> Expr:
    """`e` with every node for which fn returns an expression replaced by it (bottom-up otherwise).
    A subexpression shared by several parents (a width after a conditional row appears in both arms
    of the next one) is rebuilt once: the work is linear in the distinct nodes, not in the tree."""
    memo = {} if memo is None else memo
    hit = memo.get(id(e))
    if hit is not None:
        return hit[1]
    new = fn(e)
    if new is None:
        r = lambda x: rebuild(x, fn, memo)  # noqa: E731
        if isinstance(e, BinOp):
            new = BinOp(e.span, e.op, r(e.left), r(e.right))
        elif isinstance(e, Unary):
            new = Unary(e.span, e.op, r(e.operand))
        elif isinstance(e, Fn):
            new = Fn(e.span, e.func, tuple(r(a) for a in e.args))
        elif isinstance(e, Tup):
            new = Tup(e.span, tuple(r(i) for i in e.items))
        elif isinstance(e, IfElse):
            new = IfElse(e.span, r(e.cond), r(e.then), r(e.other))
        else:
            new = e
    memo[id(e)] = (e, new)  # e kept alive: its id stays its own while the memo lives
    return new


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


def fold(e: Expr, memo: dict | None = None) -> Expr:
    """Arithmetic and comparisons on constants done: `(64 + 32) + n` is `96 + n`, `2 > 1` is true,
    and a conditional with a constant condition is the arm it picks."""
    memo = {} if memo is None else memo
    hit = memo.get(id(e))
    if hit is not None:
        return hit[1]
    out = _fold(e, memo)
    memo[id(e)] = (e, out)
    return out


def _fold(e: Expr, memo: dict) -> Expr:
    fold_ = lambda x: fold(x, memo)  # noqa: E731
    if isinstance(e, BinOp):
        a, b = fold_(e.left), fold_(e.right)
        if _number(a) and _number(b) and e.op in _ARITH and not (e.op in "//%" and b.value == 0):
            return Lit(e.span, _ARITH[e.op](a.value, b.value))
        if e.op == "+":
            gathered = _gather(e.span, a, b)  # in + g + g + g is in + g * 3
            if gathered is not None:
                return gathered
        if _number(a) and _number(b) and e.op in _COMPARE:
            return Lit(e.span, _COMPARE[e.op](a.value, b.value))
        if _truth(a) is not None and _truth(b) is not None and e.op in ("and", "or"):
            v = _truth(a) and _truth(b) if e.op == "and" else _truth(a) or _truth(b)
            return Lit(e.span, v)
        if e.op in ("and", "or") and _truth(a) is not None:  # `false and x` is false, ...
            decided = _truth(a) is (e.op == "or")
            return Lit(e.span, _truth(a)) if decided else b
        return BinOp(e.span, e.op, a, b)
    if isinstance(e, Unary):
        v = fold_(e.operand)
        if e.op == "not" and _truth(v) is not None:
            return Lit(e.span, not _truth(v))
        if e.op == "-" and _number(v):
            return Lit(e.span, -v.value)
        return Unary(e.span, e.op, v)
    if isinstance(e, Fn):
        args = tuple(fold_(a) for a in e.args)
        if e.func in ("int", "min", "max") and args and all(_number(a) for a in args):
            values = [a.value for a in args]
            return Lit(e.span, int(values[0]) if e.func == "int" else _MINMAX[e.func](values))
        return Fn(e.span, e.func, args)
    if isinstance(e, IfElse):
        c = fold_(e.cond)
        if _truth(c) is not None:
            return fold_(e.then if _truth(c) else e.other)
        return IfElse(e.span, c, fold_(e.then), fold_(e.other))
    return e


def _terms(e: Expr) -> list[Expr]:
    if isinstance(e, BinOp) and e.op == "+":
        return _terms(e.left) + _terms(e.right)
    return [e]


def _coefficient(t: Expr) -> tuple[Expr, int]:
    """A term as (base, whole-number factor): `g * 2 * 3` is (g, 6)."""
    n = 1
    while isinstance(t, BinOp) and t.op == "*" and _number(t.right) and type(t.right.value) is int:
        n *= t.right.value
        t = t.left
    return t, n


def _gather(span, a: Expr, b: Expr) -> Expr | None:
    """A sum with a name added more than once, written with a count: `in + g + g` is `in + g * 2`
    (whole numbers only: the same value either way). None when nothing repeats."""
    terms = _terms(a) + _terms(b)
    if any(_number(t) and type(t.value) is not int for t in terms):
        return None
    const = sum(t.value for t in terms if _number(t))
    counts: dict[str, list] = {}
    for t in terms:
        if not _number(t):
            base, n = _coefficient(t)
            counts.setdefault(show(base), [base, 0])[1] += n
    plain = [t for t in terms if not _number(t)]
    if len(counts) == len(plain) and sum(_number(t) for t in terms) <= 1:
        return None  # nothing to gather
    out: Expr | None = None
    for base, n in counts.values():
        if n == 0:
            continue
        term = base if n == 1 else BinOp(span, "*", base, Lit(span, n))
        out = term if out is None else BinOp(span, "+", out, term)
    if out is None:
        return Lit(span, const)
    if const:
        out = BinOp(span, "+", out, Lit(span, const))
    return out


_COMPARE = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _truth(e: Expr) -> bool | None:
    """The value of a constant boolean, else None."""
    return e.value if isinstance(e, Lit) and isinstance(e.value, bool) else None


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
