"""The typed syntax tree of a .isp file. Every node keeps the span it was parsed from."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, fields, is_dataclass

from inspec.diagnostics import Span

# ----------------------------------------------------------------------------------------------
# Expressions


@dataclass(frozen=True)
class Expr:
    span: Span


@dataclass(frozen=True)
class Num(Expr):
    value: int | float


@dataclass(frozen=True)
class Str(Expr):
    value: str


@dataclass(frozen=True)
class Bool(Expr):
    value: bool


@dataclass(frozen=True)
class Name(Expr):
    id: str


@dataclass(frozen=True)
class BinOp(Expr):
    op: str  # + - * / // % == != < <= > >= and or
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Unary(Expr):
    op: str  # - not
    operand: Expr


@dataclass(frozen=True)
class Call(Expr):
    func: str
    args: tuple[Expr, ...]


@dataclass(frozen=True)
class Tuple(Expr):
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class IfElse(Expr):
    """`then if cond else other`, as in Python."""

    cond: Expr
    then: Expr
    other: Expr


# ----------------------------------------------------------------------------------------------
# Statements


@dataclass(frozen=True)
class Kwarg:
    name: str
    value: Expr
    span: Span


@dataclass(frozen=True)
class Param:
    name: str
    default: Expr | None
    header: str | None
    span: Span


@dataclass(frozen=True)
class Network:
    name: str
    params: tuple[Param, ...]
    span: Span


@dataclass(frozen=True)
class Input:
    dims: tuple[int, int, int]  # H, W, C as written
    span: Span


@dataclass(frozen=True)
class Units:
    name: str
    span: Span


@dataclass(frozen=True)
class Defaults:
    op: str
    kwargs: tuple[Kwarg, ...]
    span: Span


@dataclass(frozen=True)
class Init:
    scheme: str
    kwargs: tuple[Kwarg, ...]
    span: Span


@dataclass(frozen=True)
class Import:
    path: str
    span: Span


@dataclass(frozen=True)
class Patch:
    kh: int
    kw: int
    stride: int | None
    span: Span

    def __str__(self) -> str:
        s = f"{self.kh}x{self.kw}"
        return f"{s}/{self.stride}" if self.stride is not None else s


@dataclass(frozen=True)
class Row:
    """`TYPE [(label)] [KxK[/S]] [args...] [key=value...]`"""

    op: str
    op_span: Span
    label: str | None
    label_span: Span | None
    patch: Patch | None
    args: tuple[Expr, ...]
    kwargs: tuple[Kwarg, ...]
    span: Span


@dataclass(frozen=True)
class ExpectItem:
    key: str
    raw: str
    span: Span


@dataclass(frozen=True)
class RowStmt:
    row: Row
    repeat: int | None  # a literal count (`4 x inception_a`)
    repeat_span: Span | None
    expect: tuple[ExpectItem, ...]
    cond: Expr | None
    span: Span
    repeat_expr: Expr | None = None  # a count given by a parameter (`n x inception_a`)


@dataclass(frozen=True)
class SideStmt:
    row: Row
    cond: Expr | None
    span: Span
    expect: tuple[ExpectItem, ...] = ()


@dataclass(frozen=True)
class Branch:
    name: str | None
    body: tuple[object, ...]
    span: Span
    cond: Expr | None = None  # `branch NAME if cond { ... }`: the identity when off


@dataclass(frozen=True)
class Group:
    """`seq [NAME] [if cond] { rows }`: rows as one module (an nn.Sequential); the identity when off."""

    name: str | None
    body: tuple[object, ...]
    span: Span
    cond: Expr | None = None


@dataclass(frozen=True)
class Merge:
    """Branches combined by `add`, `mul` or `concat` (the default of a bare run of branches)."""

    kind: str
    kwargs: tuple[Kwarg, ...]
    body: tuple[object, ...]
    span: Span


@dataclass(frozen=True)
class Residual:
    kwargs: tuple[Kwarg, ...]
    body: tuple[object, ...]
    span: Span
    skip_if: Expr | None = None  # `residual if cond { body }`: without the skip, the body alone


@dataclass(frozen=True)
class Padding:
    """`padding torch` (PyTorch's symmetric (k - 1) // 2) or `padding tf` (TensorFlow's SAME)."""

    convention: str
    convention_span: Span
    span: Span


@dataclass(frozen=True)
class BlockDef:
    name: str
    params: tuple[Param, ...]
    body: tuple[object, ...]
    span: Span


@dataclass
class Module:
    file: str
    text: str
    network: Network | None = None
    input: Input | None = None
    units: Units | None = None
    padding: Padding | None = None
    defaults: list[Defaults] = field(default_factory=list)
    init: Init | None = None
    imports: list[Import] = field(default_factory=list)
    blocks: list[BlockDef] = field(default_factory=list)
    body: list[object] = field(default_factory=list)


def grouped(stmts) -> Iterator[object]:
    """A body's statements, with each run of consecutive branches as one tuple (one concat)."""
    i = 0
    while i < len(stmts):
        if isinstance(stmts[i], Branch):
            j = i
            while j < len(stmts) and isinstance(stmts[j], Branch):
                j += 1
            yield tuple(stmts[i:j])
            i = j
        else:
            yield stmts[i]
            i += 1


# ----------------------------------------------------------------------------------------------
# A readable dump (the parse stage's golden files, tests/golden/parse/)


def dump(module: Module) -> str:
    """The typed AST as indented text, one field a line, deterministic (no ids, no hashes).

    A node is its class name and span (`line:col-end_line:end_col`), then its fields, indented; a
    sequence of nodes is its length, then each item with its index (an empty one is `()`). The module's text is left out, and
    so is the file of every span (a module's spans are all in its own file)."""
    out = [f"Module {module.file!r}"]
    for f in fields(module):
        if f.name not in ("file", "text"):
            _dump_field(f.name, getattr(module, f.name), 1, out)
    return "\n".join(out) + "\n"


def _span(s: Span) -> str:
    return f"{s.line}:{s.col}-{s.end_line}:{s.end_col}"


def _is_node(x) -> bool:
    return is_dataclass(x) and not isinstance(x, (type, Span))


def _dump_field(name: str, value, depth: int, out: list[str]) -> None:
    pad = "  " * depth
    if isinstance(value, Span):
        out.append(f"{pad}{name}: {_span(value)}")
    elif _is_node(value):
        out.append(f"{pad}{name}: {_head(value)}")
        _dump_fields(value, depth + 1, out)
    elif isinstance(value, (tuple, list)) and not value:
        out.append(f"{pad}{name}: ()")
    elif isinstance(value, (tuple, list)) and any(_is_node(v) for v in value):
        out.append(f"{pad}{name}: ({len(value)})")
        for i, v in enumerate(value):
            _dump_field(f"[{i}]", v, depth + 1, out)
    else:
        out.append(f"{pad}{name}: {value!r}")


def _head(node) -> str:
    span = getattr(node, "span", None)
    return f"{type(node).__name__} {_span(span)}" if isinstance(span, Span) else type(node).__name__


def _dump_fields(node, depth: int, out: list[str]) -> None:
    for f in fields(node):
        if f.name != "span":
            _dump_field(f.name, getattr(node, f.name), depth, out)
