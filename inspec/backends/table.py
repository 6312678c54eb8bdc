"""The table backend: the network as its paper's Table 1 (text, markdown, csv, json or LaTeX).

Rows are the spec's top-level statements ("rows"), or every layer inside them ("layers"). Columns follow
GoogLeNet's Table 1: type, patch size/stride, output size, depth, the blocks' parameter columns under
their headers, params and ops. JSON is a stable interface, documented in docs/table-json.md.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from typing import Any

from inspec.analysis import ir
from inspec.analysis.conventions import DEFAULT, Count, describe
from inspec.analysis.units import fmt_count, fmt_exact
from inspec.backends.grid import (
    latex_cell,
    latex_escape,
    latex_label,
    latex_lines,
    markdown_lines,
    text_lines,
)

CONVENTION = {
    "params": "weights + biases + batch-norm affine parameters (running statistics are buffers)",
    "weights": "conv and linear kernels only",
    "ops": "multiply-adds of conv and linear layers (the GoogLeNet paper's ops)",
}
SCHEMA_VERSION = 1


@dataclass
class TableRow:
    label: str | None
    type: str
    patch: tuple[int, int] | None
    stride: int | None
    output: list[int] | None
    depth: int
    args: dict[str, Any]
    params: int
    weights: int
    ops: int
    side: bool = False
    active: bool = True
    level: int = 0
    path: str = ""
    headers: dict[str, str] = field(default_factory=dict)  # arg name -> column header
    checks: list[ir.Check] = field(default_factory=list)  # the audit of the row's `expect`
    loss_weight: float | None = None  # a side head's: the weight of its loss in the training loss

    def audit_text(self) -> str:
        if not self.checks:
            return ""
        bad = [c for c in self.checks if not c.ok]
        if not bad:
            return "agrees"
        return "; ".join(f"{c.key} {c.printed} (is {c.computed})" for c in bad)

    def patch_text(self) -> str:
        if self.patch is None:
            return ""
        kh, kw = self.patch
        return f"{kh}x{kw}/{self.stride}" if self.stride is not None else f"{kh}x{kw}"

    def output_text(self) -> str:
        return "x".join(str(v) for v in self.output) if self.output else "?"


def _patch_of(node: ir.Node) -> tuple[tuple[int, int] | None, int | None]:
    if isinstance(node, ir.Layer):
        return node.patch, node.stride
    if isinstance(node, ir.Call) and node.body and node.body.items:
        last = node.body.items[-1]
        if all(isinstance(n, ir.Layer) for n in node.body.items):
            return _patch_of(last)
    return None, None


def _describe(node: ir.Node) -> tuple[str, str | None, dict[str, Any], dict[str, str]]:
    """type text, label, args and their headers for one top-level node."""
    if isinstance(node, ir.Side):
        t, label, args, headers = _describe(node.head)
        return f"side: {t}", label, args, headers
    if isinstance(node, ir.Repeat):
        first = node.items[0] if node.items else None
        inner = _describe(first)[0] if first else (node.of or node.name)
        _, _, args, headers = _describe(first) if first else ("", None, {}, {})
        return f"{node.count} x {inner}", node.label, args, headers
    if isinstance(node, ir.Call):
        headers = {p.name: p.header for p in node.block.params if p.header}
        t = node.block.name
        if node.label and node.label != node.block.name:
            t += f" ({node.label})"
        return t, node.label, dict(node.args), headers
    if isinstance(node, ir.Layer):
        t = node.op.display(node.attrs) if node.attrs else node.op.title
        if node.label:
            t += f" ({node.label})"
        return t, node.label, {}, {}
    if ir.is_group(node):
        b = node.branches[0]
        return (f"seq ({b.name})" if b.given else "seq"), None, {}, {}
    if isinstance(node, ir.Merge):
        return node.op.title, None, {}, {}
    if isinstance(node, ir.Residual):
        return "residual", None, {}, {}
    if isinstance(node, ir.Branch):  # a seq's child seq: what it holds
        return f"seq ({', '.join(_summary(n) for n in node.body.items)})", None, {}, {}
    return node.name, None, {}, {}


def _summary(node: ir.Node) -> str:
    """A short name for a row inside a seq: its op or block, a repeat's count."""
    if isinstance(node, ir.Repeat):
        inner = _summary(node.items[0]) if node.items else (node.of or "nothing")
        return f"{node.count} x {inner}"
    if isinstance(node, ir.Call):
        return node.block.name
    if isinstance(node, ir.Layer):
        return node.op.name
    return "seq" if ir.is_group(node) else node.op.name if getattr(node, "op", None) else "rows"


def _row(
    node: ir.Node, level: int = 0, path: str = "", side: bool = False, count: Count | None = None
) -> TableRow:
    t, label, args, headers = _describe(node)
    patch, stride = _patch_of(node.head if isinstance(node, ir.Side) else node)
    out = node.out_shape.as_list() if node.out_shape else None
    return TableRow(
        label=label,
        type=t,
        patch=patch,
        stride=stride,
        output=out,
        depth=node.depth,
        args=args,
        params=node.cost.params,
        weights=node.cost.weights,
        ops=count[node] if count else node.cost.ops,
        side=side or isinstance(node, ir.Side),
        active=node.active,
        level=level,
        path=path,
        headers=headers,
        loss_weight=node.loss_weight if isinstance(node, ir.Side) else None,
    )


def _seq_rows(br: ir.Branch) -> list[tuple[ir.Node, str]]:
    """A top-level seq's rows with their paths: each child, except that the instances of a
    repeat are one row whose path spans them (`6..9`, `block1-0..block1-5`)."""
    at = {id(c): sub for c, sub in br.child_paths()}
    out: list[tuple[ir.Node, str]] = []
    for item in br.body.items:
        if isinstance(item, ir.Repeat) and (item.spliced or item.template):
            subs = [at[id(i)] for i in item.items if id(i) in at]
            if subs:
                out.append((item, subs[0] if len(subs) == 1 else f"{subs[0]}..{subs[-1]}"))
            continue
        child = item.branches[0] if ir.is_group(item) else item  # a seq's child seq: its branch
        if id(child) in at:
            out.append((child, at[id(child)]))
    return out


def _counter(net: ir.Network, count: str) -> Count | None:
    """The ops of a counting convention (inspec/analysis/conventions.py); None for the default,
    which the IR's costs hold."""
    return None if count == DEFAULT else Count(net, count)


def ops_line(count: str) -> str:
    """What the ops column counts: the paper's multiply-adds, or a convention's (--count)."""
    return CONVENTION["ops"] if count == DEFAULT else describe(count)


def rows(net: ir.Network, granularity: str = "rows", count: str = DEFAULT) -> list[TableRow]:
    c = _counter(net, count)
    out: list[TableRow] = []
    nested = {id(r.node): r for r in net.nested_rows}
    for r in net.rows:
        node = r.node
        if granularity == "rows" and ir.is_group(node) and node.branches[0].is_sequence:
            # a seq at the top (torchvision's `features`): one row for each of its children, a
            # repeat's instances in one row as the spec writes it (`features.6..9: 4 x inception_a`)
            br = node.branches[0]
            for child, sub in _seq_rows(br):
                path = f"{br.name}.{sub}" if sub else br.name
                tr = _row(child, path=path, count=c)
                tr.type = f"{path}: {tr.type}"
                tr.active = node.active and ir.is_on(child) and br.active
                tr.checks = list(nested[id(child)].checks) if id(child) in nested else []
                out.append(tr)
            continue
        if granularity == "rows":
            path = node.name
            if isinstance(node, ir.Repeat) and node.template and node.items:
                # named instances (`3 x cb (layer1..)`): modules layer1..layer3, not one `layer(x)`
                first, last = node.items[0].name, node.items[-1].name
                path = first if first == last else f"{first}..{last}"
            tr = _row(node, path=path, count=c)
            tr.checks = list(r.checks)
            out.append(tr)
            continue
        is_side = isinstance(node, ir.Side)
        first = len(out)
        on = {(full, id(layer)) for full, layer in ir.row_layers(node)}
        for full, layer in ir.row_layers(node, include_inactive=True):
            tr = _row(layer, level=0, path=full, side=is_side, count=c)
            title = layer.op.display(layer.attrs) if layer.attrs else layer.op.title
            tr.type = f"{full}: {title}"
            tr.label = full
            tr.active = (full, id(layer)) in on  # a condition inside a block may switch it off
            out.append(tr)
        if c is not None and node.active:
            # what the convention counts outside every layer's module (ptflops: an add's
            # activation after the sum): a row of its own, so that the rows add up to the total
            rest = c[node] - sum(tr.ops for tr in out[first:] if tr.active)
            if rest:
                name = node.name
                out.append(
                    TableRow(
                        label=name,
                        type=f"{name}: activations after adds",
                        patch=None,
                        stride=None,
                        output=node.out_shape.as_list() if node.out_shape else None,
                        depth=0,
                        args={},
                        params=0,
                        weights=0,
                        ops=rest,
                        side=is_side,
                        path=name,
                    )
                )
    return out


def totals(net: ir.Network, count: str = DEFAULT) -> dict[str, Any]:
    """The totals as the JSON holds them: over active rows, without and with the side heads."""
    main = net.totals(sides=False)
    full = net.totals(sides=True)
    c = _counter(net, count)
    return {
        "params": main.params,
        "weights": main.weights,
        "ops": c.total() if c else main.ops,
        "with_side_heads": {
            "params": full.params,
            "weights": full.weights,
            "ops": c.total(sides=True) if c else full.ops,
        },
    }


def _columns(trs: list[TableRow]) -> list[tuple[str, str]]:
    """The block-parameter columns: (arg name, header), in order of first appearance by header."""
    cols: list[tuple[str, str]] = []
    seen: set[str] = set()
    # The block with the most columns sets their order (Table 1: #1x1, #3x3 reduce, #3x3, ...).
    for tr in sorted(trs, key=lambda t: -len(t.headers)):
        for name, header in tr.headers.items():
            if header not in seen:
                seen.add(header)
                cols.append((name, header))
    return cols


def _arg_cell(tr: TableRow, header: str) -> str:
    for name, h in tr.headers.items():
        if h == header:
            v = tr.args.get(name)
            return "" if v is None else (f"{v:g}" if isinstance(v, float) else str(v))
    return ""


def table_cells(
    net: ir.Network, trs: list[TableRow], units: str
) -> tuple[list[str], list[list[str]]]:
    """Header and cells. A weights column appears when the spec audits weights; an audit column
    ("paper") when any row carries expectations."""
    cols = _columns(trs)
    weights = any(c.key == "weights" for tr in trs for c in tr.checks)
    audit = any(tr.checks for tr in trs)
    head = ["type", "patch size/stride", "output size", "depth"] + [h for _, h in cols]
    head += ["params"] + (["weights"] if weights else []) + ["ops"]
    head += ["paper (printed vs computed)"] if audit else []
    body = []
    for tr in trs:
        t = ("  " * tr.level) + tr.type
        if not tr.active:
            t += " [off]"
        line = [t, tr.patch_text(), tr.output_text(), str(tr.depth) if tr.depth else "0"]
        line += [_arg_cell(tr, h) for _, h in cols]
        line += [fmt_count(tr.params, "params", units)]
        if weights:
            line += [fmt_count(tr.weights, "weights", units)]
        line += [fmt_count(tr.ops, "ops", units)]
        if audit:
            line += [tr.audit_text()]
        body.append(line)
    return head, body


def loss_weights_line(net: ir.Network) -> str:
    """The side heads' loss weights, as the generated outputs' loss() applies them."""
    weights = ", ".join(f"{s.name} {s.loss_weight:g}" for s in net.sides)
    what = "the training loss adds each side head's loss times its weight"
    return f"loss weights: {weights} ({what})"


def units_line(units: str) -> str:
    """What the counts are in: exact, or the paper's K and M."""
    if units == "paper":
        return "units: params in K = 1024, ops in M = 10^6 (as the GoogLeNet paper prints them)"
    return "units: exact counts"


def _total_lines(
    net: ir.Network, units: str, count: str = DEFAULT
) -> list[tuple[str, str, str, str]]:
    t = totals(net, count)
    lines = [
        (
            "total",
            fmt_count(t["params"], "params", units),
            fmt_count(t["weights"], "weights", units),
            fmt_count(t["ops"], "ops", units),
        )
    ]
    if net.sides:
        w = t["with_side_heads"]
        lines.append(
            (
                "total with side heads",
                fmt_count(w["params"], "params", units),
                fmt_count(w["weights"], "weights", units),
                fmt_count(w["ops"], "ops", units),
            )
        )
    return lines


def total_cells(
    net: ir.Network, head: list[str], units: str, count: str = DEFAULT
) -> list[list[str]]:
    """The totals lines, each cell under its header."""
    out = []
    for label, p, w, o in _total_lines(net, units, count):
        cells = [""] * len(head)
        cells[0] = label
        for name, value in (("params", p), ("weights", w), ("ops", o)):
            if name in head:
                cells[head.index(name)] = value
        out.append(cells)
    return out


def numeric_columns(head: list[str]) -> set[int]:
    """The columns of table_cells that hold numbers (right-aligned in every format): those after
    the type, patch and output columns, but the paper audit's notes."""
    return {i for i, h in enumerate(head) if i >= 3 and not h.startswith("paper")}


def render_text(
    net: ir.Network, granularity: str = "rows", units: str = "exact", count: str = DEFAULT
) -> str:
    trs = rows(net, granularity, count)
    head, body = table_cells(net, trs, units)
    numeric = numeric_columns(head)
    inp = "x".join(map(str, net.input.as_list())) if net.input else "?"
    out = [f"{net.name}: input {inp}", ""]
    out += text_lines(head, body, numeric, total_cells(net, head, units, count))
    out.append("")
    out += notes(net, units, count)
    return "\n".join(out) + "\n"


def notes(net: ir.Network, units: str = "exact", count: str = DEFAULT) -> list[str]:
    """The lines under the table: what params and ops count, their units, and for a network with
    side heads what the side rows are and their loss weights."""
    out = [f"params = {CONVENTION['params']}; ops = {ops_line(count)}.", units_line(units) + "."]
    if net.sides:
        out.append(
            "side: rows are side heads, computed in training mode only; the first total leaves them out."
        )
        out.append(loss_weights_line(net) + ".")
    return out


def render_markdown(
    net: ir.Network, granularity: str = "rows", units: str = "exact", count: str = DEFAULT
) -> str:
    trs = rows(net, granularity, count)
    head, body = table_cells(net, trs, units)
    numeric = numeric_columns(head)
    out = [
        f"**{net.name}**: input {'x'.join(map(str, net.input.as_list())) if net.input else '?'}",
        "",
    ]
    out += markdown_lines(head, body, numeric, total_cells(net, head, units, count))
    out.append("")
    out.append(f"params = {CONVENTION['params']}; ops = {ops_line(count)}; {units_line(units)}.")
    if net.sides:
        out += ["", loss_weights_line(net) + "."]
    return "\n".join(out) + "\n"


def render_csv(
    net: ir.Network, granularity: str = "rows", units: str = "exact", count: str = DEFAULT
) -> str:
    trs = rows(net, granularity, count)
    cols = _columns(trs)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(
        ["label", "type", "patch", "stride", "output", "depth"]
        + [h for _, h in cols]
        + ["params", "weights", "ops", "side", "active"]
        + (["loss_weight"] if net.sides else [])
    )
    for tr in trs:
        w.writerow(
            [
                tr.label or "",
                tr.type,
                tr.patch_text().split("/")[0],
                tr.stride or "",
                tr.output_text(),
                tr.depth,
            ]
            + [_arg_cell(tr, h) for _, h in cols]
            + [tr.params, tr.weights, tr.ops, int(tr.side), int(tr.active)]
            + ([f"{tr.loss_weight:g}" if tr.loss_weight is not None else ""] if net.sides else [])
        )
    return buf.getvalue()


def render_latex(
    net: ir.Network, granularity: str = "rows", units: str = "exact", count: str = DEFAULT
) -> str:
    """A booktabs table for a paper (needs \\usepackage{booktabs}): the text table's columns and
    totals without the audit column, LaTeX's special characters escaped, sizes with times signs."""
    trs = rows(net, granularity, count)
    head, body = table_cells(net, trs, units)
    keep = [i for i, h in enumerate(head) if not h.startswith("paper")]
    sums = total_cells(net, head, units, count)

    def cut(cells: list[str]) -> list[str]:
        return [cells[i] for i in keep]

    inp = "x".join(map(str, net.input.as_list())) if net.input else "?"
    numeric = numeric_columns(head)
    right = {j for j, i in enumerate(keep) if i in numeric}
    tabular = latex_lines(cut(head), [cut(r) for r in body], right, [cut(r) for r in sums])
    out = [
        f"% {net.name}: input {inp}; written by inspec table --format latex",
        f"% params = {CONVENTION['params']}; ops = {ops_line(count)}",
        f"% {units_line(units)}",
        r"% needs \usepackage{booktabs}",
        r"\begin{table}",
        r"\centering",
        r"\small",
        *tabular,
        rf"\caption{{{latex_escape(net.name)}: input {latex_cell(inp)}.}}",
        rf"\label{{tab:{latex_label(net.name)}}}",
        r"\end{table}",
    ]
    return "\n".join(out) + "\n"


def to_json(net: ir.Network, granularity: str = "rows", count: str = DEFAULT) -> dict[str, Any]:
    trs = rows(net, granularity, count)
    convention = dict(CONVENTION)
    if count != DEFAULT:  # --count NAME: the ops column as that tool counts it
        convention.update(ops=ops_line(count), count=count)
    return {
        "schema": SCHEMA_VERSION,
        "network": net.name,
        "input": net.input.as_list() if net.input else None,
        "parameters": {p.name: net.values.get(p.name) for p in net.params},
        "granularity": granularity,
        "convention": convention,
        "rows": [
            {
                "name": tr.path,
                "label": tr.label,
                "type": tr.type,
                "patch": list(tr.patch) if tr.patch else None,
                "stride": tr.stride,
                "output": tr.output,
                "depth": tr.depth,
                "args": {(tr.headers.get(k) or k): v for k, v in tr.args.items()},
                "params": tr.params,
                "weights": tr.weights,
                "ops": tr.ops,
                "side": tr.side,
                "active": tr.active,
            }
            for tr in trs
        ],
        "totals": totals(net, count),
        # with side heads: each one's weight in the training loss, by row name
        **({"loss_weights": {s.name: s.loss_weight for s in net.sides}} if net.sides else {}),
    }


def jsonable(v: Any) -> Any:
    """A value as JSON holds it: a word (an enum value such as relu) as its string; a float that is not
    finite as the string "inf", "-inf" or "nan" (JSON has no such numbers); a tuple as a list."""
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else ("nan" if math.isnan(v) else ("inf" if v > 0 else "-inf"))
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    return str(v)


def dump_json(doc: Any) -> str:
    """A JSON document as every backend prints it: jsonable values, indented, one final newline."""
    return json.dumps(jsonable(doc), indent=2, allow_nan=False) + "\n"


def render_json(
    net: ir.Network, granularity: str = "rows", units: str = "exact", count: str = DEFAULT
) -> str:
    return dump_json(to_json(net, granularity, count))


RENDERERS = {
    "text": render_text,
    "markdown": render_markdown,
    "csv": render_csv,
    "json": render_json,
    "latex": render_latex,
}


def summary_line(net: ir.Network) -> str:
    t = net.totals()
    inp = "x".join(map(str, net.input.as_list())) if net.input else "?"
    out = net.output
    text = f"{net.name}: {inp} -> {out if out else '?'}, {fmt_exact(t.params)} params, {fmt_exact(t.ops)} multiply-adds"
    if any(side.active for side in net.sides):
        w = net.totals(sides=True)
        text += f" ({fmt_exact(w.params)} params with side heads)"
    return text
