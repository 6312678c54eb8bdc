"""One document as the server knows it: its text elaborated into the IR, positions converted between
inspec's spans (1-based lines and columns in code points, end exclusive) and LSP's (0-based lines,
UTF-16 code units), and an index of the IR's nodes by span for hover.

Nothing here imports pygls or lsprotocol: positions are (line, character) pairs, LSP's numbers.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from inspec.analysis import ir
from inspec.analysis.elaborate import elaborate
from inspec.diagnostics import Span
from inspec.language.parser import normalize_source

Pos = tuple[int, int]  # an LSP position: 0-based line, UTF-16 character


def display_path(path: str) -> str:
    """A file's path as the CLI shows it when run from the server's working directory: relative
    when the file is below it, else absolute (so messages and notes read as `inspec check`'s)."""
    full = os.path.abspath(path)
    rel = os.path.relpath(full, os.getcwd())
    return full if rel.startswith("..") else rel


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def col_to_utf16(line: str, col: int) -> int:
    """1-based code-point column -> 0-based UTF-16 character."""
    return utf16_len(line[: max(col - 1, 0)])


def utf16_to_col(line: str, char: int) -> int:
    """0-based UTF-16 character -> 1-based code-point column (clamped to the line's end + 1)."""
    units = 0
    for i, c in enumerate(line):
        if units >= char:
            return i + 1
        units += 2 if ord(c) > 0xFFFF else 1
    return len(line) + 1


@dataclass(eq=False)
class Located:
    """A node of the IR with its module path (the name PyTorch's named_modules() gives it)."""

    node: ir.Node
    path: str


@dataclass(eq=False)
class Analysis:
    """One version of one document, elaborated."""

    uri: str
    version: int | None
    name: str  # the document's path as spans name it (display_path), or the URI when not a file
    text: str
    net: ir.Network
    lines: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, uri: str, version: int | None, text: str, path: str | None) -> Analysis:
        """Elaborate the document; imports resolve relative to its path (the working directory for
        a document that is not a file)."""
        name = display_path(path) if path else uri
        net = elaborate(text=text, name=name)
        src = normalize_source(text)
        return cls(uri, version, name, src, net, src.split("\n"))

    def repaired(self, tries: int = 3) -> Analysis:
        """While a line is being typed the document may not parse, and then it has no blocks or
        parameters: this analysis again with each line that holds an error blanked (for completion
        and definition, which need the names in scope)."""
        a = self
        for _ in range(tries):
            if a.net.blocks or a.net.params or a.net.ok:
                break
            bad = {d.span.line for d in a.net.diagnostics if d.span and d.span.file == self.name}
            if not bad:
                break
            lines = ["" if i + 1 in bad else text for i, text in enumerate(a.lines)]
            net = elaborate(text="\n".join(lines), name=self.name)
            a = Analysis(self.uri, self.version, self.name, self.text, net, self.lines)
        return a

    # -- positions ------------------------------------------------------------------------------

    def file_lines(self, file: str) -> list[str] | None:
        if file == self.name:
            return self.lines
        text = self.net.sources.get(file)
        return text.split("\n") if text is not None else None

    def range_of(self, span: Span) -> tuple[Pos, Pos]:
        """The LSP range of a span of this document or of a file it imports."""
        lines = self.file_lines(span.file) or []

        def pos(line: int, col: int) -> Pos:
            if not lines:
                return (max(line - 1, 0), max(col - 1, 0))
            i = min(max(line - 1, 0), len(lines) - 1)
            return (i, col_to_utf16(lines[i], col))

        return pos(span.line, span.col), pos(span.end_line, span.end_col)

    def point(self, pos: Pos) -> tuple[int, int]:
        """An LSP position of this document -> (line, column) as spans count them (1-based)."""
        line, char = pos
        text = self.lines[line] if 0 <= line < len(self.lines) else ""
        return line + 1, utf16_to_col(text, char)

    def uri_of(self, file: str) -> str:
        return self.uri if file == self.name else Path(os.path.abspath(file)).as_uri()

    # -- nodes ----------------------------------------------------------------------------------

    @cached_property
    def index(self) -> list[Located]:
        """Every node written in this document, in pre-order; a node that several block instances
        or repeats share (they elaborate alike) is listed once, under its first path."""
        out: list[Located] = []
        seen: set[int] = set()

        def visit(node: ir.Node | None, path: str) -> None:
            if node is None or id(node) in seen:  # a body that instances share: listed once
                return
            seen.add(id(node))
            if node.span.file == self.name:
                out.append(Located(node, path))
            for child, sub in _child_paths(node):
                visit(child, f"{path}.{sub}" if path and sub else (sub or path))

        visit(self.net.body, "")
        for r in self.net.rows:  # side heads are rows of their own, outside the body
            if r.side:
                visit(r.node, r.node.name)
        for call in self.net.definitions.values():  # a block library: its rows, without shapes
            visit(call, call.name)
        return out

    def nodes_at(self, pos: Pos) -> list[Located]:
        """The innermost nodes whose span holds the position: every instance of that span, the
        first met first (a row of a block called three times is three nodes)."""
        at = self.point(pos)
        best: list[Located] = []
        best_size = None
        for loc in self.index:
            s = loc.node.span
            if not (s.line, s.col) <= at < (s.end_line, s.end_col):
                continue
            size = (s.end_line - s.line, s.end_col - s.col if s.end_line == s.line else s.end_col)
            if best_size is None or size < best_size:
                best, best_size = [loc], size
            elif size == best_size and best[0].node.span == s:
                best.append(loc)
        if not best or best[0].node.span.line != best[0].node.span.end_line:
            # beside a row on its line (its repeat count, `expect` or `if`): that row, rather
            # than a group of several lines around it
            row: list[Located] = []
            for loc in self.index:
                s = loc.node.span
                if s.line == s.end_line == at[0]:
                    if row and row[0].node.span != s:
                        break
                    row.append(loc)
            best = row or best
        # an instance with shapes first (the definitions, elaborated symbolically, have none)
        return sorted(best, key=lambda loc: loc.node.out_shape is None)

    def word_at(self, pos: Pos) -> tuple[str, int, int] | None:
        """The name under the position, with its 1-based start and end columns."""
        line, col = self.point(pos)
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        for m in re.finditer(r"[A-Za-z_][A-Za-z0-9_]*", text):
            if m.start() + 1 <= col <= m.end() + 1:
                return m.group(), m.start() + 1, m.end() + 1
        return None

    def block_at(self, pos: Pos) -> ir.BlockInfo | None:
        """The block definition of this document that the position is inside."""
        at = self.point(pos)
        for b in self.net.blocks.values():
            s = b.span
            if s.file == self.name and (s.line, s.col) <= at < (s.end_line, s.end_col):
                return b
        return None


def _child_paths(node: ir.Node) -> list[tuple[ir.Node, str]]:
    if isinstance(node, ir.Side):
        return [(node.head, "")]
    try:
        return list(node.child_paths())
    except (AttributeError, TypeError):  # a node whose body failed to elaborate
        return [(c, "") for c in node.children() if c is not None]
