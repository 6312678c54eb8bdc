"""Random valid .isp specs, with a reference model that does not use inspec's code.

A spec is generated as a small tree of plain records (`Conv`, `Pool`, `Concat`, `Residual`, `Call`,
`Repeat`, ...), rendered to .isp text, and evaluated by `reference()`, which recomputes every top-level
row's output shape, the parameter count and the multiply-adds by brute force (windows are counted by
enumerating their start positions, not through a closed formula).

The generator draws its choices through a `Chooser`, so the same code runs under hypothesis (the test
suite: shrinking, a fixed database-free derandomized run) and under `random.Random(seed)` (the separate
commands that run 10,000 cases and can name the seed of every failure).

    specs()                 hypothesis strategy of GenSpec
    generate(RandomChooser(random.Random(seed)))   the same without hypothesis
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

# ------------------------------------------------------------------------------------------------
# Choices


class Chooser:
    def int(self, lo: int, hi: int) -> int:  # pragma: no cover - interface
        raise NotImplementedError

    def bool(self, p: float = 0.5) -> bool:
        return self.int(0, 999) < int(p * 1000)

    def pick(self, seq):
        seq = list(seq)
        return seq[self.int(0, len(seq) - 1)]


class RandomChooser(Chooser):
    def __init__(self, rng: random.Random):
        self.rng = rng

    def int(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)


class DrawChooser(Chooser):
    """Choices from a hypothesis `draw`: each is an integer, so examples shrink towards the first option."""

    def __init__(self, draw):
        from hypothesis import strategies as st

        self.draw = draw
        self.st = st

    def int(self, lo: int, hi: int) -> int:
        return self.draw(self.st.integers(lo, hi))

    def bool(self, p: float = 0.5) -> bool:
        # sampled_from draws uniformly and shrinks towards its first element: False, the simpler spec
        k = max(1, min(19, round(p * 20)))
        return self.draw(self.st.sampled_from((False,) * (20 - k) + (True,) * k))


# ------------------------------------------------------------------------------------------------
# Channel expressions: a literal, a parameter, `in`, or a little arithmetic on them


@dataclass(frozen=True)
class Ch:
    kind: str  # lit | name | mul | div
    value: int | str = 0
    inner: Ch | None = None
    k: int = 1

    def text(self) -> str:
        if self.kind == "lit":
            return str(self.value)
        if self.kind == "name":
            return str(self.value)
        op = "*" if self.kind == "mul" else "//"
        return f"({self.inner.text()} {op} {self.k})"

    def eval(self, env: dict) -> int:
        if self.kind == "lit":
            return int(self.value)
        if self.kind == "name":
            return int(env[self.value])
        v = self.inner.eval(env)
        return v * self.k if self.kind == "mul" else v // self.k


def lit(n: int) -> Ch:
    return Ch("lit", n)


# ------------------------------------------------------------------------------------------------
# The spec tree


@dataclass
class Conv:
    kh: int
    kw: int
    out: Ch
    stride: int = 1
    stride_kw: bool = False  # write stride=S instead of /S
    pad: object = "same"  # "same" | "valid" | int | (ph, pw) | (t, b, l, r)
    dilation: int = 1
    groups: int = 1
    bn: bool = False
    bias: bool | None = None  # None: not written (default true)
    act: str | None = None
    label: str | None = None


@dataclass
class Pool:
    kind: str  # maxpool | avgpool
    kh: int = 2
    kw: int = 2
    stride: int = 1
    pad: object = "same"
    ceil: bool = False
    count_include_pad: bool | None = None
    glob: bool = False
    label: str | None = None


@dataclass
class Simple:
    """lrn | bn | relu | dropout | flatten | softmax"""

    op: str
    arg: str = ""


@dataclass
class Linear:
    out: Ch
    bias: bool | None = None
    act: str | None = None


@dataclass
class Concat:
    branches: list  # list of list of items
    names: list


@dataclass
class Residual:
    body: list
    scale: float | None = None
    act: str | None = None


@dataclass
class Call:
    block: BlockDef
    args: list  # Ch per parameter
    keyword: bool = False
    label: str | None = None


@dataclass
class Repeat:
    n: int
    item: object  # Conv | Call | Simple


@dataclass
class BlockDef:
    name: str
    params: list
    body: list


@dataclass(repr=False)
class GenSpec:
    text: str
    input: tuple[int, int, int]
    blocks: list
    body: list
    network_params: dict = field(default_factory=dict)
    ref: Ref | None = None

    def __repr__(self) -> str:  # hypothesis prints this on a failure: the spec itself
        return "GenSpec(text=\n" + self.text + "\n)"


# ------------------------------------------------------------------------------------------------
# Rendering


def _pad_text(pad) -> str:
    if isinstance(pad, tuple):
        return "(" + ", ".join(str(p) for p in pad) + ")"
    return str(pad)


def _b(v: bool) -> str:
    return "true" if v else "false"


def render_item(it, indent: str) -> list[str]:
    if isinstance(it, Conv):
        parts = ["conv"]
        if it.label:
            parts.append(f"({it.label})")
        parts.append(
            f"{it.kh}x{it.kw}" + (f"/{it.stride}" if it.stride != 1 and not it.stride_kw else "")
        )
        parts.append(it.out.text())
        if it.stride_kw and it.stride != 1:
            parts.append(f"stride={it.stride}")
        if it.pad == "valid":
            parts.append("valid")
        elif it.pad != "same":
            parts.append(f"pad={_pad_text(it.pad)}")
        if it.dilation != 1:
            parts.append(f"dilation={it.dilation}")
        if it.groups != 1:
            parts.append(f"groups={it.groups}")
        if it.bn:
            parts.append("bn=true")
        if it.bias is not None:
            parts.append(f"bias={_b(it.bias)}")
        if it.act:
            parts.append(f"act={it.act}")
        return [indent + " ".join(parts)]
    if isinstance(it, Pool):
        parts = [it.kind]
        if it.label:
            parts.append(f"({it.label})")
        if it.glob:
            parts.append("global")
        else:
            parts.append(f"{it.kh}x{it.kw}/{it.stride}")
            if it.pad == "valid":
                parts.append("valid")
            elif it.pad != "same":
                parts.append(f"pad={_pad_text(it.pad)}")
            if it.ceil:
                parts.append("ceil")
            if it.count_include_pad is not None:
                parts.append(f"count_include_pad={_b(it.count_include_pad)}")
        return [indent + " ".join(parts)]
    if isinstance(it, Simple):
        return [indent + (f"{it.op} {it.arg}" if it.arg else it.op)]
    if isinstance(it, Linear):
        parts = ["linear", it.out.text()]
        if it.bias is not None:
            parts.append(f"bias={_b(it.bias)}")
        if it.act:
            parts.append(f"act={it.act}")
        return [indent + " ".join(parts)]
    if isinstance(it, Concat):
        out = []
        for name, br in zip(it.names, it.branches, strict=True):
            head = f"branch {name} {{" if name else "branch {"
            if not br:
                out.append(indent + head + " }")
            elif len(br) == 1 and not isinstance(br[0], (Concat, Residual)):
                out.append(indent + head + " " + render_item(br[0], "")[0].strip() + " }")
            else:
                out.append(indent + head)
                for x in br:
                    out += render_item(x, indent + "  ")
                out.append(indent + "}")
        return out
    if isinstance(it, Residual):
        kw = ""
        if it.scale is not None:
            kw += f" scale={it.scale}"
        if it.act:
            kw += f" act={it.act}"
        out = [indent + f"residual{kw} {{"]
        for x in it.body:
            out += render_item(x, indent + "  ")
        out.append(indent + "}")
        return out
    if isinstance(it, Call):
        parts = [it.block.name]
        if it.label:
            parts.append(f"({it.label})")
        # `NAME (expr)` would read as a call of NAME: compound arguments go by keyword
        if it.keyword or any(a.kind in ("mul", "div") for a in it.args[1:]):
            parts += [f"{p}={a.text()}" for p, a in zip(it.block.params, it.args, strict=True)]
        else:
            parts += [a.text() for a in it.args]
        return [indent + " ".join(parts)]
    if isinstance(it, Repeat):
        return [indent + f"{it.n} x " + render_item(it.item, "")[0]]
    raise TypeError(it)  # pragma: no cover


def render(spec: GenSpec) -> str:
    h, w, c = spec.input
    params = ""
    if spec.network_params:
        params = "(" + ", ".join(f"{k} = {v}" for k, v in spec.network_params.items()) + ")"
    lines = [f"network gen{params}", f"input {h}x{w}x{c}"]
    for b in spec.blocks:
        lines.append("")
        lines.append(f"block {b.name}({', '.join(b.params)}) {{")
        for it in b.body:
            lines += render_item(it, "  ")
        lines.append("}")
    lines.append("")
    for it in spec.body:
        lines += render_item(it, "")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------
# The reference model: brute force, independent of inspec


@dataclass(frozen=True)
class RShape:
    h: int
    w: int
    c: int
    flat: bool = False


class Invalid(Exception):
    """The generator built something the reference model considers invalid (a generator bug)."""


def same_pads(size: int, k: int, s: int, d: int) -> tuple[int, int]:
    """TensorFlow SAME: the smallest total padding giving ceil(size / s) outputs; the odd pixel after."""
    want = -(-size // s)
    eff = d * (k - 1) + 1
    total = 0
    while len(window_starts(size, eff, s, 0, total, False)) < want:
        total += 1
    return total // 2, total - total // 2


def window_starts(size: int, eff: int, s: int, before: int, after: int, ceil: bool) -> list[int]:
    """Start positions (in padded coordinates) of the windows PyTorch evaluates, by enumeration."""
    length = size + before + after
    starts = []
    pos = 0
    while pos + eff <= length:
        starts.append(pos)
        pos += s
    if ceil:
        # ceil mode: windows may also hang over the end by less than a stride; PyTorch drops a window
        # that does not start inside the input or the leading padding
        while pos + eff - s < length:
            starts.append(pos)
            pos += s
        starts = [p for p in starts if p < size + before]
    return starts


def _pads(pad, size_h, size_w, kh, kw, s, d):
    if pad == "same":
        return same_pads(size_h, kh, s, d) + same_pads(size_w, kw, s, d)
    if pad == "valid":
        return 0, 0, 0, 0
    if isinstance(pad, int):
        return pad, pad, pad, pad
    if len(pad) == 2:
        return pad[0], pad[0], pad[1], pad[1]
    return pad


@dataclass
class Ref:
    rows: list  # top-level output shapes (RShape)
    params: int = 0
    macs: int = 0
    layers: int = 0


class _Eval:
    def __init__(self):
        self.params = 0
        self.macs = 0
        self.layers = 0

    def seq(self, items, x: RShape, env: dict) -> RShape:
        for it in items:
            x = self.item(it, x, env)
        return x

    def item(self, it, x: RShape, env: dict) -> RShape:
        if isinstance(it, Conv):
            self.layers += 1
            if x.flat:
                raise Invalid("conv on a vector")
            out = it.out.eval(env)
            if x.c % it.groups or out % it.groups:
                raise Invalid("groups")
            t, b, lft, rgt = _pads(it.pad, x.h, x.w, it.kh, it.kw, it.stride, it.dilation)
            oh = len(window_starts(x.h, it.dilation * (it.kh - 1) + 1, it.stride, t, b, False))
            ow = len(window_starts(x.w, it.dilation * (it.kw - 1) + 1, it.stride, lft, rgt, False))
            if oh < 1 or ow < 1:
                raise Invalid("conv window does not fit")
            weights = out * (x.c // it.groups) * it.kh * it.kw
            bias = it.bias if it.bias is not None else True
            self.params += weights + (out if bias else 0) + (2 * out if it.bn else 0)
            self.macs += weights * oh * ow
            return RShape(oh, ow, out)
        if isinstance(it, Pool):
            self.layers += 1
            if x.flat:
                raise Invalid("pool on a vector")
            if it.glob:
                return RShape(1, 1, x.c)
            t, b, lft, rgt = _pads(it.pad, x.h, x.w, it.kh, it.kw, it.stride, 1)
            if max(t, b) > it.kh // 2 or max(lft, rgt) > it.kw // 2:
                raise Invalid("pool padding over half the window")
            ceil = it.ceil and it.pad != "same"
            oh = len(window_starts(x.h, it.kh, it.stride, t, b, ceil))
            ow = len(window_starts(x.w, it.kw, it.stride, lft, rgt, ceil))
            if oh < 1 or ow < 1:
                raise Invalid("pool window does not fit")
            return RShape(oh, ow, x.c)
        if isinstance(it, Simple):
            self.layers += 1
            if it.op == "flatten":
                return RShape(1, 1, x.h * x.w * x.c, True)
            if it.op == "bn":
                self.params += 2 * x.c
            return x
        if isinstance(it, Linear):
            self.layers += 1
            n_in = x.h * x.w * x.c
            out = it.out.eval(env)
            bias = it.bias if it.bias is not None else True
            self.params += n_in * out + (out if bias else 0)
            self.macs += n_in * out
            return RShape(1, 1, out, True)
        if isinstance(it, Concat):
            outs = [self.seq(br, x, env) for br in it.branches]
            if len({(o.h, o.w, o.flat) for o in outs}) != 1:
                raise Invalid("branches disagree")
            return RShape(outs[0].h, outs[0].w, sum(o.c for o in outs), outs[0].flat)
        if isinstance(it, Residual):
            y = self.seq(it.body, x, env)
            if (y.h, y.w, y.c) != (x.h, x.w, x.c):
                raise Invalid("residual body changes the shape")
            return x
        if isinstance(it, Call):
            inner = {p: a.eval(env) for p, a in zip(it.block.params, it.args, strict=True)}
            inner["in"] = x.c
            return self.seq(it.block.body, x, inner)
        if isinstance(it, Repeat):
            for _ in range(it.n):
                x = self.item(it.item, x, env)
            return x
        raise TypeError(it)  # pragma: no cover


def reference(spec: GenSpec) -> Ref:
    ev = _Eval()
    x = RShape(*spec.input)
    rows = []
    env = dict(spec.network_params)
    for it in spec.body:
        x = ev.item(it, x, env)
        rows.append(x)
    return Ref(rows, ev.params, ev.macs, ev.layers)


# ------------------------------------------------------------------------------------------------
# The generator

ACTS = ("relu", "relu6", "tanh", "sigmoid", "gelu", "silu", "none")
MAX_C = 12  # small channels and maps keep torch's forward fast


class _Gen:
    def __init__(self, ch: Chooser):
        self.ch = ch
        self.blocks: list[BlockDef] = []
        self.labels = 0
        self.budget = 40  # layers, so that one case stays small

    def label(self) -> str | None:
        if self.ch.bool(0.15):
            self.labels += 1
            return self.ch.pick([f"L{self.labels}", f"{self.labels}a", f"c_{self.labels}"])
        return None

    def chans(self) -> int:
        return self.ch.int(1, MAX_C)

    # -- concrete rows (the shape is known) -------------------------------------------------
    def conv_concrete(self, x: RShape, out: int | None = None) -> Conv:
        c = self.ch
        kh = c.int(1, 5)
        kw = kh if c.bool(0.6) else c.int(1, 5)
        d = 1 if c.bool(0.8) else c.int(2, 3)
        stride = c.pick([1, 1, 1, 2, 3])
        pad_kind = c.pick(["same", "same", "valid", "int", "pair", "four"])
        if pad_kind == "same":
            pad = "same"
        elif pad_kind == "valid":
            pad = "valid"
        elif pad_kind == "int":
            pad = c.int(0, 3)
        elif pad_kind == "pair":
            pad = (c.int(0, 3), c.int(0, 3))
        else:
            pad = (c.int(0, 2), c.int(0, 2), c.int(0, 2), c.int(0, 2))
        t, b, lft, rgt = _pads(pad, x.h, x.w, kh, kw, stride, d) if pad != "same" else (0, 0, 0, 0)
        # make the window fit: shrink the dilation, then the kernel
        while pad != "same" and (
            d * (kh - 1) + 1 > x.h + t + b or d * (kw - 1) + 1 > x.w + lft + rgt
        ):
            if d > 1:
                d -= 1
            elif kh > 1 and kh - 1 + 1 > x.h + t + b:
                kh -= 1
            elif kw > 1:
                kw -= 1
            else:
                kh -= 1
        out = out if out is not None else self.chans()
        groups = 1
        if c.bool(0.2):
            common = [g for g in range(2, 7) if x.c % g == 0]
            if common:
                groups = c.pick(common)
                out = groups * max(1, out // groups)
        return Conv(
            kh,
            kw,
            lit(out),
            stride=stride,
            stride_kw=c.bool(0.2),
            pad=pad,
            dilation=d,
            groups=groups,
            bn=c.bool(0.3),
            bias=c.pick([None, None, True, False]),
            act=c.pick([None, None, "relu", "relu6", "tanh", "sigmoid", "gelu", "silu", "none"]),
            label=self.label(),
        )

    def pool_concrete(self, x: RShape) -> Pool:
        c = self.ch
        kind = c.pick(["maxpool", "avgpool"])
        if c.bool(0.1):
            return Pool(kind, glob=True, label=self.label())
        kh = c.int(1, 4)
        kw = kh if c.bool(0.7) else c.int(1, 4)
        stride = c.pick([1, 2, 2, 3])
        pad_kind = c.pick(["same", "valid", "int", "pair"])
        pad: object
        if pad_kind == "same":
            pad = "same"
        elif pad_kind == "valid":
            pad = "valid"
        elif pad_kind == "int":
            pad = c.int(0, min(kh, kw) // 2)
        else:
            pad = (c.int(0, kh // 2), c.int(0, kw // 2))
        t, b, lft, rgt = _pads(pad, x.h, x.w, kh, kw, stride, 1) if pad != "same" else (0, 0, 0, 0)
        kh = min(kh, x.h + t + b)
        kw = min(kw, x.w + lft + rgt)
        if pad != "same":
            # keep the padding within half the (possibly shrunk) window
            if isinstance(pad, int):
                pad = min(pad, kh // 2, kw // 2)
            elif isinstance(pad, tuple):
                pad = (min(pad[0], kh // 2), min(pad[1], kw // 2))
        cip = None
        if kind == "avgpool" and c.bool(0.4):
            cip = c.bool()
        return Pool(
            kind, kh, kw, stride, pad, ceil=c.bool(0.3), count_include_pad=cip, label=self.label()
        )

    # -- shape-generic rows (valid for any input map; used inside blocks) ---------------------
    def conv_generic(self, params: list[str] | None, stride: int | None = None) -> Conv:
        """params None: at the top level, where `in` is not defined."""
        c = self.ch
        kh = c.int(1, 5)
        kw = kh if c.bool(0.6) else c.int(1, 5)
        out = self.chexpr(params)
        return Conv(
            kh,
            kw,
            out,
            stride=stride if stride is not None else c.pick([1, 1, 2]),
            dilation=1 if c.bool(0.85) else 2,
            bn=c.bool(0.3),
            bias=c.pick([None, True, False]),
            act=c.pick([None, "relu", "gelu"]),
            label=self.label(),
        )

    def chexpr(self, params: list[str] | None) -> Ch:
        c = self.ch
        if params is None:
            return lit(self.chans())
        options = ["lit"] + (["name"] * 3 if params else []) + ["in", "in2"]
        kind = c.pick(options)
        if kind == "lit":
            return lit(self.chans())
        if kind == "name":
            return Ch("name", c.pick(params))
        if kind == "in":
            return Ch("name", "in")
        base = Ch("name", "in") if not params or c.bool() else Ch("name", c.pick(params))
        return (
            Ch("mul", inner=base, k=2)
            if c.bool()
            else Ch("div", inner=Ch("mul", inner=base, k=2), k=2)
        )

    def generic_items(
        self, params: list[str], depth: int, stride_ok: bool = True, cur: Ch | None = None
    ) -> list:
        """A shape-generic body: same padding only, so it is valid for every input size.

        `cur` is the channel count of the input as an expression (None: not known), which a residual
        body's last 1x1 conv projects back to (`in` at the start of a block)."""
        c = self.ch
        items: list = []
        for _ in range(c.int(1, 3)):
            if self.budget <= 0:
                break
            kind = c.pick(["conv", "conv", "conv", "pool", "simple", "concat", "residual", "call"])
            if items and isinstance(items[-1], Concat) and kind == "concat":
                kind = "conv"  # two branch groups in a row would be read as one
            if kind == "residual" and cur is None:
                kind = "conv"
            if (kind == "call" and not self.blocks) or (
                depth >= 3 and kind in ("concat", "residual", "call")
            ):
                kind = "conv"
            if kind == "conv":
                self.budget -= 1
                conv = self.conv_generic(params, None if stride_ok else 1)
                items.append(conv)
                cur = conv.out
            elif kind == "pool":
                self.budget -= 1
                k = c.int(1, 3)
                items.append(
                    Pool(c.pick(["maxpool", "avgpool"]), k, k, c.pick([1, 2]) if stride_ok else 1)
                )
            elif kind == "simple":
                self.budget -= 1
                items.append(Simple(c.pick(["relu", "bn", "lrn", "dropout"]), ""))
            elif kind == "concat":
                s = c.pick([1, 2]) if stride_ok else 1
                n = c.int(2, 3)
                branches = []
                for _ in range(n):
                    br = [self.conv_generic(params, s)] if s != 1 or c.bool(0.9) else []
                    if c.bool(0.4):
                        br.append(self.conv_generic(params, 1))
                    branches.append(br)
                self.budget -= sum(len(b) for b in branches)
                items.append(Concat(branches, self.branch_names(n)))
                cur = None
            elif kind == "residual":
                body = self.generic_items(params, depth + 1, stride_ok=False, cur=cur)
                body.append(Conv(1, 1, cur, bn=c.bool(0.3)))
                self.budget -= 1
                items.append(self.residual(body))
            else:
                b = c.pick(self.blocks)
                if not stride_ok and b.name.endswith("s"):
                    self.budget -= 1
                    conv = self.conv_generic(params, 1)
                    items.append(conv)
                    cur = conv.out
                else:
                    items.append(
                        Call(b, [self.chexpr(params) for _ in b.params], keyword=c.bool(0.3))
                    )
                    self.budget -= 2
                    cur = None
        return items or [self.conv_generic(params, None if stride_ok else 1)]

    def residual(self, body) -> Residual:
        c = self.ch
        return Residual(
            body, scale=c.pick([None, None, 0.5, 0.17]), act=c.pick([None, None, "relu"])
        )

    def branch_names(self, n: int) -> list:
        if self.ch.bool(0.3):
            # branch names share the enclosing scope's namespace: unique across the spec
            self.labels += 1
            return [f"b{self.labels}_{k}" for k in range(n)]
        return [None] * n

    def new_block(self) -> BlockDef:
        c = self.ch
        params = [f"p{k}" for k in range(c.int(0, 3))]
        stride_ok = c.bool(0.5)
        name = f"blk{len(self.blocks)}" + ("" if not stride_ok else "s")
        # "s" marks a block that may change the spatial size (not for residual bodies)
        body = self.generic_items(params, 1, stride_ok=stride_ok, cur=Ch("name", "in"))
        b = BlockDef(name, params, body)
        self.blocks.append(b)
        return b

    # -- the network -----------------------------------------------------------------------------
    def network(self) -> GenSpec:
        c = self.ch
        h = c.int(1, 20)
        w = h if c.bool(0.7) else c.int(1, 20)
        x = RShape(h, w, c.int(1, 8))
        input_shape = (x.h, x.w, x.c)
        for _ in range(c.int(0, 2)):
            self.new_block()
        net_params = {}
        if c.bool(0.2):
            net_params["width"] = self.chans()
        body = []
        for _ in range(c.int(1, 6)):
            if self.budget <= 0:
                break
            kind = c.pick(
                ["conv", "conv", "conv", "pool", "simple", "concat", "residual", "call", "repeat"]
            )
            if kind == "concat" and body and isinstance(body[-1], Concat):
                kind = "conv"  # two branch groups in a row would be read as one
            if kind == "conv":
                self.budget -= 1
                conv = self.conv_concrete(x)
                if net_params and c.bool(0.5):
                    conv.out = Ch("name", "width")
                    conv.groups = 1
                it = conv
            elif kind == "pool":
                self.budget -= 1
                it = self.pool_concrete(x)
            elif kind == "simple":
                self.budget -= 1
                it = Simple(c.pick(["relu", "bn", "lrn", "dropout"]))
                if it.op == "lrn" and c.bool(0.5):
                    it.arg = str(c.int(1, 5))
                if it.op == "dropout" and c.bool(0.5):
                    it.arg = c.pick(["0", "0.25", "0.5", "1"])
            elif kind == "concat":
                s = c.pick([1, 2])
                n = c.int(1, 4)
                branches = []
                for _ in range(n):
                    br = [
                        self.conv_generic(None, s)
                        if c.bool(0.7)
                        else Pool(c.pick(["maxpool", "avgpool"]), 3, 3, s)
                    ]
                    if c.bool(0.3):
                        br.append(self.conv_generic(None, 1))
                    branches.append(br)
                self.budget -= sum(len(b) for b in branches)
                it = Concat(branches, self.branch_names(n))
            elif kind == "residual":
                inner = [self.conv_generic(None, 1) for _ in range(c.int(1, 2))]
                inner.append(Conv(1, 1, lit(x.c), bn=c.bool(0.3), act=c.pick([None, "relu"])))
                self.budget -= len(inner)
                it = self.residual(inner)
            elif kind == "call":
                b = c.pick(self.blocks) if self.blocks and c.bool(0.7) else self.new_block()
                it = Call(
                    b,
                    [lit(self.chans()) for _ in b.params],
                    keyword=c.bool(0.3),
                    label=self.label(),
                )
                self.budget -= 3
            else:
                n = c.int(1, 4)
                if self.blocks and c.bool(0.4):
                    b = c.pick(self.blocks)
                    inner_it = Call(b, [lit(self.chans()) for _ in b.params])
                    self.budget -= 3 * n
                else:
                    inner_it = Conv(
                        c.pick([1, 3]),
                        c.pick([1, 3]),
                        lit(self.chans()),
                        bn=c.bool(0.3),
                        act=c.pick([None, "relu"]),
                    )
                    self.budget -= n
                it = Repeat(n, inner_it)
            x = _Eval().item(it, x, dict(net_params))  # Invalid here is a generator bug
            body.append(it)
        # a head, sometimes
        if c.bool(0.5):
            head = c.pick(["gap", "flatten", "linear"])
            if head == "gap":
                body.append(Pool(c.pick(["avgpool", "maxpool"]), glob=True))
                body.append(Simple("flatten"))
            elif head == "flatten":
                body.append(Simple("flatten"))
            if c.bool(0.5):
                body.append(Simple("dropout", c.pick(["", "0.5"])))
            if c.bool(0.4):
                body.append(Linear(lit(self.chans()), act=c.pick(["relu", "tanh"])))
            body.append(Linear(lit(c.int(1, 10)), bias=c.pick([None, True, False])))
            if c.bool(0.3):
                body.append(Simple("softmax"))
        spec = GenSpec("", input_shape, self.blocks, body, net_params)
        spec.text = render(spec)
        spec.ref = reference(spec)
        return spec


def generate(ch: Chooser) -> GenSpec:
    """One random valid spec, with its reference figures in .ref."""
    return _Gen(ch).network()


def random_spec(seed: int) -> GenSpec:
    return generate(RandomChooser(random.Random(seed)))


def specs():
    """The hypothesis strategy."""
    from hypothesis import strategies as st

    @st.composite
    def _specs(draw):
        return generate(DrawChooser(draw))

    return _specs()


# ------------------------------------------------------------------------------------------------
# Mutations of the shipped specs (the fuzzer's inputs)

_TOKEN = re.compile(r"\s+|\w+|[^\w\s]")
VOCAB = (
    "network",
    "input",
    "units",
    "defaults",
    "init",
    "import",
    "block",
    "branch",
    "residual",
    "side",
    "expect",
    "if",
    "x",
    "in",
    "not",
    "and",
    "or",
    "true",
    "false",
    "conv",
    "maxpool",
    "avgpool",
    "lrn",
    "bn",
    "relu",
    "dropout",
    "flatten",
    "linear",
    "softmax",
    "concat",
    "add",
    "same",
    "valid",
    "ceil",
    "global",
    "{",
    "}",
    "(",
    ")",
    "=",
    ",",
    ";",
    "/",
    "//",
    "%",
    "*",
    "-",
    "+",
    "==",
    "<",
    '"',
    "#",
    "3x3",
    "3x3/2",
    "0x0",
    "1x1x1",
    "224x224x3",
    "159K",
    "(3a)",
    "1e999",
    "0",
    "-1",
    "\n",
    "\t",
    "min(",
    "max(",
    "round(",
    "int(",
    "paper",
    "exact",
    'import "x.isp"',
    'import "/dev/zero"',
    'import "googlenet.isp"',
    'import "blocks"',
)
HUGE = (
    "0",
    "1",
    "-1",
    "65536",
    "65537",
    "4096",
    "4097",
    "1048576",
    "1048577",
    "1000000000",
    "2147483648",
    "9223372036854775808",
    "1" + "0" * 64,
    "9" * 65,
    "9" * 5000,
    "1e308",
    "1e309",
    "1e-320",
    "0.0",
    "10000000",
    "100000x100000x3",
    "1000000000x1x1",
    "99999x99999/99999",
)
ODD = (
    "\u200f",
    "\u200e",
    "\u202e",
    "\u0301",
    "\u0000",
    "\ufeff",
    "\r\n",
    "\r",
    "\x0c",
    "\x0b",
    "\u2028",
    "\u2029",
    "\x85",
    "\t",
    "\ud800",
    "\udcff",
    "\U0001f600",
    "\uff11",
    "\u0663",
    "é",
    "e\u0301",
    "\u00a0",
    "\u3000",
    "\x1b[2J",
    "\\",
    "'",
    '"',
    "\x7f",
)


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def _lines(text: str) -> list[str]:
    return text.split("\n")


def _m_truncate(t, r):
    return t[: r.randint(0, len(t))]


def _m_delete_token(t, r):
    toks = _tokens(t)
    if toks:
        del toks[r.randrange(len(toks))]
    return "".join(toks)


def _m_dup_token(t, r):
    toks = _tokens(t)
    if toks:
        i = r.randrange(len(toks))
        toks.insert(i, toks[i])
    return "".join(toks)


def _m_swap_tokens(t, r):
    toks = _tokens(t)
    if len(toks) > 1:
        i, j = r.randrange(len(toks)), r.randrange(len(toks))
        toks[i], toks[j] = toks[j], toks[i]
    return "".join(toks)


def _m_replace_token(t, r):
    toks = _tokens(t)
    if toks:
        toks[r.randrange(len(toks))] = r.choice(VOCAB)
    return "".join(toks)


def _m_delete_line(t, r):
    ls = _lines(t)
    del ls[r.randrange(len(ls))]
    return "\n".join(ls)


def _m_dup_line(t, r):
    ls = _lines(t)
    i = r.randrange(len(ls))
    ls[i:i] = [ls[i]] * r.choice([1, 1, 2, 50])
    return "\n".join(ls)


def _m_swap_lines(t, r):
    ls = _lines(t)
    i, j = r.randrange(len(ls)), r.randrange(len(ls))
    ls[i], ls[j] = ls[j], ls[i]
    return "\n".join(ls)


def _m_random_bytes(t, r):
    raw = bytes(r.randrange(256) for _ in range(r.randint(1, 12)))
    i = r.randint(0, len(t))
    return t[:i] + raw.decode("utf-8", "surrogateescape") + t[i:]


def _m_huge_number(t, r):
    toks = _tokens(t)
    nums = [i for i, k in enumerate(toks) if k.isdigit()]
    if nums:
        toks[r.choice(nums)] = r.choice(HUGE)
    return "".join(toks)


def _m_deep_nesting(t, r):
    n = r.choice([10, 63, 64, 65, 200, 2000])
    kind = r.randrange(5)
    if kind == 0:  # parentheses around a number
        toks = _tokens(t)
        nums = [i for i, k in enumerate(toks) if k.isdigit()]
        if nums:
            i = r.choice(nums)
            toks[i] = "(" * n + toks[i] + ")" * n
        return "".join(toks)
    if kind == 1:  # nested branches at the end
        return t + "\n" + "branch { " * n + "conv 1x1 8" + " }" * n + "\n"
    if kind == 2:  # a long chain of blocks, each calling the next
        chain = "".join(f"block deep{k} {{ deep{k + 1} }}\n" for k in range(n))
        return chain + f"block deep{n} {{ relu }}\n" + t + "\ndeep0\n"
    if kind == 3:  # exponential fan-out: each block calls the next twice
        m = min(n, 40)
        chain = "".join(f"block fan{k} {{ fan{k + 1}; fan{k + 1} }}\n" for k in range(m))
        return chain + f"block fan{m} {{ relu }}\n" + t + "\nfan0\n"
    return t + "\nconv 1x1 " + "-" * n + "1\n"  # a deep unary chain


def _m_odd_unicode(t, r):
    i = r.randint(0, len(t))
    return t[:i] + r.choice(ODD) * r.choice([1, 1, 3]) + t[i:]


def _m_line_endings(t, r):
    kind = r.randrange(4)
    if kind == 0:
        return t.replace("\n", "\r\n")
    if kind == 1:
        return t.replace("\n", "\r")
    if kind == 2:
        return "\ufeff" + t
    return t.replace("\n", r.choice(["\u2028", "\x0c\n", "\x85", ";"]))


def _m_splice(t, r, others=()):
    if not others:
        return t
    ls = _lines(t)
    donor = _lines(r.choice(others))
    i = r.randrange(len(ls))
    ls.insert(i, r.choice(donor))
    return "\n".join(ls)


def _m_repeat_blowup(t, r):
    return (
        t
        + "\n"
        + r.choice(["10000 x ", "9999 x ", "10001 x ", "0 x ", "3 x "])
        + r.choice(
            ["conv 3x3 64", "relu", "inception 1 1 1 1 1 1", "reduced_conv 8 8", "maxpool 1x1/1"]
        )
        + "\n"
    )


MUTATORS = (
    _m_truncate,
    _m_delete_token,
    _m_dup_token,
    _m_swap_tokens,
    _m_replace_token,
    _m_delete_line,
    _m_dup_line,
    _m_swap_lines,
    _m_random_bytes,
    _m_huge_number,
    _m_deep_nesting,
    _m_odd_unicode,
    _m_line_endings,
    _m_splice,
    _m_repeat_blowup,
)


def mutate(text: str, rng: random.Random, others=()) -> tuple[str, list[str]]:
    """Apply one to three random mutations; returns the text and the mutators' names."""
    names = []
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        m = rng.choice(MUTATORS)
        names.append(m.__name__[3:])
        text = m(text, rng, others) if m is _m_splice else m(text, rng)
    return text, names


def shipped_specs(root) -> list:
    """Every .isp file under specs/ (sorted, so that a seed names the same input everywhere)."""
    from pathlib import Path

    return sorted(p for p in Path(root, "specs").rglob("*.isp"))


def fuzz_input(seed: int, corpus: list[tuple[str, str]]) -> tuple[str, str, list[str]]:
    """The fuzz input for `seed`: (file name, mutated text, mutators applied)."""
    rng = random.Random(seed)
    name, text = corpus[rng.randrange(len(corpus))]
    others = [t for _, t in corpus]
    mutated, how = mutate(text, rng, others)
    return name, mutated, how


# ------------------------------------------------------------------------------------------------
# The fuzz oracle: no traceback, every diagnostic located inside its file, fast


def check_input(
    text: str, name: str, backends: bool = True, caret: bool = True
) -> tuple[list[str], float]:
    """Elaborate one input; returns (problems, CPU seconds of elaborate). No problem: inspec behaved.

    backends: also render the tables (and code and diagram) of an accepted input.
    caret: also check that each rendered diagnostic quotes the line its span names."""
    import time
    import traceback

    from inspec.analysis.elaborate import elaborate

    problems: list[str] = []
    t0 = time.process_time()  # CPU time: a loaded CI machine does not inflate it
    try:
        net = elaborate(text=text, name=name)
    except BaseException:
        return [f"elaborate raised:\n{traceback.format_exc(limit=-6)}"], time.process_time() - t0
    elapsed = time.process_time() - t0
    for d in net.diagnostics:
        problems += _span_problems(d, net.sources)
        try:
            shown = d.render(net.sources)
        except Exception:
            problems.append(f"render raised:\n{traceback.format_exc(limit=-4)}")
            continue
        if caret:
            problems += _caret_problems(d, net.sources, shown)
    if backends and net.ok and net.input is not None:
        problems += _backend_problems(net)
    return problems, elapsed


def _span_problems(d, sources: dict[str, str]) -> list[str]:
    if d.span is None:
        return [f"diagnostic without a location: {d.message}"]
    s = d.span
    if s.file not in sources:
        return [f"diagnostic in an unknown file {s.file!r}: {d.message}"]
    lines = sources[s.file].count("\n") + 1
    if not (1 <= s.line <= lines + 1 and s.col >= 1):
        return [f"diagnostic outside its file ({s.line}:{s.col}, {lines} lines): {d.message}"]
    return []


def _caret_problems(d, sources: dict[str, str], shown: str) -> list[str]:
    from inspec.diagnostics import printable

    """The quoted source line must be line `span.line` as the parser counts lines (by \\n only)."""
    if d.span is None or d.span.file not in sources:
        return []
    lines = sources[d.span.file].split("\n")
    if not 1 <= d.span.line <= len(lines):
        return []
    want = printable(lines[d.span.line - 1].rstrip("\r").expandtabs(1))
    quoted = [ln for ln in shown.split("\n") if ln.startswith(f" {d.span.line} | ")]
    if quoted and quoted[0] != f" {d.span.line} | {want}":
        return [f"diagnostic quotes the wrong source line for {d.span.line}: {d.message}"]
    return []


def _backend_problems(net) -> list[str]:
    """The table (and, where they exist, code and diagram) of an accepted input must not raise."""
    import ast as pyast
    import traceback

    from inspec.backends.table import RENDERERS

    out = []
    try:
        for fmt in RENDERERS:
            for gran in ("rows", "layers"):
                RENDERERS[fmt](net, gran, net.units)
    except Exception:
        out.append(f"table raised:\n{traceback.format_exc(limit=-4)}")
    try:
        from inspec.backends.torch import generate
    except ImportError:
        generate = None
    if generate is not None:
        try:
            pyast.parse(generate(net))
        except Exception:
            out.append(f"codegen raised:\n{traceback.format_exc(limit=-4)}")
    try:
        from inspec.backends.diagram import to_dot
    except ImportError:
        to_dot = None
    if to_dot is not None:
        try:
            for detail in ("network", "blocks"):
                to_dot(net, detail=detail)
        except Exception:
            out.append(f"diagram raised:\n{traceback.format_exc(limit=-4)}")
    return out


def load_corpus(root) -> list[tuple[str, str]]:
    return [(str(p), p.read_text(encoding="utf-8")) for p in shipped_specs(root)]


# ------------------------------------------------------------------------------------------------
# The differential oracle: the analysis against the reference model and against the built module


def _shape_tuple(s) -> tuple:
    return None if s is None else (s.h, s.w, s.c)


def check_analysis(net, spec: GenSpec) -> list[str]:
    """inspec's figures against the brute-force reference model, and their internal consistency."""
    out = []
    ref = spec.ref
    got_rows = [_shape_tuple(r.node.out_shape) for r in net.rows]
    want_rows = [(s.h, s.w, s.c) for s in ref.rows]
    if got_rows != want_rows:
        out.append(f"row shapes: inspec {got_rows}, reference {want_rows}")
    tot = net.totals()
    if tot.params != ref.params:
        out.append(f"params: inspec {tot.params:,}, reference {ref.params:,}")
    if tot.ops != ref.macs:
        out.append(f"multiply-adds: inspec {tot.ops:,}, reference {ref.macs:,}")
    # totals are the sum of the rows, and the sum of the layers
    rows_sum = [0, 0, 0]
    for r in net.rows:
        if not r.side and r.node.active:
            rows_sum = [
                rows_sum[0] + r.node.cost.params,
                rows_sum[1] + r.node.cost.weights,
                rows_sum[2] + r.node.cost.ops,
            ]
    if rows_sum != [tot.params, tot.weights, tot.ops]:
        out.append(f"totals {tot} are not the sum of the rows {rows_sum}")
    layers = list(net.body.layers())
    lsum = [sum(getattr(lay.cost, k) for _, lay in layers) for k in ("params", "weights", "ops")]
    if lsum != [tot.params, tot.weights, tot.ops]:
        out.append(f"totals {tot} are not the sum of the layers {lsum}")
    if len(layers) != ref.layers:
        out.append(f"layers: inspec {len(layers)}, reference {ref.layers}")
    return out


def check_torch(net, batch: int = 2, check_paths: bool = True) -> list[str]:
    """inspec's analysis against what the built PyTorch module does.

    Shapes come from forward hooks on the module of every layer (paths from `node.layers()`, which
    must be the generated module's attribute paths); multiply-adds are counted from the module's own
    nn.Conv2d and nn.Linear layers (out_h * out_w * weight.numel(), in * out), parameters from
    module.parameters(). None of it uses inspec's formulas."""
    import torch
    from torch import nn

    from inspec.backends.torch import build_module, module_paths

    out: list[str] = []
    model = build_module(net)
    model.eval()
    mods = dict(model.named_modules())
    paths = module_paths(net)
    layers = list(net.body.layers())
    by_path = {p: lay for p, lay in layers}
    side_layers = {id(lay) for s in net.sides for _, lay in s.layers()}
    for p, lay in paths.items():
        if check_paths and by_path.get(p) is not lay and id(lay) not in side_layers:
            where = next((q for q, other in layers if other is lay), None)
            out.append(f"path: module {p!r} computes the layer that node.layers() calls {where!r}")
        if p not in mods:
            out.append(f"module path {p!r} is not a submodule of the built network")
    # from here on, each layer is found through codegen's own map, so that a naming disagreement
    # (reported above) does not hide a wrong shape or count
    path_of = {id(lay): p for p, lay in paths.items()}
    layers = [(path_of[id(lay)], lay) for _, lay in layers if id(lay) in path_of]
    seen: dict[str, tuple] = {}
    macs = {"total": 0}
    per_module_macs: dict[str, int] = {}
    hooks = []

    def shape_hook(name):
        def hook(mod, inp, res):
            if isinstance(res, torch.Tensor):
                seen[name] = tuple(res.shape)

        return hook

    def mac_hook(name):
        def hook(mod, inp, res):
            if isinstance(mod, nn.Conv2d):
                n = res.shape[2] * res.shape[3] * mod.weight.numel()
            else:
                n = mod.in_features * mod.out_features
            macs["total"] += n
            per_module_macs[name] = per_module_macs.get(name, 0) + n

        return hook

    for p, _ in layers:
        if p in mods and p in paths:
            hooks.append(mods[p].register_forward_hook(shape_hook(p)))
    for name, mod in mods.items():
        if isinstance(mod, (nn.Conv2d, nn.Linear)):
            hooks.append(mod.register_forward_hook(mac_hook(name)))
    h, w, c = net.input.h, net.input.w, net.input.c
    try:
        with torch.no_grad():
            y = model(torch.randn(batch, c, h, w))
    finally:
        for hk in hooks:
            hk.remove()
    y = y[0] if isinstance(y, tuple) else y
    want_out = net.output
    want = (batch, want_out.c) if want_out.flat else (batch, want_out.c, want_out.h, want_out.w)
    if tuple(y.shape) != want:
        out.append(f"output: module gives {tuple(y.shape)}, inspec says {want}")
    for p, lay in layers:
        if id(lay) in side_layers:
            continue  # side heads run in training mode only; their params count in the total below
        if p not in seen:
            out.append(f"layer {p!r} ({lay.op.name}) never ran in forward()")
            continue
        s = lay.out_shape
        want = (batch, s.c) if s.flat else (batch, s.c, s.h, s.w)
        if seen[p] != want:
            out.append(f"layer {p!r} ({lay.op.name}): module gives {seen[p]}, inspec says {want}")
        got_params = sum(q.numel() for q in mods[p].parameters())
        if got_params != lay.cost.params:
            out.append(
                f"layer {p!r} ({lay.op.name}): module has {got_params:,} params, "
                f"inspec says {lay.cost.params:,}"
            )
        sub = sum(v for k, v in per_module_macs.items() if k == p or k.startswith(p + "."))
        if sub != lay.cost.ops:
            out.append(
                f"layer {p!r} ({lay.op.name}): module does {sub:,} multiply-adds, "
                f"inspec says {lay.cost.ops:,}"
            )
    total = net.totals()
    if macs["total"] != total.ops:
        out.append(f"multiply-adds: module {macs['total']:,}, inspec {total.ops:,}")
    n_params = sum(q.numel() for q in model.parameters())
    with_sides = net.totals(sides=True).params
    if n_params != with_sides:
        out.append(f"params: module {n_params:,}, inspec {with_sides:,} (with side heads)")
    return out


def differential(spec: GenSpec, torch_too: bool = True, paths: bool = True) -> list[str]:
    """Every disagreement between inspec, the reference model and the built module for one spec.

    paths=False leaves out the check that node.layers() names each layer by its module path (the
    other checks find each layer's module through codegen.module_paths either way)."""
    from inspec.analysis.elaborate import elaborate

    net = elaborate(text=spec.text, name="gen.isp")
    errors = [d for d in net.diagnostics if d.is_error]
    if errors:
        return ["inspec rejects a valid spec:\n" + "\n".join(d.render(net.sources) for d in errors)]
    out = check_analysis(net, spec)
    if torch_too:
        out += check_torch(net, check_paths=paths)
    return out
