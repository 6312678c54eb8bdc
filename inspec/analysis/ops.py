"""The op registry: every layer type is declared exactly once, here.

An entry holds the op's attributes with their kinds, defaults and ranges, which attributes a row may
give by position, the bare words it accepts as flags, its shape rule, the attributes it derives from its
input (resolved padding), its cost rule (params, weights and multiply-adds), its table title, its diagram
category and the name of its code template. The elaborator, the table, the diagram and the PyTorch backend
all read these entries; none of them switches on op names. The activation words (`act=...`) are one
table here too, with the code each one becomes.

Rules are pure: a shape rule, a resolver or a cost rule reads the attribute dict it is given and never
writes to it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from inspec.analysis.shapes import (
    Padding,
    Shape,
    ceil_read_after,
    resolve_padding,
    split_pad,
    window_out,
)
from inspec.diagnostics import SpecError

# Resource guards: larger values are rejected before anything is allocated or rendered.
MAX_CHANNELS = 1 << 20
MAX_SPATIAL = 1 << 16
MAX_KERNEL = 1 << 12
# A dilated window pads its input by up to dilation * (kernel - 1) without adding weights; at 64 (past
# any published rate) the padded map stays within 64^2 times the input and the weights together.
MAX_DILATION = 64


@dataclass(frozen=True)
class Activation:
    """An activation word of the language (`act=relu`) and the PyTorch code it becomes."""

    name: str
    functional: str  # applied to a fresh tensor, which {} stands for: "F.relu({}, inplace=True)"
    module: str  # as a module (an activation a parameter chooses): "nn.ReLU(inplace=True)"
    title: str  # in the name of a generated conv unit class: ConvBNReLU
    cls: str = ""  # the module class (nn.ReLU), for the activation as a row of its own
    inplace: bool = False  # the module takes inplace=True


# Every activation an `act` attribute accepts; adding one is adding an entry. "none" comes first: it is
# every `act`'s default, and the generated activation(...) function tests for it first.
ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation("none", "{}", "nn.Identity()", ""),
        Activation("relu", "F.relu({}, inplace=True)", "nn.ReLU(inplace=True)", "ReLU"),
        Activation("relu6", "F.relu6({}, inplace=True)", "nn.ReLU6(inplace=True)", "ReLU6"),
        Activation("tanh", "torch.tanh({})", "nn.Tanh()", "Tanh", "nn.Tanh"),
        Activation("sigmoid", "torch.sigmoid({})", "nn.Sigmoid()", "Sigmoid", "nn.Sigmoid"),
        Activation("gelu", "F.gelu({})", "nn.GELU()", "GELU", "nn.GELU"),
        Activation(
            "silu", "F.silu({}, inplace=True)", "nn.SiLU(inplace=True)", "SiLU", "nn.SiLU", True
        ),
        Activation(
            "hardswish",
            "F.hardswish({}, inplace=True)",
            "nn.Hardswish(inplace=True)",
            "Hardswish",
            "nn.Hardswish",
            True,
        ),
        Activation(
            "hardsigmoid",
            "F.hardsigmoid({}, inplace=True)",
            "nn.Hardsigmoid(inplace=True)",
            "Hardsigmoid",
            "nn.Hardsigmoid",
            True,
        ),
    )
}
ACT_WORDS = tuple(ACTIVATIONS)


@dataclass(frozen=True)
class Attr:
    name: str
    kind: str  # int | float | bool | enum | pad | str
    default: Any
    doc: str
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    optional: bool = False  # a None default means "not given" (not "required")

    def describe_kind(self) -> str:
        if self.kind == "enum":
            return " | ".join(self.choices)
        if self.kind == "pad":
            return "same | valid | half | P | (PH, PW) | (T, B, L, R)"
        return self.kind


@dataclass(frozen=True)
class Cost:
    params: int = 0
    weights: int = 0
    ops: int = 0

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.params + other.params, self.weights + other.weights, self.ops + other.ops)


ZERO = Cost()


class Ctx:
    """What a shape rule may report besides its result: warnings with notes."""

    def __init__(self) -> None:
        self.warnings: list[tuple[str, tuple[str, ...]]] = []

    def warn(self, message: str, *notes: str) -> None:
        self.warnings.append((message, notes))


@dataclass(frozen=True)
class OpDef:
    name: str
    title: str
    category: str  # conv | pool | norm | merge | classifier | activation | regularizer | reshape
    doc: str
    attrs: tuple[Attr, ...]
    positional: tuple[str, ...] = ()
    flags: dict[str, tuple[str, Any]] = field(default_factory=dict)
    patch: bool = False  # accepts a KxK[/S] patch
    patch_required: bool = False
    weighted: bool = False  # counts toward depth
    # shape(attrs, x, ctx) -> the output shape, or SpecError; reads attrs, never writes them
    shape: Callable[..., Shape] | None = None
    # resolve(attrs, x) -> attributes derived from the input, for the backends (a sliding window's
    # resolved `padding`); called after the shape rule accepted the row, and as pure
    resolve: Callable[[dict, Shape], dict] = lambda a, x: {}
    cost: Callable[[dict, Shape, Shape], Cost] = lambda a, x, y: ZERO
    title_fn: Callable[[dict], str] | None = None
    template: str = ""
    # merge(attrs, parts) -> the shape of branches combined, parts being (description, shape) pairs
    merge: Callable[[dict, list[tuple[str, Shape]]], Shape] | None = None
    # one_module(attrs, x): whether the layer is its module alone (see ir.Layer.one_module)
    one_module: Callable[[dict, Shape], bool] = lambda a, x: True
    module_act: bool = False  # its `act` is applied in forward, after the module (not inside it)
    user_visible: bool = True  # written as a row (merges are written around branches)
    written_as: str = ""  # how a spec writes an op that is not a row

    def attr(self, name: str) -> Attr | None:
        for a in self.attrs:
            if a.name == name:
                return a
        return None

    def display(self, attrs: dict) -> str:
        """The row's type as the table shows it; the plain title when an attribute it names is
        missing (a value the checks refused)."""
        if self.title_fn is None:
            return self.title
        try:
            return self.title_fn(attrs)
        except KeyError:
            return self.title

    def default(self, name: str) -> Any:
        """The registry's default of attribute `name` (KeyError if the op has no such attribute)."""
        attr = self.attr(name)
        if attr is None:
            raise KeyError(f"{self.name} has no attribute {name!r}")
        return attr.default


# ------------------------------------------------------------------------------------------------
# Shared pieces


def _need_map(x: Shape, what: str) -> None:
    if x.flat:
        raise SpecError(
            f"{what} needs a feature map, but its input is a flat vector of {x.c} features",
            "a flatten or linear row earlier turned the feature map into a vector",
        )


def _window_padding(a: dict, x: Shape) -> Padding:
    """A sliding window's `pad` (same, valid or explicit) resolved against the input's size."""
    kh, kw = _kernel(a)
    s, d = a["stride"], a.get("dilation", 1)
    ph, pw = split_pad(a["pad"])
    top, bottom = resolve_padding(ph, x.h, kh, s, d, "height")
    left, right = resolve_padding(pw, x.w, kw, s, d, "width")
    return Padding(top, bottom, left, right)


def _rounding(a: dict) -> str:
    return "floor" if a["pad"] == "same" else a.get("round", "floor")


def _sliding(a: dict, x: Shape, ctx: Ctx, what: str, kh: int, kw: int) -> Shape:
    """Shape rule shared by conv and pools."""
    s = a["stride"]
    d = a.get("dilation", 1)
    pad = _window_padding(a, x)
    top, bottom, left, right = pad.top, pad.bottom, pad.left, pad.right
    rounding = _rounding(a)
    oh, nh = window_out(x.h, kh, s, top, bottom, d, rounding, "height", what)
    ow, nw = window_out(x.w, kw, s, left, right, d, rounding, "width", what)
    notes = [n for n in (nh, nw) if n]
    if notes and not a.get("_round_explicit"):
        ctx.warn(
            f"{what} {kh}x{kw}/{s} does not tile the {x.h}x{x.w} input exactly",
            *notes,
            "say round=floor (or ceil, or exact) to make the choice explicit",
        )
    return Shape(oh, ow, x.c)


def _sliding_resolve(a: dict, x: Shape) -> dict:
    """The padding the generated code applies: `pad` resolved against the input.

    With round=ceil and asymmetric padding (which PyTorch receives as a padding layer followed by a pool
    with padding 0), trailing padding past the last window's end is left out: no window reads it, and a
    pool that saw it as input could start one more window inside it.
    """
    p = _window_padding(a, x)
    if _rounding(a) == "ceil" and not p.symmetric:
        kh, kw = _kernel(a)
        s, d = a["stride"], a.get("dilation", 1)
        bottom = ceil_read_after(x.h, kh, s, p.top, p.bottom, d)
        right = ceil_read_after(x.w, kw, s, p.left, p.right, d)
        p = Padding(p.top, bottom, p.left, right)
    return {"padding": p}


def _check_pad_limit(p: Padding, kh: int, kw: int, what: str) -> None:
    if max(p.top, p.bottom) > kh // 2 or max(p.left, p.right) > kw // 2:
        raise SpecError(
            f"padding {p} is more than half the {kh}x{kw} {what} window",
            "PyTorch's pooling layers require padding <= kernel size / 2",
        )


def _kernel(a: dict) -> tuple[int, int]:
    return a["kernel"]


# ------------------------------------------------------------------------------------------------
# conv


def _conv_shape(a: dict, x: Shape, ctx: Ctx) -> Shape:
    _need_map(x, "conv")
    kh, kw = _kernel(a)
    g = a["groups"]
    out = a["out"]
    if x.c % g:
        raise SpecError(
            f"groups={g} does not divide the {x.c} input channels",
            f"{x.c} / {g} = {x.c / g:g}",
        )
    if out % g:
        raise SpecError(
            f"groups={g} does not divide the {out} output channels",
            f"{out} / {g} = {out / g:g}",
        )
    y = _sliding(a, x, ctx, "conv", kh, kw)
    return Shape(y.h, y.w, out)


def _conv_cost(a: dict, x: Shape, y: Shape) -> Cost:
    kh, kw = _kernel(a)
    weights = a["out"] * (x.c // a["groups"]) * kh * kw
    params = weights + (a["out"] if a["bias"] else 0) + (2 * a["out"] if a["bn"] else 0)
    return Cost(params, weights, weights * y.h * y.w)


CONV = OpDef(
    name="conv",
    title="convolution",
    category="conv",
    doc="2-D convolution, optionally followed by batch norm and an activation "
    "(conv -> bn -> act, as one row and one unit of depth).",
    attrs=(
        Attr("out", "int", None, "output channels (required)", minimum=1, maximum=MAX_CHANNELS),
        Attr("kernel", "kernel", None, "kernel size; written as the patch KHxKW"),
        Attr(
            "stride",
            "int",
            1,
            "stride; written after the patch as /S",
            minimum=1,
            maximum=MAX_KERNEL,
        ),
        Attr(
            "pad",
            "pad",
            "same",
            "padding: same (TensorFlow's: output = ceil(in / stride)), valid, half (PyTorch's "
            "symmetric (k - 1) // 2 * dilation), or explicit",
        ),
        Attr("dilation", "int", 1, "dilation", minimum=1, maximum=MAX_DILATION),
        Attr(
            "groups",
            "int",
            1,
            "groups (2 models AlexNet's two-GPU split)",
            minimum=1,
            maximum=MAX_CHANNELS,
        ),
        Attr("bias", "bool", True, "add a bias"),
        Attr("bn", "bool", False, "batch norm after the conv"),
        Attr("eps", "float", 1e-5, "batch norm epsilon", minimum=0.0, maximum=1.0),
        Attr(
            "momentum",
            "float",
            0.1,
            "batch norm momentum (PyTorch convention)",
            minimum=0.0,
            maximum=1.0,
        ),
        Attr("act", "enum", "none", "activation after conv (and bn)", ACT_WORDS),
        Attr("round", "enum", "floor", "rounding of the output size", ("floor", "exact")),
    ),
    positional=("out",),
    flags={"same": ("pad", "same"), "valid": ("pad", "valid"), "half": ("pad", "half")},
    patch=True,
    patch_required=True,
    weighted=True,
    shape=_conv_shape,
    resolve=_sliding_resolve,
    cost=_conv_cost,
    template="conv",
)

# ------------------------------------------------------------------------------------------------
# pools


def _pool_shape(kind: str):
    def rule(a: dict, x: Shape, ctx: Ctx) -> Shape:
        _need_map(x, kind)
        if a.get("adaptive") is not None:  # PyTorch's adaptive pool: the output size is given
            if a["global"] or a.get("kernel") is not None:
                raise SpecError(
                    f"{kind}: adaptive= gives the output size; it takes no window and no 'global'"
                )
            ah, aw = a["adaptive"]
            return Shape(ah, aw, x.c)
        if a["global"]:
            return Shape(1, 1, x.c)
        if a.get("kernel") is None:
            raise SpecError(f"{kind} needs a window such as 3x3/2, or the flag 'global'")
        kh, kw = _kernel(a)
        y = _sliding(a, x, ctx, kind, kh, kw)
        _check_pad_limit(_window_padding(a, x), kh, kw, kind)
        return y

    return rule


def _pool_resolve(a: dict, x: Shape) -> dict:
    """A global pool's window is the whole input; other pools resolve their padding as conv does
    (an adaptive pool has no window of its own)."""
    if a.get("adaptive") is not None:
        return {}
    if a["global"]:
        return {"kernel": (x.h, x.w), "stride": 1, "padding": Padding(0, 0, 0, 0)}
    return _sliding_resolve(a, x)


def _pool_title(word: str):
    def title(a: dict) -> str:
        if a.get("adaptive") is not None:
            ah, aw = a["adaptive"]
            return f"{word} (adaptive {ah}x{aw})"
        return f"{word} (global)" if a.get("global") else word

    return title


_POOL_ATTRS = (
    Attr("kernel", "kernel", None, "window size; written as the patch KHxKW"),
    Attr(
        "stride", "int", 1, "stride; written after the patch as /S", minimum=1, maximum=MAX_KERNEL
    ),
    Attr("pad", "pad", "same", "padding: same, valid, half, or explicit"),
    Attr(
        "round",
        "enum",
        "floor",
        "rounding of the output size (ceil: a last window may hang over the end of the padded input,"
        " but it starts inside the input or the leading padding, as PyTorch's ceil_mode)",
        ("floor", "ceil", "exact"),
    ),
    Attr("global", "bool", False, "pool the whole feature map to 1x1"),
    Attr(
        "adaptive",
        "kernel",
        None,
        "output size of an adaptive pool (PyTorch's AdaptiveAvgPool2d): windows of varying size "
        "that tile the input, `adaptive=4` for 4x4",
        optional=True,
    ),
)

MAXPOOL = OpDef(
    name="maxpool",
    title="max pool",
    category="pool",
    doc="Max pooling. Padding counts as -infinity.",
    attrs=_POOL_ATTRS,
    flags={
        "same": ("pad", "same"),
        "valid": ("pad", "valid"),
        "half": ("pad", "half"),
        "ceil": ("round", "ceil"),
        "global": ("global", True),
    },
    patch=True,
    shape=_pool_shape("max pool"),
    resolve=_pool_resolve,
    title_fn=_pool_title("max pool"),
    template="maxpool",
)

AVGPOOL = OpDef(
    name="avgpool",
    title="avg pool",
    category="pool",
    doc="Average pooling.",
    attrs=(
        *_POOL_ATTRS,
        Attr(
            "count_include_pad",
            "bool",
            False,
            "padded zeros count in the average (false: TensorFlow's SAME semantics)",
        ),
    ),
    flags={
        "same": ("pad", "same"),
        "valid": ("pad", "valid"),
        "half": ("pad", "half"),
        "ceil": ("round", "ceil"),
        "global": ("global", True),
    },
    patch=True,
    shape=_pool_shape("avg pool"),
    resolve=_pool_resolve,
    title_fn=_pool_title("avg pool"),
    template="avgpool",
)

# ------------------------------------------------------------------------------------------------
# normalisation, activation, regularisation, reshaping


def _same_map(kind: str):
    def rule(a: dict, x: Shape, ctx: Ctx) -> Shape:
        _need_map(x, kind)
        return x

    return rule


def _identity(a: dict, x: Shape, ctx: Ctx) -> Shape:
    return x


LRN = OpDef(
    name="lrn",
    title="local response norm",
    category="norm",
    doc="Local response normalisation across channels, in the papers' convention: "
    "b = a / (k + alpha * sum(a^2))^beta over `size` neighbouring channels. "
    "(PyTorch's LocalResponseNorm divides alpha by size; the generated code compensates.)",
    attrs=(
        Attr("size", "int", 5, "channels in the window", minimum=1, maximum=MAX_KERNEL),
        Attr("alpha", "float", 1e-4, "alpha, not divided by size", minimum=0.0, maximum=10.0),
        Attr("beta", "float", 0.75, "beta", minimum=0.0, maximum=10.0),
        Attr("k", "float", 1.0, "additive constant k", minimum=0.0, maximum=1000.0),
    ),
    positional=("size",),
    shape=_same_map("lrn"),
    template="lrn",
)

BN = OpDef(
    name="bn",
    title="batch norm",
    category="norm",
    doc="Batch normalisation on its own row (a conv row can carry it with bn=true), optionally "
    "followed by an activation: `bn (bn1) act=relu` is torchvision's bn1 and relu.",
    attrs=(
        Attr("eps", "float", 1e-5, "epsilon", minimum=0.0, maximum=1.0),
        Attr("momentum", "float", 0.1, "momentum (PyTorch convention)", minimum=0.0, maximum=1.0),
        Attr("act", "enum", "none", "activation after the batch norm", ACT_WORDS),
    ),
    shape=_identity,
    cost=lambda a, x, y: Cost(2 * x.c, 0, 0),
    module_act=True,
    template="bn",
)

RELU = OpDef(
    name="relu",
    title="relu",
    category="activation",
    doc="Rectified linear unit on its own row.",
    attrs=(),
    shape=_identity,
    template="relu",
)

RELU6 = OpDef(
    name="relu6",
    title="relu6",
    category="activation",
    doc="ReLU capped at 6, min(max(x, 0), 6), on its own row (MobileNet's activation).",
    attrs=(),
    shape=_identity,
    template="relu6",
)


def _activation_row(act: Activation) -> OpDef:
    return OpDef(
        name=act.name,
        title=act.name,
        category="activation",
        doc=f"The {act.name} activation on its own row (`act={act.name}` applies it after a "
        "conv or linear row).",
        attrs=(),
        shape=_identity,
        template="activation_row",
    )


ACTIVATION_ROWS = tuple(
    _activation_row(a) for a in ACTIVATIONS.values() if a.cls and a.name not in ("relu", "relu6")
)

IDENTITY = OpDef(
    name="identity",
    title="identity",
    category="reshape",
    doc="The identity: passes its input on (a shortcut branch that does nothing says so with it).",
    attrs=(),
    shape=_identity,
    template="identity",
)


def _shuffle_shape(a: dict, x: Shape, ctx: Ctx) -> Shape:
    _need_map(x, "channel_shuffle")
    g = a["groups"]
    if x.c % g:
        raise SpecError(
            f"groups={g} does not divide the {x.c} input channels", f"{x.c} / {g} = {x.c / g:g}"
        )
    return x


CHANNEL_SHUFFLE = OpDef(
    name="channel_shuffle",
    title="channel shuffle",
    category="reshape",
    doc="ShuffleNet's channel shuffle: the channels, seen as `groups` groups, are interleaved "
    "(reshape to groups x C/groups, transpose, flatten). No parameters.",
    attrs=(Attr("groups", "int", 2, "groups", minimum=1, maximum=MAX_CHANNELS),),
    positional=("groups",),
    shape=_shuffle_shape,
    title_fn=lambda a: f"channel shuffle ({a['groups']} groups)",
    template="channel_shuffle",
)

DROP_PATH = OpDef(
    name="drop_path",
    title="drop path",
    category="regularizer",
    doc="Stochastic depth (drop path): in training mode each sample's tensor is zeroed with "
    "probability p and the others scaled by 1 / (1 - p), as torchvision's "
    'StochasticDepth(p, "row"); the identity in eval mode. No parameters.',
    attrs=(
        Attr(
            "p", "float", 0.0, "probability of dropping a sample's path", minimum=0.0, maximum=1.0
        ),
    ),
    positional=("p",),
    shape=_identity,
    title_fn=lambda a: f"drop path ({a['p'] * 100:g}%)",
    template="drop_path",
)

DROPOUT = OpDef(
    name="dropout",
    title="dropout",
    category="regularizer",
    doc="Dropout with drop probability p (active in training mode only).",
    attrs=(Attr("p", "float", 0.5, "probability of dropping a unit", minimum=0.0, maximum=1.0),),
    positional=("p",),
    shape=_identity,
    title_fn=lambda a: f"dropout ({a['p'] * 100:g}%)",
    template="dropout",
)


def _flatten_shape(a: dict, x: Shape, ctx: Ctx) -> Shape:
    return Shape(1, 1, x.numel, flat=True)


FLATTEN = OpDef(
    name="flatten",
    title="flatten",
    category="reshape",
    doc="Flatten the feature map into a vector of H*W*C features (C-major, as torch.flatten).",
    attrs=(),
    shape=_flatten_shape,
    template="flatten",
)


def _linear_shape(a: dict, x: Shape, ctx: Ctx) -> Shape:
    return Shape(1, 1, a["out"], flat=True)


def _linear_cost(a: dict, x: Shape, y: Shape) -> Cost:
    weights = x.numel * a["out"]
    return Cost(weights + (a["out"] if a["bias"] else 0), weights, weights)


LINEAR = OpDef(
    name="linear",
    title="linear",
    category="classifier",
    doc="Fully connected layer; a feature-map input is flattened first.",
    attrs=(
        Attr("out", "int", None, "output features (required)", minimum=1, maximum=MAX_CHANNELS),
        Attr("bias", "bool", True, "add a bias"),
        Attr("act", "enum", "none", "activation after the layer", ACT_WORDS),
    ),
    positional=("out",),
    weighted=True,
    shape=_linear_shape,
    cost=_linear_cost,
    one_module=lambda a, x: x.flat,  # on a feature map it flattens first
    module_act=True,
    template="linear",
)

SOFTMAX = OpDef(
    name="softmax",
    title="softmax",
    category="classifier",
    doc="Softmax over channels. As the last row of the network or of a side head it is left to "
    "the loss: the generated module returns logits (what nn.CrossEntropyLoss expects).",
    attrs=(),
    shape=_identity,
    template="softmax",
)

# ------------------------------------------------------------------------------------------------
# merges (written as branch groups and residual blocks, not as rows)


def concat_shape(parts: list[tuple[str, Shape]]) -> Shape:
    """Concatenate along channels; every part must have the same spatial size."""
    (n0, s0), *rest = parts
    for name, s in rest:
        if s.flat != s0.flat or (s.h, s.w) != (s0.h, s0.w):
            raise SpecError(
                "branches to concatenate have different spatial sizes",
                f"{n0} gives {s0}",
                f"{name} gives {s}",
            )
    return Shape(s0.h, s0.w, sum(s.c for _, s in parts), s0.flat)


def _kind(s: Shape) -> str:
    return "a flat vector" if s.flat else "a feature map"


def _described(s: Shape) -> str:
    return f"a vector of {s.c} features" if s.flat else f"{s}"


def add_shape(x: Shape, body: Shape) -> Shape:
    if x.flat != body.flat:
        raise SpecError(
            f"residual add: the body gives {_kind(body)}, but its input is {_kind(x)}",
            f"input (skip connection): {_described(x)}",
            f"body: {_described(body)}",
            "a vector and a feature map cannot be added (PyTorch would broadcast one against the"
            " other); a flatten or linear row belongs after the residual block",
        )
    if (x.h, x.w, x.c) != (body.h, body.w, body.c):
        what = "channel count" if (x.h, x.w) == (body.h, body.w) else "shape"
        raise SpecError(
            f"residual add: the body gives a different {what} than its input",
            f"input (skip connection): {x}",
            f"body: {body}",
            "a residual body must end where it started: its last 1x1 conv can project back with "
            "'in', or the skip path can project instead (ResNet's downsample): add act=relu { "
            "branch { body } branch shortcut { conv 1x1 OUT stride=S bias=false; bn } }",
        )
    return x


def _concat_merge(a: dict, parts: list[tuple[str, Shape]]) -> Shape:
    return concat_shape(parts)


def _add_merge(a: dict, parts: list[tuple[str, Shape]]) -> Shape:
    """Branches added: every branch must give the same shape."""
    (n0, s0), *rest = parts
    for name, s in rest:
        if s.flat != s0.flat or (s.h, s.w, s.c) != (s0.h, s0.w, s0.c):
            what = "channel count" if (s.h, s.w) == (s0.h, s0.w) and s.flat == s0.flat else "shape"
            raise SpecError(
                f"branches to add give a different {what}",
                f"{n0} gives {_described(s0)}",
                f"{name} gives {_described(s)}",
                "branches are added element by element: each must give the same shape (a "
                "projection shortcut is a branch of its own: branch { conv 1x1 ...; bn })",
            )
    return s0


def _mul_merge(a: dict, parts: list[tuple[str, Shape]]) -> Shape:
    """Branches multiplied, broadcasting as PyTorch does: along each axis a branch gives the full
    size or 1 (squeeze-and-excitation's 1x1xC gate on an HxWxC map)."""
    s0 = parts[0][1]
    if any(s.flat != s0.flat for _, s in parts):
        raise SpecError(
            "branches to multiply: a vector and a feature map",
            *(f"{n} gives {_described(s)}" for n, s in parts),
        )
    full = Shape(
        max(s.h for _, s in parts), max(s.w for _, s in parts), max(s.c for _, s in parts), s0.flat
    )
    for axis, size in (("height", full.h), ("width", full.w), ("channels", full.c)):
        for _, s in parts:
            v = {"height": s.h, "width": s.w, "channels": s.c}[axis]
            if v not in (1, size):
                raise SpecError(
                    f"branches to multiply do not broadcast: {axis} {v} against {size}",
                    *(f"{n} gives {_described(sh)}" for n, sh in parts),
                    "along each axis a branch must give the full size or 1 (a gate pools to "
                    "1x1xC, a spatial mask is HxWx1)",
                )
    return full


def split_input(x: Shape, n: int) -> Shape:
    """What each of `n` branches of a split receives: its share of the channels."""
    if x.flat:
        raise SpecError("split needs a feature map, but its input is a flat vector")
    if x.c % n:
        raise SpecError(
            f"split: {n} branches do not share the {x.c} input channels evenly",
            f"{x.c} / {n} = {x.c / n:g}",
        )
    return Shape(x.h, x.w, x.c // n)


CONCAT = OpDef(
    name="concat",
    title="concat",
    category="merge",
    doc="Depth concatenation of parallel branches: a run of `branch { ... }` statements (or "
    "`concat { branch ... }`). Their spatial sizes must agree.",
    attrs=(),
    merge=_concat_merge,
    template="concat",
    user_visible=False,
    written_as="branch { ... } branch { ... }",
)

ADD = OpDef(
    name="add",
    title="add",
    category="merge",
    doc="Branches added element by element, act(scale * first + the others): `add [scale=S] "
    "[act=A] { branch { ... } branch { ... } }`. An empty branch is the identity, so "
    "`residual { body }` is the short form of `add { branch { body } branch { } }`.",
    attrs=(
        Attr(
            "scale",
            "float",
            1.0,
            "scale applied to the first branch (a residual's body)",
            minimum=-10.0,
            maximum=10.0,
        ),
        Attr("act", "enum", "none", "activation after the sum", ACT_WORDS),
    ),
    merge=_add_merge,
    template="add",
    user_visible=False,
    written_as="add { branch { ... } branch { ... } } or residual { ... }",
)

MUL = OpDef(
    name="mul",
    title="mul",
    category="merge",
    doc="Branches multiplied element by element, broadcasting a 1x1xC (or HxWx1) branch over the "
    "others: `mul { branch { } branch { avgpool global; conv 1x1 r act=relu; conv 1x1 in "
    "act=sigmoid } }` is squeeze-and-excitation.",
    attrs=(),
    merge=_mul_merge,
    template="mul",
    user_visible=False,
    written_as="mul { branch { ... } branch { ... } }",
)

SPLIT = OpDef(
    name="split",
    title="split",
    category="merge",
    doc="The input's channels split evenly between the branches, in order (the first branch "
    "takes the first C/n), and their outputs concatenated: ShuffleNetV2's unit is `split { "
    "branch { } branch { ... } }` followed by `channel_shuffle 2`.",
    attrs=(),
    merge=_concat_merge,
    template="concat",  # the branches' outputs concatenated, as concat's
    user_visible=False,
    written_as="split { branch { ... } branch { ... } }",
)

OPS: dict[str, OpDef] = {
    op.name: op
    for op in (
        CONV,
        MAXPOOL,
        AVGPOOL,
        LRN,
        BN,
        RELU,
        RELU6,
        *ACTIVATION_ROWS,
        IDENTITY,
        CHANNEL_SHUFFLE,
        DROP_PATH,
        DROPOUT,
        FLATTEN,
        LINEAR,
        SOFTMAX,
        CONCAT,
        ADD,
        MUL,
        SPLIT,
    )
}

ROW_OPS = {name: op for name, op in OPS.items() if op.user_visible}
