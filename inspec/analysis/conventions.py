"""Counting conventions: the ops column as each FLOP counter people quote would print it.

inspec's own count (`paper`, the default) is the multiply-adds of conv and linear layers, which
is also what torch.utils.flop_counter reports (its FLOPs / 2). fvcore, thop, ptflops and torchinfo
each add something else: conv and linear biases, batch norm, pools, activations. A convention here
reproduces one tool's total and per-row figures on the module inspec generates, statically (no
torch): `inspec table --count fvcore`. Each convention is a table of rules keyed by the registry's op
names (and, for the activations ptflops counts, by the registry's activation words), as fvcore keeps
one handle per op; tests/test_count.py checks every op and activation has one in every convention,
and that each total equals the tool's measured one on every shipped spec
(tests/fixtures/counts.json, written by scripts/measure-counts). docs/counting.md has the table of
what each convention counts.

The tools' versions these rules follow: fvcore 0.1.5.post20221221 (FlopCountAnalysis, eval mode),
thop 0.1.1.post2209072238 (profile), ptflops 0.7.5 (get_model_complexity_info, its default pytorch
backend, functional calls counted), torchinfo 1.8.0 (summary's total mult-adds).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from inspec.analysis import ir
from inspec.analysis.exprs import is_const
from inspec.analysis.ops import ACTIVATIONS, OPS
from inspec.analysis.shapes import Shape


@dataclass(frozen=True)
class View:
    """What a rule sees of one layer (or of an add merge: its output and activation)."""

    op: str  # the registry's op name
    attrs: dict[str, Any]
    x: Shape
    y: Shape
    macs: int  # the registry's cost rule: multiply-adds of conv and linear
    act_module: bool  # the activation is a module (a parameter chooses it), not a function call
    terminal: bool  # the last row of the network or of a side head (the module leaves it out)


Rule = Callable[[View], int]


@dataclass(frozen=True)
class Convention:
    name: str
    tool: str  # what it reproduces, with the version
    ops: str  # what its ops count, for the table's footer and JSON
    rules: dict[str, Rule]  # registry op name -> the ops of the layer's module
    # an activation applied in forward after a module: an add's, or the `act` of an op that the
    # registry says applies it after its module (linear, bn: `module_act`); a conv's is inside
    act: Rule


def _table(default: Rule, **rules: Rule) -> dict[str, Rule]:
    """A rule for every op of the registry: `default`, except those given."""
    unknown = set(rules) - set(OPS)
    if unknown:
        raise ValueError(f"rules for ops the registry does not have: {sorted(unknown)}")
    return {name: rules.get(name, default) for name in OPS}


# ------------------------------------------------------------------------------------------------
# Shared pieces


def _zero(v: View) -> int:
    return 0


def _macs(v: View) -> int:
    return v.macs


def _adaptive(v: View) -> bool:
    """An adaptive pool (a global one is nn.AdaptiveXPool2d(1))."""
    return v.attrs.get("adaptive") is not None or bool(v.attrs.get("global"))


def _padded(v: View) -> int:
    """Elements of a window op's input as its PyTorch module receives it: an asymmetric padding is
    a pad module in front (its output is the pool's input); a symmetric one is the pool's own."""
    p = v.attrs.get("padding")
    if p is None or p.symmetric or _adaptive(v):
        return v.x.numel
    return (v.x.h + p.top + p.bottom) * (v.x.w + p.left + p.right) * v.x.c


def _same_avg(v: View) -> bool:
    """An average pool over asymmetric padding that counts input pixels only: the generated
    AvgPool2dSame helper (two F.avg_pool2d calls), not nn.AvgPool2d."""
    p = v.attrs.get("padding")
    asym = p is not None and not p.symmetric
    return v.op == "avgpool" and asym and not _adaptive(v) and not v.attrs["count_include_pad"]


def _bias(v: View) -> int:
    """A conv's bias: one add per output element."""
    return v.y.numel if v.attrs.get("bias") else 0


def _bn_elements(v: View) -> int:
    """A conv's batch norm in eval mode: a scale and a shift per element (thop doubles it)."""
    return 2 * v.y.numel if v.attrs.get("bn") else 0


def _linear_bias(v: View) -> int:
    return v.y.c if v.attrs.get("bias") else 0


# ------------------------------------------------------------------------------------------------
# fvcore: one handle per aten op; by default conv, linear (matmul, addmm), batch norm and adaptive
# average pooling, and nothing for pools, activations, adds or concatenations.

FVCORE_RULES = _table(
    _zero,
    conv=lambda v: v.macs + _bn_elements(v),
    linear=_macs,
    bn=lambda v: 2 * v.x.numel,
    avgpool=lambda v: v.x.numel if _adaptive(v) else 0,
)

# ------------------------------------------------------------------------------------------------
# thop: one hook per module type (functional calls are not seen). Its batch norm counts 2 per element,
# doubled for an affine one: 4.


def _thop_avgpool(v: View) -> int:
    if _same_avg(v):  # the AvgPool2dSame helper: a module thop has no rule for
        return 0
    if _adaptive(v):  # count_adap_avgpool: (in / out, in floating point, per axis) + 1 per output
        kernel = (v.x.h / v.y.h) * (v.x.w / v.y.w)
        return int((kernel + 1) * v.y.numel)
    return v.y.numel  # count_avgpool: one per output element


def _thop_softmax(v: View) -> int:
    """count_softmax: exp, sum and divide over the channels, at every position."""
    if v.terminal:
        return 0
    return (v.x.numel // v.x.c) * (3 * v.x.c - 1)


THOP_RULES = _table(
    _zero,
    conv=lambda v: v.macs + 2 * _bn_elements(v),
    linear=_macs,
    bn=lambda v: 4 * v.x.numel,
    avgpool=_thop_avgpool,
    softmax=_thop_softmax,
)

# ------------------------------------------------------------------------------------------------
# ptflops (its default pytorch backend): module hooks (conv, relu, relu6, gelu, pools, batch norm,
# linear) plus the functional calls it patches (F.relu, F.relu6, F.gelu, F.silu, F.*pool*,
# F.softmax, Tensor.mul, Tensor.add). A module whose forward calls a patched function counts twice
# (nn.ReLU: its hook, then F.relu).

# activation word -> (elements counted per output element as a function call, as a module)
PTFLOPS_ACT: dict[str, tuple[int, int]] = {
    "none": (0, 0),  # nothing, or nn.Identity
    "relu": (1, 2),  # F.relu; nn.ReLU's hook and its F.relu
    "relu6": (1, 1),  # F.relu6; nn.ReLU6's hook (its forward calls F.hardtanh, not patched)
    "tanh": (0, 0),
    "sigmoid": (0, 0),
    "gelu": (1, 2),
    "silu": (1, 1),  # F.silu; nn.SiLU has no hook, its forward calls F.silu
    "hardswish": (0, 0),
    "hardsigmoid": (0, 0),
}


def _ptflops_act(v: View) -> int:
    once, module = PTFLOPS_ACT[v.attrs.get("act", "none")]
    return (module if v.act_module else once) * v.y.numel


def _ptflops_pool(v: View) -> int:
    if _same_avg(v):  # F.avg_pool2d of the padded input, then of the padded ones (one channel)
        return _padded(v) + _padded(v) // v.x.c
    return 2 * _padded(v)  # the module's hook and its F.*pool2d, each the input's elements


def _ptflops_lrn(v: View) -> int:
    """F.local_response_norm: x.mul(x), avg_pool3d over C + size - 1 padded channels, .mul(alpha)
    and .add(k)."""
    x = v.x
    return 3 * x.numel + (x.c + v.attrs["size"] - 1) * x.h * x.w


PTFLOPS_RULES = _table(
    _zero,
    conv=lambda v: v.macs + _bias(v) + _bn_elements(v) + _ptflops_act(v),  # ConvBNReLU's forward
    linear=lambda v: v.macs + _linear_bias(v),
    bn=lambda v: 2 * v.x.numel,
    maxpool=_ptflops_pool,
    avgpool=_ptflops_pool,
    lrn=_ptflops_lrn,
    softmax=lambda v: 0 if v.terminal else v.x.numel,
    # an activation row is its module (nn.ReLU, nn.SiLU, ...)
    **{w: (lambda v, w=w: PTFLOPS_ACT[w][1] * v.y.numel) for w in ACTIVATIONS if w in OPS},
)

# ------------------------------------------------------------------------------------------------
# torchinfo: each leaf module's parameters, once per output position for a conv (weights and
# bias per output pixel), once for any other module (linear, batch norm); nothing without them.

TORCHINFO_RULES = _table(
    _zero,
    conv=lambda v: v.macs + _bias(v) + (2 * v.y.c if v.attrs.get("bn") else 0),
    linear=lambda v: v.macs + _linear_bias(v),
    bn=lambda v: 2 * v.x.c,
)

CONVENTIONS: dict[str, Convention] = {
    c.name: c
    for c in (
        Convention(
            "paper",
            "inspec's own count, and torch.utils.flop_counter's FLOPs / 2",
            "multiply-adds of conv and linear layers (the GoogLeNet paper's ops)",
            _table(_macs),
            _zero,
        ),
        Convention(
            "fvcore",
            "fvcore 0.1.5 FlopCountAnalysis, eval mode",
            "fvcore's flops: conv and linear multiply-adds, 2 per batch-norm element, 1 per input "
            "element of an adaptive average pool",
            FVCORE_RULES,
            _zero,
        ),
        Convention(
            "thop",
            "thop 0.1.1 profile",
            "thop's MACs: conv and linear multiply-adds, 4 per batch-norm element, 1 per output of "
            "an average pool (of an adaptive one, its window + 1)",
            THOP_RULES,
            _zero,
        ),
        Convention(
            "ptflops",
            "ptflops 0.7.5 get_model_complexity_info, pytorch backend",
            "ptflops' MACs: conv and linear multiply-adds and biases, 2 per batch-norm element, "
            "pools and ReLU-family activations per element (twice where a module calls a patched "
            "function), local response norm",
            PTFLOPS_RULES,
            _ptflops_act,
        ),
        Convention(
            "torchinfo",
            "torchinfo 1.8.0 summary, total mult-adds",
            "torchinfo's mult-adds: conv and linear multiply-adds, a conv's bias per output "
            "element, a linear's bias and a batch norm's 2 parameters per channel once",
            TORCHINFO_RULES,
            _zero,
        ),
    )
}
DEFAULT = "paper"

# ------------------------------------------------------------------------------------------------
# counting a network


def _symbolic(node: ir.Node, name: str) -> bool:
    """Whether the attribute is chosen by a parameter (the module then builds it from an argument)."""
    exprs = (getattr(node, "sources", {}).get(name), getattr(node, "defaulted", {}).get(name))
    return any(e is not None and not is_const(e) for e in exprs)


class Count:
    """A network's ops under a convention, node by node, as the IR's costs hold the paper's: a layer
    by its rule, a sequence, branch, block, repeat or side head by what it holds (inactive rows left
    out), an add by its activation. `count[node]` is a node's figure (as counted where the network
    uses it: a softmax at the end is left out of the module); `total(sides)` the table's totals."""

    def __init__(self, net: ir.Network, convention: str = DEFAULT) -> None:
        self.net = net
        self.convention = CONVENTIONS[convention]
        self.seen: dict[int, int] = {}
        self._memo: dict[tuple[int, bool], int] = {}
        self.total(sides=True)  # every node reached from the top, with its place known

    @property
    def name(self) -> str:
        return self.convention.name

    def __getitem__(self, node: ir.Node) -> int:
        if id(node) not in self.seen:
            self.of(node)
        return self.seen[id(node)]

    def total(self, sides: bool = False) -> int:
        n = self.of(self.net.body, terminal=True)
        for r in self.net.rows:
            if r.side:  # a side head's figure is there, whether it is counted in or not
                head = self.of(r.node)
                n += head if sides and r.node.active else 0
        return n

    def of(self, node: ir.Node, terminal: bool = False) -> int:
        key = (id(node), terminal)
        if key not in self._memo:
            self._memo[key] = self._count(node, terminal)
        self.seen[id(node)] = self._memo[key]
        return self._memo[key]

    def _items(self, items: list[ir.Node], terminal: bool) -> int:
        main = [n for n in items if n.active and not isinstance(n, ir.Side)]
        last = ir.last_row(items)  # the row the generator may leave out, as it chooses it
        counted = {id(n) for n in main}
        for n in items:  # every row gets a figure of its own, counted in or not
            if id(n) not in counted:
                self.of(n)
        return sum(self.of(n, terminal and n is last) for n in main)

    def _count(self, node: ir.Node, terminal: bool) -> int:
        if isinstance(node, ir.Layer):
            return self._layer(node, terminal)
        if isinstance(node, ir.Seq):
            return self._items(node.items, terminal)
        if isinstance(node, ir.Branch):
            n = self.of(node.body)
            return n if node.active else 0
        if isinstance(node, ir.Merge):
            return sum(self.of(b) for b in node.branches) + self._act(node)
        if isinstance(node, ir.Residual):
            return self.of(node.body) + (self._act(node) if node.skip else 0)
        if isinstance(node, ir.Call):
            return self.of(node.body, terminal)
        if isinstance(node, ir.Repeat):  # written out whole: a final softmax in it runs
            return self._items(node.items, False)
        if isinstance(node, ir.Side):
            return self.of(node.head, terminal=True)
        return 0

    def _layer(self, node: ir.Layer, terminal: bool) -> int:
        v = self._view(node, terminal)
        return 0 if v is None else self.convention.rules[v.op](v) + self._after(node, v)

    def after(self, node: ir.Node) -> int:
        """What a layer counts outside its module: the activation its op applies in forward
        (`F.relu(self.fc(x))`), which a tool attributes to the module around it."""
        v = self._view(node, False) if isinstance(node, ir.Layer) else None
        return 0 if v is None else self._after(node, v)

    def _after(self, node: ir.Layer, v: View) -> int:
        if node.op.module_act and node.attrs.get("act", "none") != "none":
            return self.convention.act(v)
        return 0

    def _view(self, node: ir.Layer, terminal: bool) -> View | None:
        if node.in_shape is None or node.out_shape is None or not node.attrs:
            return None
        return View(
            op=node.op.name,
            attrs=node.attrs,
            x=node.in_shape,
            y=node.out_shape,
            macs=node.cost.ops,
            # a conv whose batch norm or activation a parameter chooses is a ConvNormAct, which
            # builds its activation as a module
            act_module=_symbolic(node, "act") or _symbolic(node, "bn"),
            terminal=terminal,
        )

    def _act(self, node: ir.Merge | ir.Residual) -> int:
        """An add's activation after the sum (concat, split and mul have none)."""
        if node.out_shape is None or "act" not in node.attrs:
            return 0
        v = View(
            op=node.op.name,
            attrs=node.attrs,
            x=node.out_shape,
            y=node.out_shape,
            macs=0,
            act_module=_symbolic(node, "act"),
            terminal=False,
        )
        return self.convention.act(v)


def describe(name: str) -> str:
    """What a convention's ops count, as the table's footer says it."""
    c = CONVENTIONS[name]
    return c.ops if name == DEFAULT else f"{c.ops} (--count {name}: as {c.tool})"
