"""The layout of the generated statements: the one `ruff format` (and Black) gives a statement written
on one line, at LINE_LENGTH columns (ruff's default): one line if it fits; else a call's arguments on
one indented line of their own if they fit there ("hugged"), and only then one per line with a
trailing comma. tests/test_codegen_style.py checks it against ruff itself."""

from __future__ import annotations

import ast
import io
import tokenize
import unicodedata
from typing import Any

from inspec.backends.torch.pyexpr import comment_text

LINE_LENGTH = 88

# ------------------------------------------------------------------------------------------------
# Layout: the statements the generator writes, laid out as `ruff format` lays them out
#
# A statement that fits in the line length stays on one line. Otherwise it is printed from a
# document in ruff's (and Prettier's) model: a group prints flat when it fits on the rest of its
# line, else its line breaks are taken. A call is `(` + group(indent(soft line, group(arguments)),
# soft line) + `)`, so that its arguments first "hug" on one indented line
# (`Call(\n    a, b, c\n)`) and only go one per line, with a trailing comma, when that line does
# not fit either; a list or tuple has no inner group (it goes one per line at once). A binary
# expression breaks before its loosest operators; the value of a statement that is not a call is
# wrapped in parentheses when it breaks, unless ruff's rule for leaving them out applies (the value
# ends with a bracketed part that can break instead, as in `x = a + f(\n    b\n)`).
# tests/test_codegen_style.py checks these layouts against ruff itself.


class _Group:
    """Printed flat when it fits on the rest of its line, otherwise broken."""

    __slots__ = ("items",)

    def __init__(self, *items: Any):
        self.items = list(items)


class _Indent:
    __slots__ = ("items",)

    def __init__(self, *items: Any):
        self.items = list(items)


class _FitsExpanded:
    """The bracketed part of a value whose optional parentheses are left out: a line before it only
    has to fit up to its opening bracket."""

    __slots__ = ("group",)

    def __init__(self, group: _Group):
        self.group = group


class _IfBreak:
    """Text printed only when the enclosing group breaks (a trailing comma, a parenthesis)."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text


class _Line:
    __slots__ = ("flat",)

    def __init__(self, flat: str):
        self.flat = flat


_SOFT = _Line("")  # nothing when flat
_SPACE = _Line(" ")  # a space when flat
_FLAT, _BREAK = 0, 1
# ruff's node levels: inside brackets (binary expressions may break), at statement level (they do
# not), and inside optional parentheses that are left out (bracketed parts may break instead)
_PAREN, _TOP, _OPT = range(3)


def _width(s: str) -> int:
    """Columns, as ruff counts them: wide East Asian characters take two."""
    if s.isascii():
        return len(s)
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)


def _fits(first: tuple, rest: list[tuple], col: int, base: int, width: int) -> bool:
    """Whether `first`, then `rest` up to its next line break, fits on the line from column `col`.

    A bracketed part whose optional parentheses are left out (`_FitsExpanded`) is measured broken:
    lines inside it may overflow, and the measure goes on from its last line (ruff measures it in
    `AllLinesAllowTextOverflow` mode).
    """
    stack = [(*first, False)]
    r = len(rest)
    room = width - col
    while True:
        if not stack:
            if r == 0:
                return True
            r -= 1
            stack.append((*rest[r], False))
            continue
        ind, mode, d, over = stack.pop()
        if isinstance(d, str):
            room -= _width(d)
        elif isinstance(d, list):
            stack += [(ind, mode, x, over) for x in reversed(d)]
        elif isinstance(d, (_Group, _Indent)):
            i = ind + 1 if isinstance(d, _Indent) else ind
            stack += [(i, mode, x, over) for x in reversed(d.items)]
        elif isinstance(d, _FitsExpanded):
            stack.append(
                (ind, _BREAK, d.group, True) if mode == _FLAT else (ind, mode, d.group, over)
            )
        elif isinstance(d, _Line):
            if mode == _BREAK and not over:
                return True
            room = width - base - 4 * ind if mode == _BREAK else room - len(d.flat)
        elif mode == _BREAK:  # _IfBreak
            stack.append((ind, mode, d.text, over))
        if room < 0 and not over:
            return False


def _print(doc: Any, indent: str, width: int, mode: int = _BREAK) -> list[str]:
    lines: list[str] = []
    cur = [indent]
    col = base = len(indent)
    stack = [(0, mode, doc)]
    while stack:
        ind, mode, d = stack.pop()
        if isinstance(d, str):
            cur.append(d)
            col += _width(d)
        elif isinstance(d, list):
            stack += [(ind, mode, x) for x in reversed(d)]
        elif isinstance(d, _Indent):
            stack += [(ind + 1, mode, x) for x in reversed(d.items)]
        elif isinstance(d, _Group):
            if mode == _BREAK and not _fits((ind, _FLAT, d.items), stack, col, base, width):
                m = _BREAK
            else:
                m = _FLAT
            stack += [(ind, m, x) for x in reversed(d.items)]
        elif isinstance(d, _FitsExpanded):  # its group is measured again
            stack.append((ind, _BREAK, d.group))
        elif isinstance(d, _Line):
            if mode == _FLAT:
                cur.append(d.flat)
                col += len(d.flat)
            else:
                lines.append("".join(cur))
                cur = [indent + "    " * ind]
                col = len(cur[0])
        elif mode == _BREAK:  # _IfBreak
            stack.append((ind, mode, d.text))
    lines.append("".join(cur))
    return lines


# operator precedence for breaking a binary expression, loosest first (ruff breaks `and` and `or`
# as one level), and ruff's precedences for its rule on optional parentheses
_BIN_OPS = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.MatMult: "@",
    ast.Pow: "**",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.BitAnd: "&",
}
_CMP_OPS = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.Is: "is",
    ast.IsNot: "is not",
    ast.In: "in",
    ast.NotIn: "not in",
}
_OP_LEVEL = {"or": 1, "and": 1, "|": 4, "^": 5, "&": 6, "<<": 7, ">>": 7, "+": 8, "-": 8}
_OP_LEVEL |= {"*": 9, "/": 9, "//": 9, "%": 9, "@": 9, "**": 11}
_OP_LEVEL |= {op: 3 for op in _CMP_OPS.values()}
_UNARY = {ast.Not: "not ", ast.USub: "-", ast.UAdd: "+", ast.Invert: "~"}
# ruff's OperatorPrecedence, tightest first, for `can_omit_optional_parentheses`
_R_NONE, _R_ATTR, _R_POW, _R_INV, _R_MUL, _R_ADD, _R_SHIFT, _R_AND, _R_XOR, _R_OR = range(10)
_R_CMP, _R_BOOL, _R_COND = 11, 13, 14
_R_BIN = {"**": _R_POW, "*": _R_MUL, "/": _R_MUL, "//": _R_MUL, "%": _R_MUL, "@": _R_MUL}
_R_BIN |= {"+": _R_ADD, "-": _R_ADD, "<<": _R_SHIFT, ">>": _R_SHIFT, "&": _R_AND, "^": _R_XOR}
_R_BIN |= {"|": _R_OR}
_OWN_BRACKETS = (ast.List, ast.Dict, ast.Set, ast.ListComp, ast.SetComp, ast.DictComp)


class _Docs:
    """Documents for the expressions of one line of code."""

    def __init__(self, code: str):
        self.code = code
        raw = code.encode()
        # ast positions count UTF-8 bytes; the code is indexed by characters
        self.char = [len(raw[:k].decode(errors="ignore")) for k in range(len(raw) + 1)]
        self.pairs: dict[int, int] = {}
        opened: list[int] = []
        for tok in tokenize.generate_tokens(io.StringIO(code).readline):
            if tok.type == tokenize.OP and tok.string in "([{":
                opened.append(tok.start[1])
            elif tok.type == tokenize.OP and tok.string in ")]}" and opened:
                self.pairs[opened.pop()] = tok.start[1]

    def span(self, node: ast.AST) -> tuple[int, int]:
        return self.char[node.col_offset], self.char[node.end_col_offset]

    def seg(self, node: ast.AST) -> str:
        i, j = self.span(node)
        return self.code[i:j]

    def opening(self, node: ast.AST) -> int:
        """The position of the first bracket after `node` (a call's own parenthesis)."""
        i = self.span(node)[1]
        while self.code[i] == " ":
            i += 1
        return i

    def parenthesized(self, node: ast.AST, own: int = -1) -> bool:
        i, j = self.span(node)
        i -= 1
        while i >= 0 and self.code[i] == " ":
            i -= 1
        while j < len(self.code) and self.code[j] == " ":
            j += 1
        return i >= 0 and i != own and self.code[i] == "(" and self.pairs.get(i) == j

    def own_brackets(self, node: ast.AST) -> bool:
        """Whether the expression ends (or, for a literal, starts) with brackets of its own that are
        not empty (ruff's `has_parentheses(...).is_non_empty()`)."""
        if self.parenthesized(node):
            return True
        if isinstance(node, ast.Call):
            return bool(node.args or node.keywords)
        if isinstance(node, ast.Tuple):
            return self.tuple_parens(node) and bool(node.elts)
        if isinstance(node, (ast.List, ast.Set)):
            return bool(node.elts)
        if isinstance(node, ast.Dict):
            return bool(node.keys)
        return isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.Subscript))

    def tuple_parens(self, node: ast.Tuple) -> bool:
        i, j = self.span(node)
        return self.code[i] == "(" and self.pairs.get(i) == j - 1

    # -- documents -------------------------------------------------------------------------------
    @staticmethod
    def parens(left: str, content: Any, right: str, level: int) -> list:
        inner = _Group(_Indent(_SOFT, content), _SOFT)
        return [left, _FitsExpanded(inner) if level == _OPT else inner, right]

    @staticmethod
    def joined(docs: list, one_comma: bool = False) -> list:
        """Comma-separated items; a trailing comma when they break (ruff adds none to one item)."""
        out: list = []
        for k, d in enumerate(docs):
            if k:
                out += [",", _SPACE]
            out.append(d)
        if len(docs) > 1:
            out.append(_IfBreak(","))
        elif one_comma:
            out.append(",")
        return out

    @staticmethod
    def line(level: int) -> Any:
        return _SPACE if level == _PAREN else " "

    @staticmethod
    def group(items: list, level: int) -> Any:
        return _Group(*items) if level == _PAREN else items

    def expr(self, node: ast.AST, level: int, own: int = -1) -> Any:
        if self.parenthesized(node, own):
            return self.parens("(", self.bare(node, _PAREN), ")", level)
        return self.bare(node, level)

    def bare(self, node: ast.AST, level: int) -> Any:
        if isinstance(node, ast.Call):
            return self.call(node, level)
        if isinstance(node, (ast.List, ast.Set)):
            o, c = ("[", "]") if isinstance(node, ast.List) else ("{", "}")
            return self.parens(o, self.joined([self.expr(e, _PAREN) for e in node.elts]), c, level)
        if isinstance(node, ast.Tuple) and self.tuple_parens(node) and node.elts:
            elts = [self.expr(e, _PAREN) for e in node.elts]
            return self.parens("(", self.joined(elts, one_comma=True), ")", level)
        if isinstance(node, ast.Dict) and node.keys:
            items = [
                [self.expr(k, _PAREN), ": ", self.expr(v, _PAREN)]
                if k is not None
                else ["**", self.expr(v, _PAREN)]
                for k, v in zip(node.keys, node.values, strict=True)
            ]
            return self.parens("{", self.joined(items), "}", level)
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp)):
            return self.comprehension(node, level)
        if isinstance(node, ast.Attribute):
            return [self.expr(node.value, level), "." + node.attr]
        if isinstance(node, ast.Subscript):
            return [
                self.expr(node.value, level),
                *self.parens("[", self.seg(node.slice), "]", level),
            ]
        if isinstance(node, ast.Starred):
            return ["*", self.expr(node.value, level)]
        if isinstance(node, ast.UnaryOp):
            return [_UNARY[type(node.op)], self.expr(node.operand, level)]
        if isinstance(node, (ast.BinOp, ast.BoolOp, ast.Compare)):
            seq: list = []
            self.flatten(node, seq, True)
            return self.chain(seq, level)
        if isinstance(node, ast.IfExp):
            items = [self.expr(node.body, level)]
            while True:  # `a if b else c if d else e` breaks as one chain
                items += [self.line(level), "if ", self.expr(node.test, level), self.line(level)]
                if not isinstance(node.orelse, ast.IfExp) or self.parenthesized(node.orelse):
                    break
                node = node.orelse
                items += ["else ", self.expr(node.body, level)]
            items += ["else ", self.expr(node.orelse, level)]
            return self.group(items, level)
        return self.seg(node)

    def call(self, node: ast.Call, level: int) -> list:
        func = self.expr(node.func, level)
        items = sorted([*node.args, *node.keywords], key=lambda n: (n.lineno, n.col_offset))
        if not items:
            return [func, "()"]
        own = self.opening(node.func) if len(items) == 1 else -1
        docs = []
        for it in items:
            if isinstance(it, ast.keyword):
                head = f"{it.arg}=" if it.arg else "**"
                docs.append([head, self.expr(it.value, _PAREN)])
            else:
                docs.append(self.expr(it, _PAREN, own))
        return [func, *self.parens("(", _Group(*self.joined(docs)), ")", level)]

    def comprehension(self, node, level: int) -> list:
        items = [self.expr(node.elt, _PAREN)]
        for g in node.generators:
            items += [_SPACE, "for ", self.seg(g.target), " in ", self.expr(g.iter, _PAREN)]
            for cond in g.ifs:
                items += [_SPACE, "if ", self.expr(cond, _PAREN)]
        o, c = {ast.ListComp: "[]", ast.SetComp: "{}", ast.GeneratorExp: "()"}[type(node)]
        return self.parens(o, _Group(*items), c, level)

    def flatten(self, node: ast.AST, seq: list, top: bool = False) -> None:
        """A chain of binary, boolean and comparison operators as [operand, op, operand, ...]."""
        if not top and self.parenthesized(node):
            seq.append(node)
        elif isinstance(node, ast.BinOp):
            self.flatten(node.left, seq)
            seq.append(_BIN_OPS[type(node.op)])
            self.flatten(node.right, seq)
        elif isinstance(node, ast.BoolOp):
            op = "and" if isinstance(node.op, ast.And) else "or"
            for k, v in enumerate(node.values):
                seq += [op] if k else []
                self.flatten(v, seq)
        elif isinstance(node, ast.Compare):
            self.flatten(node.left, seq)
            for op, right in zip(node.ops, node.comparators, strict=True):
                seq.append(_CMP_OPS[type(op)])
                self.flatten(right, seq)
        else:
            seq.append(node)

    def chain(self, seq: list, level: int) -> Any:
        """Break before the loosest operators; tighter runs are groups of their own."""
        if len(seq) == 1:
            return self.expr(seq[0], level)
        low = min(_OP_LEVEL[op] for op in seq[1::2])
        parts, ops, cur = [], [], [seq[0]]
        for k in range(1, len(seq), 2):
            if _OP_LEVEL[seq[k]] == low:
                parts.append(cur)
                ops.append(seq[k])
                cur = [seq[k + 1]]
            else:
                cur += seq[k : k + 2]
        parts.append(cur)
        items = [self.chain(parts[0], level)]
        for op, part in zip(ops, parts[1:], strict=True):
            items += [self.line(level), f"{op} ", self.chain(part, level)]
        return self.group(items, level)

    # -- ruff's choice of parentheses for a statement's value ------------------------------------
    def can_omit(self, node: ast.AST) -> bool:
        """ruff's `can_omit_optional_parentheses`: the value may break inside its last (or first)
        bracketed part instead of in added parentheses."""
        st = {"max": _R_NONE, "count": 0, "any": False, "last": None, "first": None}

        def update(p: int, n: int = 1) -> None:
            if p > st["max"]:
                st["max"], st["count"] = p, n
            elif p == st["max"]:
                st["count"] += n

        def visit(e: ast.AST) -> None:
            st["last"] = e
            if self.parenthesized(e):
                st["any"] = True
            else:
                sub(e)
            if st["first"] is None:
                st["first"] = e

        def sub(e: ast.AST) -> None:
            if isinstance(e, _OWN_BRACKETS) or (isinstance(e, ast.Tuple) and self.tuple_parens(e)):
                st["any"] = True
            elif isinstance(e, ast.BoolOp):
                update(_R_BOOL, len(e.values) - 1)
                for v in e.values:
                    visit(v)
            elif isinstance(e, ast.BinOp):
                update(_R_BIN[_BIN_OPS[type(e.op)]])
                visit(e.left)
                visit(e.right)
            elif isinstance(e, ast.IfExp):
                update(_R_COND, 2)
                for v in (e.body, e.test, e.orelse):
                    visit(v)
            elif isinstance(e, ast.Compare):
                update(_R_CMP, len(e.ops))
                for v in (e.left, *e.comparators):
                    visit(v)
            elif isinstance(e, (ast.Call, ast.Subscript)):
                st["any"] = True
                visit(e.func if isinstance(e, ast.Call) else e.value)
                st["last"] = e
            elif isinstance(e, ast.Attribute):
                visit(e.value)
                if self.own_brackets(e.value):
                    update(_R_ATTR)
                st["last"] = e
            elif isinstance(e, (ast.UnaryOp, ast.Starred, ast.Lambda)):
                if isinstance(e, ast.UnaryOp) and isinstance(e.op, ast.Invert):
                    update(_R_INV)
                if st["first"] is None:
                    st["first"] = "token"
                visit(e.operand if isinstance(e, ast.UnaryOp) else e.value)

        sub(node)
        if not st["any"] or st["count"] > 1:
            return False
        if st["max"] in (_R_NONE, _R_ATTR):
            return True

        def bracketed(e) -> bool:
            return (
                isinstance(e, ast.AST) and not isinstance(e, ast.Subscript) and self.own_brackets(e)
            )

        return bracketed(st["last"]) or bracketed(st["first"])


def _value_kind(node: ast.AST, docs: _Docs) -> str:
    """How ruff parenthesizes a statement's value: never (it has brackets of its own), when it
    breaks, or only where that makes it fit."""
    if isinstance(node, (ast.Call, ast.Tuple, *_OWN_BRACKETS)):
        return "never"
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Call):
        return "never"  # `f(\n    x\n)[0]`
    if isinstance(node, ast.UnaryOp):  # as its operand (ruff: `-f(\n    x\n)`, `-"long"`)
        return "never" if docs.parenthesized(node.operand) else _value_kind(node.operand, docs)
    if isinstance(node, (ast.BinOp, ast.BoolOp, ast.Compare, ast.IfExp)):
        return "multiline"
    return "best_fit"


def _statement(code: str, indent: str, width: int) -> list[str]:
    header = code.endswith(":")
    stmt = ast.parse(code + "\n" + indent + "    pass" if header else code).body[0]
    value = None
    if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.Return, ast.Expr)):
        value = stmt.value
    elif isinstance(stmt, ast.Raise):
        value = stmt.exc
    elif isinstance(stmt, (ast.If, ast.While)):
        value = stmt.test
    if value is None:
        return [indent + code]
    docs = _Docs(code)
    i, j = docs.span(value)
    prefix, suffix = code[:i], code[j:]
    kind = _value_kind(value, docs)
    if isinstance(stmt, ast.AnnAssign) and (kind != "multiline"):
        # the annotation could split: ruff parenthesizes the value rather than break it after a
        # first line that does not fit (a call breaks after its `(` only if that fits)
        expr = docs.expr(value, _TOP)
        head = _print([prefix, expr], indent, width)[0] if kind == "never" else indent + code
        if _width(head) > width and _width(indent + prefix + "(") <= width:
            body = _print(expr, indent + "    ", width)
            return [f"{indent}{prefix}(", *body, f"{indent}){suffix}"]
    if kind == "never" or isinstance(stmt, ast.Expr):  # (an expression statement is a call)
        return _print([prefix, docs.expr(value, _TOP), suffix], indent, width)
    if kind == "multiline":
        if docs.can_omit(value):
            opt = [prefix, docs.bare(value, _OPT), suffix]
            if _fits((0, _FLAT, opt), [], len(indent), len(indent), width):
                return _print(opt, indent, width, _FLAT)
        paren = _Group(
            _IfBreak("("), _Indent(_SOFT, docs.bare(value, _PAREN)), _SOFT, _IfBreak(")")
        )
        return _print([prefix, paren, suffix], indent, width)
    # a name, attribute, string: parenthesized only if that makes it fit
    text = docs.seg(value)
    inner = indent + "    "
    if _width(inner + text) <= width and _width(indent + prefix + "(") <= width:
        return [f"{indent}{prefix}(", inner + text, f"{indent}){suffix}"]
    return [indent + code]


def layout(code: str, indent: str, comment: str = "", width: int = LINE_LENGTH) -> list[str]:
    """Lay out one simple statement (an assignment, `return`, `raise`, an expression, or an `if`
    header) the way `ruff format` does, given it on one line.

    A trailing comment stays on the line if everything fits; otherwise it goes on a line above.
    """
    tail = f"  # {comment_text(comment)}" if comment else ""
    if _width(indent + code + tail) <= width:
        return [indent + code + tail]
    above = [f"{indent}# {comment_text(comment)}"] if comment else []
    if _width(indent + code) <= width:
        return [*above, indent + code]
    return above + _statement(code, indent, width)


def signature(name: str, params: list[str], returns: str, indent: str, width: int = LINE_LENGTH):
    """`def name(params) -> returns:` laid out as ruff formats it: on one line, else the parameters
    on one indented line, else one per line with a trailing comma."""
    if not params:
        return [f"{indent}def {name}() -> {returns}:"]
    args = _Group(*_Docs.joined(list(params)))
    doc = [f"def {name}", *_Docs.parens("(", args, ")", _TOP), f" -> {returns}:"]
    return _print(doc, indent, width)
