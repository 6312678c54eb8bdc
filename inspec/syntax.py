"""Text → lark parse tree → typed AST (inspec.ast), with friendly syntax errors."""

from __future__ import annotations

import functools
from pathlib import Path

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from . import ast as A
from .diagnostics import Diagnostic, Severity, Span

MAX_SOURCE_BYTES = 4_000_000
MAX_NESTING = 64

_FRIENDLY = {
    "NAME": "a name",
    "INT": "an integer",
    "FLOAT": "a number",
    "STRING": "a string",
    "PATCH": "a patch size such as 3x3/2",
    "DIMS": "a size such as 224x224x3",
    "QTY": "a quantity such as 159K",
    "LABEL": "a label such as (3a)",
    "_NL": "end of line",
    "LBRACE": "'{'",
    "RBRACE": "'}'",
    "LPAR": "'('",
    "RPAR": "')'",
    "EQUAL": "'='",
    "COMMA": "','",
    "SEMICOLON": "';'",
    "COMPOP": "a comparison",
    "$END": "end of file",
}


class _ParenNewlines:
    """Post-lexer: newlines inside parentheses do not end a statement."""

    always_accept = ("_NL",)

    def process(self, stream):
        depth = 0
        for tok in stream:
            if tok.type == "LPAR":
                depth += 1
            elif tok.type == "RPAR":
                depth = max(depth - 1, 0)
            elif tok.type == "_NL" and depth > 0:
                continue
            yield tok


@functools.lru_cache(maxsize=1)
def _parser() -> Lark:
    grammar = (Path(__file__).parent / "grammar.lark").read_text(encoding="utf-8")
    return Lark(
        grammar,
        parser="lalr",
        lexer="contextual",
        postlex=_ParenNewlines(),
        propagate_positions=True,
        maybe_placeholders=True,
        cache=False,
    )


def _span(file: str, meta) -> Span:
    return Span(file, meta.line, meta.column, meta.end_line, meta.end_column)


def _tspan(file: str, tok: Token) -> Span:
    return Span(file, tok.line, tok.column, tok.end_line or tok.line, tok.end_column or tok.column + 1)


class _ToAst(Transformer):
    def __init__(self, file: str):
        super().__init__(visit_tokens=False)
        self.file = file

    # -- expressions ---------------------------------------------------------------------------
    def _s(self, meta):
        return _span(self.file, meta)

    @v_args(meta=True)
    def int_lit(self, meta, c):
        return A.Num(self._s(meta), int(c[0]))

    @v_args(meta=True)
    def float_lit(self, meta, c):
        return A.Num(self._s(meta), float(c[0]))

    @v_args(meta=True)
    def str_lit(self, meta, c):
        return A.Str(self._s(meta), str(c[0])[1:-1])

    @v_args(meta=True)
    def true_lit(self, meta, c):
        return A.Bool(self._s(meta), True)

    @v_args(meta=True)
    def false_lit(self, meta, c):
        return A.Bool(self._s(meta), False)

    @v_args(meta=True)
    def name(self, meta, c):
        return A.Name(self._s(meta), str(c[0]))

    @v_args(meta=True)
    def call(self, meta, c):
        args = tuple(a for a in c[1:] if a is not None)
        return A.Call(self._s(meta), str(c[0]), args)

    @v_args(meta=True)
    def tuple_lit(self, meta, c):
        return A.Tuple(self._s(meta), tuple(c))

    @v_args(meta=True)
    def neg(self, meta, c):
        return A.Unary(self._s(meta), "-", c[0])

    @v_args(meta=True)
    def not_op(self, meta, c):
        return A.Unary(self._s(meta), "not", c[0])

    def _bin(op):  # noqa: N805 - a small factory for the binary-operator rules
        @v_args(meta=True)
        def f(self, meta, c):
            return A.BinOp(self._s(meta), op, c[0], c[1])

        return f

    add = _bin("+")
    sub = _bin("-")
    mul = _bin("*")
    div = _bin("/")
    floordiv = _bin("//")
    mod = _bin("%")
    and_op = _bin("and")
    or_op = _bin("or")

    @v_args(meta=True)
    def compare(self, meta, c):
        return A.BinOp(self._s(meta), str(c[1]), c[0], c[2])

    # -- statements ----------------------------------------------------------------------------
    @v_args(meta=True)
    def kwarg(self, meta, c):
        return A.Kwarg(str(c[0]), c[1], self._s(meta))

    @v_args(meta=True)
    def param(self, meta, c):
        header = str(c[2])[1:-1] if c[2] is not None else None
        return A.Param(str(c[0]), c[1], header, self._s(meta))

    def param_list(self, c):
        return tuple(p for p in c if p is not None)

    @v_args(meta=True)
    def network(self, meta, c):
        return A.Network(str(c[0]), c[1] or (), self._s(meta))

    @v_args(meta=True)
    def input(self, meta, c):
        h, w, ch = (int(v) for v in str(c[0]).split("x"))
        return A.Input((h, w, ch), self._s(meta))

    @v_args(meta=True)
    def units(self, meta, c):
        return A.Units(str(c[0]), self._s(meta))

    @v_args(meta=True)
    def defaults(self, meta, c):
        return A.Defaults(str(c[0]), tuple(k for k in c[1:] if k is not None), self._s(meta))

    @v_args(meta=True)
    def init(self, meta, c):
        return A.Init(str(c[0]), tuple(k for k in c[1:] if k is not None), self._s(meta))

    @v_args(meta=True)
    def import_stmt(self, meta, c):
        return A.Import(str(c[0])[1:-1], self._s(meta))

    def body(self, c):
        return tuple(c)

    @v_args(meta=True)
    def block(self, meta, c):
        return A.BlockDef(str(c[0]), c[1] or (), c[2], self._s(meta))

    @v_args(meta=True)
    def branch(self, meta, c):
        name = str(c[0]) if c[0] is not None else None
        return A.Branch(name, c[1], self._s(meta))

    @v_args(meta=True)
    def residual(self, meta, c):
        return A.Residual(tuple(c[:-1]), c[-1], self._s(meta))

    @v_args(meta=True)
    def row(self, meta, c):
        op_tok, label_tok, patch_tok, *rest = c
        label = str(label_tok)[1:-1] if label_tok is not None else None
        patch = None
        if patch_tok is not None:
            text = str(patch_tok)
            size, _, stride = text.partition("/")
            kh, kw = (int(v) for v in size.split("x"))
            patch = A.Patch(kh, kw, int(stride) if stride else None, _tspan(self.file, patch_tok))
        args = tuple(a for a in rest if isinstance(a, A.Expr))
        kwargs = tuple(a for a in rest if isinstance(a, A.Kwarg))
        return A.Row(
            op=str(op_tok),
            op_span=_tspan(self.file, op_tok),
            label=label,
            label_span=_tspan(self.file, label_tok) if label_tok is not None else None,
            patch=patch,
            args=args,
            kwargs=kwargs,
            span=self._s(meta),
        )

    @v_args(meta=True)
    def repeat(self, meta, c):
        return (int(c[0]), self._s(meta))

    @v_args(meta=True)
    def expect_item(self, meta, c):
        return A.ExpectItem(str(c[0]), str(c[1]), self._s(meta))

    def expect(self, c):
        return tuple(c)

    def cond(self, c):
        return c[0]

    @v_args(meta=True)
    def row_stmt(self, meta, c):
        rep, row, expect, cond = c
        return A.RowStmt(
            row=row,
            repeat=rep[0] if rep else None,
            repeat_span=rep[1] if rep else None,
            expect=expect or (),
            cond=cond,
            span=self._s(meta),
        )

    @v_args(meta=True)
    def side_stmt(self, meta, c):
        return A.SideStmt(c[0], c[1], self._s(meta))

    def start(self, c):
        return list(c)


def _describe_expected(expected) -> str:
    names = sorted({_FRIENDLY.get(e, None) or _literal(e) for e in expected})
    if len(names) > 8:
        names = names[:8] + ["…"]
    return ", ".join(names)


def _literal(term: str) -> str:
    try:
        pattern = _parser().get_terminal(term).pattern
        if pattern.type == "str":
            return repr(pattern.value).replace('"', "'")
    except KeyError:
        pass
    return term.lower()


def _syntax_error(e: UnexpectedInput, file: str, text: str) -> Diagnostic:
    line, col = getattr(e, "line", 1) or 1, getattr(e, "column", 1) or 1
    if isinstance(e, UnexpectedCharacters):
        ch = text[e.pos_in_stream] if 0 <= e.pos_in_stream < len(text) else "?"
        msg = f"unexpected character {ch!r}"
        span = Span(file, line, col, line, col + 1)
        notes = ()
        if ch == '"':
            notes = ("strings must close on the same line",)
        return Diagnostic(Severity.ERROR, msg, span, notes)
    if isinstance(e, UnexpectedEOF) or (
        isinstance(e, UnexpectedToken) and e.token.type == "$END"
    ):
        lines = text.splitlines() or [""]
        last = len(lines)
        span = Span(file, last, len(lines[-1]) + 1, last, len(lines[-1]) + 2)
        return Diagnostic(
            Severity.ERROR,
            "unexpected end of file",
            span,
            (f"expected {_describe_expected(e.expected)}",),
        )
    assert isinstance(e, UnexpectedToken)
    tok = e.token
    shown = "end of line" if tok.type == "_NL" else repr(str(tok))
    span = Span(file, line, col, tok.end_line or line, (tok.end_column or col + 1))
    if tok.type == "_NL":
        span = Span(file, line, col, line, col + 1)
    notes = [f"expected {_describe_expected(e.accepts or e.expected)}"]
    return Diagnostic(Severity.ERROR, f"unexpected {shown}", span, tuple(notes))


def parse(text: str, file: str = "<string>") -> tuple[A.Module | None, list[Diagnostic]]:
    """Parse one .isp source. Returns the module (None on a syntax error) and diagnostics."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_SOURCE_BYTES:
        span = Span(file, 1, 1, 1, 2)
        return None, [
            Diagnostic(Severity.ERROR, f"file is larger than {MAX_SOURCE_BYTES:,} bytes", span)
        ]
    nest = _nesting_error(text, file)
    if nest:
        return None, [nest]
    try:
        tree = _parser().parse(text + "\n")
    except UnexpectedInput as e:
        return None, [_syntax_error(e, file, text)]
    stmts = _ToAst(file).transform(tree)
    module = A.Module(file=file, text=text)
    diags: list[Diagnostic] = []

    def dup(what, first, again):
        diags.append(
            Diagnostic(
                Severity.ERROR,
                f"second '{what}' statement",
                again.span,
                (f"the first is at {first.span}",),
            )
        )

    for s in stmts:
        if isinstance(s, A.Network):
            if module.network:
                dup("network", module.network, s)
            else:
                module.network = s
        elif isinstance(s, A.Input):
            if module.input:
                dup("input", module.input, s)
            else:
                module.input = s
        elif isinstance(s, A.Units):
            module.units = s
        elif isinstance(s, A.Defaults):
            module.defaults.append(s)
        elif isinstance(s, A.Init):
            module.init = s
        elif isinstance(s, A.Import):
            module.imports.append(s)
        elif isinstance(s, A.BlockDef):
            module.blocks.append(s)
        else:
            module.body.append(s)
    return module, diags


def _nesting_error(text: str, file: str) -> Diagnostic | None:
    """Reject absurd nesting before the LALR parser and the tree walkers recurse into it."""
    depth = 0
    line, col = 1, 0
    for ch in text:
        col += 1
        if ch == "\n":
            line, col = line + 1, 0
        elif ch in "({":
            depth += 1
            if depth > MAX_NESTING:
                return Diagnostic(
                    Severity.ERROR,
                    f"nesting deeper than {MAX_NESTING} levels",
                    Span(file, line, col, line, col + 1),
                )
        elif ch in ")}":
            depth -= 1
    return None
