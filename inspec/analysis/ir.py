"""The elaborated network: a tree of nodes, each with its input and output shape and its cost.

The tree keeps the structure a reader sees in the spec (rows, block instances, branches, residuals,
repeats, side heads) because every backend wants it: the table prints top-level rows, the diagram opens
block instances as clusters, and the PyTorch backend writes one class per block definition.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from inspec.analysis.exprs import Expr, is_const
from inspec.analysis.naming import child_key, member, standalone
from inspec.analysis.ops import ZERO, Cost, OpDef
from inspec.analysis.shapes import Shape
from inspec.diagnostics import Diagnostic, Span


@dataclass(eq=False)
class Node:
    name: str
    span: Span
    in_shape: Shape | None = None
    out_shape: Shape | None = None
    cost: Cost = ZERO
    depth: int = 0
    active: bool = True  # False: a conditional row whose condition is false for these parameters
    cond: Expr | None = None  # the row's `if` condition
    label: str | None = None  # the label the spec gave the row, if any
    label_span: Span | None = None
    auto: str | None = None  # the base of a generated name (`conv` for conv2); None for given names
    chan: Expr | None = None  # the output channels as an expression of the scope's parameters
    in_chan: Expr | None = None  # the input channels, likewise
    # what a merge or a residual needs of the channels, in the same terms (the channel pass)
    rules: tuple[ChannelRule, ...] = ()
    expect: tuple[Expectation, ...] = ()  # what the row `expect`s (top-level rows)

    def children(self) -> list[Node]:
        return []

    def walk(self) -> Iterator[Node]:
        yield self
        for c in self.children():
            yield from c.walk()

    def layers(self, include_inactive: bool = False) -> Iterator[tuple[str, Layer]]:
        """Every layer below this node, with its dotted path (the module path in PyTorch)."""
        yield from _layers(self, "", include_inactive)


def scope_children(items: list[Node], flat: str = "") -> list[tuple[Node, str]]:
    """Children of a scope with their path names (see naming.py). Concats and residuals are
    transparent: their branches and body rows live directly in the enclosing scope (as in torchvision
    and timm, where an Inception block has attributes branch1..branch4 and a residual block branch0..,
    conv2d). A flattened branch's rows join the scope too, prefixed with the branch's name."""
    out: list[tuple[Node, str]] = []
    for n in items:
        if isinstance(n, Merge):
            for b in n.branches:
                name = member("", flat, b.name, b.given)
                if b.flattened:
                    out += scope_children(b.body.items, f"{name}_")
                else:
                    out.append((b, name))
        elif isinstance(n, Residual):
            out += scope_children(n.body.items, flat)
        elif isinstance(n, Repeat) and n.template:  # its instances are the scope's
            out += [(i, member("", flat, i.name, True)) for i in n.items]
        else:
            out.append((n, member("", flat, n.name, standalone(n.label))))
    return out


def row_layers(node: Node, include_inactive: bool = False) -> Iterator[tuple[str, Layer]]:
    """The layers of one row of a scope, with their module paths in that scope (a concat or residual
    row is transparent: its layers are named as the scope names them)."""
    for child, sub in scope_children([node]):
        yield from _layers(child, f"{sub}." if sub else "", include_inactive)


def _layers(node: Node, prefix: str, inactive: bool) -> Iterator[tuple[str, Layer]]:
    if not node.active and not inactive:
        return
    if isinstance(node, Layer):
        yield prefix.rstrip("."), node
        return
    for child, sub in node.child_paths():
        yield from _layers(child, f"{prefix}{sub}." if sub else prefix, inactive)


@dataclass(eq=False)
class Layer(Node):
    op: OpDef | None = None
    attrs: dict[str, Any] = field(default_factory=dict)
    # which expression set each attribute: in the row (an argument, a flag or key=value; over the
    # scope's parameters) or in the network's `defaults` line (over the network's parameters);
    # attributes in neither are the registry's defaults or the patch's
    sources: dict[str, Expr] = field(default_factory=dict)
    defaulted: dict[str, Expr] = field(default_factory=dict)

    def child_paths(self):
        return []

    @property
    def title(self) -> str:
        return self.op.display(self.attrs)

    @property
    def one_module(self) -> bool:
        """Whether the layer is its module alone, applied as it is (so it can be one child of an
        nn.Sequential): not a linear that flattens first, not an activation applied in forward."""
        act = [e for e in (self.sources.get("act"), self.defaulted.get("act")) if e is not None]
        if self.op.attr("act") is not None and self.op.module_act:
            if self.attrs.get("act", "none") != "none" or any(not is_const(e) for e in act):
                return False
        return self.in_shape is None or self.op.one_module(self.attrs, self.in_shape)

    @property
    def patch(self) -> tuple[int, int] | None:
        k = self.attrs.get("kernel")
        return tuple(k) if k is not None and not self.attrs.get("global") else None

    @property
    def stride(self) -> int | None:
        return self.attrs.get("stride") if self.patch else None


@dataclass(eq=False)
class Seq(Node):
    items: list[Node] = field(default_factory=list)

    def children(self) -> list[Node]:
        return list(self.items)

    def child_paths(self):
        return scope_children(self.items)


@dataclass(eq=False)
class Branch(Node):
    """One branch of a merge; with a condition that is off, the identity. A branch of a single layer is that layer in module paths
    (torchvision's `inception3a.branch1.conv`)."""

    body: Seq | None = None
    given: bool = False  # named by the spec (`branch NAME`), not by position
    seq: bool = False  # a `seq`: an nn.Sequential even of one row

    def children(self) -> list[Node]:
        return [self.body]

    @property
    def single(self) -> Node | None:
        """The branch's one unlabelled, unconditional layer, which is the branch in module paths."""
        items = self.body.items
        return items[0] if not self.seq and single_layer(items) else None

    @property
    def is_sequence(self) -> bool:
        """A plain sequence of unlabelled rows and unnamed groups (an nn.Sequential in PyTorch, its
        rows numbered 0, 1, ... in order, skipping rows that a condition switches off)."""
        return all(
            (
                isinstance(n, (Layer, Call, Repeat))
                and (n.label is None or _named_child(self, n))
                and _one_module(n)
            )
            or (is_group(n) and (not n.branches[0].given or _named_child(self, n)))
            for n in self.body.items
        )

    @property
    def flattened(self) -> bool:
        """A branch whose rows join the enclosing scope (it holds labelled or conditional rows,
        branches or a residual)."""
        return self.single is None and not self.is_sequence

    def child_paths(self):
        if self.single is not None:
            return [(self.single, "")]
        if self.is_sequence:  # numbered as they are on (elaboration names one that is off N(off))
            out: list[tuple[Node, str]] = []
            for n in self.body.items:
                if is_group(n):
                    out.append((n.branches[0], n.branches[0].name))
                elif isinstance(n, Repeat) and n.template:  # named children of an OrderedDict
                    out += [(i, child_key(i.name, i.label)) for i in n.items]
                elif isinstance(n, Repeat) and n.spliced:
                    out += [(i, i.name) for i in n.items]
                else:
                    out.append((n, child_key(n.name, n.label)))
            return out
        return scope_children(self.body.items)


def _named_child(branch: Branch, node: Node) -> bool:
    """A labelled row of a seq (or a named seq in it, or a repeat's named instances): a child named
    by its label (an OrderedDict in PyTorch), unless the seq numbers its rows."""
    return branch.seq and not numbers_rows(branch.body.items)


def numbers_rows(items: list[Node]) -> bool:
    """Whether a seq's rows are children by number although some are labelled: it switches or
    repeats unlabelled rows (torchvision's lists). A seq whose rows are all labelled names them,
    switched or not (torchvision's OrderedDict, built entry by entry)."""
    if all(_labelled(n) for n in items):
        return False
    return any(
        row_cond(n) is not None or (isinstance(n, Repeat) and n.label is None) for n in items
    )


def _labelled(node: Node) -> bool:
    if is_group(node):
        return node.branches[0].given
    return isinstance(node, (Layer, Call, Repeat)) and node.label is not None


def _one_module(node: Node) -> bool:
    if isinstance(node, Layer):
        return node.one_module
    if isinstance(node, Repeat):
        return all(_one_module(i) for i in node.items)
    return True


def single_layer(items: list[Node]) -> bool:
    """Whether rows are one unlabelled, unconditional layer that is its module alone (a branch of
    it is that module)."""
    return (
        len(items) == 1
        and isinstance(items[0], Layer)
        and items[0].label is None
        and items[0].cond is None
        and items[0].one_module
    )


def is_group(node: Node) -> bool:
    """`seq [NAME] [if COND] { rows }`: its rows as one module, an nn.Sequential (with a condition,
    the identity when off)."""
    return isinstance(node, Merge) and node.group and len(node.branches) == 1


def row_cond(node: Node) -> Expr | None:
    """The condition of a row of a sequence: its own, or a group's."""
    if node.cond is None and is_group(node):
        return node.branches[0].cond
    return node.cond


def last_row(items: list[Node]) -> Node | None:
    """The row a sequence ends with, side heads apart: the one whose output is the sequence's, and
    which the module may leave out when it is a final softmax. A row that its `if` switches off
    still counts (the module is written with it)."""
    rows = [n for n in items if not isinstance(n, Side)]
    return rows[-1] if rows else None


def is_on(node: Node) -> bool:
    """Whether a row of a sequence is there (a group's branch may be switched off)."""
    return node.active and (not is_group(node) or node.branches[0].active)


@dataclass(eq=False)
class Merge(Node):
    """Parallel branches of one input, combined by the merge op: concat (a bare run of branches),
    add or mul. Transparent in module paths, as a residual is."""

    op: OpDef | None = None
    branches: list[Branch] = field(default_factory=list)
    group: bool = False  # `seq { ... }`: one branch, a module of its own (is_group)
    attrs: dict[str, Any] = field(default_factory=dict)  # add: scale, act
    sources: dict[str, Expr] = field(default_factory=dict)
    defaulted: dict[str, Expr] = field(default_factory=dict)

    def children(self) -> list[Node]:
        return list(self.branches)

    def child_paths(self):
        return [(b, b.name) for b in self.branches]


@dataclass(eq=False)
class Residual(Node):
    op: OpDef | None = None
    attrs: dict[str, Any] = field(default_factory=dict)
    body: Seq | None = None
    sources: dict[str, Expr] = field(default_factory=dict)  # as in Layer: scale, act
    defaulted: dict[str, Expr] = field(default_factory=dict)
    # `residual if cond { ... }`: the skip connection is there when cond holds (a block's
    # arguments decide); without it the node is its body alone
    skip_if: Expr | None = None
    skip: bool = True

    def children(self) -> list[Node]:
        return [self.body]

    def child_paths(self):
        return scope_children(self.body.items)


@dataclass(eq=False)
class Call(Node):
    """An instance of a block definition."""

    block: BlockInfo | None = None
    args: dict[str, Any] = field(default_factory=dict)
    # each argument as an expression of the caller's parameters (defaults included)
    arg_exprs: dict[str, Expr] = field(default_factory=dict)
    explicit: frozenset[str] = frozenset()  # the parameters the call gives (the rest: defaults)
    body: Seq | None = None

    def children(self) -> list[Node]:
        return [self.body]

    def child_paths(self):
        return scope_children(self.body.items)

    @property
    def title(self) -> str:
        return f"{self.block.name} ({self.label})" if self.label else self.block.name


@dataclass(eq=False)
class Repeat(Node):
    """`N x row`: N instances one after the other (an nn.Sequential in PyTorch)."""

    count: int = 0
    items: list[Node] = field(default_factory=list)
    count_expr: Expr | None = None  # set when the count is a parameter (`n x block`)
    # unlabelled in a numbered sequence (a seq): its instances are children of the sequence,
    # numbered on from the rows before it, as torchvision extends its lists
    spliced: bool = False
    # `N x row (name1..)`: instances named name1, name2, ... in the enclosing scope (no module of
    # its own)
    template: str | None = None
    start: int = 1  # the number of the first named instance
    of: str = ""  # the op or block repeated, as written (what `0 x row` names, without instances)

    def children(self) -> list[Node]:
        return list(self.items)

    def child_paths(self):
        return [(n, n.name) for n in self.items]


@dataclass(eq=False)
class Side(Node):
    """A side head (an auxiliary classifier): reads the trunk, returns extra logits in training.
    Its loss counts `loss_weight` times in the training loss (`side ... loss_weight=0.3`)."""

    head: Node | None = None
    loss_weight: float = 1.0
    loss_weight_expr: Expr | None = None  # as the spec writes it; None: not written (1)

    def children(self) -> list[Node]:
        return [self.head]

    def child_paths(self):
        return [(self.head, "")]


@dataclass(frozen=True)
class ParamInfo:
    name: str
    default: Any
    header: str | None
    span: Span


@dataclass(frozen=True)
class BlockInfo:
    """A block definition as the backends see it: its name, parameters and where it is written."""

    name: str
    params: tuple[ParamInfo, ...]
    span: Span
    file: str


@dataclass(frozen=True)
class ChannelRule:
    """A channel count that a merge or a residual needs, as expressions of its scope's parameters.

    The analysis checks it for the values given; the generated network's constructor checks it for
    other arguments (a module compiled with the defaults, called with other values). Kinds: `equal`
    (a == b), `keep` (a == b whichever way the node's own condition goes: a network's conditional
    row), `divides` (b divides a: a split, groups). With `cond`, the rule holds only when the
    condition does (a residual whose skip the arguments switch)."""

    kind: str
    a: Expr
    b: Expr
    what: str  # the sentence saying what each side is: "{a}" and "{b}" stand for the values
    cond: Expr | None = None


@dataclass(frozen=True)
class Expectation:
    key: str  # output | params | weights | ops | depth
    raw: str
    span: Span


@dataclass(frozen=True)
class Check:
    """The audit of one expectation: what the paper prints, whether it agrees, what inspec computes."""

    key: str
    printed: str
    ok: bool
    computed: str


@dataclass(eq=False)
class Row:
    """One top-level statement of the spec: a row of the paper's table."""

    node: Node
    expectations: list[Expectation] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)

    @property
    def side(self) -> bool:
        return isinstance(self.node, Side)


@dataclass(eq=False)
class Network:
    name: str
    file: str
    params: list[ParamInfo]
    values: dict[str, Any]
    input: Shape | None
    units: str
    init: tuple[str, dict[str, Any]]
    defaults: dict[str, dict[str, Any]]
    blocks: dict[str, BlockInfo]
    body: Seq
    rows: list[Row]
    diagnostics: list[Diagnostic]
    sources: dict[str, str]  # file -> text, for diagnostics
    # rows below the top level that `expect` something (in a seq, a branch or a block): audited too
    nested_rows: list[Row] = field(default_factory=list)
    init_exprs: dict[str, Expr] = field(default_factory=dict)  # init options as written
    # every block elaborated once with symbolic arguments (drawn by `diagram --block`)
    definitions: dict[str, Call] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)

    @property
    def output(self) -> Shape | None:
        return self.body.out_shape

    def totals(self, sides: bool = False) -> Cost:
        total = self.body.cost
        if sides:
            for r in self.rows:
                if r.side and r.node.active:
                    total = total + r.node.cost
        return total

    @property
    def sides(self) -> list[Side]:
        return [r.node for r in self.rows if r.side]


def canonical(net: Network) -> str:
    """The network as text with every source position left out, for comparing two elaborations:
    two layouts of one spec (`inspec fmt`'s input and output) give the same text. Every field of
    every node counts but spans and the source texts; a diagnostic counts by its severity, message,
    notes and code, a location FILE:LINE:COL written in them masked."""
    import re
    from dataclasses import fields, is_dataclass
    from enum import Enum

    names = "|".join(re.escape(f) for f in sorted(net.sources, key=len, reverse=True))
    where = re.compile(rf"(?:{names}):\d+(?::\d+)?") if names else None
    memo: dict[int, str] = {}
    keep: list = []  # what memo's ids point to stays alive until the end

    def masked(s: str) -> str:
        return where.sub("<at>", s) if where is not None else s

    def dump(x) -> str:
        if x is None or isinstance(x, (bool, int, float)):
            return repr(x)
        if isinstance(x, str):
            return repr(masked(x))
        if isinstance(x, Span):
            return "~"
        if isinstance(x, Enum):
            return repr(x.value)
        if id(x) in memo:
            return memo[id(x)]
        memo[id(x)] = "<cycle>"
        keep.append(x)
        if isinstance(x, OpDef):
            out = f"op {x.name}"
        elif isinstance(x, Diagnostic):
            said = [x.severity.value, masked(x.message), *map(masked, x.notes), str(x.code)]
            out = " | ".join(said)
        elif is_dataclass(x) and not isinstance(x, type):
            skip = ("sources",) if isinstance(x, Network) else ()
            parts = [
                f"{f.name}={dump(getattr(x, f.name))}" for f in fields(x) if f.name not in skip
            ]
            out = f"{type(x).__name__}({', '.join(parts)})"
        elif isinstance(x, dict):
            out = "{" + ", ".join(f"{dump(k)}: {dump(v)}" for k, v in x.items()) + "}"
        elif isinstance(x, (list, tuple)):
            out = "[" + ", ".join(dump(v) for v in x) + "]"
        elif isinstance(x, (set, frozenset)):
            out = "{" + ", ".join(sorted(dump(v) for v in x)) + "}"
        elif callable(x):
            out = f"fn {getattr(x, '__qualname__', type(x).__name__)}"
        else:
            out = f"{type(x).__name__} {x!r}"
        memo[id(x)] = out
        return out

    return dump(net)
