"""Python source for spec values: literals, spec expressions translated over constructor arguments,
safe string literals, and a small Black-compatible layout of call expressions.

The layout rule is the one ruff's formatter keeps stable at any line length: a statement goes on one
line if it fits in LINE_LENGTH columns; otherwise every bracket that does not fit is exploded with one
element per line and a trailing ("magic") comma.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass
from typing import Any

from inspec.analysis import exprs as E

LINE_LENGTH = 88

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
    has_div: bool = False
    deps: frozenset[str] = frozenset()

    def wrap(self, prec: int) -> str:
        return f"({self.src})" if self.prec < prec else self.src


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
    """A double-quoted string literal with everything but printable ASCII escaped."""
    out = []
    for c in s:
        if c == "\\":
            out.append("\\\\")
        elif c == '"':
            out.append('\\"')
        elif " " <= c <= "~":
            out.append(c)
        else:
            out.append(f"\\u{ord(c):04x}" if ord(c) <= 0xFFFF else f"\\U{ord(c):08x}")
    return '"' + "".join(out) + '"'


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


def translate(e: E.Expr, env: dict[str, Sym]) -> Sym:
    """An IR expression as Python over the constructor's arguments (`env`: parameter name -> Sym).
    A word (an enumeration value such as `relu`) becomes a string literal, which is how the generated
    module takes enum values."""
    if isinstance(e, E.Lit):
        return lit_sym(e.value)
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
        )
    if isinstance(e, E.Unary):
        v = translate(e.operand, env)
        if e.op == "not":
            return Sym(f"not {v.wrap(P_NOT)}", P_NOT, v.const, v.has_div, v.deps)
        return Sym(f"-{v.wrap(P_UNARY)}", P_UNARY, v.const, v.has_div, v.deps)
    if isinstance(e, E.Fn):
        args = [translate(a, env) for a in e.args]
        const = all(a.const for a in args)
        div = any(a.has_div for a in args)
        deps = _deps(*args)
        srcs = ", ".join(a.src for a in args)
        if e.func == "floor":
            return Sym(f"int({args[0].wrap(P_MUL)} // 1)", P_ATOM, const, div, deps)
        if e.func == "ceil":
            return Sym(f"-int(-{args[0].wrap(P_UNARY)} // 1)", P_UNARY, const, div, deps)
        # int, round, min, max are Python builtins with the same meaning
        return Sym(f"{e.func}({srcs})", P_ATOM, const, div and e.func in ("min", "max"), deps)
    if isinstance(e, E.BinOp):
        p = _BINARY[e.op]
        a = translate(e.left, env)
        b = translate(e.right, env)
        right_prec = p + 1 if p != P_CMP else P_ADD
        left_prec = p if p != P_CMP else P_ADD
        src = f"{a.wrap(left_prec)} {e.op} {b.wrap(right_prec)}"
        div = a.has_div or b.has_div or e.op == "/"
        return Sym(src, p, a.const and b.const, div, _deps(a, b))
    raise Untranslatable(type(e).__name__)  # pragma: no cover


def add(a: Sym, b: Sym) -> Sym:
    src = f"{a.wrap(P_ADD)} + {b.wrap(P_ADD + 1)}"
    return Sym(src, P_ADD, a.const and b.const, a.has_div or b.has_div, _deps(a, b))


def mul(a: Sym, k: int) -> Sym:
    if k == 1:
        return a
    return Sym(f"{a.wrap(P_MUL)} * {k}", P_MUL, a.const, a.has_div, a.deps)


# ------------------------------------------------------------------------------------------------
# Layout


def layout(code: str, indent: str, comment: str = "", width: int = LINE_LENGTH) -> list[str]:
    """Lay out one simple statement (`target = expr`, or an expression) the way ruff formats it.

    A trailing comment stays on the line if everything fits; otherwise it goes on its own line above.
    """
    tail = f"  # {comment_text(comment)}" if comment else ""
    if len(indent) + len(code) + len(tail) <= width:
        return [indent + code + tail]
    above = [f"{indent}# {comment_text(comment)}"] if comment else []
    if len(indent) + len(code) <= width:
        return [*above, indent + code]
    node = ast.parse(code).body[0]
    value = node.value if isinstance(node, (ast.Assign, ast.Expr, ast.AnnAssign)) else None
    if isinstance(node, ast.Raise):
        value = node.exc
    if value is None:  # pragma: no cover
        return [*above, indent + code]
    prefix = code[: value.col_offset]
    return above + _lay(code, value, indent, prefix, "", width)


def _seg(code: str, node: ast.AST) -> str:
    return ast.get_source_segment(code, node)


def _lay(code: str, node: ast.AST, indent: str, prefix: str, suffix: str, width: int) -> list[str]:
    flat = indent + prefix + _seg(code, node) + suffix
    if len(flat) <= width:
        return [flat]
    inner = indent + "    "
    if isinstance(node, ast.Call) and (node.args or node.keywords):
        head = indent + prefix + _seg(code, node.func) + "("
        parts: list[tuple[str, ast.AST]] = []
        elems = sorted(
            [(a.col_offset, "", a) for a in node.args]
            + [
                (k.value.col_offset, (k.arg + "=") if k.arg else "**", k.value)
                for k in node.keywords
            ]
        )
        for _, p, v in elems:
            if isinstance(v, ast.Starred):
                parts.append(("*", v.value))
            else:
                parts.append((p, v))
        lines = [head]
        for p, v in parts:
            lines += _lay(code, v, inner, p, ",", width)
        lines.append(indent + ")" + suffix)
        return lines
    if isinstance(node, (ast.List, ast.Tuple)) and node.elts:
        o, c = ("[", "]") if isinstance(node, ast.List) else ("(", ")")
        lines = [indent + prefix + o]
        for v in node.elts:
            if isinstance(v, ast.Starred):
                lines += _lay(code, v.value, inner, "*", ",", width)
            else:
                lines += _lay(code, v, inner, "", ",", width)
        lines.append(indent + c + suffix)
        return lines
    if isinstance(node, ast.BinOp) and type(node.op) in _PREC:
        return _lay_binop(code, node, indent, prefix, suffix, width)
    if isinstance(node, ast.ListComp):
        lines = [indent + prefix + "["]
        lines += _lay(code, node.elt, inner, "", "", width)
        for g in node.generators:
            lines.append(inner + f"for {_seg(code, g.target)} in {_seg(code, g.iter)}")
        lines.append(indent + "]" + suffix)
        return lines
    return [flat]


def _chain(node: ast.AST) -> list[tuple[str, ast.AST]]:
    """A left-associative chain of operators of one precedence: [("", a), ("+", b), ("-", c)]."""
    prec = _PREC.get(type(node.op))
    out: list[tuple[str, ast.AST]] = []
    left = node
    while (
        isinstance(left, ast.BinOp)
        and _PREC.get(type(left.op)) == prec
        and (left is node or not _parenthesized(code_of(left), left))
    ):
        out.append((_OPS[type(left.op)], left.right))
        left = left.left
    out.append(("", left))
    return out[::-1]


def code_of(node):  # set per layout call (ast nodes do not keep their source)
    return _CODE[0]


_CODE = [""]
_PREC = {ast.Add: 1, ast.Sub: 1, ast.Mult: 2, ast.Div: 2, ast.FloorDiv: 2, ast.Mod: 2}
_OPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%"}


def _parenthesized(code: str, node: ast.AST) -> bool:
    i = node.col_offset - 1
    j = node.end_col_offset
    return i >= 0 and code[i] == "(" and j < len(code) and code[j] == ")"


def _lay_binop(
    code: str, node: ast.BinOp, indent: str, prefix: str, suffix: str, width: int
) -> list[str]:
    """ruff's split of a too-long binary expression: one operand per line, operator first."""
    _CODE[0] = code
    lines: list[str] = []
    for k, (op, operand) in enumerate(_chain(node)):
        pre = prefix if k == 0 else f"{op} "
        if _parenthesized(code, operand):
            flat = f"{indent}{pre}({_seg(code, operand)})"
            last = k == len(_chain(node)) - 1
            if len(flat) + (len(suffix) if last else 0) <= width:
                lines.append(flat)
            else:
                lines.append(f"{indent}{pre}(")
                lines += _lay(code, operand, indent + "    ", "", "", width)
                lines.append(f"{indent})")
        else:
            lines += _lay(code, operand, indent, pre, "", width)
    lines[-1] += suffix
    return lines
