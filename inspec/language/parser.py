"""Text → lark parse tree → typed AST (inspec.ast), with friendly syntax errors."""

from __future__ import annotations

import functools
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from inspec.diagnostics import Diagnostic, Severity, Span
from inspec.language import ast as A
from inspec.language.cache import load as _load
from inspec.language.cache import save as _save

MAX_SOURCE_BYTES = 1_000_000  # about 40,000 rows; parsing runs at about 5 µs a character
MAX_NESTING = 64
MAX_EXPR_OPS = (
    256  # operators and commas in one statement: the parser and evaluator recurse on them
)
MAX_RECOVERY_CHARS = 100_000  # characters re-parsed to find further syntax errors (20 x 5 KB)
MAX_DIGITS = 64  # longer numbers are rejected before int() (Python refuses above 4300 digits)

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


_TRANSFORMER = None
_LOCK = threading.Lock()

# Every option the parser is built with. The cache key hashes them with the grammar and lark's version,
# so a change to any of them builds a new parser instead of loading one built differently.
_LARK_OPTIONS = {
    "parser": "lalr",
    "lexer": "contextual",
    "keep_all_tokens": True,
    "maybe_placeholders": True,
}
_CACHE_FORMAT = 1  # bump when the cache file's layout changes


@functools.lru_cache(maxsize=1)
def _parser() -> Lark:
    """The LALR parser, built once. It calls _ToAst as it reduces (no parse tree is built).

    Building the LALR tables takes ~0.1 s, a large part of `inspec check`; the built tables are kept in
    the user's cache directory as JSON (see _cache_file) and loaded in a few milliseconds next time.
    The file is data only: reading it never runs code, unlike the pickle lark's own `save` writes.
    Any problem with the cache (missing, stale, damaged, unwritable) only means building again."""
    global _TRANSFORMER
    _TRANSFORMER = _ToAst()
    return _build({"transformer": _TRANSFORMER, "postlex": _ParenNewlines()}, save=True)


@functools.lru_cache(maxsize=1)
def _tree_parser() -> Lark:
    """The same LALR tables without the AST callbacks: lark's parse tree, every token kept."""
    return _build({"postlex": _ParenNewlines()}, save=False)


def _build(runtime: dict, save: bool) -> Lark:
    """The parser with these runtime options, from the cached tables when they load (built, and with
    `save` written to the cache, otherwise)."""
    grammar = (Path(__file__).parent / "grammar.lark").read_text(encoding="utf-8")
    cache = _cache_file(grammar)
    if cache is not None:
        try:
            return _load(cache, _cache_key(grammar), runtime)
        except Exception:  # a missing, stale or damaged cache: build instead
            pass
    parser = Lark(grammar, **_LARK_OPTIONS, **runtime)
    if save and cache is not None:
        _save(parser, cache, _cache_key(grammar), tuple(runtime))
    return parser


def parse_tree(text: str):
    """lark's parse tree of a source that parse() accepts (the formatter reads it): every token is in
    it but spaces, comments and the newlines inside parentheses, which lie between the tokens'
    offsets in normalize_source(text). Raises lark's UnexpectedInput where parse() reports errors."""
    return _tree_parser().parse(normalize_source(text) + "\n")


def _cache_key(grammar: str) -> str:
    """A hash of everything the built tables depend on: the grammar text, lark's version, the Lark
    options and the post-lexer's always-accepted terminals (the transformer is bound at load time)."""
    import hashlib
    import json

    import lark

    what = {
        "format": _CACHE_FORMAT,
        "lark": lark.__version__,
        "options": _LARK_OPTIONS,
        "postlex": [_ParenNewlines.__qualname__, list(_ParenNewlines.always_accept)],
        "grammar": grammar,
    }
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()


def _cache_file(grammar: str) -> Path | None:
    """$XDG_CACHE_HOME/inspec/parser-KEY.json (~/.cache when unset); None when INSPEC_NO_CACHE=1."""
    import os

    if os.environ.get("INSPEC_NO_CACHE") == "1":
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "inspec" / f"parser-{_cache_key(grammar)[:32]}.json"


def _tspan(file: str, tok: Token) -> Span:
    return Span(
        file, tok.line, tok.column, tok.end_line or tok.line, tok.end_column or tok.column + 1
    )


_PUNCT = {"LPAR", "RPAR", "LBRACE", "RBRACE", "COMMA", "EQUAL", "SEMICOLON", "_NL"}


@dataclass(frozen=True)
class _Group:
    """A list of children with the positions of its first and last token."""

    items: tuple
    start: tuple[int, int] | None
    end: tuple[int, int] | None


def _start(x):
    if type(x) is Token:
        return (x.line, x.column)
    if isinstance(x, _Group):
        return x.start
    span = getattr(x, "span", None)
    return (span.line, span.col) if span is not None else None


def _end(x):
    if type(x) is Token:
        return (x.end_line or x.line, x.end_column or x.column + len(x))
    if isinstance(x, _Group):
        return x.end
    span = getattr(x, "span", None)
    return (span.end_line, span.end_col) if span is not None else None


class _ToAst(Transformer):
    """Parse-time callbacks (the LALR parser calls them as it reduces; no parse tree is built).

    The parser keeps every token (keep_all_tokens), so a node's span runs from its first token to its
    last one; punctuation is dropped here.
    """

    file = "<string>"

    def _s(self, c) -> Span:
        first = last = None
        for x in c:
            if x is not None and (first := _start(x)) is not None:
                break
        for x in reversed(c):
            if x is not None and (last := _end(x)) is not None:
                break
        return Span(self.file, first[0], first[1], last[0], last[1])

    @staticmethod
    def _vals(c):
        return [
            x
            for x in c
            if not (isinstance(x, Token) and (x.type in _PUNCT or x.type.startswith("__")))
        ]

    # -- expressions ---------------------------------------------------------------------------
    def int_lit(self, c):
        return A.Num(self._s(c), int(c[0]))

    def float_lit(self, c):
        return A.Num(self._s(c), float(c[0]))

    def str_lit(self, c):
        return A.Str(self._s(c), str(c[0])[1:-1])

    def true_lit(self, c):
        return A.Bool(self._s(c), True)

    def false_lit(self, c):
        return A.Bool(self._s(c), False)

    def name(self, c):
        return A.Name(self._s(c), str(c[0]))

    def call(self, c):
        args = tuple(a for a in c[2:] if isinstance(a, A.Expr))
        return A.Call(self._s(c), str(c[0]), args)

    def paren(self, c):
        return c[1]

    def if_else(self, c):
        then, cond, other = (x for x in c if isinstance(x, A.Expr))
        return A.IfElse(self._s(c), cond, then, other)

    def repeat_call(self, c):
        if len(c) == 2 and isinstance(c[1], Token) and c[1].type == "LABEL":  # `int(n) x`
            inner = str(c[1])[1:-1]
            span = _tspan(self.file, c[1])
            arg = A.Num(span, int(inner)) if inner.isdigit() else A.Name(span, inner)
            return A.Call(self._s(c), str(c[0]), (arg,))
        return A.Call(self._s(c), str(c[0]), tuple(a for a in c[2:] if isinstance(a, A.Expr)))

    def tuple_lit(self, c):
        return A.Tuple(self._s(c), tuple(a for a in c if isinstance(a, A.Expr)))

    def neg(self, c):
        return A.Unary(self._s(c), "-", c[-1])

    def not_op(self, c):
        return A.Unary(self._s(c), "not", c[-1])

    def _bin(op):
        def f(self, c):
            return A.BinOp(self._s(c), op, c[0], c[-1])

        return f

    add = _bin("+")
    sub = _bin("-")
    mul = _bin("*")
    div = _bin("/")
    floordiv = _bin("//")
    mod = _bin("%")
    and_op = _bin("and")
    or_op = _bin("or")

    def compare(self, c):
        return A.BinOp(self._s(c), str(c[1]), c[0], c[2])

    # -- statements ----------------------------------------------------------------------------
    def kwarg(self, c):
        return A.Kwarg(str(c[0]), c[2], self._s(c))

    def param(self, c):
        v = self._vals(c)
        name = v[0]
        default = next((x for x in v[1:] if isinstance(x, A.Expr)), None)
        header = next((x for x in v[1:] if isinstance(x, Token) and x.type == "STRING"), None)
        return A.Param(
            str(name), default, str(header)[1:-1] if header is not None else None, self._s(c)
        )

    def param_list(self, c):
        return _Group(tuple(p for p in c if isinstance(p, A.Param)), _start(c[0]), _end(c[-1]))

    def network(self, c):
        params = c[2].items if c[2] is not None else ()
        return A.Network(str(c[1]), params, self._s(c))

    def input(self, c):
        h, w, ch = (int(v) for v in str(c[1]).split("x"))
        return A.Input((h, w, ch), self._s(c))

    def units(self, c):
        return A.Units(str(c[1]), self._s(c))

    def padding(self, c):
        return A.Padding(str(c[1]), _tspan(self.file, c[1]), self._s(c))

    def defaults(self, c):
        return A.Defaults(str(c[1]), tuple(k for k in c if isinstance(k, A.Kwarg)), self._s(c))

    def init(self, c):
        return A.Init(str(c[1]), tuple(k for k in c if isinstance(k, A.Kwarg)), self._s(c))

    def import_stmt(self, c):
        return A.Import(str(c[1])[1:-1], self._s(c))

    def body(self, c):
        items = tuple(x for x in c if not isinstance(x, Token))
        return _Group(items, _start(c[0]), _end(c[-1]))

    def block(self, c):
        params = c[2].items if c[2] is not None else ()
        return A.BlockDef(str(c[1]), params, c[3].items, self._s(c))

    def branch(self, c):
        name = str(c[1]) if c[1] is not None else None
        return A.Branch(name, c[3].items, self._s(c), c[2])

    def seq(self, c):
        name = str(c[1]) if c[1] is not None else None
        return A.Group(name, c[3].items, self._s(c), c[2])

    def merge(self, c):
        kwargs = tuple(k for k in c if isinstance(k, A.Kwarg))
        return A.Merge(str(c[0]), kwargs, c[-1].items, self._s(c))

    def residual(self, c):
        kwargs = tuple(k for k in c if isinstance(k, A.Kwarg))
        return A.Residual(kwargs, c[-1].items, self._s(c), c[-2])

    def row(self, c):
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
            span=self._s(c),
        )

    def repeat(self, c):
        v = self._vals(c)[0]
        if isinstance(v, Token) and v.type == "INT":
            count = int(v)
        elif isinstance(v, Token):
            count = A.Name(_tspan(self.file, v), str(v))
        else:
            count = v
        return _Group((count,), _start(c[0]), _end(c[-1]))

    def expect_item(self, c):
        return A.ExpectItem(str(c[0]), str(c[2]), self._s(c))

    def expect(self, c):
        return _Group(tuple(x for x in c if isinstance(x, A.ExpectItem)), _start(c[0]), _end(c[-1]))

    def cond(self, c):
        return c[-1]

    def row_stmt(self, c):
        rep, row, expect, cond = c
        return A.RowStmt(
            row=row,
            repeat=rep.items[0] if rep and isinstance(rep.items[0], int) else None,
            repeat_span=Span(self.file, *rep.start, *rep.end) if rep else None,
            repeat_expr=rep.items[0] if rep and isinstance(rep.items[0], A.Expr) else None,
            expect=expect.items if expect else (),
            cond=cond,
            span=self._s(c),
        )

    def side_stmt(self, c):
        _, row, expect, cond = c
        return A.SideStmt(row, cond, self._s(c), expect.items if expect else ())

    def start(self, c):
        return [x for x in c if not isinstance(x, Token)]


_OPERATORS = {"'%'", "'*'", "'+'", "'-'", "'/'", "'//'", "a comparison", "'and'", "'or'"}


def _describe_expected(expected) -> str:
    names = {_FRIENDLY.get(e, None) or _literal(e) for e in expected}
    if len(names & _OPERATORS) > 1:
        names = (names - _OPERATORS) | {"an operator"}
    names = sorted(names, key=lambda n: (n.startswith("'"), n))
    if len(names) > 8:
        names = [*names[:8], "…"]
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
            notes = ("a string must close on its line and hold no control characters (no tabs)",)
        return Diagnostic(Severity.ERROR, msg, span, notes)
    if isinstance(e, UnexpectedEOF) or (isinstance(e, UnexpectedToken) and e.token.type == "$END"):
        lines = text.split("\n")  # lines as the lexer counts them: \n only
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
    before = text.split("\n")[line - 1][: col - 1].split()
    if before and before[-1] in ("add", "mul", "concat", "split") and len(before) == 1:
        notes.append(
            f"'{before[-1]}' merges branches: {before[-1]} {{ branch {{ ... }} branch {{ ... }} }}"
        )
    return Diagnostic(Severity.ERROR, f"unexpected {shown}", span, tuple(notes))


MAX_SYNTAX_ERRORS = 20


def _more_syntax_errors(parser, first: UnexpectedInput, file: str, text: str) -> list[Diagnostic]:
    """After a syntax error, blank the offending line and parse again, so that one run reports the
    syntax errors of independent lines. Stops where blanking a line would unbalance braces or
    parentheses (what follows would only be a cascade of the same mistake)."""
    diags = [_syntax_error(first, file, text)]
    lines = text.split("\n")
    seen = set()
    e: UnexpectedInput | None = first
    spent = len(text)  # each retry parses the whole file again: bound the total work
    while e is not None and len(diags) < MAX_SYNTAX_ERRORS:
        spent += len(text)
        if spent > MAX_RECOVERY_CHARS:
            break
        line = getattr(e, "line", None)
        if not isinstance(line, int) or not 1 <= line <= len(lines) or line in seen:
            break
        removed = lines[line - 1]
        if _unbalanced(removed):
            break
        seen.add(line)
        lines[line - 1] = ""
        blanked = "\n".join(lines) + "\n"
        try:
            parser.parse(blanked)
            e = None
        except UnexpectedInput as again:
            e = again
            if getattr(e, "line", None) in seen:
                break
            # its offsets count in the blanked text (the same lines, the earlier errors emptied)
            diags.append(_syntax_error(e, file, blanked))
    return diags


def _unbalanced(line: str) -> bool:
    """The line opens a brace or parenthesis that it does not close."""
    code = line.split("#", 1)[0]
    return code.count("{") > code.count("}") or code.count("(") > code.count(")")


def normalize_source(text: str) -> str:
    """The text as the parser reads it: a leading UTF-8 byte order mark dropped, and every line end
    (\\r\\n, or \\r alone as old Mac editors write) as \\n. Spans count lines and columns in this text."""
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def parse(text: str, file: str = "<string>") -> tuple[A.Module | None, list[Diagnostic]]:
    """Parse one .isp source. Returns the module (None on a syntax error) and diagnostics.

    The module's text is normalize_source(text): without a byte order mark, \\n line ends only."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_SOURCE_BYTES:
        span = Span(file, 1, 1, 1, 2)
        return None, [
            Diagnostic(Severity.ERROR, f"file is larger than {MAX_SOURCE_BYTES:,} bytes", span)
        ]
    text = normalize_source(text)
    nest = _surrogate_error(text, file) or _nesting_error(text, file) or _size_error(text, file)
    if nest:
        return None, [nest]
    parser = _parser()
    with _LOCK:
        _TRANSFORMER.file = file
        try:
            stmts = parser.parse(text + "\n")
        except UnexpectedInput as e:
            return None, _more_syntax_errors(parser, e, file, text)
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
        once = _ONCE.get(type(s))  # a header statement a module holds at most once
        if once is not None:
            if getattr(module, once) is not None:
                dup(once, getattr(module, once), s)
            else:
                setattr(module, once, s)
        elif isinstance(s, A.Defaults):
            module.defaults.append(s)
        elif isinstance(s, A.Import):
            module.imports.append(s)
        elif isinstance(s, A.BlockDef):
            module.blocks.append(s)
        else:
            module.body.append(s)
    return module, diags


_ONCE = {
    A.Network: "network",
    A.Input: "input",
    A.Units: "units",
    A.Padding: "padding",
    A.Init: "init",
}


def _at(text: str, file: str, offset: int) -> Span:
    """The one-character span at a character offset (lines counted by \n, as the lexer does)."""
    line = text.count("\n", 0, offset) + 1
    col = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return Span(file, line, col, line, col + 1)


_BRACKETS = re.compile(r"[(){}]")


def _nesting_error(text: str, file: str) -> Diagnostic | None:
    """Reject absurd nesting before the LALR parser and the tree walkers recurse into it."""
    depth = 0
    for m in _BRACKETS.finditer(text):
        if m.group() in "({":
            depth += 1
            if depth > MAX_NESTING:
                msg = f"nesting deeper than {MAX_NESTING} levels"
                return Diagnostic(Severity.ERROR, msg, _at(text, file, m.start()))
        else:
            depth -= 1
    return None


_SIZE_TOKENS = re.compile(r'#[^\n]*|"[^"\n]*"|\d+|\b(?:not|and|or)\b|//|[-+*/%,;{}\n]|[<>=!]=?')


def _size_error(text: str, file: str) -> Diagnostic | None:
    """Reject absurdly long numbers and expressions before lark and int() see them."""
    count = 0
    for m in _SIZE_TOKENS.finditer(text):
        tok = m.group()
        if tok[0] == "#" or tok[0] == '"' or tok == "=":
            continue
        if tok[0].isdigit():
            if len(tok) <= MAX_DIGITS:
                continue
            msg = f"number with more than {MAX_DIGITS} digits"
        elif tok in ";{}\n":
            count = 0  # a new statement (newlines inside parentheses do not reset: cheap and safe)
            continue
        else:
            count += 1
            if count <= MAX_EXPR_OPS:
                continue
            msg = f"statement with more than {MAX_EXPR_OPS} operators or commas"
        return Diagnostic(Severity.ERROR, msg, _at(text, file, m.start()))
    return None


_SURROGATE = re.compile("[\ud800-\udfff]")


def _surrogate_error(text: str, file: str) -> Diagnostic | None:
    """Text given through the API may hold lone surrogates (a file is decoded strictly): they are not
    Unicode characters, and no output could be encoded with them."""
    m = _SURROGATE.search(text)
    if m is None:
        return None
    return Diagnostic(
        Severity.ERROR,
        f"invalid character U+{ord(m.group()):04X} (a lone surrogate, not Unicode text)",
        _at(text, file, m.start()),
    )
