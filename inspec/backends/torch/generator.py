"""IR -> class models -> Python source.

The emitter walks the elaborated tree. Every layer's module expression comes from the jinja macro its op
names (`OpDef.template`); the emitter only composes: sequences, concatenations (torch.cat), residuals,
repeats (nn.Sequential), block instances (one class per block definition) and side heads. Values the spec
writes as expressions of block or network parameters are translated into Python expressions of the
constructor's arguments (pyexpr.translate); values that depend on the input size (resolved `same`
padding, flattened feature counts) come from the elaborated instance. Instances of one block whose
rendered classes differ (for example in a padding that depends on the spatial size) get a class each.
"""

from __future__ import annotations

import os
import shlex
import textwrap
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from inspec import __version__
from inspec.analysis import ir
from inspec.analysis.exprs import is_const
from inspec.analysis.naming import RESERVED, class_name, ident, member, standalone, unique
from inspec.analysis.ops import ACTIVATIONS, OPS
from inspec.analysis.shapes import Padding
from inspec.backends.torch.pyexpr import (
    P_ATOM,
    P_MUL,
    Sym,
    call,
    comment_text,
    docstring,
    layout,
    lit,
    lit_sym,
    mul,
    signature,
    str_lit,
    translate,
)
from inspec.fileio import MARKER

TEMPLATES = Path(__file__).parent / "templates"


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The jinja environment of the op macros (templates/ beside this module)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.globals["call"] = call
    env.globals["registry"] = OPS  # the op registry: registry.conv.default("stride")
    env.globals["activations"] = ACTIVATIONS  # the registry's activation table
    return env


class CodegenError(Exception):
    """A spec construct that has no exact PyTorch rendering."""


class NeedsStatements(Exception):
    """A layer needs statements of its own in forward (it cannot be one module of a Sequential)."""


IND = "        "  # method bodies
SAFE_INPLACE_AFTER = ("conv", "pool", "norm", "merge", "classifier")


@dataclass
class Line:
    code: str
    comment: str = ""
    depth: int = 0  # extra indentation levels inside the method


@dataclass
class ClassModel:
    name: str
    doc: list[str]
    signature: list[str]
    init: list[str]
    forward: list[str]
    key: tuple
    returns: str = " -> Tensor"
    class_lines: list[str] = field(default_factory=list)
    init_tail: str = ""
    methods: list[str] = field(default_factory=list)


def _render(lines: list[Line], indent: str = IND) -> list[str]:
    out: list[str] = []
    for ln in lines:
        ind = indent + "    " * ln.depth
        if not ln.code:
            out.append(f"{ind}# {ln.comment}")
        else:
            out += layout(ln.code, ind, ln.comment)
    return out


# Attributes that set a layer's spatial output size or its resolved padding. The generated code takes
# spatial sizes from the elaborated instance (resolved `same` padding, flattened feature counts), so a
# constructor argument that reaches one of these is fixed to its compiled value.
SPATIAL = frozenset({"kernel", "stride", "pad", "dilation", "round", "global"})


@dataclass
class Frame:
    """The class being written: the concrete values of its spec names (network or block parameters,
    `in`) and the names whose values its code fixes (`baked`: guarded in its constructor)."""

    values: dict[str, Any]
    baked: set[str]
    network: bool = False


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


def _common_bn_eps(net: ir.Network) -> float:
    """The batch-norm eps most of the network's conv rows use (the smallest on a tie): the default of
    the generated conv unit, so that rows need not repeat it."""
    counts: dict[float, int] = {}
    for row in net.rows:
        for _, layer in row.node.layers(include_inactive=True):
            if layer.attrs.get("bn"):
                eps = layer.attrs["eps"]
                counts[eps] = counts.get(eps, 0) + 1
    if not counts:
        return 1e-05
    return min(counts, key=lambda e: (-counts[e], e))


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
        self.in_features = lit(x.numel) if feats.const else feats.src
        p: Padding | None = node.attrs.get("padding")
        self.asymmetric = p is not None and not p.symmetric
        self.pad4 = f"({p.left}, {p.right}, {p.top}, {p.bottom})" if self.asymmetric else None
        if p is None or self.asymmetric or (p.top == 0 and p.left == 0):
            self.padding = None
        else:
            self.padding = lit(p.top) if p.top == p.left else lit((p.top, p.left))
        k = node.attrs.get("kernel")
        self.kernel = None if k is None else lit(k[0]) if k[0] == k[1] else lit(tuple(k))

    def _translated(self, name: str) -> Sym | None:
        """The attribute as the spec wrote it (in the row, or in `defaults`), translated."""
        return self.gen.source_sym(self.node, name, self.env)

    def sym(self, name: str) -> Sym:
        value = self.node.attrs[name]
        s = self._translated(name)
        if s is not None and not s.const:
            attr = self.op.attr(name)
            if attr is not None and attr.kind == "int" and s.has_div:
                return Sym(f"int({s.src})", 9, False, False, s.deps)
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
        """The spec names this layer's code fixes: those behind concrete reads and spatial attributes."""
        out: set[str] = set()
        for name in (self.reads | SPATIAL) & set(self.node.attrs):
            s = self._translated(name)
            if s is not None:
                out |= s.deps
        return out


class Scope:
    """One class being written: its attribute names, local variable names and lines."""

    def __init__(self, env: dict[str, Sym], items: list[ir.Node]):
        self.env = env
        # the module paths of the scope's rows (naming.py), which extra attributes must not take
        self.members = {path for _, path in ir.scope_children(items)}
        self.attrs: set[str] = set()
        self.locals: set[str] = {"x", "self"}
        self.init: list[Line] = []
        self.fwd: list[Line] = []
        self.paths: list[tuple[str, ir.Layer]] = []
        self.calls: list[tuple[str, ir.Call]] = []

    def member(self, node: ir.Node, prefix: str) -> str:
        """The attribute of a row: its module path in the scope, as the IR names it."""
        alone = node.given if isinstance(node, ir.Branch) else standalone(node.label)
        name = member("", prefix, node.name, alone)
        if name in self.attrs:  # elaboration keeps a scope's names apart; this would be a bug
            raise CodegenError(f"two modules named '{name}' in one class")
        self.attrs.add(name)
        return name

    def claim(self, name: str, prefix: str = "") -> str:
        """An attribute that is not a row (a residual's scale, an activation chosen by a parameter)."""
        return unique(ident(prefix + name), self.attrs | self.members)

    def local(self, name: str) -> str:
        return unique(ident(name), self.locals)


class Generator:
    def __init__(self, net: ir.Network, fuse_bn: bool = False):
        self.net = net
        self.fuse_bn = fuse_bn
        self.env_j = environment()
        self.ops = self.env_j.get_template("ops.j2").module
        self.helpers_t = self.env_j.get_template("helpers.j2").module
        self.init_t = self.env_j.get_template("init.j2").module
        self.helpers: dict[tuple, tuple[str, str]] = {}
        self.classes: dict[tuple, ClassModel] = {}  # key -> model, in first-use order
        self.rendered: dict[tuple, tuple] = {}  # (elaborated body, terminal) -> block_class result
        self.class_names: set[str] = set()
        self.param_idents: set[str] = set()  # constructor arguments: no class may take their names
        self.block_variants: dict[str, int] = {}
        self.used_fused = False
        self.frames: list[Frame] = []  # the network's frame, then the block class being written
        self.net_env: dict[str, Sym] = {}
        self.bn_eps = _common_bn_eps(net)
        self.header = Header(net.file)  # where the module comes from (render_module sets it)

    def class_name(self, base: str, suffix: str = "_", reserved=RESERVED) -> str:
        """A free class name: not another class's or helper's, not a constructor argument's, not a
        name the module imports (F, Tensor, ...) or a builtin's."""
        name = base
        while name in self.class_names or name in self.param_idents or name in reserved:
            name += suffix
        self.class_names.add(name)
        return name

    def bake(self, names) -> None:
        """The class being written fixes these spec names to their compiled values."""
        self.frames[-1].baked.update(names)

    # -- helpers ------------------------------------------------------------------------------
    def helper(self, kind: str, **opts: Any) -> str:
        key = (kind, tuple(sorted(opts.items())))
        if key not in self.helpers:
            # a helper's own name (`activation`) is one of the module's generated names
            base = str(getattr(self.helpers_t, f"{kind}_name")(**opts)).strip()
            name = self.class_name(base, reserved=())
            fused = bool(self.fuse_bn and opts.get("bn"))
            self.used_fused |= fused
            macro = getattr(self.helpers_t, kind)
            extra = {"fused": fused} if "fused" in macro.arguments else {}
            text = str(macro(name, **extra, **opts)).strip("\n")
            self.helpers[key] = (name, text)
        return self.helpers[key][0]

    def macro(self, name: str):
        return getattr(self.ops, name, None)

    # -- layers ------------------------------------------------------------------------------
    def layer_parts(self, node: ir.Layer, chan: Sym, env, inplace: bool):
        lv = LayerView(self, node, chan, env, inplace)
        expr = str(self.macro(node.op.template)(lv)).strip()
        self.bake(lv.fixed())
        return lv, expr, self.chan_sym(node, env)

    def module_expr(self, node: ir.Node, chan: Sym, env, prev, terminal: bool):
        """A single module expression for a node in a Sequential context, or None if the node needs
        statements of its own in forward."""
        if node.cond is not None:
            return None
        if isinstance(node, ir.Layer):
            t = node.op.template
            if terminal and self.macro(f"{t}_terminal"):
                return None
            lv, expr, out = self.layer_parts(node, chan, env, _inplace_ok(node, prev))
            if not self._inline(lv):
                return None
            return expr, out, [("", node)], []
        if isinstance(node, ir.Call):
            expr, out, paths = self.call_expr(node, chan, env, terminal)
            return expr, out, paths, [("", node)]
        if isinstance(node, ir.Repeat):
            r = self.repeat_expr(node, chan, env, terminal)
            return r
        return None

    def _inline(self, lv: LayerView) -> bool:
        """Whether a layer is its module alone: its op's `_before` and `_after` macros (a flatten
        before a linear, an activation after it) leave the input and the call unchanged."""
        t = lv.op.template
        before, after = self.macro(f"{t}_before"), self.macro(f"{t}_after")
        try:
            return (before is None or str(before(lv, "v")).strip() == "v") and (
                after is None or str(after(lv, "e")).strip() == "e"
            )
        except NeedsStatements:
            return False

    def repeat_expr(self, node: ir.Repeat, chan: Sym, env, terminal: bool):
        chan_in = chan
        exprs: list[str] = []
        paths: list[tuple[str, ir.Layer]] = []
        calls: list[tuple[str, ir.Call]] = []
        prev = None
        for k, item in enumerate(node.items):
            # a repeated final softmax is written out: only a single last row is left to the loss
            r = self.module_expr(item, chan, env, prev, False)
            if r is None:
                raise NeedsStatements()
            expr, chan, ps, cs = r
            exprs.append(expr)
            paths += [(f"{k}.{p}" if p else str(k), layer) for p, layer in ps]
            calls += [(f"{k}.{p}" if p else str(k), c) for p, c in cs]
            prev = item
        if node.count_expr is not None:
            count = _integral(translate(node.count_expr, env))
            # elaboration checked that an instance keeps its input's shape; if every instance also
            # renders the same (and maps its channel expression to itself), n copies are right for
            # any n. Otherwise the count is fixed to its compiled value.
            if len(set(exprs)) == 1 and chan.src == chan_in.src and not count.const:
                one = exprs[0]
                return f"nn.Sequential(*[{one} for _ in range({count.src})])", chan, paths, calls
            self.bake(count.deps)
        elems: list[str] = []
        i = 0
        while i < len(exprs):
            j = i
            while j < len(exprs) and exprs[j] == exprs[i]:
                j += 1
            n = j - i
            if n >= 3:
                elems.append(f"*[{exprs[i]} for _ in range({n})]")
            else:
                elems += exprs[i:j]
            i = j
        return f"nn.Sequential({', '.join(elems)})", chan, paths, calls

    # -- block instances ----------------------------------------------------------------------
    def call_args(self, node: ir.Call, env) -> list[Sym]:
        """The instance's arguments as Python over the caller's constructor arguments."""
        out = []
        for p in node.block.params:
            s = translate(node.arg_exprs[p.name], env)
            value = node.args[p.name]
            if s.const:
                s = lit_sym(value)
            elif isinstance(value, int) and not isinstance(value, bool):
                s = _integral(s)  # `w / 2` is a whole number here: the block takes an int
            out.append(s)
        return out

    def chan_sym(self, node: ir.Node, env) -> Sym:
        """A node's output channels as Python over the constructor's arguments (the channel pass)."""
        if is_const(node.chan):
            return lit_sym(node.out_shape.c)
        return translate(node.chan, env)

    def call_expr(self, node: ir.Call, chan: Sym, env, terminal: bool):
        args = self.call_args(node, env)
        model, paths, baked = self.block_class(node, terminal)
        # what the block's class fixes, the caller fixes through the arguments it passes
        by_name = {"in": chan, **{p.name: a for p, a in zip(node.block.params, args, strict=True)}}
        for name in baked:
            self.bake(by_name[name].deps)
        expr = call(model.name, chan.src, *[a.src for a in args])
        return expr, self.chan_sym(node, env), paths

    def block_class(self, node: ir.Call, terminal: bool):
        """The class of a block instance: rendered once for each distinct elaborated body (instances
        with the same arguments and input share one), then shared by name when two bodies render
        alike."""
        key = (id(node.body), terminal)
        hit = self.rendered.get(key)
        if hit is None:
            hit = self.rendered[key] = self._block_class(node, terminal)
        return hit

    def _block_class(self, node: ir.Call, terminal: bool):
        block = node.block
        pynames: dict[str, str] = {}
        taken: set[str] = set()
        for p in block.params:
            pynames[p.name] = ident(p.name, taken | self.class_names)
            taken.add(pynames[p.name])
        self.param_idents |= taken
        env = {"in": Sym("in_channels", const=False, deps=frozenset({"in"}))}
        env.update(
            {
                p.name: Sym(pynames[p.name], const=False, deps=frozenset({p.name}))
                for p in block.params
            }
        )
        scope = Scope(env, node.body.items)
        scope.locals |= taken
        frame = Frame(_call_values(node), set())
        self.frames.append(frame)
        self.emit_seq(scope, node.body.items, "x", "x", env["in"], terminal)
        self.frames.pop()
        scope.fwd.append(Line("return x"))
        baked = [p.name for p in block.params if p.name in frame.baked]
        baked += ["in"] if "in" in frame.baked else []
        sig = ["in_channels: int"]
        for p in block.params:
            sig.append(f"{pynames[p.name]}: {_annotation(node.args[p.name])}")
        guards = [(env[n].src, node.args[n] if n != "in" else node.in_shape.c) for n in baked]
        scope.init[:0] = _guards(guards, None)
        init = _render(scope.init)
        fwd = _render(scope.fwd)
        key = (
            "block",
            block.name,
            tuple(sig),
            tuple(ln.code for ln in scope.init),
            tuple((ln.code, ln.depth) for ln in scope.fwd),
        )
        model = self.classes.get(key)
        if model is None:
            k = self.block_variants.get(block.name, 0) + 1
            self.block_variants[block.name] = k
            base = class_name(block.name)
            name = self.class_name(base if k == 1 else f"{base}{k}")
            doc = self.block_doc(node, pynames, k, base)
            model = ClassModel(
                name=name,
                doc=docstring(doc, "    "),
                signature=_signature(sig),
                init=init,
                forward=fwd,
                key=key,
            )
            self.classes[key] = model
        return model, scope.paths, baked

    def block_doc(self, node: ir.Call, pynames, variant: int, base: str) -> str:
        block = node.block
        where = self.header.ref(block.file)
        lines = [f"Block `{block.name}` of {where} (line {block.span.line})."]
        if variant > 1:
            lines += [
                "",
                *_wrap(
                    f"A variant of {base}: this instance differs in a value that depends on its "
                    "input (such as resolved `same` padding or a flattened feature count) or in an "
                    "argument that its code fixes (checked in the constructor)."
                ),
            ]
        args = _args_lines(block.params, pynames)
        if args:
            lines += [
                "",
                "Args:",
                "    in_channels: channels of the input (the spec's `in`)",
                *args,
            ]
        instance, shape = node.label or node.name, node.in_shape.torch_comment()
        lines += ["", f"Shape comments are for the instance ({instance}), input {shape}."]
        return "\n".join(lines)

    # -- bodies ----------------------------------------------------------------------------------
    def emit_seq(
        self,
        scope: Scope,
        items,
        var_in: str,
        var_out: str,
        chan: Sym,
        terminal: bool,
        prefix: str = "",
        depth: int = 0,
    ) -> Sym:
        main = [n for n in items if not isinstance(n, ir.Side)]
        last = main[-1] if main else None
        cur = var_in
        prev = None
        for node in items:
            handler = _HANDLERS[type(node)]
            chan, cur = handler(
                self,
                scope,
                node,
                cur,
                var_out,
                chan,
                terminal and node is last,
                prefix,
                depth,
                prev,
            )
            prev = node
        if cur != var_out:
            scope.fwd.append(Line(f"{var_out} = {cur}", depth=depth))
        return chan

    def _assign(self, scope, node, attr, expr, cond_env) -> None:
        if node.cond is not None:
            cond = translate(node.cond, cond_env).src
            expr = f"{expr} if {cond} else None"
        scope.init.append(Line(f"self.{attr} = {expr}"))

    def emit_layer(self, scope, node: ir.Layer, cur, out, chan, terminal, prefix, depth, prev):
        t = node.op.template
        if terminal and self.macro(f"{t}_terminal"):
            lv = LayerView(self, node, chan, scope.env, False)
            scope.fwd.append(Line("", str(self.macro(f"{t}_terminal")(lv)).strip(), depth))
            return chan, cur
        lv, expr, ochan = self.layer_parts(node, chan, scope.env, _inplace_ok(node, prev))
        attr = scope.member(node, prefix)
        self._assign(scope, node, attr, expr, scope.env)
        if node.active:
            scope.paths.append((attr, node))
        cur, d = self._guard(scope, node, attr, cur, out, depth)
        self._apply(scope, lv, f"self.{attr}", cur, out, prefix, d)
        return ochan, out

    def _apply(self, scope, lv: LayerView, module: str, cur: str, out: str, prefix, depth) -> None:
        """Forward lines applying a layer's module to `cur`, with its op's `_before` (a flatten) and
        `_after` (an activation) macros."""
        node, t = lv.node, lv.op.template
        before = self.macro(f"{t}_before")
        if before:
            e = str(before(lv, cur)).strip()
            if e != cur:
                scope.fwd.append(Line(f"{out} = {e}", f"N x {node.in_shape.numel}", depth))
                cur = out
        e = f"{module}({cur})"
        after = self.macro(f"{t}_after")
        if after:
            lv.scope, lv.prefix = scope, prefix
            e = str(after(lv, e)).strip()
            self.bake(lv.fixed())
        scope.fwd.append(Line(f"{out} = {e}", node.out_shape.torch_comment(), depth))

    def emit_call(self, scope, node: ir.Call, cur, out, chan, terminal, prefix, depth, prev):
        expr, ochan, paths = self.call_expr(node, chan, scope.env, terminal)
        return ochan, self._emit_submodule(scope, node, expr, paths, cur, out, prefix, depth)

    def emit_repeat(self, scope, node: ir.Repeat, cur, out, chan, terminal, prefix, depth, prev):
        try:
            expr, ochan, paths, _calls = self.repeat_expr(node, chan, scope.env, terminal)
        except NeedsStatements:
            return self.emit_repeat_unrolled(scope, node, cur, out, chan, prefix, depth)
        return ochan, self._emit_submodule(scope, node, expr, paths, cur, out, prefix, depth)

    def emit_repeat_unrolled(self, scope, node: ir.Repeat, cur, out, chan, prefix, depth):
        """A repeated layer that needs statements of its own in forward (a linear after a feature
        map, or with an activation): an nn.ModuleList, applied instance by instance."""
        views = []
        for item in node.items:
            lv, expr, chan = self.layer_parts(item, chan, scope.env, False)
            views.append((lv, expr))
        if node.count_expr is not None:  # one line per instance: the count is fixed
            self.bake(translate(node.count_expr, scope.env).deps)
        attr = scope.member(node, prefix)
        exprs = ", ".join(expr for _, expr in views)
        self._assign(scope, node, attr, f"nn.ModuleList([{exprs}])", scope.env)
        if node.active:
            scope.paths += [(f"{attr}.{k}", item) for k, item in enumerate(node.items)]
        cur, d = self._guard(scope, node, attr, cur, out, depth)
        for k, (lv, _) in enumerate(views):
            self._apply(scope, lv, f"self.{attr}[{k}]", cur, out, prefix, d)
            cur = out
        return chan, out

    def _emit_submodule(self, scope, node, expr, paths, cur, out, prefix, depth) -> str:
        """`self.NAME = expr` in __init__ and `out = self.NAME(cur)` in forward (guarded when the row
        is conditional); returns the forward variable."""
        attr = scope.member(node, prefix)
        self._assign(scope, node, attr, expr, scope.env)
        if node.active:
            scope.paths += [(f"{attr}.{p}", layer) for p, layer in paths]
        cur, d = self._guard(scope, node, attr, cur, out, depth)
        scope.fwd.append(Line(f"{out} = self.{attr}({cur})", node.out_shape.torch_comment(), d))
        return out

    def _guard(self, scope, node, attr, cur, out, depth) -> tuple[str, int]:
        """A conditional row runs under `if self.NAME is not None:`; returns (input, depth)."""
        if node.cond is None:
            return cur, depth
        if cur != out:
            scope.fwd.append(Line(f"{out} = {cur}", depth=depth))
            cur = out
        scope.fwd.append(Line(f"if self.{attr} is not None:", depth=depth))
        return cur, depth + 1

    def emit_concat(self, scope, node: ir.Concat, cur, out, chan, terminal, prefix, depth, prev):
        parts: list[str] = []
        chans: list[Sym] = []
        for br in node.branches:
            items = br.body.items
            bvar = scope.local(member("", prefix, br.name, br.given))
            parts.append(bvar)
            if not items:
                scope.fwd.append(Line(f"{bvar} = {cur}", br.in_shape.torch_comment(), depth))
                chans.append(chan)
                continue
            seq = None if br.flattened else self.sequential(items, chan, scope.env)
            if seq is None and not br.flattened:
                raise CodegenError(
                    f"{br.span}: branch '{br.name}' must be one module in PyTorch (its rows are "
                    "numbered), but a row in it needs statements of its own in forward; label "
                    "its rows to make them attributes of the block"
                )
            if seq is not None:
                expr, bchan, paths, _calls = seq
                attr = scope.member(br, prefix)
                scope.init.append(Line(f"self.{attr} = {expr}"))
                scope.paths += [(f"{attr}.{p}" if p else attr, layer) for p, layer in paths]
                scope.fwd.append(
                    Line(f"{bvar} = self.{attr}({cur})", br.out_shape.torch_comment(), depth)
                )
            else:
                bchan = self.emit_seq(
                    scope,
                    items,
                    cur,
                    bvar,
                    chan,
                    False,
                    prefix=f"{member('', prefix, br.name, br.given)}_",
                    depth=depth,
                )
            chans.append(bchan)
        total = self.chan_sym(node, scope.env)
        expr = str(self.ops.concat(parts)).strip()
        scope.fwd.append(Line(f"{out} = {expr}", node.out_shape.torch_comment(), depth))
        return total, out

    def sequential(self, items, chan: Sym, env):
        """A branch body as one module: the module itself, or nn.Sequential of its rows."""
        exprs: list[str] = []
        paths: list[tuple[str, ir.Layer]] = []
        calls = []
        prev = None
        for k, item in enumerate(items):
            if isinstance(item, ir.Side) or (not item.active and item.cond is None):
                return None
            r = self.module_expr(item, chan, env, prev, False)
            if r is None:
                return None
            expr, chan, ps, _cs = r
            exprs.append(expr)
            paths += [(k, p, layer) for p, layer in ps]
            prev = item
        if len(exprs) == 1:
            return exprs[0], chan, [(p, layer) for _, p, layer in paths], calls
        flat = [(f"{k}.{p}" if p else str(k), layer) for k, p, layer in paths]
        return f"nn.Sequential({', '.join(exprs)})", chan, flat, calls

    def emit_residual(
        self, scope, node: ir.Residual, cur, out, chan, terminal, prefix, depth, prev
    ):
        identity = scope.local("identity")
        scope.fwd.append(Line(f"{identity} = {cur}", depth=depth))
        body_out = self.emit_seq(
            scope, node.body.items, cur, out, chan, False, prefix=prefix, depth=depth
        )
        del body_out
        scale_src = None
        sym = self.source_sym(node, "scale", scope.env)
        if sym is not None and not sym.const:
            attr = scope.claim("scale", prefix)
            scope.init.append(Line(f"self.{attr} = {sym.src}"))
            scale_src = f"self.{attr}"
        elif node.attrs["scale"] != 1.0:
            scale_src = lit(node.attrs["scale"])
        expr = str(self.ops.add(identity, out, scale_src)).strip()
        act = node.attrs["act"]
        comment = node.out_shape.torch_comment()
        act_sym = self.residual_act(node, scope.env)
        if act_sym is not None:  # a parameter chooses the activation
            attr = scope.claim("act", prefix)
            scope.init.append(Line(f"self.{attr} = {self.helper('activation')}({act_sym.src})"))
            scope.fwd.append(Line(f"{out} = self.{attr}({expr})", comment, depth))
        elif act == "none":
            scope.fwd.append(Line(f"{out} = {expr}", comment, depth))
        else:
            scope.fwd.append(Line(f"{out} = {expr}", "", depth))
            scope.fwd.append(Line(f"{out} = {str(self.ops.act(act, out)).strip()}", comment, depth))
        return chan, out

    def residual_act(self, node: ir.Residual, env) -> Sym | None:
        """The residual's `act` as an expression of the constructor's arguments, or None if fixed."""
        s = self.source_sym(node, "act", env)
        return None if s is None or s.const else s

    def source_sym(self, node: ir.Layer | ir.Residual, name: str, env) -> Sym | None:
        """An attribute as the spec wrote it (in the row, or in the network's `defaults`), as Python
        over the constructor's arguments; None where the spec did not write it. A `defaults` value
        that reads network parameters cannot be seen by a block class: those parameters are fixed."""
        e = node.sources.get(name)
        if e is not None:
            return translate(e, env)
        e = node.defaulted.get(name)
        if e is None:
            return None
        s = translate(e, self.net_env)
        if s.const or self.frames[-1].network:
            return s
        self.frames[0].baked.update(s.deps)
        return None

    def emit_side(self, scope, node: ir.Side, cur, out, chan, terminal, prefix, depth, prev):
        head = node.head
        attr = scope.member(node, prefix)
        var = scope.local(node.name)
        if isinstance(head, ir.Call):
            expr, _, paths = self.call_expr(head, chan, scope.env, True)
            if node.active:
                scope.paths += [(f"{attr}.{p}", layer) for p, layer in paths]
            before = cur
        else:
            lv, expr, _ = self.layer_parts(head, chan, scope.env, False)
            if node.active:
                scope.paths.append((attr, head))
            b = self.macro(f"{head.op.template}_before")
            before = str(b(lv, cur)).strip() if b else cur
        if node.cond is not None:
            expr = f"{expr} if {translate(node.cond, scope.env).src} else None"
        scope.init.append(Line(f"self.{attr} = {expr}"))
        scope.fwd.append(Line(f"{var}: Tensor | None = None", depth=depth))
        scope.fwd.append(Line(f"if self.{attr} is not None and self.training:", depth=depth))
        e = f"self.{attr}({before})"
        if not isinstance(head, ir.Call) and self.macro(f"{head.op.template}_after"):
            lv.scope, lv.prefix = scope, prefix
            e = str(self.macro(f"{head.op.template}_after")(lv, e)).strip()
            self.bake(lv.fixed())
        scope.fwd.append(Line(f"{var} = {e}", node.out_shape.torch_comment(), depth + 1))
        scope.sides = [*getattr(scope, "sides", []), (var, attr, node)]
        return chan, cur

    # -- the network ---------------------------------------------------------------------------
    def network(self) -> tuple[ClassModel, list[tuple[str, ir.Layer]], Any]:
        net = self.net
        pynames: dict[str, str] = {}
        taken: set[str] = set()
        for p in net.params:
            pynames[p.name] = ident(p.name, taken)
            taken.add(pynames[p.name])
        self.param_names = pynames
        self.param_idents |= taken
        env = {
            p.name: Sym(pynames[p.name], const=False, deps=frozenset({p.name})) for p in net.params
        }
        self.net_env = env
        scope = Scope(env, net.body.items)
        scope.locals |= taken
        frame = Frame(dict(net.values), set(), network=True)
        self.frames = [frame]
        self.emit_seq(scope, net.body.items, "x", "x", lit_sym(net.input.c), True)
        for e in net.init_exprs.values():  # init options are numbers in the constructor's tail
            self.bake(translate(e, env).deps)
        sides = getattr(scope, "sides", [])
        name = self.class_name(class_name(net.name), "Net")
        outputs = None
        if sides:
            oname = self.class_name(name + "Outputs")
            fields = ["logits"]
            for var, _, _ in sides:
                f = var.lstrip("_") or "side"
                while f in fields:
                    f += "_"
                fields.append(f)
            outputs = {"name": oname, "fields": fields}
            present = " or ".join(f"self.{attr} is not None" for _, attr, _ in sides)
            scope.fwd.append(Line(f"if self.training and ({present}):"))
            args = ", ".join(["x"] + [var for var, _, _ in sides])
            scope.fwd.append(Line(f"return {oname}({args})", depth=1))
        scope.fwd.append(Line("return x"))
        sig = []
        for p in net.params:  # the values compiled for (-p NAME=VALUE), which the table shows
            v = _py_value(net.values[p.name])
            sig.append(f"{pynames[p.name]}: {_annotation(v)} = {lit(v)}")
        fixed = [(pynames[p.name], net.values[p.name]) for p in net.params if p.name in frame.baked]
        scope.init[:0] = _guards(fixed, {pynames[p.name]: p.name for p in net.params})
        scheme, opts = net.init
        init_macro = getattr(self.init_t, scheme)
        init_tail = str(init_macro({k: lit(v) for k, v in opts.items()})).rstrip("\n")
        methods = []
        if self.used_fused:
            methods.append(str(self.env_j.get_template("fuse.j2").render()).strip("\n"))
        model = ClassModel(
            name=name,
            doc=docstring(self.network_doc(outputs), "    "),
            signature=_signature(sig),
            init=_render(scope.init),
            forward=_render(scope.fwd),
            key=("network",),
            returns=f" -> Tensor | {outputs['name']}" if outputs else " -> Tensor",
            init_tail=init_tail,
            methods=methods,
        )
        return model, scope.paths, outputs

    def network_doc(self, outputs) -> str:
        """What the network is, its input and output, its totals and a pointer to its table; the
        whole table with `table_docstring`."""
        from inspec.backends.table import render_text

        net, header = self.net, self.header
        lines = [f"{net.name}, compiled from {header.ref(net.file)}.", ""]
        out = net.output.torch_comment()
        returns = f"returns {out}"
        main = [n for n in net.body.items if not isinstance(n, ir.Side)]
        last = main[-1] if main else None
        if isinstance(last, ir.Layer) and self.macro(f"{last.op.template}_terminal"):
            returns = f"returns logits, {out}: the final {last.op.name} row is left to the loss"
            returns += " (nn.CrossEntropyLoss)"
        text = f"Input {net.input.torch_comment()}; {returns}."
        if outputs:
            text += (
                f" In training mode, with side heads present: {outputs['name']}"
                f"({', '.join(outputs['fields'])}); in eval mode the main logits only."
            )
        if self.fuse_bn:
            text += " Batch norm is folded into the convolutions: an inference-only export."
        lines += [*_wrap(text), ""]
        main_t, full = net.totals(), net.totals(sides=True)
        params = f"{main_t.params:,} parameters"
        ops = f"{main_t.ops:,} multiply-adds of conv and linear layers"
        if any(side.active for side in net.sides):
            params += f" ({full.params:,} with side heads)"
            ops += f" ({full.ops:,} with side heads)"
        if self.fuse_bn:  # the analysis counts the batch-norm parameters that folding removes
            params += " before batch norm is folded"
        lines += _wrap(f"{params} and {ops}, for the default arguments.")
        if header.table_docstring:
            lines += ["", "The spec's table (for the default arguments):", ""]
            lines += render_text(net, "rows", net.units).rstrip("\n").split("\n")
        else:
            lines += ["", "The spec's table, row by row:", "", f"    {header.table_command}"]
        args = _args_lines(net.params, self.param_names)
        if args:
            lines += ["", "Args:", *args]
        return "\n".join(lines)


def _call_values(node: ir.Call) -> dict[str, Any]:
    """The concrete values of a block instance's names: its arguments and `in`."""
    values = dict(node.args)
    values["in"] = node.in_shape.c if node.in_shape is not None else None
    return values


def _integral(s: Sym) -> Sym:
    """An expression whose value is a whole number, as an int in Python (a true division is a float
    in Python even where the spec's is whole)."""
    if not s.has_div:
        return s
    return Sym(f"int({s.src})", P_ATOM, s.const, False, s.deps)


def _py_value(v: Any) -> Any:
    """A spec value as the generated module takes it (an enumeration word as a string)."""
    return v if isinstance(v, (bool, int, float, str, tuple)) else str(v)


def _annotation(v: Any) -> str:
    """The constructor annotation of a spec value (an enumeration word is passed as a string)."""
    if isinstance(v, (bool, int, float, str, tuple)):
        return type(v).__name__
    return "str"


def _spec_value(v: Any) -> str:
    """A value as `inspec compile -p NAME=VALUE` writes it."""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _guards(fixed: list[tuple[str, Any]], spec_names: dict[str, str] | None) -> list[Line]:
    """Constructor lines rejecting any value other than the compiled one, for arguments that the
    module's structure depends on in a way the code cannot follow (spatial sizes, say). With
    `spec_names` (the network class) the message says how to compile for another value."""
    lines: list[Line] = []
    for name, value in fixed:
        if isinstance(value, bool):
            test = f"not {name}" if value else name
        else:
            test = f"{name} != {lit(value)}"
        shown = _escape_braces(f"{name}={_spec_value(value)}")
        text = f"compiled for {shown}, got {{{name}!r}}: this argument fixes the module's structure"
        if spec_names is not None:
            text += f"; run `inspec compile -p {_escape_braces(spec_names[name])}=...`"
        lines.append(Line(f"if {test}:"))
        lines.append(Line(f"raise ValueError(f{str_lit(text)})", depth=1))
    return lines


def _escape_braces(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def _signature(params: list[str]) -> list[str]:
    return signature("__init__", ["self", *params], "None", "    ")


def _wrap(text: str) -> list[str]:
    """A paragraph of a class docstring, wrapped to the line length (the docstring is indented)."""
    return textwrap.wrap(text, 84, break_long_words=False, break_on_hyphens=False)


def _args_lines(params, pynames: dict[str, str]) -> list[str]:
    """Google-style `Args:` lines: a parameter's header string (the paper's column title), and the
    spec's name where the Python name differs; nothing for a parameter with neither (its name and
    default are in the signature already)."""
    lines = []
    for p in params:
        name = pynames[p.name]
        text = p.header if p.header and p.header not in (p.name, name) else ""
        if name != p.name:
            text = f"{text} (the spec's `{p.name}`)" if text else f"the spec's `{p.name}`"
        if text:
            lines.append(f"    {name}: {text}")
    return lines


@dataclass(frozen=True)
class Header:
    """Where the module comes from, as its header and docstrings say.

    `output` is the file the module is written to, as given (None: standard output, or a string for
    the caller). Paths in the module (its first line, the docstrings) are relative to the output's
    folder, so that they are right from where the file is; the commands it shows (`inspec compile`,
    `inspec table`, with the options that shaped the module) name the spec as given, to run from
    where the module was compiled.
    """

    spec: str  # the spec's path as given
    output: str | None = None
    params: tuple[str, ...] = ()  # NAME=VALUE for each network parameter compiled for another value
    fuse_bn: bool = False
    table_docstring: bool = False

    def ref(self, path: str) -> str:
        """A file's path from the output's folder (as given, without an output file)."""
        if self.output is None or not os.path.isfile(path):
            return _display_path(path)
        here, there = os.path.dirname(os.path.abspath(self.output)), os.path.abspath(path)
        try:
            common = os.path.commonpath([here, there])
        except ValueError:  # another drive
            return _display_path(path)
        if common == os.path.dirname(common):  # nothing in common but the root
            return there.replace(os.sep, "/")
        return os.path.relpath(there, here).replace(os.sep, "/")

    def _run(self, command: str, *options: str) -> str:
        params = [x for p in self.params for x in ("-p", p)]
        return shlex.join(["inspec", command, _command_path(self.spec), *options, *params])

    @property
    def command(self) -> str:
        options = ["--fuse-bn"] * self.fuse_bn + ["--table-docstring"] * self.table_docstring
        return self._run("compile", *options)

    @property
    def table_command(self) -> str:
        return self._run("table")


def _header(net: ir.Network, output, fuse_bn: bool, table_docstring: bool) -> Header:
    params = tuple(
        f"{p.name}={_spec_value(net.values[p.name])}"
        for p in net.params
        if net.values[p.name] != p.default or type(net.values[p.name]) is not type(p.default)
    )
    return Header(net.file, output, params, fuse_bn, table_docstring)


def _command_path(path: str) -> str:
    """The spec's path for a command run from the working directory: as given (an absolute path
    inside the working directory relative to it)."""
    if os.path.isabs(path):
        try:
            rel = os.path.relpath(path)
        except ValueError:  # another drive
            return path
        return path if rel == ".." or rel.startswith(".." + os.sep) else rel.replace(os.sep, "/")
    return path.replace(os.sep, "/")


def _display_path(path: str) -> str:
    if os.path.isabs(path):
        try:
            rel = os.path.relpath(path)
            if not rel.startswith(".."):
                return rel.replace(os.sep, "/")
        except ValueError:
            pass
        return os.path.basename(path)
    return path.replace(os.sep, "/")


def _inplace_ok(node: ir.Node, prev: ir.Node | None) -> bool:
    """An in-place op may overwrite its input only if nothing else reads that tensor: it must be the
    fresh output of the previous row in the same sequence (not a branch's or residual's shared input,
    not a tensor a side head also reads, not dropout's pass-through in eval)."""
    if prev is None or isinstance(prev, (ir.Side, ir.Call, ir.Repeat)):
        return False
    if prev.cond is not None:  # a row a parameter may switch off: its input would be overwritten
        return False
    if isinstance(prev, (ir.Concat, ir.Residual)):
        return True
    return isinstance(prev, ir.Layer) and prev.op.category in SAFE_INPLACE_AFTER


_HANDLERS = {
    ir.Layer: Generator.emit_layer,
    ir.Call: Generator.emit_call,
    ir.Repeat: Generator.emit_repeat,
    ir.Concat: Generator.emit_concat,
    ir.Residual: Generator.emit_residual,
    ir.Side: Generator.emit_side,
}


@dataclass(frozen=True)
class Rendered:
    """A generated module: its source, which module computes which layer, the network class's name,
    and the Python name of each network parameter (spec name -> constructor argument)."""

    text: str
    paths: list[tuple[str, ir.Layer]]
    class_name: str
    param_names: dict[str, str]


def render_module(
    net: ir.Network,
    fuse_bn: bool = False,
    table_docstring: bool = False,
    output: str | None = None,
) -> Rendered:
    """The module's source; `output` is the file it will be written to, as given (see Header)."""
    gen = Generator(net, fuse_bn)
    gen.header = _header(net, output, fuse_bn, table_docstring)
    model, paths, outputs = gen.network()
    classes = [model, *list(gen.classes.values())]
    body_helpers = [text for _, text in gen.helpers.values()]
    t = gen.env_j.get_template("module.py.j2")
    probe = "\n".join(
        "\n".join(c.init + c.forward + c.methods + [c.init_tail]) for c in classes
    ) + "\n".join(body_helpers)
    typing_names = []
    if outputs:
        typing_names = ["NamedTuple"]
    text = t.render(
        marker=MARKER,
        version=__version__,
        source=comment_text(gen.header.ref(net.file)),
        command=comment_text(gen.header.command),
        net=net,
        typing_names=typing_names,
        uses_torch="torch." in probe,
        uses_f="F." in probe,
        outputs=outputs,
        classes=classes,
        helpers=body_helpers,
    )
    return Rendered(text, paths, model.name, dict(gen.param_names))
