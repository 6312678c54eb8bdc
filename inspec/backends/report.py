"""The report backend: one self-contained HTML page about a checked network (`inspec report`).

The page holds the spec's header (name, input, parameters, totals), the paper-style table (the cells
of `inspec table`), the audit of what the rows `expect`, the network and each block it uses as inline
SVG (rendered by `dot`, as `inspec diagram` renders them), the PyTorch module that `inspec compile`
writes, and the diagnostics. Nothing is recomputed here: every figure comes from the table backend,
the diagram backend or the code generator. The page loads nothing: its style is inline, and a
Content-Security-Policy forbids every fetch. The same network gives the same bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import jinja2
from markupsafe import Markup

from inspec import __version__
from inspec.analysis import ir
from inspec.analysis.units import fmt_exact
from inspec.backends.diagram import DiagramError, render, to_dot
from inspec.backends.table import (
    TableRow,
    notes,
    numeric_columns,
    rows,
    table_cells,
    total_cells,
)
from inspec.backends.torch import CodegenError, generate
from inspec.fileio import HTML_HEADER

TEMPLATES = Path(__file__).resolve().parent / "templates"


class ReportError(Exception):
    """The report cannot be written (a spec with errors, a block library, dot missing or failing)."""


@dataclass(frozen=True)
class Figure:
    """One diagram: its anchor, its heading, where its subject is written, and the inline SVG."""

    anchor: str
    title: str
    where: str
    svg: Markup


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The jinja environment of the page (templates/ beside this module); every value is escaped."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=True,
    )


_COMMENT = re.compile(r"<!--.*?-->\n?", re.S)
_ID = re.compile(r'\bid="([^"]*)"')
_REF = re.compile(r'(url\(#|href="#)([^)"]*)')


def inline_svg(data: bytes, prefix: str) -> Markup:
    """An SVG file as dot writes it, ready to sit in a page: from `<svg` on (no XML declaration,
    doctype or comments), every id prefixed (the page holds several diagrams, each numbering its
    nodes from 1) and the references to them likewise."""
    text = data.decode("utf-8")
    start = text.find("<svg")
    if start == -1:
        raise ReportError("dot returned something that is not an SVG")
    text = _COMMENT.sub("", text[start:])
    text = _ID.sub(lambda m: f'id="{prefix}-{m.group(1)}"', text)
    text = _REF.sub(lambda m: f"{m.group(1)}{prefix}-{m.group(2)}", text)
    return Markup(text.strip())  # dot escapes every text it writes (labels, titles)


def used_blocks(net: ir.Network) -> list[str]:
    """The blocks the network calls (directly, inside other blocks or in side heads), in the order
    they are defined; a library's blocks that the network does not call are left out."""
    found: set[str] = set()
    todo: list[ir.Node] = [net.body, *(r.node for r in net.rows)]
    while todo:
        for node in todo.pop().walk():
            if isinstance(node, ir.Call) and node.block and node.block.name not in found:
                found.add(node.block.name)
                if node.block.name in net.definitions:
                    todo.append(net.definitions[node.block.name])
    return [name for name in net.blocks if name in found]


def _svg(net: ir.Network, prefix: str, block: str | None = None) -> Markup:
    try:
        return inline_svg(render(to_dot(net, block=block), "svg"), prefix)
    except DiagramError as e:
        raise ReportError(f"cannot draw {'block ' + block if block else net.name}: {e}") from None


def _table(net: ir.Network, trs: list[TableRow], units: str) -> dict:
    """The table's cells as `inspec table` lays them out, and each column's kind (its CSS class)."""
    head, body = table_cells(net, trs, units)
    # numbers right-aligned, as the text table aligns them; the audit's notes may wrap
    numeric = numeric_columns(head)
    kinds = [
        "wrap" if h.startswith("paper") else "num" if i in numeric else ""
        for i, h in enumerate(head)
    ]
    return {
        "head": head,
        "body": [
            {"cells": cells, "off": not tr.active} for cells, tr in zip(body, trs, strict=True)
        ],
        "totals": total_cells(net, head, units),
        "kinds": kinds,
    }


def _facts(net: ir.Network) -> list[tuple[str, str]]:
    """The header's lines: input, output and the totals (and with side heads, where some are on)."""
    main, full = net.totals(), net.totals(sides=True)
    sides = any(side.active for side in net.sides)

    def count(a: int, b: int) -> str:
        return f"{fmt_exact(a)} ({fmt_exact(b)} with side heads)" if sides else fmt_exact(a)

    return [
        ("input", str(net.input)),
        ("output", str(net.output) if net.output else "?"),
        ("parameters", count(main.params, full.params)),
        ("multiply-adds", count(main.ops, full.ops)),
    ]


def _parameters(net: ir.Network) -> list[dict]:
    return [
        {
            "name": p.name,
            "value": _show(net.values.get(p.name)),
            "default": None if net.values.get(p.name) == p.default else _show(p.default),
        }
        for p in net.params
    ]


def _show(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def render_report(net: ir.Network, units: str | None = None, output: str | None = None) -> str:
    """The HTML page of a checked network. units: the table's (default: the spec's); output: the
    file the page will be written to (the generated code's paths are relative to its folder)."""
    if not net.ok:
        raise ReportError("the spec has errors; run `inspec check` to see them")
    if net.input is None:
        raise ReportError(f"{net.file} is a block library: it has no network to report")
    units = units or net.units
    try:
        code = generate(net, output=output)
    except CodegenError as e:
        raise ReportError(str(e)) from None
    figures = [Figure("fig-network", net.name, net.file, _svg(net, "net"))]
    for name in used_blocks(net):
        span = net.blocks[name].span
        where = f"{span.file}:{span.line}"
        figures.append(Figure(f"fig-block-{name}", name, where, _svg(net, f"block-{name}", name)))
    diagnostics = [
        {"severity": d.severity.value, "text": d.render(net.sources)}
        for d in net.diagnostics
        if not d.is_error
    ]
    trs = rows(net, "rows")
    audit = [tr for tr in trs if tr.checks]  # the rows that `expect` something
    return (
        environment()
        .get_template("report.html.j2")
        .render(
            header=Markup(HTML_HEADER),
            version=__version__,
            net=net,
            facts=_facts(net),
            parameters=_parameters(net),
            table=_table(net, trs, units),
            notes=notes(net, units),
            audit=audit,
            checks=sum(len(tr.checks) for tr in audit),
            agree=sum(c.ok for tr in audit for c in tr.checks),
            figures=figures,
            code=code,
            diagnostics=diagnostics,
            warnings=sum(d["severity"] == "warning" for d in diagnostics),
        )
    )
