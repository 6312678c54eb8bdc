"""The answer to each LSP request, as lsprotocol values, from a document's Analysis: diagnostics,
hover, go to definition, completion and formatting. The server (server.py) only routes requests here.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from lsprotocol import types as T

from inspec.analysis import exprs as E
from inspec.analysis import ir
from inspec.analysis.ops import ACT_WORDS, OPS, ROW_OPS, OpDef
from inspec.analysis.units import fmt_count
from inspec.diagnostics import Diagnostic, Severity, Span
from inspec.lsp.analysis import Analysis, Located, Pos

SOURCE = "inspec"
_SEVERITY = {
    Severity.ERROR: T.DiagnosticSeverity.Error,
    Severity.WARNING: T.DiagnosticSeverity.Warning,
    Severity.NOTE: T.DiagnosticSeverity.Information,
}
STATEMENTS = ("network", "input", "units", "padding", "defaults", "init", "import", "block")
BODY_KEYWORDS = ("branch", "seq", "residual", "side", "add", "mul", "concat", "split")
ROW_KEYWORDS = ("expect", "if")
EXPECT_KEYS = ("output", "params", "weights", "ops", "depth")
PAD_WORDS = ("same", "valid", "half")  # a `pad` also takes numbers (Attr.describe_kind)


def _range(a: Analysis, span: Span) -> T.Range:
    (l0, c0), (l1, c1) = a.range_of(span)
    return T.Range(T.Position(l0, c0), T.Position(l1, c1))


def _start(line: int = 0) -> T.Range:
    return T.Range(T.Position(line, 0), T.Position(line, 0))


# ------------------------------------------------------------------------------------------------
# Diagnostics


def diagnostics(a: Analysis) -> list[T.Diagnostic]:
    """The document's diagnostics: the CLI's message with its notes, one per line; a diagnostic in
    an imported file is shown where this document reaches it (the call or the import), with the
    file's own location as related information."""
    return [_diagnostic(a, d) for d in a.net.diagnostics]


def message(d: Diagnostic) -> str:
    """The CLI's text of a diagnostic without the location and the quoted line."""
    return "\n".join([d.message, *(f"note: {n}" for n in d.notes)])


def _diagnostic(a: Analysis, d: Diagnostic) -> T.Diagnostic:
    related = None
    if d.span is not None and d.span.file == a.name:
        where = _range(a, d.span)
    else:
        where = _reached_at(a, d)
        if d.span is not None:
            loc = T.Location(a.uri_of(d.span.file), _range(a, d.span))
            related = [T.DiagnosticRelatedInformation(loc, f"{d.span}: {d.message}")]
    return T.Diagnostic(
        range=where,
        message=message(d),
        severity=_SEVERITY[d.severity],
        code=d.code,
        source=SOURCE,
        related_information=related,
    )


def _reached_at(a: Analysis, d: Diagnostic) -> T.Range:
    """Where this document reaches a diagnostic of another file: the call a note names, else the
    first import, else the first line."""
    pattern = re.compile(re.escape(a.name) + r":(\d+):(\d+)")
    for note in d.notes:
        m = pattern.search(note)
        if m:
            line = int(m.group(1)) - 1
            return _line_range(a, line)
    for i, text in enumerate(a.lines):
        if re.match(r"\s*import\b", text):
            return _line_range(a, i)
    return _start()


def _line_range(a: Analysis, line: int) -> T.Range:
    text = a.lines[line] if 0 <= line < len(a.lines) else ""
    indent = len(text) - len(text.lstrip())
    code = text.split("#", 1)[0].rstrip()
    return T.Range(
        T.Position(line, indent), T.Position(line, max(len(code.encode("utf-16-le")) // 2, indent))
    )


# ------------------------------------------------------------------------------------------------
# Hover


def hover(a: Analysis, pos: Pos) -> T.Hover | None:
    """The row under the cursor: input -> output shape, params, weights and ops, its attributes
    (a block call: the block's header strings with the argument values)."""
    found = a.nodes_at(pos)
    if not found:
        return _op_hover(a, pos)
    first = found[0]
    parts = _describe(a, first)
    others = [loc for loc in found[1:] if loc.node.out_shape is not None]
    if others:
        # instances that elaborate alike share one node: these are the distinct ones
        listed = [f"{len(found)} distinct instances (alike ones are listed once); the others:"]
        listed += [f"- `{loc.path}`: {_shapes(loc.node)}" for loc in others[:8]]
        if len(others) > 8:
            listed.append(f"- and {len(others) - 8} more")
        parts.append("\n".join(listed))
    s, at = first.node.span, a.point(pos)
    inside = (s.line, s.col) <= at < (s.end_line, s.end_col)  # not past the row, on its `expect`
    return T.Hover(
        contents=T.MarkupContent(T.MarkupKind.Markdown, "\n\n".join(parts)),
        range=_range(a, s) if inside else None,
    )


def _describe(a: Analysis, loc: Located) -> list[str]:
    node = loc.node
    head = f"**{_title(node)}**"
    if loc.path:
        head += f" — module `{loc.path}`"
    parts = [head]
    if not node.active:
        parts.append("off: its condition is false for these parameters")
    if node.out_shape is not None or node.in_shape is not None:
        parts.append(_shapes(node))
        parts.append(_costs(a, node))
    elif a.net.input is None:
        parts.append("a block definition: its shapes and costs show where a network calls it")
    layer = node.head if isinstance(node, ir.Side) else node
    if isinstance(layer, ir.Repeat) and layer.items:
        layer = layer.items[0]
    if isinstance(layer, ir.Layer):
        attrs = _attrs(layer)
        if attrs:
            parts.append(attrs)
        if layer.op.doc:
            parts.append(f"---\n{layer.op.name}: {layer.op.doc}")
    elif isinstance(layer, ir.Call) and layer.block is not None:
        if layer.block.params:
            parts.append(_args_table(layer))
        b = layer.block
        parts.append(f"block `{b.name}`, defined at {b.span.file}:{b.span.line}")
    return parts


def _title(node: ir.Node) -> str:
    if isinstance(node, ir.Layer) and node.op:
        return f"{node.title} ({node.label})" if node.label else node.title
    if isinstance(node, ir.Call) and node.block:
        return node.title
    if isinstance(node, ir.Repeat):
        return f"{node.count} x {_title(node.items[0]) if node.items else node.name}"
    if isinstance(node, ir.Side):
        return f"side: {_title(node.head)}"
    if isinstance(node, ir.Merge):
        return "seq" if node.group else (node.op.name if node.op else "concat")
    if isinstance(node, ir.Branch):
        return f"branch {node.name}"
    if isinstance(node, ir.Residual):
        return "residual"
    return node.name or type(node).__name__.lower()


def _shapes(node: ir.Node) -> str:
    def shown(s):
        return f"`{s}`" if s is not None else "unknown"

    return f"{shown(node.in_shape)} → {shown(node.out_shape)}"


def _costs(a: Analysis, node: ir.Node) -> str:
    units = a.net.units
    out = []
    for kind in ("params", "weights", "ops"):
        n = getattr(node.cost, kind)
        text = f"{kind} {n:,}"
        if units == "paper":
            text += f" ({fmt_count(n, kind, units)})"
        out.append(text)
    return " · ".join(out)


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, tuple):
        return "x".join(_value(x) for x in v) if all(isinstance(x, int) for x in v) else str(v)
    return str(v)


def _attrs(layer: ir.Layer) -> str:
    """The attributes the row and the `defaults` line set, with the patch, in the registry's order;
    a value not known here (a block definition's parameter) as its expression."""
    written = {**layer.defaulted, **layer.sources}
    given = set(written) | ({"kernel", "stride"} if layer.patch else set())
    shown = []
    for a in layer.op.attrs:
        v = layer.attrs.get(a.name)
        if a.name not in given:
            continue
        if isinstance(v, (bool, int, float, str, tuple)):
            shown.append(f"{a.name}={_value(v)}")
        elif a.name in written:
            shown.append(f"{a.name}={E.show(written[a.name])}")
    return " · ".join(f"`{s}`" for s in shown)


def _args_table(call: ir.Call) -> str:
    params = call.block.params
    heads = [p.header or p.name for p in params]
    values = [_value(call.args.get(p.name)) for p in params]
    return "\n".join(
        [
            "| " + " | ".join(heads) + " |",
            "|" + "---:|" * len(heads),
            "| " + " | ".join(values) + " |",
        ]
    )


def _op_hover(a: Analysis, pos: Pos) -> T.Hover | None:
    """Outside any row: the op or block named under the cursor (a `defaults` line, a library)."""
    word = a.word_at(pos)
    if word is None:
        return None
    name = word[0]
    op = OPS.get(name)
    if op is not None:
        text = f"**{op.name}** ({op.title}): {op.doc}\n\n" + _op_attrs(op)
    elif name in a.net.blocks:
        b = a.net.blocks[name]
        text = f"block **{b.name}**({', '.join(p.name for p in b.params)}), defined at {b.span}"
    else:
        return None
    return T.Hover(contents=T.MarkupContent(T.MarkupKind.Markdown, text))


def _op_attrs(op: OpDef) -> str:
    return "\n".join(f"- `{x.name}` ({x.describe_kind()}): {x.doc}" for x in op.attrs)


# ------------------------------------------------------------------------------------------------
# Definition


def definition(a: Analysis, pos: Pos, fallback: Analysis | None = None) -> list[T.Location]:
    """A block name -> its `block` definition (in this file or an imported one); a parameter -> its
    declaration; an import's path -> the file."""
    line = a.lines[pos[0]] if 0 <= pos[0] < len(a.lines) else ""
    m = re.match(r'\s*import\s+"([^"]*)"', line)
    if m:
        base = Path(a.name).parent if a.name != a.uri else Path(".")
        target = os.path.normpath(str(base / m.group(1)))
        if os.path.isfile(target):
            return [T.Location(Path(os.path.abspath(target)).as_uri(), _start())]
        return []
    word = a.word_at(pos)
    if word is None:
        return []
    name = word[0]
    for an in filter(None, (a, fallback)):
        block = an.net.blocks.get(name)
        if block is not None:
            return [T.Location(an.uri_of(block.span.file), _range(an, block.span))]
        inside = an.block_at(pos)
        params = list(inside.params) if inside is not None else list(an.net.params)
        for p in params:
            if p.name == name:
                return [T.Location(an.uri_of(p.span.file), _range(an, p.span))]
    return []


# ------------------------------------------------------------------------------------------------
# Completion


def completion(a: Analysis, pos: Pos, fallback: Analysis | None = None) -> T.CompletionList:
    """What may be written at the cursor: at the start of a statement ops, blocks and keywords;
    after a row's type its attributes (a block's parameters) and the names in scope; after
    `attr=` the attribute's words and the names in scope."""
    # a document that does not parse has no blocks: use its last analysis that had some
    src = fallback or a
    line_no, col = a.point(pos)
    line = a.lines[line_no - 1] if 0 < line_no <= len(a.lines) else ""
    prefix = line[: col - 1]
    if "#" in prefix or prefix.count('"') % 2:
        return T.CompletionList(is_incomplete=False, items=[])
    stmt = re.split(r"[;{]", prefix)[-1]
    stmt = re.sub(r"^\s*(?:[0-9]+|[A-Za-z_]\w*|\([^)]*\)|[A-Za-z_]\w*\([^)]*\))\s+x\s+", "", stmt)
    items: list[T.CompletionItem] = []
    scope = _scope(src, pos)
    if re.fullmatch(r"\s*[A-Za-z_]*", stmt):
        items += _op_items() + _block_items(src)
        words = BODY_KEYWORDS if src.block_at(pos) else STATEMENTS + BODY_KEYWORDS
        items += [T.CompletionItem(w, kind=T.CompletionItemKind.Keyword) for w in words]
    elif re.fullmatch(r"\s*defaults\s+\w*", stmt):
        items += _op_items()
    elif re.search(r"\bexpect\b(?:\s+\w+=\S*)*\s+\w*$", stmt):
        items += [
            T.CompletionItem(k, kind=T.CompletionItemKind.Property, insert_text=f"{k}=")
            for k in EXPECT_KEYS
        ]
    else:
        head = re.match(r"\s*(?:defaults\s+)?([A-Za-z_]\w*)", stmt)
        op = _op_of(head.group(1) if head else "", src)
        value = re.search(r"\b([A-Za-z_]\w*)=[A-Za-z_]*$", stmt)
        if value:
            attr = op.attr(value.group(1)) if isinstance(op, OpDef) else None
            words = ACT_WORDS if value.group(1) == "act" else _words(attr)
            items += [T.CompletionItem(w, kind=T.CompletionItemKind.EnumMember) for w in words]
            items += scope
        elif re.search(r"(?:^|[\s(,])[A-Za-z_]*$", stmt):
            items += (
                _attr_items(op)
                + scope
                + [T.CompletionItem(w, kind=T.CompletionItemKind.Keyword) for w in ROW_KEYWORDS]
            )
    return T.CompletionList(is_incomplete=False, items=items)


def _words(attr) -> tuple[str, ...]:
    """The words an attribute takes: an enum's choices, a padding's names."""
    if attr is None:
        return ()
    return PAD_WORDS if attr.kind == "pad" else attr.choices


def _op_items() -> list[T.CompletionItem]:
    return [
        T.CompletionItem(
            name,
            kind=T.CompletionItemKind.Function,
            detail=op.title,
            documentation=T.MarkupContent(T.MarkupKind.Markdown, f"{op.doc}\n\n{_op_attrs(op)}"),
        )
        for name, op in ROW_OPS.items()
    ]


def _block_items(a: Analysis) -> list[T.CompletionItem]:
    return [
        T.CompletionItem(
            name,
            kind=T.CompletionItemKind.Class,
            detail=f"block {name}({', '.join(p.header or p.name for p in b.params)})",
            documentation=f"defined at {b.span}",
        )
        for name, b in a.net.blocks.items()
    ]


def _op_of(name: str, a: Analysis) -> OpDef | ir.BlockInfo | None:
    if name in ("residual", "add", "mul"):
        return OPS["add"] if name != "mul" else OPS["mul"]
    return ROW_OPS.get(name) or a.net.blocks.get(name)


def _attr_items(op: OpDef | ir.BlockInfo | None) -> list[T.CompletionItem]:
    if isinstance(op, ir.BlockInfo):
        return [
            T.CompletionItem(
                p.name,
                kind=T.CompletionItemKind.Property,
                insert_text=f"{p.name}=",
                detail=p.header,
            )
            for p in op.params
        ]
    if op is None:
        return []
    return [
        T.CompletionItem(
            x.name,
            kind=T.CompletionItemKind.Property,
            insert_text=f"{x.name}=",
            detail=x.describe_kind(),
            documentation=x.doc,
        )
        for x in op.attrs
    ]


def _scope(a: Analysis, pos: Pos) -> list[T.CompletionItem]:
    """The names an expression may read here: a block's parameters and `in` inside a block, else
    the network's parameters."""
    block = a.block_at(pos)
    if block is not None:
        names = [(p.name, p.header or "block parameter") for p in block.params]
        names.append(("in", "the block's input channels"))
    else:
        names = [(p.name, f"network parameter = {_value(p.default)}") for p in a.net.params]
    return [T.CompletionItem(n, kind=T.CompletionItemKind.Variable, detail=d) for n, d in names]


# ------------------------------------------------------------------------------------------------
# Formatting


def formatting(text: str, name: str) -> list[T.TextEdit]:
    """The whole document as `inspec fmt` writes it (no edits when it has syntax errors or is
    formatted already)."""
    try:
        from inspec.language.fmt import format_text
    except ImportError:  # formatting is not part of this build
        return []
    result = format_text(text, name)
    if not result.changed or any(d.is_error for d in result.diagnostics):
        return []
    lines = re.split(r"\r\n|\r|\n", text)  # LSP's line ends: \r\n, \r and \n
    end = T.Position(len(lines) - 1, len(lines[-1].encode("utf-16-le")) // 2)
    return [T.TextEdit(T.Range(T.Position(0, 0), end), result.text)]
