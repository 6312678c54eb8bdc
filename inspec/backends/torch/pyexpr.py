"""Python source for spec values: literals, the IR's expressions translated over the constructor's
arguments, and safe string, comment and docstring text. (layout.py lays the statements out.)"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from inspec.analysis import exprs as E

# Python operator precedence, lowest first (only the levels the spec language can produce).
P_IF, P_OR, P_AND, P_NOT, P_CMP, P_ADD, P_MUL, P_UNARY, P_ATOM = range(9)

_BINARY = {
    "or": P_OR,
    "and": P_AND,
    "==": P_CMP,
    "!=": P_CMP,
    "<": P_CMP,
    "<=": P_CMP,
    ">": P_CMP,
    ">=": P_CMP,
    "+": P_ADD,
    "-": P_ADD,
    "*": P_MUL,
    "/": P_MUL,
    "//": P_MUL,
    "%": P_MUL,
}


def call(func: str, *args: Any, **kwargs: Any) -> str:
    parts = [str(a) for a in args if a is not None]
    parts += [f"{k}={v}" for k, v in kwargs.items() if v is not None]
    return f"{func}({', '.join(parts)})"


@dataclass(frozen=True)
class Sym:
    """A Python expression: its source, precedence, and whether it depends on constructor args.

    `deps` names the spec names (network or block parameters, `in`) whose constructor arguments the
    expression reads: if the generated code ever uses a concrete value in place of such an expression,
    those arguments are fixed (emit.py guards them in the constructor).
    """

    src: str
    prec: int = P_ATOM
    const: bool = True
    has_div: bool = False  # may be a float (a true division, a float literal or argument)
    deps: frozenset[str] = frozenset()
    # the deps read outside int, round, floor and ceil, whose values decide whether the expression
    # is a whole number (None: all of deps)
    loose: frozenset[str] | None = None

    def wrap(self, prec: int) -> str:
        return f"({self.src})" if self.prec < prec else self.src

    @property
    def free(self) -> frozenset[str]:
        return self.deps if self.loose is None else self.loose


def lit(v) -> str:
    """A Python literal for a concrete spec value."""
    if isinstance(v, bool):
        return "True" if v else "False"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            return f'float("{v}")'
        return repr(v)
    if isinstance(v, str):
        return str_lit(v)
    if isinstance(v, tuple):
        inner = ", ".join(lit(x) for x in v)
        return f"({inner},)" if len(v) == 1 else f"({inner})"
    return str_lit(str(v))


def lit_sym(v) -> Sym:
    s = lit(v)
    neg = isinstance(v, (int, float)) and not isinstance(v, bool) and v < 0
    return Sym(s, P_UNARY if neg else P_ATOM, True)


def str_lit(s: str) -> str:
    """A string literal with everything but printable ASCII escaped, in the quotes ruff format
    prefers: double, unless the text holds more double quotes than single ones."""
    quote = "'" if s.count('"') > s.count("'") else '"'
    out = []
    for c in s:
        if c == "\\":
            out.append("\\\\")
        elif c == quote:
            out.append("\\" + c)
        elif " " <= c <= "~":
            out.append(c)
        else:
            out.append(f"\\u{ord(c):04x}" if ord(c) <= 0xFFFF else f"\\U{ord(c):08x}")
    return quote + "".join(out) + quote


def comment_text(s: str) -> str:
    """Text that is safe inside a # comment: one line, control characters escaped."""
    return "".join(c if (c >= " " and c != "\x7f") else f"\\x{ord(c):02x}" for c in s)


def docstring_text(s: str) -> str:
    """Text that is safe inside a triple-quoted docstring and stable under ruff format."""
    out = []
    for c in s:
        if c == "\\":
            out.append("\\\\")
        elif c == "\n":
            out.append(c)
        elif c < " " or c == "\x7f" or c in "\u2028\u2029\x85":
            out.append(f"\\x{ord(c):02x}" if ord(c) < 256 else f"\\u{ord(c):04x}")
        else:
            out.append(c)
    text = "".join(out).replace('"""', '\\"\\"\\"')
    lines = [ln.rstrip() for ln in text.split("\n")]
    text = "\n".join(lines).rstrip()
    if text.endswith('"'):
        text = text[:-1] + '\\"'
    return text


def docstring(text: str, indent: str) -> list[str]:
    """Lines of a docstring at `indent`, every line indented the way ruff format leaves it."""
    body = docstring_text(text).split("\n")
    if len(body) == 1:
        return [f'{indent}"""{body[0]}"""']
    lines = [f'{indent}"""{body[0]}']
    lines += [f"{indent}{ln}" if ln else "" for ln in body[1:]]
    lines.append(f'{indent}"""')
    return lines


# ------------------------------------------------------------------------------------------------
# Spec expressions -> Python


class Untranslatable(Exception):
    """The expression has no Python rendering."""


def _deps(*syms: Sym) -> frozenset[str]:
    return frozenset().union(*(s.deps for s in syms))


def _free(*syms: Sym) -> frozenset[str]:
    return frozenset().union(*(s.free for s in syms))


# spec functions whose value is an int in Python (round with one argument, floor and ceil as written)
_WHOLE_FNS = ("int", "round", "floor", "ceil")


def translate(e: E.Expr, env: dict[str, Sym]) -> Sym:
    """An IR expression as Python over the constructor's arguments (`env`: parameter name -> Sym).
    A word (an enumeration value such as `relu`) becomes a string literal, which is how the generated
    module takes enum values."""
    if isinstance(e, E.Lit):
        s = lit_sym(e.value)
        if isinstance(e.value, float):  # a float in an integer's place needs int()
            s = Sym(s.src, s.prec, True, True, s.deps)
        return s
    if isinstance(e, E.Word):
        return lit_sym(e.name)
    if isinstance(e, E.Ref):
        if e.name not in env:
            raise Untranslatable(f"'{e.name}' is not visible here")
        return env[e.name]
    if isinstance(e, E.Tup):
        items = [translate(i, env) for i in e.items]
        inner = ", ".join(i.src for i in items)
        return Sym(
            f"({inner},)" if len(items) == 1 else f"({inner})",
            P_ATOM,
            all(i.const for i in items),
            any(i.has_div for i in items),
            _deps(*items),
            _free(*items),
        )
    if isinstance(e, E.Unary):
        v = translate(e.operand, env)
        if e.op == "not":
            return Sym(f"not {v.wrap(P_NOT)}", P_NOT, v.const, v.has_div, v.deps, v.free)
        return Sym(f"-{v.wrap(P_UNARY)}", P_UNARY, v.const, v.has_div, v.deps, v.free)
    if isinstance(e, E.Fn):
        args = [translate(a, env) for a in e.args]
        const = all(a.const for a in args)
        div = any(a.has_div for a in args)
        deps = _deps(*args)
        srcs = ", ".join(a.src for a in args)
        whole = frozenset()  # a whole number whatever its arguments (not a float: no has_div)
        if e.func == "floor":
            return Sym(f"int({args[0].wrap(P_MUL)} // 1)", P_ATOM, const, False, deps, whole)
        if e.func == "ceil":
            return Sym(f"-int(-{args[0].wrap(P_UNARY)} // 1)", P_UNARY, const, False, deps, whole)
        if e.func == "int" and isinstance(e.args[0], E.Fn) and e.args[0].func in _WHOLE_FNS:
            return args[0]  # int(round(x)) is round(x): already an int in Python
        # int, round, min, max are Python builtins with the same meaning
        minmax = e.func in ("min", "max")
        loose = _free(*args) if minmax else whole
        return Sym(f"{e.func}({srcs})", P_ATOM, const, div and minmax, deps, loose)
    if isinstance(e, E.IfElse):
        return if_else(*(translate(x, env) for x in (e.cond, e.then, e.other)))
    if isinstance(e, E.BinOp):
        p = _BINARY[e.op]
        a = translate(e.left, env)
        b = translate(e.right, env)
        right_prec = p + 1 if p != P_CMP else P_ADD
        left_prec = p if p != P_CMP else P_ADD
        src = f"{a.wrap(left_prec)} {e.op} {b.wrap(right_prec)}"
        div = a.has_div or b.has_div or e.op == "/"
        return Sym(src, p, a.const and b.const, div, _deps(a, b), _free(a, b))
    raise Untranslatable(type(e).__name__)  # pragma: no cover


def if_else(c: Sym, a: Sym, b: Sym) -> Sym:
    """`a if c else b`."""
    src = f"{a.wrap(P_IF + 1)} if {c.wrap(P_IF + 1)} else {b.wrap(P_IF)}"
    div = a.has_div or b.has_div
    return Sym(src, P_IF, a.const and b.const and c.const, div, _deps(c, a, b), _free(a, b))


def add(a: Sym, b: Sym) -> Sym:
    src = f"{a.wrap(P_ADD)} + {b.wrap(P_ADD + 1)}"
    return Sym(src, P_ADD, a.const and b.const, a.has_div or b.has_div, _deps(a, b), _free(a, b))


def mul(a: Sym, k: int) -> Sym:
    if k == 1:
        return a
    return Sym(f"{a.wrap(P_MUL)} * {k}", P_MUL, a.const, a.has_div, a.deps, a.loose)
