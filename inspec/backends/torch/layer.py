"""What an op's macro sees of a layer (`l` in templates/ops.j2): its attributes as Python source over
the constructor's arguments, its input channels and features, and the window specifics (resolved
padding, asymmetric pads, the kernel) that conv and pool macros need. The generator stays generic:
it only composes the expressions these views and the macros give."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from inspec.analysis import ir
from inspec.analysis.exprs import Tup
from inspec.analysis.shapes import Padding
from inspec.backends.torch.classes import Line
from inspec.backends.torch.pyexpr import (
    P_MUL,
    Sym,
    lit,
    lit_sym,
    mul,
)

if TYPE_CHECKING:
    from inspec.backends.torch.generator import Generator, Scope


class NeedsStatements(Exception):
    """A layer needs statements of its own in forward (it cannot be one module of a Sequential)."""


# Attributes that set a layer's spatial output size or its resolved padding. The generated code takes
# spatial sizes from the elaborated instance (resolved `same` padding, flattened feature counts), so a
# constructor argument that reaches one of these is fixed to its compiled value.
SPATIAL = frozenset({"kernel", "stride", "pad", "dilation", "round", "global", "adaptive"})


class _Reads:
    """A layer's attributes as a template reads them: each read of a concrete value is recorded."""

    def __init__(self, attrs: dict[str, Any], reads: set[str]):
        self._attrs = attrs
        self._reads = reads

    def __getitem__(self, name: str) -> Any:
        self._reads.add(name)
        return self._attrs[name]

    def __contains__(self, name: str) -> bool:
        return name in self._attrs


class LayerView:
    """What an op's macro sees: the layer's attributes as Python source.

    `l.src`/`l.sym`/`l.opt` give an attribute as an expression of the constructor's arguments;
    `l.attrs` gives concrete values. A concrete value read of an attribute the spec sets from a
    parameter fixes that parameter (Generator.bake), as does any parameter in a spatial attribute.
    """

    def __init__(
        self, gen: Generator, node: ir.Layer, chan: Sym, env: dict[str, Sym], inplace: bool
    ):
        self.gen = gen
        self.node = node
        self.op = node.op
        self.env = env
        self.reads: set[str] = set()
        self.attrs = _Reads(node.attrs, self.reads)
        self.chan = chan
        self.inplace = inplace
        self.bn_eps = gen.bn_eps
        self.scope: Scope | None = None  # set by the emitter where a row may add a module
        self.prefix = ""
        x = node.in_shape
        self.flat_in = x.flat
        self.cin = chan.src
        feats = chan if x.flat else mul(chan, x.h * x.w)
        self._in_features = lit(x.numel) if feats.const else feats.src
        self.spatial_read = False  # the code holds the input's height or width
        p: Padding | None = node.attrs.get("padding")
        self.asymmetric = p is not None and not p.symmetric
        self.pad4 = f"({p.left}, {p.right}, {p.top}, {p.bottom})" if self.asymmetric else None
        if p is None or self.asymmetric or (p.top == 0 and p.left == 0):
            self.padding = None
        else:
            self.padding = lit(p.top) if p.top == p.left else lit((p.top, p.left))
        k = node.attrs.get("kernel")
        self.kernel = None if k is None else lit(k[0]) if k[0] == k[1] else lit(tuple(k))
        a = node.attrs.get("adaptive")  # an adaptive pool's output size
        self.adaptive = None if a is None else lit(a[0]) if a[0] == a[1] else lit(tuple(a))
        ks = self._translated("kernel") if k is not None and "kernel" in self.follows() else None
        if ks is not None and not ks.const:  # a square kernel from an argument, padded by half
            ks = gen.integral(ks)  # a size: an int in PyTorch, as any whole-number attribute
            d = node.attrs.get("dilation", 1)
            self.kernel = ks.src
            self.padding = f"({ks.src} - 1) // 2" + (f" * {d}" if d != 1 else "")

    @property
    def in_features(self) -> str:
        """A linear layer's input features: a feature map's are C * H * W, H and W as compiled."""
        if not self.node.in_shape.flat:
            self.spatial_read = True
        return self._in_features

    def _translated(self, name: str) -> Sym | None:
        """The attribute as the spec wrote it (in the row, or in `defaults`), translated."""
        return self.gen.source_sym(self.node, name, self.env)

    def sym(self, name: str) -> Sym:
        value = self.node.attrs[name]
        s = self._translated(name)
        if s is not None and not s.const:
            attr = self.op.attr(name)
            if attr is not None and attr.kind == "int":
                return self.gen.integral(s)
            return s
        return lit_sym(value)

    def src(self, name: str) -> str:
        return self.sym(name).src

    def opt(self, name: str, default: Any) -> str | None:
        s = self.sym(name)
        value = self.node.attrs[name]
        if s.const and value == default and type(value) is type(default):
            return None
        if s.const and isinstance(default, float) and value == default:
            return None
        return s.src

    def product(self, a: str, b: str) -> str:
        x, y = self.sym(a), self.sym(b)
        return f"{x.wrap(P_MUL)} * {y.wrap(P_MUL + 1)}"

    def padded(self, module: str, value: str | None = None) -> str:
        if not self.asymmetric:
            return module
        if value is None:
            return f"nn.Sequential(nn.ZeroPad2d({self.pad4}), {module})"
        return f'nn.Sequential(nn.ConstantPad2d({self.pad4}, float("{value}")), {module})'

    def helper(self, kind: str, **opts: Any) -> str:
        return self.gen.helper(kind, **opts)

    def apply_act(self, name: str, e: str) -> str:
        """`e` followed by the activation attribute `name`: inline for a fixed activation; a module
        built by `activation(...)` from the constructor argument when a parameter chooses it."""
        s = self.sym(name)
        if s.const:
            return str(self.gen.ops.act(self.attrs[name], e)).strip()
        if self.scope is None:  # asked whether the layer fits in a Sequential: it does not
            raise NeedsStatements()
        attr = self.scope.claim(f"{self.node.name}_{name}", self.prefix)
        fn = self.gen.helper("activation")
        self.scope.init.append(Line(f"self.{attr} = {fn}({s.src})"))
        return f"self.{attr}({e})"

    def fixed(self) -> set[str]:
        """The spec names this layer's code fixes: those behind concrete reads and spatial attributes
        (but see `follows`)."""
        out: set[str] = set()
        for name in (self.reads | SPATIAL) & set(self.node.attrs):
            if name in self.follows() and name not in self.reads:
                continue
            s = self._translated(name)
            if s is not None:
                out |= s.deps
        return out

    def follows(self) -> frozenset[str]:
        """Spatial attributes that the layer's code takes as they are, whatever their value: a stride
        whose padding does not depend on it (explicit, valid or half padding, rounded down), and a
        square kernel padded by half. They change the output's size only, which matters to a class
        that holds a size (`spatial`)."""
        a = self.node.attrs
        if (
            a.get("pad") == "same"
            or a.get("round", "floor") == "ceil"
            or a.get("global")
            or a.get("adaptive") is not None
        ):
            return frozenset()
        k = self.node.sources.get("kernel")
        if a.get("pad") == "half" and k is not None and not isinstance(k, Tup):
            # half padding is (k - 1) // 2 * dilation: the code can follow a square kernel too
            return frozenset({"stride", "kernel"})
        return frozenset({"stride"})

    def spatial(self) -> set[str]:
        """The spec names behind the attributes in `follows`."""
        out: set[str] = set()
        for name in self.follows() & set(self.node.attrs):
            s = self._translated(name)
            if s is not None:
                out |= s.deps
        return out
