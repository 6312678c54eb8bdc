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
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from inspec import __version__
from inspec.analysis import ir
from inspec.analysis.shapes import Padding
from inspec.backends.torch.pyexpr import (
    P_MUL,
    Sym,
    Untranslatable,
    add,
    call,
    comment_text,
    docstring,
    layout,
    lit,
    lit_sym,
    mul,
    py_ident,
    str_lit,
    translate,
)
from inspec.fileio import MARKER
from inspec.language import ast as A

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
    return env


class CodegenError(Exception):
    """A spec construct that has no exact PyTorch rendering."""


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


def camel(name: str) -> str:
    parts = [p for p in name.split("_") if p]
    s = "".join(p[:1].upper() + p[1:] for p in parts) or "Block"
    return s if s[0].isalpha() else "B" + s


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
        self.sources = node.sources
        self.defaulted = node.defaulted
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
        e = self.sources.get(name)
        if e is not None:
            return translate(e, self.env)
        e = self.defaulted.get(name)
        if e is None:
            return None
        s = translate(e, self.gen.net_env)
        if s.const or self.gen.frames[-1].network:
            return s
        # a network parameter through `defaults`, inside a block class: the block cannot see it
        self.gen.frames[0].baked.update(s.deps)
        return None

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

    def __init__(self, env: dict[str, Sym]):
        self.env = env
        self.attrs: list[str] = []
        self.locals: list[str] = ["x", "self"]
        self.init: list[Line] = []
        self.fwd: list[Line] = []
        self.paths: list[tuple[str, ir.Layer]] = []
        self.calls: list[tuple[str, ir.Call]] = []

    def claim(self, name: str, prefix: str = "") -> str:
        return _unique(py_ident(prefix + name), self.attrs)

    def local(self, name: str) -> str:
        return _unique(py_ident(name), self.locals)


def _unique(base: str, taken: list[str]) -> str:
    """`base`, or `base_2`, `base_3`, ... if taken; the name is added to `taken`."""
    s, k = base, 2
    while s in taken:
        s, k = f"{base}_{k}", k + 1
    taken.append(s)
    return s


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
        self.class_names: set[str] = set()
        self.block_variants: dict[str, int] = {}
        self.used_fused = False
        self.frames: list[Frame] = []  # the network's frame, then the block class being written
        self.net_env: dict[str, Sym] = {}
        self.bn_eps = _common_bn_eps(net)

    def bake(self, names) -> None:
        """The class being written fixes these spec names to their compiled values."""
        self.frames[-1].baked.update(names)

    # -- helpers ------------------------------------------------------------------------------
    def helper(self, kind: str, **opts: Any) -> str:
        key = (kind, tuple(sorted(opts.items())))
        if key not in self.helpers:
            name = str(getattr(self.helpers_t, f"{kind}_name")(**opts)).strip()
            fused = bool(self.fuse_bn and opts.get("bn"))
            self.used_fused |= fused
            macro = getattr(self.helpers_t, kind)
            extra = {"fused": fused} if "fused" in macro.arguments else {}
            text = str(macro(name, **extra, **opts)).strip("\n")
            self.helpers[key] = (name, text)
            self.class_names.add(name)
        return self.helpers[key][0]

    def macro(self, name: str):
        return getattr(self.ops, name, None)

    # -- layers ------------------------------------------------------------------------------
    def layer_parts(self, node: ir.Layer, chan: Sym, env, inplace: bool):
        lv = LayerView(self, node, chan, env, inplace)
        expr = str(self.macro(node.op.template)(lv)).strip()
        self.bake(lv.fixed())
        y, x = node.out_shape, node.in_shape
        if node.op.attr("out") is not None:
            out = lv.sym("out")
        elif y.flat and not x.flat:
            out = mul(chan, x.h * x.w)
        else:
            out = chan
        if out.const:
            out = lit_sym(y.c)
        return lv, expr, out

    def module_expr(self, node: ir.Node, chan: Sym, env, prev, terminal: bool, dry: bool):
        """A single module expression for a node in a Sequential context, or None if the node needs
        statements of its own in forward."""
        if node.cond is not None:
            return None
        if isinstance(node, ir.Layer):
            t = node.op.template
            if self.macro(f"{t}_before") or self.macro(f"{t}_after"):
                return None
            if terminal and self.macro(f"{t}_terminal"):
                return None
            _, expr, out = self.layer_parts(node, chan, env, _inplace_ok(node, prev))
            return expr, out, [("", node)], []
        if isinstance(node, ir.Call):
            expr, out, paths = self.call_expr(node, chan, env, terminal, dry)
            return expr, out, paths, [("", node)]
        if isinstance(node, ir.Repeat):
            r = self.repeat_expr(node, chan, env, terminal, dry)
            return r
        return None

    def repeat_expr(self, node: ir.Repeat, chan: Sym, env, terminal: bool, dry: bool):
        chan_in = chan
        exprs: list[str] = []
        paths: list[tuple[str, ir.Layer]] = []
        calls: list[tuple[str, ir.Call]] = []
        prev = None
        for k, item in enumerate(node.items):
            last = k == len(node.items) - 1
            r = self.module_expr(item, chan, env, prev, terminal and last, dry)
            if r is None:
                raise CodegenError(
                    f"{node.span}: a repeated row must be one module in PyTorch "
                    f"('{item.name}' needs statements of its own in forward)"
                )
            expr, chan, ps, cs = r
            exprs.append(expr)
            paths += [(f"{k}.{p}" if p else str(k), layer) for p, layer in ps]
            calls += [(f"{k}.{p}" if p else str(k), c) for p, c in cs]
            prev = item
        if node.count_expr is not None:
            count = translate(node.count_expr, env)
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
        block = node.block
        given: dict[str, A.Expr] = {}
        for p, a in zip(block.params, node.row.args, strict=False):
            given[p.name] = a
        for kw in node.row.kwargs:
            given[kw.name] = kw.value
        bound: dict[str, Sym] = {}
        out = []
        for p in block.params:
            e = given.get(p.name)
            scope = env
            if e is None:
                e, scope = p.default, bound
            s = translate(e, scope)
            if s.const:
                s = lit_sym(node.args[p.name])
            bound[p.name] = s
            out.append(s)
        return out

    def call_expr(self, node: ir.Call, chan: Sym, env, terminal: bool, dry: bool):
        args = self.call_args(node, env)
        model, paths, baked = self.block_class(node, terminal, dry)
        # what the block's class fixes, the caller fixes through the arguments it passes
        by_name = {"in": chan, **{p.name: a for p, a in zip(node.block.params, args, strict=False)}}
        for name in baked:
            self.bake(by_name[name].deps)
        expr = call(model.name if model else "?", chan.src, *[a.src for a in args])
        if chan.const and all(a.const for a in args):
            out = lit_sym(node.out_shape.c)
        else:
            # the block's output channels in the caller's terms: walk its body with the caller's values
            scope = Scope(by_name)
            self.frames.append(Frame(_call_values(node), self.frames[-1].baked))
            out = self.emit_seq(scope, node.body.items, "x", "x", chan, terminal, dry=True)
            self.frames.pop()
        return expr, out, paths

    def block_class(self, node: ir.Call, terminal: bool, dry: bool):
        block = node.block
        pynames: dict[str, str] = {}
        taken: set[str] = set()
        for p in block.params:
            pynames[p.name] = py_ident(p.name, frozenset(taken | self.class_names))
            taken.add(pynames[p.name])
        env = {"in": Sym("in_channels", const=False, deps=frozenset({"in"}))}
        env.update(
            {
                p.name: Sym(pynames[p.name], const=False, deps=frozenset({p.name}))
                for p in block.params
            }
        )
        scope = Scope(env)
        scope.locals += list(taken)
        frame = Frame(_call_values(node), set())
        self.frames.append(frame)
        self.emit_seq(scope, node.body.items, "x", "x", env["in"], terminal, dry)
        self.frames.pop()
        scope.fwd.append(Line("return x"))
        baked = [p.name for p in block.params if p.name in frame.baked]
        baked += ["in"] if "in" in frame.baked else []
        if dry:
            return None, scope.paths, baked
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
            base = camel(block.name)
            name = base if k == 1 else f"{base}{k}"
            while name in self.class_names or name in ("Tensor", "NamedTuple", "Optional"):
                name += "_"
            self.class_names.add(name)
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
        file = self.net.block_files.get(block.name, self.net.file)
        lines = [f"Block `{block.name}` of {_display_path(file)} (line {block.span.line})."]
        if variant > 1:
            lines += [
                "",
                f"A variant of {base}: this instance differs in a value that depends on its input",
                "(such as resolved `same` padding or a flattened feature count) or in an argument",
                "that its code fixes (checked in the constructor).",
            ]
        if block.params:
            lines += ["", "Args:", "    in_channels: input channels"]
            for p in block.params:
                what = p.header or p.name
                lines.append(f"    {pynames[p.name]}: {what}")
        where = node.label or node.name
        lines += [
            "",
            f"Shape comments are for the instance ({where}), input {node.in_shape.torch_comment()}.",
        ]
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
        dry: bool,
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
                dry,
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

    def emit_layer(self, scope, node: ir.Layer, cur, out, chan, terminal, dry, prefix, depth, prev):
        t = node.op.template
        if terminal and self.macro(f"{t}_terminal"):
            lv = LayerView(self, node, chan, scope.env, False)
            scope.fwd.append(Line("", str(self.macro(f"{t}_terminal")(lv)).strip(), depth))
            return chan, cur
        lv, expr, ochan = self.layer_parts(node, chan, scope.env, _inplace_ok(node, prev))
        attr = scope.claim(node.name, prefix)
        self._assign(scope, node, attr, expr, scope.env)
        if node.active:
            scope.paths.append((attr, node))
        cur, d = self._guard(scope, node, attr, cur, out, depth)
        before = self.macro(f"{t}_before")
        if before:
            e = str(before(lv, cur)).strip()
            if e != cur:
                scope.fwd.append(Line(f"{out} = {e}", f"N x {node.in_shape.numel}", d))
                cur = out
        e = f"self.{attr}({cur})"
        after = self.macro(f"{t}_after")
        if after:
            lv.scope, lv.prefix = scope, prefix
            e = str(after(lv, e)).strip()
            self.bake(lv.fixed())
        scope.fwd.append(Line(f"{out} = {e}", node.out_shape.torch_comment(), d))
        return ochan, out

    def emit_call(self, scope, node: ir.Call, cur, out, chan, terminal, dry, prefix, depth, prev):
        expr, ochan, paths = self.call_expr(node, chan, scope.env, terminal, dry)
        return ochan, self._emit_submodule(scope, node, expr, paths, cur, out, prefix, depth)

    def emit_repeat(
        self, scope, node: ir.Repeat, cur, out, chan, terminal, dry, prefix, depth, prev
    ):
        expr, ochan, paths, _calls = self.repeat_expr(node, chan, scope.env, terminal, dry)
        return ochan, self._emit_submodule(scope, node, expr, paths, cur, out, prefix, depth)

    def _emit_submodule(self, scope, node, expr, paths, cur, out, prefix, depth) -> str:
        """`self.NAME = expr` in __init__ and `out = self.NAME(cur)` in forward (guarded when the row
        is conditional); returns the forward variable."""
        attr = scope.claim(node.name, prefix)
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

    def emit_concat(
        self, scope, node: ir.Concat, cur, out, chan, terminal, dry, prefix, depth, prev
    ):
        parts: list[str] = []
        chans: list[Sym] = []
        for br in node.branches:
            items = br.body.items
            bvar = scope.local(prefix + br.name)
            parts.append(bvar)
            if not items:
                scope.fwd.append(Line(f"{bvar} = {cur}", br.in_shape.torch_comment(), depth))
                chans.append(chan)
                continue
            seq = self.sequential(items, chan, scope.env, dry)
            if seq is not None:
                expr, bchan, paths, _calls = seq
                attr = scope.claim(br.name, prefix)
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
                    dry,
                    prefix=f"{prefix}{br.name}_",
                    depth=depth,
                )
            chans.append(bchan)
        total = chans[0]
        for c in chans[1:]:
            total = add(total, c)
        if total.const:
            total = lit_sym(node.out_shape.c)
        expr = str(self.ops.concat(parts)).strip()
        scope.fwd.append(Line(f"{out} = {expr}", node.out_shape.torch_comment(), depth))
        return total, out

    def sequential(self, items, chan: Sym, env, dry):
        """A branch body as one module: the module itself, or nn.Sequential of its rows."""
        exprs: list[str] = []
        paths: list[tuple[str, ir.Layer]] = []
        calls = []
        prev = None
        for k, item in enumerate(items):
            if isinstance(item, ir.Side) or (not item.active and item.cond is None):
                return None
            r = self.module_expr(item, chan, env, prev, False, dry)
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
        self, scope, node: ir.Residual, cur, out, chan, terminal, dry, prefix, depth, prev
    ):
        identity = scope.local("identity")
        scope.fwd.append(Line(f"{identity} = {cur}", depth=depth))
        body_out = self.emit_seq(
            scope, node.body.items, cur, out, chan, False, dry, prefix=prefix, depth=depth
        )
        del body_out
        scale_src = None
        scale_expr = next((kw.value for kw in node.ast.kwargs if kw.name == "scale"), None)
        sym = None
        if scale_expr is not None:
            try:
                sym = translate(scale_expr, scope.env)
            except Untranslatable:
                sym = None
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
        e = next((kw.value for kw in node.ast.kwargs if kw.name == "act"), None)
        if e is not None:
            s = translate(e, env)
        else:
            module = self.net.module
            found = [
                kw.value
                for d in (module.defaults if module is not None else [])
                if d.op == "add"
                for kw in d.kwargs
                if kw.name == "act"
            ]
            if not found:
                return None
            s = translate(found[-1], self.net_env)
            if not s.const and not self.frames[-1].network:
                self.frames[0].baked.update(s.deps)  # a block cannot see the network's parameters
                return None
        return None if s.const else s

    def emit_side(self, scope, node: ir.Side, cur, out, chan, terminal, dry, prefix, depth, prev):
        head = node.head
        attr = scope.claim(node.name, prefix)
        var = scope.local(node.name)
        if isinstance(head, ir.Call):
            expr, _, paths = self.call_expr(head, chan, scope.env, True, dry)
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
            pynames[p.name] = py_ident(p.name, frozenset(taken))
            taken.add(pynames[p.name])
        self.param_names = pynames
        env = {
            p.name: Sym(pynames[p.name], const=False, deps=frozenset({p.name})) for p in net.params
        }
        self.net_env = env
        scope = Scope(env)
        scope.locals += list(taken)
        frame = Frame(dict(net.values), set(), network=True)
        self.frames = [frame]
        self.emit_seq(scope, net.body.items, "x", "x", lit_sym(net.input.c), True, False)
        if net.module is not None and net.module.init is not None:
            for kw in net.module.init.kwargs:  # init options are numbers in the constructor's tail
                self.bake(translate(kw.value, env).deps)
        sides = getattr(scope, "sides", [])
        name = camel(net.name)
        while name in self.class_names or name in ("Tensor", "NamedTuple", "Optional"):
            name += "Net"
        self.class_names.add(name)
        outputs = None
        if sides:
            oname = name + "Outputs"
            while oname in self.class_names:
                oname += "_"
            self.class_names.add(oname)
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
        for p in net.params:
            v = p.default
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
        from inspec.backends.table import render_text

        net = self.net
        lines = [f"{net.name}, compiled from {_display_path(net.file)}.", ""]
        if net.params:
            lines.append("Args:")
            for p in net.params:
                lines.append(
                    f"    {self.param_names[p.name]}: {p.header or p.name} (default {lit(p.default)})"
                )
            lines.append("")
        lines.append(
            "Returns logits: a final softmax row is left to the loss (nn.CrossEntropyLoss)."
        )
        if outputs:
            lines.append(
                f"In training mode, with side heads present: {outputs['name']}"
                f"({', '.join(outputs['fields'])}); in eval mode the main logits only."
            )
        if self.fuse_bn:
            lines.append("Batch norm is folded into the convolutions: an inference-only export.")
        lines += ["", "The spec's table (for the default parameters):", ""]
        lines += render_text(net, "rows", net.units).rstrip("\n").split("\n")
        return "\n".join(lines)


def _call_values(node: ir.Call) -> dict[str, Any]:
    """The concrete values of a block instance's names: its arguments and `in`."""
    values = dict(node.args)
    values["in"] = node.in_shape.c if node.in_shape is not None else None
    return values


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
    one = (
        f"    def __init__(self, {', '.join(params)}) -> None:"
        if params
        else "    def __init__(self) -> None:"
    )
    if len(one) <= 88:
        return [one]
    return (
        ["    def __init__(", "        self,"]
        + [f"        {p}," for p in params]
        + ["    ) -> None:"]
    )


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


def render_module(net: ir.Network, fuse_bn: bool = False) -> Rendered:
    gen = Generator(net, fuse_bn)
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
        source=comment_text(_display_path(net.file)),
        fused=fuse_bn,
        net=net,
        typing_names=typing_names,
        uses_torch="torch." in probe,
        uses_f="F." in probe,
        outputs=outputs,
        classes=classes,
        helpers=body_helpers,
    )
    return Rendered(text, paths, model.name, dict(gen.param_names))
