"""View tree -> DOT text, built by hand so that it is deterministic (no dict-of-sets, no ids from `id()`:
node ids are the table's dotted paths) and fully escaped (every label is an HTML-like label whose text
goes through `_html`; every quoted attribute through `_text`; every name through `_id`). Styling comes
from the op registry: a box's colour is `CATEGORY_STYLE[op.category]`; nothing here switches on op
names.
"""

from __future__ import annotations

import hashlib
from typing import Any

from inspec.analysis import ir
from inspec.backends.diagram.view import (
    VBox,
    VCluster,
    VSeq,
    VSide,
    VSplit,
    _IRView,
    _shape,
)
from inspec.diagnostics import did_you_mean
from inspec.fileio import DOT_HEADER

FORMATS = ("svg", "png", "pdf", "dot")
DETAILS = ("network", "blocks")
RANKDIRS = ("TB", "LR")
FONT = "Helvetica"

# category -> (fill colour, legend text). The one table of diagram style; an op picks its row by category.
CATEGORY_STYLE: dict[str, tuple[str, str]] = {
    "conv": ("#cfe2f3", "convolution"),
    "pool": ("#f4cccc", "pooling"),
    "norm": ("#fff2cc", "normalisation"),
    "merge": ("#d9ead3", "concat / add"),
    "classifier": ("#e1d5e7", "classifier"),
    "activation": ("#eeeeee", "activation"),
    "regularizer": ("#eeeeee", "dropout"),
    "reshape": ("#eeeeee", "reshape"),
    "block": ("#ffffff", "block (symbolic)"),
}
INACTIVE_FILL = "#f7f7f7"
EDGE_COLOUR = "#555555"


class DiagramError(Exception):
    """A diagram cannot be drawn as asked (unknown block, a library without --block, a spec with errors)."""


class DotNotFound(DiagramError):
    """Graphviz's `dot` program is not installed; DOT text can still be written."""

    def __init__(self) -> None:
        super().__init__(
            "Graphviz's 'dot' program was not found on PATH: install it "
            "(apt-get install graphviz, brew install graphviz, or conda install graphviz), "
            "or write DOT text with --format dot"
        )


# ------------------------------------------------------------------------------------------------
# Escaping
#
# Every piece of text from a spec reaches the DOT through one of three helpers: `_html` (HTML-like labels:
# titles, lines, edge labels), `_text` (quoted escString attributes: tooltips) and `_id` (node, cluster
# and graph names). None of them lets dot expand an escape (\N, \G, \L, \E, \T, \H, \l, \n, \r) from a
# spec, and each bounds its output: dot refuses a string or HTML label longer than 16,384 bytes.

MAX_TEXT_BYTES = 2000  # one spec-derived text, escaped (a label holds a few: under dot's 16,384)
MAX_ID_BYTES = 200  # a longer node or graph name is shortened, kept unique by a hash of the whole
ELLIPSIS = "\u2026"
ZWSP = "\u200b"  # a zero-width space after a backslash keeps it literal (see _html and _text)

_HTML_ESCAPES = {
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
    '"': "&quot;",
    # dot reads backslash escapes even in HTML-like labels (entities included): a zero-width space after
    # each backslash keeps every one of them literal.
    "\\": "&#92;&#8203;",
    "\n": " ",
    "\r": " ",
}
# In a quoted string, dot 2.43 reads \\ as \ and then expands the escString \N, \G, ... that follows;
# newer versions keep \\ for the escString pass, which reads it as \. Either way `\\` and a zero-width
# space come out as a backslash followed by that (invisible) space, never an escape.
_TEXT_ESCAPES = {"\\": "\\\\" + ZWSP, '"': '\\"', "\n": " ", "\r": " "}


def _escape(text: object, table: dict[str, str], limit: int) -> str:
    """Escape text character by character; past `limit` bytes of output, cut it and end with '…'."""
    s = str(text)
    if len(s) * 12 <= limit:  # no escape is longer than 12 bytes: the fast path
        for ch, rep in table.items():
            s = s.replace(ch, rep)
        return s
    out: list[str] = []
    size = 0
    budget = limit - len(ELLIPSIS.encode())
    for ch in s:
        rep = table.get(ch, ch)
        size += len(rep.encode("utf-8", "surrogatepass"))
        if size > budget:
            out.append(ELLIPSIS)
            break
        out.append(rep)
    return "".join(out)


def _html(text: object, limit: int = MAX_TEXT_BYTES) -> str:
    """Text for an HTML-like label: nothing in it can close the label or open a tag, or be read by dot
    as an escape; at most `limit` bytes."""
    return _escape(text, _HTML_ESCAPES, limit)


def _text(text: object, limit: int = MAX_TEXT_BYTES) -> str:
    """A quoted escString attribute (a tooltip) that dot shows as written: no \\N, \\G, \\l, ... of the
    text is expanded; at most `limit` bytes."""
    return f'"{_escape(text, _TEXT_ESCAPES, limit)}"'


def _quote(text: object) -> str:
    """A DOT quoted string, for names that dot does not expand (node, cluster and graph names): `_id`
    bounds their length; `_text` is for attributes (escStrings)."""
    s = str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "")
    return f'"{s}"'


def _id(name: str) -> str:
    """A quoted DOT name, shortened (and kept unique by a hash of the whole) when it is too long."""
    if len(name.encode("utf-8", "surrogatepass")) > MAX_ID_BYTES:
        digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:16]
        name = _escape(name, {}, MAX_ID_BYTES // 2) + "#" + digest
    return _quote(name)


# ------------------------------------------------------------------------------------------------
# The emitter: view tree -> DOT text


def _entry(item: Any) -> str | None:
    """The path of the first node drawn for a view item (None for an empty sequence)."""
    if isinstance(item, VBox):
        return item.id
    if isinstance(item, VSplit):
        return item.id + ":in"
    if isinstance(item, VCluster):
        return _entry(item.body)
    if isinstance(item, VSeq):
        for x in item.items:
            if not isinstance(x, VSide):
                return _entry(x)
    return None


class _Emitter:
    def __init__(self, rankdir: str, branch_labels: bool = True):
        self.lines: list[str] = []
        # Edges are written at the root: an edge inside a cluster would pull its ends into the cluster.
        self.edges: list[str] = []
        self.quiet = 0  # > 0 while inside a split's branches, when branch_labels is off
        self.depth = 1
        self.rankdir = rankdir
        self.branch_labels = branch_labels
        self.used: list[str] = []  # categories drawn, in order of first use

    def put(self, text: str) -> None:
        self.lines.append("  " * self.depth + text)

    @staticmethod
    def nid(path: str) -> str:
        return _id(f"n:{path}")

    def edge(self, a: str, b: str, label: str = "", force: bool = False, **attrs: str) -> None:
        parts = [f"{k}={v}" for k, v in attrs.items()]
        if label and (force or not self.quiet):
            parts.insert(0, f"label=<{_html(label)}>")
        self.edges.append(f"  {a} -> {b}" + (f" [{', '.join(parts)}]" if parts else ""))

    # -- items -------------------------------------------------------------------------------------
    def emit(self, item: Any, src: str | None, label: str, **edge: str) -> tuple[str | None, str]:
        """Draw item after src (an emitted node id; label: the shape flowing from it).

        Returns the node id that carries this item's output and that output's label."""
        handler = {
            VBox: self.box,
            VSeq: self.seq,
            VSplit: self.split,
            VCluster: self.cluster,
            VSide: self.side,
        }
        return handler[type(item)](item, src, label, **edge)

    def seq(self, seq: VSeq, src, label, **edge):
        for item in seq.items:
            if isinstance(item, VSide):
                self.emit(item, src, label)
                continue
            src, label = self.emit(item, src, label, **edge)
            edge = {}
        return src, label

    def box_label(self, b: VBox) -> str:
        title = f"<B>{_html(b.title + (' [off]' if b.inactive else ''))}</B>"
        if b.count > 1:
            title += f' <FONT COLOR="#b00000"><B>{_html(f"x {b.count}")}</B></FONT>'
        rows = [title] + [f'<FONT POINT-SIZE="9">{_html(ln)}</FONT>' for ln in b.lines if ln]
        return "<" + "<BR/>".join(rows) + ">"

    def box(self, b: VBox, src, label, **edge):
        if b.category not in self.used:
            self.used.append(b.category)
        fill = INACTIVE_FILL if b.inactive else CATEGORY_STYLE[b.category][0]
        style = ["filled", "rounded" if b.shape == "box" else ""]
        if b.inactive or b.side:
            style.append("dashed")
        if b.count > 1:
            style.append("bold")
        attrs = [
            f"label={self.box_label(b)}",
            f'fillcolor="{fill}"',
            f"style={_quote(','.join(filter(None, style)))}",
        ]
        if b.shape != "box":
            attrs.append(f"shape={b.shape}")
        if b.inactive:
            attrs.append('fontcolor="#888888"')
        if b.tooltip:
            attrs.append(f"tooltip={_text(b.tooltip)}")
        me = self.nid(b.id)
        self.put(f"{me} [{', '.join(attrs)}]")
        if src is not None:
            self.edge(src, me, label, **edge)
        return me, b.out

    def point(self, pid: str, src, label, **edge) -> str:
        me = self.nid(pid + ":in")
        self.put(f'{me} [shape=point, width=0.06, ordering="out"]')
        if src is not None:
            self.edge(src, me, label, arrowhead="none", **edge)
        return me

    def split(self, s: VSplit, src, label, **edge):
        p = self.point(s.id, src, label, **edge)
        if s.merge.category not in self.used:
            self.used.append(s.merge.category)
        exits = []
        self.quiet += not self.branch_labels
        for br in s.branches:
            exits.append(self.emit(br, p, ""))
        self.quiet -= not self.branch_labels
        heads = [h for h in (_entry(br) for br in s.branches) if h is not None]
        if len(heads) > 1:  # branch heads side by side, in concat order
            ids = [self.nid(h) for h in heads]
            if self.rankdir == "LR" and self.depth > 1:
                # dot lays a cluster's flat edges out bottom-up when left-right: chain them reversed
                # so that the first branch is still on top (tests/test_diagram_order.py)
                ids.reverse()
            self.put("{rank=same; " + " -> ".join(ids) + " [style=invis]}")
        m = self.nid(s.merge.id)
        fill = CATEGORY_STYLE[s.merge.category][0]
        attrs = [
            f"label={self.box_label(s.merge)}",
            f'fillcolor="{fill}"',
            'style="filled,rounded"',
            'ordering="in"',
        ]
        if s.merge.tooltip:
            attrs.append(f"tooltip={_text(s.merge.tooltip)}")
        if s.skip:
            # the skip connection first, so that the body is drawn beside it (top-down, leaving the
            # split's right side; left-right, a port would pull the body's branches out of order)
            port = {"tailport": "e"} if self.rankdir == "TB" else {}
            self.edge(p, m, "", style="bold", color='"#888888"', **port)
        for x, xl in exits:
            if x == p:  # an empty branch: the identity
                self.edge(p, m, "")
            elif s.scale:
                self.edge(x, m, s.scale, force=True)
            else:
                self.edge(x, m, xl if self.branch_labels else "")
        self.put(f"{m} [{', '.join(attrs)}]")
        return m, s.merge.out

    def cluster(self, c: VCluster, src, label, **edge):
        title = f"<B>{_html(c.title)}</B>" + "".join(
            f'<BR/><FONT POINT-SIZE="9">{_html(ln)}</FONT>' for ln in c.lines
        )
        self.put(f"subgraph {_id('cluster:' + c.id)} {{")
        self.depth += 1
        style = "rounded,dashed" if (c.side or c.inactive) else "rounded"
        self.put(
            f'label=<{title}>; style="{style}"; color="#999999"; bgcolor="#fbfbfb"; tooltip={_text(c.tooltip)}'
        )
        out = self.seq(c.body, src, label, **edge)
        self.depth -= 1
        self.put("}")
        if out[0] == src:  # an empty body passes its input through
            return src, label
        return out[0], c.out

    def side(self, s: VSide, src, label, **edge):
        x, _ = self.emit(s.head, src, label, style="dashed")
        end = self.output(f"{s.id}:out", s.name, x, s.out)
        return end, s.out

    def output(self, oid: str, text: str, src, label) -> str:
        me = _id(f"io:{oid}")  # not n:...: a row may be labelled (output) or (input)
        self.put(f'{me} [label=<{_html(text)}>, shape=plain, fontcolor="#444444"]')
        if src is not None:
            self.edge(src, me, label)
        return me

    def legend(self) -> None:
        cats = [c for c in CATEGORY_STYLE if c in self.used]
        if not cats:
            return
        rows = "".join(
            f'<TR><TD BGCOLOR="{CATEGORY_STYLE[c][0]}" WIDTH="14" BORDER="1"> </TD>'
            f'<TD ALIGN="LEFT">{_html(CATEGORY_STYLE[c][1])}</TD></TR>'
            for c in cats
        )
        self.put('subgraph "cluster:legend" {')
        self.depth += 1
        self.put('label=<<B>legend</B>>; style="rounded"; color="#bbbbbb"; fontsize=10')
        table = f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="3" CELLPADDING="1">{rows}</TABLE>>'
        self.put(f'"legend" [shape=plain, label={table}, fontsize=9]')
        self.depth -= 1
        self.put("}")


# ------------------------------------------------------------------------------------------------
# Entry points


def _header(name: str, title: str, rankdir: str) -> list[str]:
    return [
        DOT_HEADER,
        f"digraph {_id(name)} {{",
        (
            f'  graph [rankdir={rankdir}, fontname="{FONT}", fontsize=12, labelloc=t, '
            f"nodesep=0.25, ranksep=0.3, newrank=true, label=<{title}>]"
        ),
        (
            f'  node [shape=box, fontname="{FONT}", fontsize=10, margin="0.10,0.04", '
            "height=0.3, penwidth=0.8]"
        ),
        (
            f'  edge [fontname="{FONT}", fontsize=8, fontcolor="#333333", '
            f'color="{EDGE_COLOUR}", arrowsize=0.6, penwidth=0.8]'
        ),
    ]


def _find_instance(net: ir.Network, name: str) -> tuple[ir.Call, str] | None:
    """The first instance of a block in the network, in the table's order, with its dotted path."""

    def walk(node: ir.Node, path: str):
        if isinstance(node, ir.Call) and node.block.name == name and node.body is not None:
            return node, path
        for child, sub in node.child_paths():
            found = walk(child, f"{path}.{sub}" if sub else path)
            if found:
                return found
        return None

    for node, path in ir.scope_children(net.body.items):
        found = walk(node, path)
        if found:
            return found
    return None


# dot's layout time grows faster than the square of the boxes it places: 1,000 repeats of a 3-branch block
# opened as clusters (7,000 boxes) take 93 s, 400 (2,800) take 5 s and 200 (1,400) 1 s on the project's
# machine, while every shipped network, opened and expanded, draws under 500. --expand-repeats refuses to
# draw more than this many boxes (layers, merges, collapsed blocks and clusters).
MAX_EXPANDED_BOXES = 2000


def _count_boxes(net: ir.Network, blocks: bool, expand: bool, limit: int) -> int:
    """The boxes and clusters a diagram of the network draws, roughly (counting stops past limit)."""
    count = 0
    stack: list[ir.Node] = list(net.body.items)
    while stack and count <= limit:
        node = stack.pop()
        if isinstance(node, ir.Repeat):
            stack.extend(node.items if expand else node.items[:1])
            continue
        if isinstance(node, (ir.Layer, ir.Call, ir.Merge, ir.Residual)):
            count += 1
            if isinstance(node, ir.Call) and not blocks:
                continue
        stack.extend(c for c in node.children() if c is not None)
    return count


def to_dot(
    net: ir.Network,
    detail: str = "network",
    block: str | None = None,
    rankdir: str = "TB",
    costs: bool = False,
    repeats: str = "collapse",
) -> str:
    """The DOT text of a network (detail 'network' or 'blocks') or of one block definition.

    repeats: 'collapse' draws `N x row` once, marked "x N" (when every instance has the same shapes);
    'expand' draws every instance."""
    if detail not in DETAILS:
        raise DiagramError(f"unknown detail '{detail}' (choose {' or '.join(DETAILS)})")
    if rankdir not in RANKDIRS:
        raise DiagramError(f"unknown rankdir '{rankdir}' (choose {' or '.join(RANKDIRS)})")
    if repeats not in ("collapse", "expand"):
        raise DiagramError(f"unknown repeats '{repeats}' (choose collapse or expand)")
    if not net.ok:
        errors = sum(d.is_error for d in net.diagnostics)
        raise DiagramError(
            f"{net.file} has {errors} error{'s' * (errors != 1)}; inspec check shows them"
        )
    em = _Emitter(rankdir, branch_labels=block is not None)
    if block is not None:
        return _block_dot(net, block, em, rankdir, costs)
    if net.input is None:
        names = ", ".join(sorted(net.blocks)) or "none"
        raise DiagramError(
            f"{net.file} is a block library: draw one of its blocks with --block NAME ({names})"
        )
    if repeats == "expand":
        blocks = detail == "blocks"
        drawn = _count_boxes(net, blocks, True, MAX_EXPANDED_BOXES)
        if drawn > MAX_EXPANDED_BOXES and _count_boxes(net, blocks, False, drawn) < drawn:
            raise DiagramError(
                f"--expand-repeats would draw more than {MAX_EXPANDED_BOXES:,} boxes, more than dot "
                "lays out in reasonable time: draw each repeat once (without --expand-repeats)"
                + (" or at --detail network" if blocks else "")
            )
    view = _IRView(net, detail, costs, repeats)
    body = view.seq(net.body, "")
    title = f"<B>{_html(net.name)}</B>"
    if costs:
        t = net.totals()
        title += f'<BR/><FONT POINT-SIZE="10">{_html(view.cost_line(t)[0])}</FONT>'
    out = _header(net.name, title, rankdir)
    src = em.output("input", f"input {_shape(net.input)}", None, "")
    last, label = em.seq(body, src, _shape(net.input))
    em.output("output", "output", last, label)
    em.legend()
    return "\n".join(out + em.lines + em.edges + ["}", ""])


def _block_dot(net: ir.Network, name: str, em: _Emitter, rankdir: str, costs: bool) -> str:
    bdef = net.blocks.get(name)
    if bdef is None:
        hint = did_you_mean(name, net.blocks)
        known = ", ".join(sorted(net.blocks)) or "none"
        raise DiagramError(
            f"unknown block '{name}'" + (f"; {hint}" if hint else "") + f" (blocks: {known})"
        )
    found = _find_instance(net, name) if net.input is not None else None
    if found is not None:
        call, path = found
        view = _IRView(net, "blocks", costs, "collapse")
        body = view.seq(call.body, f"{path}.")
        sig = view.args_text(call)
        note = f"drawn from {path}: input {_shape(call.in_shape)}, output {_shape(call.out_shape)}"
        if costs:
            note += "; " + view.cost_line(call.cost)[0]
        inp, first = "previous layer", _shape(call.in_shape)
    else:
        view = _IRView(net, "network", False, "collapse", symbolic=True)
        body = view.seq(net.definitions[name].body, f"{name}.")
        sig = ", ".join(f'{p.name} "{p.header}"' if p.header else p.name for p in bdef.params)
        note = "from its definition: widths are symbolic (no instance in this network)"
        inp, first = "previous layer", ""
    title = f'<B>{_html(name)}</B>({_html(sig)})<BR/><FONT POINT-SIZE="9">{_html(note)}</FONT>'
    out = _header(name, title, rankdir)
    src = em.output("input", inp, None, "")
    last, label = em.seq(body, src, first)
    em.output("output", "output", last, label)
    em.legend()
    return "\n".join(out + em.lines + em.edges + ["}", ""])
