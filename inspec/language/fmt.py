"""`inspec fmt`: the canonical layout of a .isp file (docs/authoring.md, "inspec fmt").

The layout is computed from lark's parse tree (parser.parse_tree) and the comments between its tokens:
canonical spaces inside a statement, the author's line breaks kept (between statements, inside
parentheses, in `{ ... }` bodies), and the rows of a body aligned into the columns of the paper's
table (type, label, patch, arguments, keywords, `expect`, `if`), trailing comments into a column of
their own. It is safe the way Black is: format_text elaborates the input and the output and compares
the two IRs (ir.canonical), checks that every comment survives in order and that formatting the output
again changes nothing; where any of these fails it returns the text unchanged with an error.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field

from lark import Token, Tree
from lark.exceptions import UnexpectedInput

from inspec.diagnostics import Diagnostic, Severity, Span
from inspec.language.parser import normalize_source, parse, parse_tree

WIDTH = 100  # aligned columns stop short of this width; long lines are left as long as they are
INDENT = 2  # a body written one statement a line is indented this much from its statement
CONTINUATION = 4  # a line broken right after '(' goes on this much deeper

_COMMENT = re.compile(r"#[^\n]*")
# parentheses right after these open a call or a parameter list: no space before them
_CALLS = frozenset({"call", "repeat_call", "param_list", "defaults", "init"})
_COMPOUND = frozenset({"block", "branch", "seq", "merge", "residual"})
_NUMBERS = frozenset({"int_lit", "float_lit"})
_LABEL_BODY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")
_FIRST_PAREN = re.compile(r"\(([^()]*)\)")  # an argument's leading parenthesis


@dataclass
class FormatResult:
    """What format_text gives: the text (formatted, or the input where it refused), whether it
    differs from the input, and the diagnostics (parse errors, or why it refused; empty when fine)."""

    text: str
    changed: bool
    diagnostics: list[Diagnostic] = field(default_factory=list)


def format_text(text: str, name: str = "<text>") -> FormatResult:
    """The spec in canonical layout, checked: the same IR (spans aside), every comment kept in order,
    and a second formatting changes nothing. `name` is the file's path: imports resolve from it."""
    module, diags = parse(text, name)
    if module is None:
        return FormatResult(text, False, diags)
    src = normalize_source(text)
    try:
        out = layout(src)
        problem = _unsafe(src, out, name)
    except RecursionError:
        problem = "the spec is nested too deeply to format"
    except UnexpectedInput as e:  # the laid-out text does not parse: a formatter bug, never written
        problem = f"the formatted text would not parse ({type(e).__name__})"
    if problem is not None:
        span = Span(name, 1, 1, 1, 2)
        said = f"inspec fmt: internal error, the file is left as it is: {problem}"
        note = "please report this with the file: https://github.com/inspec/inspec/issues"
        return FormatResult(text, False, [Diagnostic(Severity.ERROR, said, span, (note,))])
    if text.find("\n") > 0 and text[text.find("\n") - 1] == "\r":
        out = out.replace("\n", "\r\n")  # the file's line ends, as its first line has them
    elif "\r" in text and "\n" not in text:
        out = out.replace("\n", "\r")  # a file with \r line ends only
    if text.startswith("\ufeff"):
        out = "\ufeff" + out
    return FormatResult(out, out != text, [])


def comments(text: str) -> list[str]:
    """Every comment of a source that parses, in order, without trailing spaces."""
    found: list[str] = []
    last = 0
    for tok in _tokens(parse_tree(text)):
        found += [c.rstrip() for c in _COMMENT.findall(text[last : tok.start_pos])]
        last = tok.end_pos
    return found + [c.rstrip() for c in _COMMENT.findall(text[last:])]


def _unsafe(src: str, out: str, name: str) -> str | None:
    """Why `out` may not replace `src`, or None: a lost comment, a second pass that changes the text,
    or an IR that differs."""
    from inspec.analysis.elaborate import elaborate
    from inspec.analysis.ir import canonical

    if comments(out) != comments(src):
        return "a comment would be lost or moved"
    if layout(out) != out:
        return "formatting the output again would change it"
    if out != src:
        before = canonical(elaborate(text=src, name=name))
        after = canonical(elaborate(text=out, name=name))
        if before != after:
            return "the formatted text would elaborate to a different network"
    return None


def layout(text: str) -> str:
    """The canonical layout of normalized source text that parses (no checks: see format_text)."""
    p = _Printer(text)
    p.top(parse_tree(text))
    _align_rows(p.lines)
    _align_comments(p.lines)
    return "".join(line.render() + "\n" for line in p.lines if not line.empty)


# ------------------------------------------------------------------------------------------------
# Lines as the printer builds them


@dataclass
class _Seg:
    text: str
    key: tuple | None = None  # the column of a row's cell (see _Printer.row_stmt); None elsewhere
    space: str = ""  # what stands before it on its line


@dataclass
class _Row:
    """A row statement written on one line: its segments segs[start:end], its op, its column."""

    start: int
    end: int
    op: str
    col: int


@dataclass
class _Line:
    indent: int
    segs: list[_Seg] = field(default_factory=list)
    comment: str | None = None
    kind: str = "code"  # code | comment | blank
    rows: list[_Row] = field(default_factory=list)
    comment_space: str = "  "

    @property
    def empty(self) -> bool:
        """The printer's next line, nothing on it yet."""
        return self.kind == "code" and not self.segs and self.comment is None

    def code(self) -> str:
        if self.kind == "comment":
            return " " * self.indent + self.comment
        if not self.segs:
            return ""
        return (
            " " * self.indent + self.segs[0].text + "".join(s.space + s.text for s in self.segs[1:])
        )

    def render(self) -> str:
        code = self.code()
        if self.kind != "code" or self.comment is None:
            return code
        return f"{code}{self.comment_space}{self.comment}"

    @property
    def row(self) -> _Row | None:
        """The line's one row, when nothing but closing braces follows it."""
        if len(self.rows) != 1:
            return None
        row = self.rows[0]
        return row if all(s.text == "}" for s in self.segs[row.end :]) else None


def _tokens(tree):
    """The tree's tokens in source order (lark's placeholders, None, left out)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, Token):
            yield node
        elif node is not None:
            stack.extend(reversed(node.children))


def _first(node) -> Token:
    return next(_tokens(node))


def _code(node) -> bool:
    return not (isinstance(node, Token) and node.type in ("_NL", "SEMICOLON"))


# ------------------------------------------------------------------------------------------------
# The printer: the parse tree to lines, spaces canonical, line breaks the author's


class _Printer:
    def __init__(self, text: str):
        self.text = text
        self.lines: list[_Line] = [_Line(0)]
        self.last = 0  # the end offset of the last token printed
        self.prev: Token | None = None
        self.parens: list[list] = []  # open parentheses: [column after it, its line's indent, hung]
        self.key: tuple | None = None
        self.spaced_eq = False
        self.pads: dict[int, int] = {}  # id(statement) -> spaces added before its body's '{'

    # -- lines ----------------------------------------------------------------------------------------
    @property
    def cur(self) -> _Line:
        return self.lines[-1]

    def col(self) -> int:
        return len(self.cur.code()) if self.cur.segs else self.cur.indent

    def put(self, text: str, space: str) -> None:
        segs = self.cur.segs
        if not segs:
            space = ""
        if segs and self.key is not None and segs[-1].key == self.key:
            segs[-1].text += space + text
        else:
            segs.append(_Seg(text, self.key, space))

    def newline(self, indent: int) -> None:
        if self.cur.empty:
            self.cur.indent = indent
        else:
            self.lines.append(_Line(indent))

    def blank(self) -> None:
        """One blank line (never two in a row, never at the top)."""
        if not self.cur.empty:
            self.lines.append(_Line(0))
        if len(self.lines) > 1 and self.lines[-2].kind != "blank":
            self.cur.kind = "blank"
            self.lines.append(_Line(0))

    def comment_line(self, text: str, indent: int) -> None:
        self.newline(indent)
        self.cur.kind = "comment"
        self.cur.comment = text.rstrip()

    def trailing(self, text: str, indent: int) -> None:
        if self.cur.segs:
            self.cur.comment = text.rstrip()
        else:
            self.comment_line(text, indent)

    # -- tokens ---------------------------------------------------------------------------------------
    def tok(self, t: Token, space: str) -> None:
        """Print a token of a statement; a line break before it (only inside parentheses) is kept,
        with the comments there."""
        gap = self.text[self.last : t.start_pos]
        if "\n" in gap:
            self._break(gap, t)
            space = ""
        self.put(str(t), space)
        self.last = t.end_pos
        self.prev = t
        if t.type == "LPAR":
            self.parens.append([self.col(), self.cur.indent, False])
        elif t.type == "RPAR" and self.parens:
            self.parens.pop()

    def _break(self, gap: str, t: Token) -> None:
        """A line break inside parentheses: under the first thing after the open parenthesis, or,
        when the line ends with it, CONTINUATION deeper than its line."""
        if self.parens:
            top = self.parens[-1]
            if self.prev is not None and self.prev.type == "LPAR":
                top[2] = True
            indent = top[1] + CONTINUATION if top[2] else top[0]
            if t.type == "RPAR":
                indent = top[1] if top[2] else top[0] - 1
        else:  # not reached: a newline outside parentheses ends a statement
            indent = self.cur.indent + CONTINUATION
        pieces = gap.split("\n")
        if c := _COMMENT.search(pieces[0]):
            self.trailing(c.group(), indent)
        for piece in pieces[1:-1]:
            if c := _COMMENT.search(piece):
                self.comment_line(c.group(), indent)
        self.newline(indent)

    def space(self, parent: str, child) -> str:
        """The space between the last token printed and `child`, a later child of `parent`."""
        prev = self.prev
        first = child if isinstance(child, Token) else _first(child)
        if prev is None or prev.type == "LPAR" or first.type in ("RPAR", "COMMA"):
            return ""
        if first.type == "LPAR" and (
            parent in _CALLS or getattr(child, "data", "") == "param_list"
        ):
            return ""
        if parent == "neg" or (first.type == "LABEL" and parent == "repeat_call"):
            return ""
        if "EQUAL" in (prev.type, first.type):
            return " " if self.spaced_eq else ""
        return " "

    # -- statements and bodies ------------------------------------------------------------------------
    def top(self, tree: Tree) -> None:
        stmts = [c for c in tree.children if isinstance(c, Tree)]
        self.statements(stmts, 0)
        self.separator(self.text[self.last :], 0, first=not stmts, last=True)

    def statements(self, stmts: list[Tree], col: int) -> None:
        self._plan_heads(stmts)
        for i, s in enumerate(stmts):
            start = _first(s).start_pos
            space = self.separator(self.text[self.last : start], col, first=i == 0)
            self.last = start
            self.statement(s, space)

    def separator(self, gap: str, col: int, first: bool = False, last: bool = False) -> str:
        """Lay out the gap between two statements (or a statement and a brace or an end of the file):
        its comments, a blank line where there were any (none first or last), `; ` between statements
        on one line. Returns the space to print before what follows."""
        pieces = gap.split("\n")
        found = [_COMMENT.search(p) for p in pieces]
        if len(pieces) == 1 and found[0] is None:
            if not self.cur.segs:
                return ""
            if first or last:
                return " "
            self.put(";", "")
            return " "
        shown = False  # whether a comment line came out of this gap
        if found[0] is not None:
            shown = not self.cur.segs
            self.trailing(found[0].group(), col)
        blank = False
        for k in range(1, len(pieces)):
            if found[k] is not None:
                if blank and (shown or not first):
                    self.blank()
                self.comment_line(found[k].group(), col)
                shown, blank = True, False
            elif k < len(pieces) - 1:
                blank = True
        if last:
            return ""
        if blank and (shown or not first):
            self.blank()
        self.newline(col)
        return ""

    def statement(self, node: Tree, space: str) -> None:
        start = self.col() + (len(space) if self.cur.segs else 0)
        if node.data in ("row_stmt", "side_stmt"):
            self.row_stmt(node, space)
        elif node.data in _COMPOUND:
            kids = [c for c in node.children if c is not None]
            self.spaced_eq = False
            for i, c in enumerate(kids[:-1]):
                self.node(c, space if i == 0 else self.space(node.data, c))
            self.body(kids[-1], " " * (1 + self.pads.get(id(node), 0)), start)
        else:
            self.walk(node, space)

    def body(self, node: Tree, space: str, start: int) -> None:
        """`{ ... }`: one statement a line indented INDENT from the statement's column, or, where the
        first statement follows '{' on its line, the others under it; '}' where the author put it."""
        lbrace, rbrace = node.children[0], node.children[-1]
        stmts = [c for c in node.children[1:-1] if isinstance(c, Tree)]
        self.tok(lbrace, space)
        after = self.text[self.last : (_first(stmts[0]) if stmts else rbrace).start_pos]
        if not stmts and "#" not in after:
            self._close(rbrace, " ")
            return
        inner = self.col() + 1 if stmts and "\n" not in after else start + INDENT
        self.statements(stmts, inner)
        gap = self.text[self.last : rbrace.start_pos]
        if "\n" in gap:
            self.separator(gap, inner, first=not stmts, last=True)
            self.newline(start)
            self._close(rbrace, "")
        else:
            self._close(rbrace, " ")

    def _close(self, rbrace: Token, space: str) -> None:
        self.put("}", space)
        self.last = rbrace.end_pos
        self.prev = rbrace

    def _plan_heads(self, stmts: list[Tree]) -> None:
        """Align the '{' of consecutive compound statements (one a line, no blank line between) whose
        bodies open on their line."""
        group: list[tuple[Tree, int]] = []
        for i, s in enumerate(stmts):
            width = self._head_width(s)
            if width is None:
                self._pad(group)
                group = []
                continue
            if group:
                gap = self.text[_last_end(stmts[i - 1]) : _first(s).start_pos]
                if "\n" not in gap or _has_blank(gap):
                    self._pad(group)
                    group = []
            group.append((s, width))
        self._pad(group)

    def _pad(self, group: list[tuple[Tree, int]]) -> None:
        most = max((w for _, w in group), default=0)
        for s, w in group:
            self.pads[id(s)] = most - w

    def _head_width(self, s: Tree) -> int | None:
        """The printed width of a compound statement's head (what comes before its '{') where the
        head is on one line and the body opens on it; None otherwise."""
        if (
            s.data not in _COMPOUND
            or s.data == "block"
            or any(isinstance(c, Tree) and c.data == "cond" for c in s.children)
        ):
            return None
        body = s.children[-1]
        inner = [c for c in body.children[1:] if _code(c)]
        after = self.text[body.children[0].end_pos : _first(inner[0]).start_pos]
        if "\n" in after:
            return None
        kids = [c for c in s.children[:-1] if c is not None]
        scratch = _Printer(self.text)
        scratch.last = _first(s).start_pos
        for i, c in enumerate(kids):
            scratch.node(c, "" if i == 0 else scratch.space(s.data, c))
        return len(scratch.cur.code()) if len(scratch.lines) == 1 else None

    def _one_line(self, node) -> str | None:
        scratch = _Printer(self.text)
        scratch.last = _first(node).start_pos
        scratch.node(node, "")
        return scratch.cur.code() if len(scratch.lines) == 1 else None

    # -- rows -----------------------------------------------------------------------------------------
    def row_stmt(self, node: Tree, space: str) -> None:
        """A row, each part keyed by its column: type (with `side` and a repeat count), label, patch,
        each positional argument, keywords, `expect` and its items, condition."""
        line_no, seg_no = len(self.lines), len(self.cur.segs)
        col = self.col() + (len(space) if self.cur.segs else 0)
        lead, row, expect, cond = node.children
        op, label, patch, *args = row.children
        self.spaced_eq = False
        self.key = ("type",)
        if lead is not None:
            self.node(lead, space)
            space = " "
        self.tok(op, space)
        if label is not None:
            self.key = ("label",)
            self.tok(label, " ")
        if patch is not None:
            self.key = ("patch",)
            self.tok(patch, " ")
        n = 0
        for a in args:
            if a.data == "kwarg":
                self.key = ("kw",)
            else:
                self.key = ("arg", n, a.data in _NUMBERS)
                n += 1
            self.node(a, " ")
            if a is args[0] and label is None and patch is None:
                text = self.cur.segs[-1].text
                first = _FIRST_PAREN.match(
                    text
                )  # `op (x)`, `op (x) + 1`: (x) would read as a label
                if first is not None and _LABEL_BODY.fullmatch(first.group(1)):
                    self.cur.segs[-1].text = "( " + text[1:]
        if expect is not None:
            kw, *items = expect.children
            self.key = ("expect",)
            self.tok(kw, "  ")
            for i, item in enumerate(items):
                self.key = ("item", i)
                self.node(item, " ")
        if cond is not None:
            self.key = ("if",)
            self.node(cond, " ")
        self.key = None
        one_line = len(self.lines) == line_no
        self.cur.rows.append(_Row(seg_no, len(self.cur.segs), str(op), col if one_line else -1))

    # -- everything else ------------------------------------------------------------------------------
    def node(self, node, space: str) -> None:
        if isinstance(node, Token):
            self.tok(node, space)
        else:
            self.walk(node, space)

    def walk(self, node: Tree, space: str) -> None:
        saved = self.spaced_eq
        if node.data in ("param", "defaults", "init"):
            self.spaced_eq = True
        first = True
        for c in node.children:
            if c is None or not _code(c):
                continue
            self.node(c, space if first else self.space(node.data, c))
            first = False
        self.spaced_eq = saved


def _last_end(node) -> int:
    end = 0
    for t in _tokens(node):
        end = t.end_pos
    return end


def _has_blank(gap: str) -> bool:
    return any(not p.strip(" \t\f;") for p in gap.split("\n")[1:-1])


# ------------------------------------------------------------------------------------------------
# Alignment


def _runs(lines: list[_Line]):
    """Runs of consecutive one-line rows starting in the same column; comment lines between them do
    not break a run, blank lines and other statements do."""
    run: list[_Line] = []
    for line in lines:
        if line.kind == "comment":
            continue
        row = line.row if line.kind == "code" else None
        if row is not None and row.col >= 0 and (not run or run[0].row.col == row.col):
            run.append(line)
            continue
        if run:
            yield run
        run = [line] if row is not None and row.col >= 0 else []
    if run:
        yield run


def _align_rows(lines: list[_Line]) -> None:
    for run in _runs(lines):
        _align_run(run)


def _cells(line: _Line) -> list[_Seg]:
    row = line.row
    return line.segs[row.start : row.end]


def _align_run(run: list[_Line]) -> None:
    """Lay out a run's rows as a table: the type, label and patch columns as wide as their widest
    cell; positional arguments in a column each among the rows of one op (numbers to the right; a
    cell with a space in it does not widen its column); keywords right after; then `expect` (its
    items in columns) and `if`, each column as far right as its rows need (see _stops)."""
    start = run[0].row.col
    cells = [_cells(line) for line in run]

    def width(key):
        # a repeat count written as an expression (`max(n - 1, 0) x ...`) does not widen the column
        texts = [s.text for cs in cells for s in cs if s.key == key]
        return max((len(t) for t in texts if key != ("type",) or t.count(" ") <= 2), default=0)

    tw, lw, pw = width(("type",)), width(("label",)), width(("patch",))
    col_label = start + tw + 1
    col_patch = col_label + (lw + 1 if lw else 0)
    col_args = col_patch + (pw + 1 if pw else 0)
    # an op's arguments start after the last of these columns that its rows use
    first_arg: dict[str, int] = {}
    argw: dict[tuple[str, int], int] = {}
    numeric: dict[tuple[str, int], bool] = {}
    itemw: dict[tuple[int, str], int] = {}
    for line, cs in zip(run, cells, strict=True):
        op = line.row.op
        used = {s.key[0] for s in cs}
        here = col_args if "patch" in used else col_patch if "label" in used else col_label
        first_arg[op] = max(first_arg.get(op, col_label), here)
        for s in cs:
            if s.key[0] == "arg" and " " not in s.text:
                k = (op, s.key[1])
                argw[k] = max(argw.get(k, 0), len(s.text))
                numeric[k] = numeric.get(k, True) and s.key[2]
        items = [s for s in cs if s.key[0] == "item"]
        for s in items[:-1]:
            k = (s.key[1], _item_key(s))
            itemw[k] = max(itemw.get(k, 0), len(s.text))

    ends = []  # where each row's head and arguments end
    for line, cs in zip(run, cells, strict=True):
        op = line.row.op
        pos = start + len(cs[0].text)  # cs[0]: the type
        arg_stop = first_arg[op]
        for s in cs[1:]:
            kind = s.key[0]
            if kind in ("expect", "item", "if"):
                break
            if kind == "label":
                want = col_label
            elif kind == "patch":
                want = col_patch
            elif kind == "arg":
                w = argw.get((op, s.key[1]), 0)
                right = numeric.get((op, s.key[1])) and len(s.text) <= w
                want = arg_stop + (w - len(s.text) if right else 0)
                arg_stop += w + 1
            else:  # keywords follow what is before them
                want = max(pos + 1, first_arg[op])
            s.space = " " * max(want - pos, 1)
            pos += len(s.space) + len(s.text)
        ends.append(pos)
        items = [s for s in cs if s.key[0] == "item"]
        for prev, s in itertools.pairwise(items):
            w = itemw.get((prev.key[1], _item_key(prev)), 0)
            s.space = " " * (w - len(prev.text) + 1)
        if items:
            items[0].space = " "
        for s in line.segs[line.row.end :]:
            s.space = " "
    ends = _column(run, cells, ends, ("expect",), 2)
    _column(run, cells, ends, ("if",), 1)


def _item_key(seg: _Seg) -> str:
    return seg.text.partition("=")[0]


def _tail(line: _Line, cs: list[_Seg], key) -> int:
    """The width of a row's line from the segment with this key to its end (closers included)."""
    segs = line.segs[line.row.start :]
    i = next(i for i, s in enumerate(segs) if s.key == key)
    return len(segs[i].text) + sum(len(s.space) + len(s.text) for s in segs[i + 1 :])


def _column(run, cells, ends: list[int], key, gap: int) -> list[int]:
    """Place the segments with this key (expect or if) in one column, as _stop chooses; returns each
    row's end after them."""
    natural, tails = {}, {}
    for k, (line, cs) in enumerate(zip(run, cells, strict=True)):
        if any(s.key == key for s in cs):
            natural[k] = ends[k] + gap
            tails[k] = _tail(line, cs, key)
    stops = _stops(natural, tails)
    out = list(ends)
    for k, cs in enumerate(cells):
        if k not in natural:
            continue
        seg = next(s for s in cs if s.key == key)
        seg.space = " " * (stops[k] - ends[k])
        out[k] = stops[k] + len(seg.text)
        after = False
        for s in cs:
            if after and s.key[0] == "item":
                out[k] += len(s.space) + len(s.text)
            after = after or s is seg
    return out


def _stops(natural: dict[int, int], tails: dict[int, int]) -> dict[int, int]:
    """Where each row's cell goes: in one column, as far right as the rows that fit in WIDTH at
    their natural place need; a row that would not fit there stays at its natural place."""
    fit = [natural[k] for k in natural if natural[k] + tails[k] <= WIDTH]
    stop = max(fit, default=0)
    return {
        k: stop if natural[k] <= stop and stop + tails[k] <= WIDTH else n
        for k, n in natural.items()
    }


def _align_comments(lines: list[_Line]) -> None:
    """Trailing comments of consecutive code lines (no blank or comment line between) in one
    column, as far right as the longest line that carries one, where they fit in WIDTH."""
    section: list[_Line] = []
    for line in [*lines, _Line(0, kind="blank")]:
        if line.kind == "code" and line.segs:
            section.append(line)
            continue
        marked = {k: ln for k, ln in enumerate(section) if ln.comment is not None}
        natural = {k: len(ln.code()) + 2 for k, ln in marked.items()}
        tails = {k: len(ln.comment) for k, ln in marked.items()}
        stops = _stops(natural, tails)
        for k, ln in marked.items():
            ln.comment_space = " " * (stops[k] - natural[k] + 2)
        section = []
