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

import re
import textwrap
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from inspec import __version__
from inspec.analysis import exprs as E
from inspec.analysis import ir
from inspec.analysis.exprs import fold, has_div, is_const
from inspec.analysis.fusion import ConvGroup, Moved, channels_last_blocker, sibling_convs
from inspec.analysis.naming import RESERVED, child_key, class_name, ident, member
from inspec.analysis.ops import ACTIVATIONS, OPS
from inspec.analysis.passes.channels import network_rules
from inspec.backends.torch.classes import (
    ClassModel,
    CodegenError,
    Frame,
    Header,
    Line,
    Scope,
    _annotation,
    _guards,
    _header,
    _integral,
    _py_value,
    _signature,
    block_doc,
    network_doc,
)
from inspec.backends.torch.layer import LayerView, NeedsStatements
from inspec.backends.torch.layout import layout
from inspec.backends.torch.pyexpr import (
    P_ADD,
    P_MUL,
    P_NOT,
    P_UNARY,
    Sym,
    Untranslatable,
    call,
    comment_text,
    docstring,
    if_else,
    lit,
    lit_sym,
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


IND = "        "  # method bodies
SAFE_INPLACE_AFTER = ("conv", "pool", "norm", "merge", "classifier")


def _render(lines: list[Line], indent: str = IND) -> list[str]:
    out: list[str] = []
    for ln in lines:
        ind = indent + "    " * ln.depth
        if not ln.code:
            out.append(f"{ind}# {ln.comment}")
        else:
            out += layout(ln.code, ind, ln.comment)
    return out


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


class Generator:
    def __init__(self, net: ir.Network, fuse_bn: bool = False, inference: bool = False):
        self.net = net
        # the inference export folds batch norm too, merges sibling convs and runs channels-last
        # (unless render_module finds a conv that PyTorch cannot run so: channels_last_blocker)
        self.inference = inference
        self.channels_last = inference
        self.fuse_bn = fuse_bn or inference
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

    def fix_layer(self, lv: LayerView) -> None:
        """What a layer's code fixes, and the names that set only its output's size."""
        frame = self.frames[-1]
        frame.baked.update(lv.fixed())
        frame.spatial.update(lv.spatial())
        frame.reads_spatial |= lv.spatial_read

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
            mode = "inference" if self.inference and fused else fused
            extra = {"fused": mode} if "fused" in macro.arguments else {}
            text = str(macro(name, **extra, **opts)).strip("\n")
            self.helpers[key] = (name, text)
        return self.helpers[key][0]

    @property
    def whole(self) -> str:
        """The generated module's function for a whole number computed from the arguments."""
        return self.helper("whole")

    def macro(self, name: str):
        return getattr(self.ops, name, None)

    # -- layers ------------------------------------------------------------------------------
    def layer_parts(self, node: ir.Layer, chan: Sym, env, inplace: bool):
        lv = LayerView(self, node, chan, env, inplace)
        expr = str(self.macro(node.op.template)(lv)).strip()
        self.fix_layer(lv)
        return lv, expr, self.chan_sym(node, env)

    def module_expr(
        self, node: ir.Node, chan: Sym, env, prev, terminal: bool, conditional: bool = False
    ):
        """A single module expression for a node in a Sequential context, or None if the node needs
        statements of its own in forward (or has a condition, unless `conditional`: the caller
        builds the list of modules under it)."""
        if node.cond is not None and not conditional:
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
        elems, chan, paths, calls = self.repeat_elems(node, chan, env)
        return f"nn.Sequential({', '.join(elems)})", chan, paths, calls

    def repeat_elems(self, node: ir.Repeat, chan: Sym, env, runs: bool = True):
        """The instances of a repeat as elements of a module list: each module, or (with `runs`)
        `*[module for _ in range(n)]` for a run of equal ones."""
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
            count = self.integral(translate(node.count_expr, env))
            # elaboration checked that an instance keeps its input's shape; if every instance also
            # renders the same (and maps its channel expression to itself), n copies are right for
            # any n. Otherwise the count is fixed to its compiled value.
            if runs and len(set(exprs)) == 1 and chan.src == chan_in.src and not count.const:
                return [f"*[{exprs[0]} for _ in range({count.src})]"], chan, paths, calls
            self.bake(count.deps)
        elems: list[str] = []
        i = 0
        while i < len(exprs):
            j = i
            while j < len(exprs) and exprs[j] == exprs[i]:
                j += 1
            n = j - i
            if runs and n >= 3:
                elems.append(f"*[{exprs[i]} for _ in range({n})]")
            else:
                elems += exprs[i:j]
            i = j
        return elems, chan, paths, calls

    # -- block instances ----------------------------------------------------------------------
    def call_args(self, node: ir.Call, env, integral) -> list[Sym]:
        """The instance's arguments as Python over the caller's constructor arguments; those the
        block needs as whole numbers (`integral`) converted where they may be floats (`w / 2`)."""
        out = []
        for p in node.block.params:
            s = translate(node.arg_exprs[p.name], env)
            if s.const:
                s = lit_sym(node.args[p.name])
            elif p.name in integral:
                s = self.integral(s)
            out.append(s)
        return out

    def integral(self, s: Sym) -> Sym:
        """`s` where the code needs a whole number (a channel count, a size, a count). A parameter
        used as it is must be whole: the caller converts what it passes (call_args). An expression
        of a block's parameters is converted where it is used, since the caller may pass a fraction
        that the expression makes whole (`p * 2` with p = 1.5); one that rounds needs nothing."""
        if not s.deps:
            return s
        if s.src.isidentifier():
            self.frames[-1].integral.update(s.deps)
            return _integral(s, self.whole) if s.has_div else s
        frame = self.frames[-1]
        if not frame.network:
            if not s.has_div and all(
                _is_int(frame.values.get(d)) and d not in frame.fractional for d in s.free
            ):
                # whole numbers under + - * // % stay whole: the callers pass whole numbers (for
                # the names read outside int, round, floor and ceil, which make any number whole)
                frame.integral.update(s.free)
                return s
            s = Sym(s.src, s.prec, s.const, True, s.deps)
        return _integral(s, self.whole) if s.has_div else s

    def chan_sym(self, node: ir.Node, env) -> Sym:
        """A node's output channels as Python over the constructor's arguments (the channel pass)."""
        if is_const(node.chan):
            return lit_sym(node.out_shape.c)
        return self.integral(translate(node.chan, env))  # channels: an int in PyTorch

    def call_expr(self, node: ir.Call, chan: Sym, env, terminal: bool):
        model, paths, baked, integral, spatial = self.block_class(node, terminal)
        args = self.call_args(node, env, integral)
        # what the block's class fixes, the caller fixes through the arguments it passes
        by_name = {"in": chan, **{p.name: a for p, a in zip(node.block.params, args, strict=True)}}
        for name in baked:
            self.bake(by_name[name].deps)
        for name in spatial:  # the instance's output size follows these arguments
            self.frames[-1].spatial.update(by_name[name].deps)
        # arguments the call leaves to the block's defaults are left out; after the first one left
        # out, the others are passed by name
        tail = _defaulted_tail(node.block)
        srcs: list[str] = [chan.src]
        by_keyword = False
        for p, a in zip(node.block.params, args, strict=True):
            default = p.default if p.name in tail else None
            same = (
                default is not None
                and is_const(default)
                and a.const  # call_args writes a constant argument as its value
                and node.args[p.name] == _const_value(default)
            )
            if p.name in tail and (p.name not in node.explicit or same):
                by_keyword = True
                continue
            srcs.append(f"{model.pynames[p.name]}={a.src}" if by_keyword else a.src)
        expr = call(model.name, *srcs)
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
                p.name: Sym(
                    pynames[p.name],
                    const=False,
                    has_div=_is_float(node.args[p.name]),
                    deps=frozenset({p.name}),
                )
                for p in block.params
            }
        )
        scope = Scope(env, node.body.items)
        scope.locals |= taken
        frame = Frame(_call_values(node), set())
        # arguments the caller computes with a true division may be fractions for other values
        frame.fractional = {n for n, e in node.arg_exprs.items() if has_div(e)}
        self.frames.append(frame)
        self.emit_seq(scope, node.body.items, "x", "x", env["in"], terminal)
        self.frames.pop()
        scope.fwd.append(Line("return x"))
        if frame.reads_spatial:  # the class holds a size: what sets sizes is fixed too
            frame.baked |= frame.spatial
        baked = [p.name for p in block.params if p.name in frame.baked]
        integral = {p.name for p in block.params if p.name in frame.integral}
        baked += ["in"] if "in" in frame.baked else []
        spatial = [p.name for p in block.params if p.name in frame.spatial - frame.baked]
        sig = ["in_channels: int"]
        tail = _defaulted_tail(block)
        computed: list[Line] = []  # a default computed from the other arguments
        for p in block.params:
            name, ann = pynames[p.name], _annotation(node.args[p.name])
            if p.name not in tail:
                sig.append(f"{name}: {ann}")
            elif is_const(p.default):
                sig.append(f"{name}: {ann} = {translate(p.default, env).src}")
            else:
                sig.append(f"{name}: {ann} | None = None")
                computed += [
                    Line(f"if {name} is None:"),
                    Line(f"{name} = {translate(p.default, env).src}", depth=1),
                ]
        guards = [(env[n].src, node.args[n] if n != "in" else node.in_shape.c) for n in baked]
        scope.init[:0] = computed + _guards(guards, None)
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
            doc = block_doc(self.header, node, pynames, k, base)
            model = ClassModel(
                name=name,
                doc=docstring(doc, "    "),
                signature=_signature(sig),
                init=init,
                forward=fwd,
                key=key,
                pynames=dict(pynames),
            )
            self.classes[key] = model
        return model, scope.paths, baked, integral, spatial

    def _dropped(self) -> str | None:
        """The op of the network's final row when the module leaves it out (a softmax)."""
        last = ir.last_row(self.net.body.items)
        if isinstance(last, ir.Layer) and self.macro(f"{last.op.template}_terminal"):
            return last.op.name
        return None

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
        last = ir.last_row(items)
        cur = var_in
        prev = None
        for node in items:
            handler = _HANDLERS[type(node)]
            before = chan
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
            cond = None if isinstance(node, ir.Side) else ir.row_cond(node)
            # without its skip, a residual's body may change the size
            size_cond = node.skip_if if isinstance(node, ir.Residual) else cond
            if size_cond is not None and _changes_size(node):  # the output's size follows it
                self.frames[-1].spatial.update(translate(size_cond, scope.env).deps)
            if cond is not None and chan.src != before.src:  # the width follows the condition
                chan = if_else(translate(cond, scope.env), chan, before)
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
            self.fix_layer(lv)
        scope.fwd.append(Line(f"{out} = {e}", node.out_shape.torch_comment(), depth))

    def emit_call(self, scope, node: ir.Call, cur, out, chan, terminal, prefix, depth, prev):
        expr, ochan, paths = self.call_expr(node, chan, scope.env, terminal)
        return ochan, self._emit_submodule(scope, node, expr, paths, cur, out, prefix, depth)

    def emit_repeat(self, scope, node: ir.Repeat, cur, out, chan, terminal, prefix, depth, prev):
        if node.template:  # named instances: attributes of the class, one after the other
            if node.count_expr is not None:  # one attribute per instance: the count is fixed
                self.bake(translate(node.count_expr, scope.env).deps)
            return self.emit_seq(scope, node.items, cur, out, chan, False, prefix, depth), out
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

    def emit_merge(self, scope, node: ir.Merge, cur, out, chan, terminal, prefix, depth, prev):
        parts: list[str] = []
        inputs = [cur] * len(node.branches)
        if node.op.name == "split":  # each branch reads its share of the channels
            n = len(node.branches)
            inputs = [scope.local(f"x{k}") for k in range(1, n + 1)]
            scope.fwd.append(Line(f"{', '.join(inputs)} = {cur}.chunk({n}, 1)", depth=depth))
            if chan.const and chan.src.isdigit():
                chan = lit_sym(int(chan.src) // n)
            else:
                chan = Sym(f"{chan.wrap(P_MUL)} // {n}", P_MUL, False, chan.has_div, chan.deps)
        shared: dict[int, str] = {}  # branch -> variable of its share of a merged conv
        member_of: dict[int, ConvGroup] = {}
        if self.inference:
            for group in sibling_convs(node):
                shared |= self.emit_sibling_convs(scope, node, group, cur, chan, prefix, depth)
                member_of |= dict.fromkeys(group.branches, group)
        for k, (br, cur) in enumerate(zip(node.branches, inputs, strict=True)):
            items = br.body.items
            name = member("", prefix, br.name, br.given)
            bvar = shared[k] if k in shared else scope.local(name)
            parts.append(bvar)
            bchan = chan  # the channels the branch's rows read
            if k in shared:  # the branch goes on from its share of the merged conv's output
                group = member_of[k]
                items, cur = group.tail(k), bvar
                bchan = self.chan_sym(group.layers[group.branches.index(k)], scope.env)
                if not items:
                    continue
            elif not items:
                scope.fwd.append(Line(f"{bvar} = {cur}", br.in_shape.torch_comment(), depth))
                continue
            if br.flattened:  # its rows are attributes of the class, named BRANCH_ROW
                self.emit_seq(scope, items, cur, bvar, bchan, False, prefix=f"{name}_", depth=depth)
                continue
            pre: list[Line] = []
            # a local of __init__: a list of modules, or a named seq written before its parent
            fresh = lambda base="layers": scope.local(base)  # noqa: E731
            if br.seq:  # a seq is an nn.Sequential even of one row
                seq = self._group(br, chan, scope.env, pre, fresh)
            else:
                seq = self.sequential(items, bchan, scope.env, pre, fresh)
            if seq is None:
                raise CodegenError(
                    f"{br.span}: branch '{br.name}' must be one module in PyTorch (its rows are "
                    "numbered), but a row in it needs statements of its own in forward; label "
                    "its rows to make them attributes of the block"
                )
            expr, _, paths, _ = seq
            attr = scope.member(br, prefix)
            if pre and br.cond is not None:  # the lists are built only when the branch is on
                scope.init.append(Line(f"if {translate(br.cond, scope.env).src}:"))
                scope.init += [Line(ln.code, ln.comment, ln.depth + 1) for ln in pre]
            else:
                scope.init += pre
            self._assign(scope, br, attr, expr, scope.env)
            if br.active:
                scope.paths += [(f"{attr}.{p}" if p else attr, layer) for p, layer in paths]
            src, d = cur, depth
            if br.cond is not None:  # the identity when the block's arguments switch it off
                scope.fwd.append(Line(f"{bvar} = {cur}", depth=depth))
                scope.fwd.append(Line(f"if self.{attr} is not None:", depth=depth))
                d += 1
            shape = br.out_shape if br.active else br.body.out_shape
            if ir.is_group(node):  # a lone group: the module applied, nothing to merge
                scope.fwd.append(Line(f"{out} = self.{attr}({src})", shape.torch_comment(), d))
                return self.chan_sym(node, scope.env), out
            scope.fwd.append(Line(f"{bvar} = self.{attr}({src})", shape.torch_comment(), d))
        kind = node.op.template
        if kind == "concat" and len(parts) == 1:  # one branch: nothing to concatenate
            scope.fwd.append(Line(f"{out} = {parts[0]}", node.out_shape.torch_comment(), depth))
        elif kind == "add":
            expr = str(self.ops.add_merge(parts, self._scale(scope, node, prefix))).strip()
            self._merged(scope, node, expr, out, prefix, depth)
        else:
            expr = str(getattr(self.ops, kind)(parts)).strip()
            scope.fwd.append(Line(f"{out} = {expr}", node.out_shape.torch_comment(), depth))
        return self.chan_sym(node, scope.env), out

    def emit_sibling_convs(
        self, scope, node: ir.Merge, group: ConvGroup, cur, chan, prefix, depth
    ) -> dict[int, str]:
        """The inference export's merged sibling convs (inspec/analysis/fusion.py): one conv whose
        output channels are the members' in the group's order, its output split into the variables
        of the member branches (returned: branch index -> variable). The module's path stands for
        every member's layer (export_state_dict concatenates their folded weights in that order).
        With hoisted members (their pool follows), the conv has no activation; the others' is
        applied to their part of its output, the channels before the hoisted members'."""
        # each member's code as if alone, for what it fixes of the block's arguments; its width
        outs = [self.layer_parts(layer, chan, scope.env, False)[2] for layer in group.layers]
        lv = self.layer_parts(group.head, chan, scope.env, False)[0]
        total = self._width(group.layers, outs)
        kh, kw = group.kernel
        stride = f"s{group.stride}" if group.stride != 1 else ""
        attr = scope.claim(f"conv{kh}x{kw}{stride}", prefix)
        expr = str(self.ops.conv(lv, total)).strip()
        self.fix_layer(lv)
        names = [
            scope.local(member("", prefix, node.branches[k].name, node.branches[k].given))
            for k in group.branches
        ]
        n = len(group.branches) - len(group.hoisted)  # the members that are not hoisted
        what = f"the first conv{'s' if n > 1 else ''} of {', '.join(names[:n])}"
        if len(group.hoisted) == 1:  # fusion.py: the 1x1 after an average pool, computed before it
            what += f", and {names[n]}'s 1x1 before its pool"
        elif group.hoisted:
            what += f", and the 1x1s of {', '.join(names[n:])} before their pools"
        scope.init.append(Line(f"self.{attr} = {expr}", what))
        if node.active:
            scope.paths += [(attr, layer) for layer in group.layers]
        shape = group.layers[0].out_shape
        size = f"N x {group.out_channels} x {shape.h} x {shape.w}"
        if not group.hoisted:
            split = f"self.{attr}({cur}).split({self._split_sizes(scope, attr, 'split', outs)}, 1)"
            scope.fwd.append(Line(f"{', '.join(names)} = {split}", f"{size}, split", depth))
            return dict(zip(group.branches, names, strict=True))
        # the members that are not hoisted first, then those whose average pool follows
        whole = scope.local(attr)
        scope.fwd.append(Line(f"{whole} = self.{attr}({cur})", size, depth))
        cut = self._width(group.layers[:n], outs[:n])
        plain, pooled = f"{whole}[:, :{cut}]", f"{whole}[:, {cut}:]"
        if not cut.isdigit():  # the width follows the constructor's arguments
            width, cut = cut, f"self.{scope.claim(f'{attr}_cut')}"
            scope.init.append(Line(f"{cut} = {width}"))
            plain, pooled = f"{whole}[:, : {cut}]", f"{whole}[:, {cut} :]"
        part = plain
        if group.plain_act != "none":
            part = str(self.ops.act(group.plain_act, part)).strip()
        if n > 1:
            part = f"{part}.split({self._split_sizes(scope, attr, 'split', outs[:n])}, 1)"
        plain_c = sum(layer.out_shape.c for layer in group.layers[:n])
        what = f"N x {plain_c} x {shape.h} x {shape.w}" + (", split" if n > 1 else "")
        scope.fwd.append(Line(f"{', '.join(names[:n])} = {part}", what, depth))
        part = pooled
        if len(group.hoisted) > 1:
            part += f".split({self._split_sizes(scope, attr, 'pooled', outs[n:])}, 1)"
        pooled_c = group.out_channels - plain_c
        what = f"N x {pooled_c} x {shape.h} x {shape.w}, to the average pool"
        scope.fwd.append(Line(f"{', '.join(names[n:])} = {part}", what, depth))
        return dict(zip(group.branches, names, strict=True))

    @staticmethod
    def _width(layers, outs: list[Sym]) -> str:
        """The channels of several layers together: a number, or their sum over the arguments."""
        if all(o.const for o in outs):
            return lit(sum(layer.out_shape.c for layer in layers))
        return " + ".join(o.wrap(P_ADD) for o in outs)

    def _split_sizes(self, scope, attr: str, what: str, outs: list[Sym]) -> str:
        """The sizes of a split of the merged conv `attr`'s output: a list literal, or a new
        attribute `{attr}_{what}` set in the constructor where they follow its arguments."""
        if all(o.const for o in outs):
            return f"[{', '.join(o.src for o in outs)}]"
        name = f"self.{scope.claim(f'{attr}_{what}')}"
        scope.init.append(Line(f"{name} = [{', '.join(o.src for o in outs)}]"))
        return name

    def sequential(self, items, chan: Sym, env, pre: list[Line] | None = None, fresh=None):
        """A branch body as one module: the module itself, or nn.Sequential of its rows (a group in
        it is an nn.Sequential of its own). Rows that the block's arguments switch on or off need
        `pre`, the constructor lines that build a list of modules (named by `fresh()`); without it
        such a body is None, as is one with a row that needs statements of its own in forward."""
        parts: list[tuple[str, str | None]] = []  # (module expression, condition or None)
        paths: list[tuple[int | str, str, ir.Layer]] = []
        labels: list[str | None] = []  # a labelled row's name (a seq's OrderedDict), by part
        runs: list[tuple[int, int, str]] = []  # parts written as one comprehension (_named_runs)
        pos = 0  # the number of the next module that is on
        prev = None
        for item in items:
            if isinstance(item, ir.Side) or (not item.active and item.cond is None):
                return None
            cond_e = ir.row_cond(item)
            if cond_e is not None and pre is None:
                return None
            if isinstance(item, ir.Repeat) and (item.spliced or item.template):
                # its instances join the list, numbered on or named (an OrderedDict's children)
                try:
                    elems, chan, ps, _cs = self.repeat_elems(item, chan, env, not item.template)
                except NeedsStatements:
                    return None
                base = len(parts)
                parts += [(e, None) for e in elems]
                keys: list = [child_key(i.name, i.label) for i in item.items]
                if not item.template:
                    keys = [pos + k for k in range(len(item.items))]
                labels += keys if item.template else [None] * len(elems)
                runs += _named_runs(item, elems, base) if item.template else []
                paths += [(keys[int(p.split(".")[0])], p.partition(".")[2], la) for p, la in ps]
                pos += len(item.items)
                prev = item
                continue
            if ir.is_group(item):
                r = self._group(item.branches[0], chan, env, pre, fresh)
            else:
                r = self.module_expr(item, chan, env, prev, False, conditional=True)
            if r is None:
                return None
            expr, out, ps, _cs = r
            cond = None
            if cond_e is not None:
                c = translate(cond_e, env)
                cond = c.src
                if out.src != chan.src:  # the width after it follows the condition too
                    out = if_else(c, out, chan)
            chan = out
            parts.append((expr, cond))
            label = child_key(item.name, item.label) if item.label is not None else None
            if ir.is_group(item) and item.branches[0].given:  # a named seq in it
                label = item.branches[0].name
            labels.append(label)
            if ir.is_on(item):
                paths += [(label or pos, p, layer) for p, layer in ps]
                pos += 1
            prev = item
        if any(cond for _, cond in parts):
            var = fresh()
            flat = [(f"{k}.{p}" if p else str(k), layer) for k, p, layer in paths]
            if any(labels):  # named children, some switched: an OrderedDict built entry by entry
                pre += _module_dict(var, parts, labels)
                return f"nn.Sequential({var})", chan, flat, []
            pre += _module_list(var, parts)
            return f"nn.Sequential(*{var})", chan, flat, []
        if len(parts) == 1 and ir.single_layer(items):  # the branch is that layer's module
            return parts[0][0], chan, [(p, layer) for _, p, layer in paths], []
        flat = [(f"{k}.{p}" if p else str(k), layer) for k, p, layer in paths]
        if any(labels):  # children named as the spec labels them (torchvision's OrderedDict)
            if fresh is not None:  # a named child that is itself an OrderedDict: a local first
                for k, ((e, c), lab) in enumerate(zip(parts, labels, strict=True)):
                    if lab is not None and "OrderedDict(" in e:
                        var = fresh(ident(str(lab)))
                        pre.append(Line(f"{var} = {e}"))
                        parts[k] = (var, c)
            named = [
                f"({str_lit(lab if lab is not None else str(k))}, {e})"
                for k, ((e, _), lab) in enumerate(zip(parts, labels, strict=True))
            ]
            for first, end, entry in reversed(runs):
                named[first:end] = [entry]
            return f"nn.Sequential(OrderedDict([{', '.join(named)}]))", chan, flat, []
        return f"nn.Sequential({', '.join(e for e, _ in parts)})", chan, flat, []

    def _group(self, br: ir.Branch, chan: Sym, env, pre=None, fresh=None):
        """A seq: an nn.Sequential, even of one row (its row is `.0`)."""
        r = self.sequential(br.body.items, chan, env, pre, fresh)
        if r is None:
            return None
        expr, out, ps, cs = r
        if ir.single_layer(br.body.items):  # one layer: still a Sequential of its own
            expr = f"nn.Sequential({expr})"
            ps = [(f"0.{p}" if p else "0", layer) for p, layer in ps]
        return expr, out, ps, cs

    def emit_residual(
        self, scope, node: ir.Residual, cur, out, chan, terminal, prefix, depth, prev
    ):
        identity = scope.local("identity")
        scope.fwd.append(Line(f"{identity} = {cur}", depth=depth))
        ochan = self.emit_seq(
            scope, node.body.items, cur, out, chan, False, prefix=prefix, depth=depth
        )
        expr = str(self.ops.add(identity, out, self._scale(scope, node, prefix))).strip()
        if node.skip_if is None:
            self._merged(scope, node, expr, out, prefix, depth)
            return chan, out
        attr = scope.claim("use_residual", prefix)  # the arguments decide: torchvision's flag
        scope.init.append(Line(f"self.{attr} = {translate(node.skip_if, scope.env).src}"))
        scope.fwd.append(Line(f"if self.{attr}:", depth=depth))
        self._merged(scope, node, expr, out, prefix, depth + 1)
        return ochan, out

    def _scale(self, scope, node: ir.Residual | ir.Merge, prefix) -> str | None:
        """An add's `scale` in forward: None for 1, a literal, or an attribute a parameter sets."""
        sym = self.source_sym(node, "scale", scope.env)
        if sym is not None and not sym.const:
            attr = scope.claim("scale", prefix)
            scope.init.append(Line(f"self.{attr} = {sym.src}"))
            return f"self.{attr}"
        if node.attrs["scale"] != 1.0:
            return lit(node.attrs["scale"])
        return None

    def _merged(self, scope, node: ir.Residual | ir.Merge, expr: str, out, prefix, depth) -> None:
        """`out = expr` for an add, followed by its activation."""
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
            self.fix_layer(lv)
        scope.fwd.append(Line(f"{var} = {e}", node.out_shape.torch_comment(), depth + 1))
        scope.sides = [*getattr(scope, "sides", []), (var, attr, node)]
        return chan, cur

    def channel_guards(self, env, baked: set[str]) -> list[Line]:
        """Constructor lines refusing network arguments that break a merge's channel rule (the
        analysis refuses them too): without them a module compiled with the defaults would split
        unevenly or fail in forward when called with other values."""
        lines: list[Line] = []
        for rule, conds, node in network_rules(self.net):
            if frozenset().union(*map(E.refs, (rule.a, rule.b, *conds))) <= baked:
                continue  # a guard above already fixes every parameter it reads
            try:
                a, b = translate(rule.a, env), translate(rule.b, env)
                tests = [translate(c, env).wrap(P_NOT) for c in conds]
            except Untranslatable:
                continue
            if rule.kind == "divides":
                tests.append(f"{a.wrap(P_MUL)} % {b.wrap(P_UNARY)}")
            else:
                tests.append(f"{a.wrap(P_ADD)} != {b.wrap(P_ADD)}")
            where = f"{Path(node.span.file).name}:{node.span.line}: "
            text = where + rule.what.format(a=_shown(a), b=_shown(b))
            lines.append(Line(f"if {' and '.join(tests)}:"))
            lines.append(Line(f"raise ValueError(f{str_lit(text)})", depth=1))
        return lines

    def side_losses(self, fields: list[str], sides) -> dict[str, Any]:
        """What the outputs tuple's loss() adds for each side head: (field, weight as Python), the
        weight None for a head the spec weighs 0 (not in the loss); and the weights as the class
        docstring states them. A weight that reads a network parameter is the compiled value."""
        losses = []
        for f, (_, _, node) in zip(fields, sides, strict=True):
            if node.loss_weight_expr is not None:
                self.bake(E.refs(node.loss_weight_expr))
            losses.append((f, lit(node.loss_weight) if node.loss_weight else None))
        # as the table states them (1, 0.3), whatever the Python literal (1.0)
        stated = ", ".join(
            f"{f} {node.loss_weight:g}" for f, (_, _, node) in zip(fields, sides, strict=True)
        )
        text = (
            f"What {self.net.name} returns in training mode: the main logits, then each side "
            "head's.\n\n"
            + textwrap.fill(
                "loss() adds each side head's loss times its weight (the spec's loss_weight, 1 "
                f"where it gives none): {stated}.",
                84,
                break_long_words=False,
                break_on_hyphens=False,
            )
        )
        return {"losses": losses, "doc": docstring(text, "    ")}

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
            p.name: Sym(
                pynames[p.name],
                const=False,
                has_div=_is_float(net.values[p.name]),
                deps=frozenset({p.name}),
            )
            for p in net.params
        }
        self.net_env = env
        scope = Scope(env, net.body.items)
        scope.locals |= taken
        frame = Frame(dict(net.values), set(), network=True)
        self.frames = [frame]
        if self.channels_last:  # what the merged and folded convs run fastest on
            comment = net.input.torch_comment()
            scope.fwd.append(Line("x = x.contiguous(memory_format=torch.channels_last)", comment))
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
            outputs = {"name": oname, "fields": fields, **self.side_losses(fields[1:], sides)}
            present = " or ".join(f"self.{attr} is not None" for _, attr, _ in sides)
            scope.fwd.append(Line(f"if self.training and ({present}):"))
            args = ", ".join(["x"] + [var for var, _, _ in sides])
            scope.fwd.append(Line(f"return {oname}({args})", depth=1))
        scope.fwd.append(Line("return x"))
        sig = []
        for p in net.params:  # the values compiled for (-p NAME=VALUE), which the table shows
            v = _py_value(net.values[p.name])
            sig.append(f"{pynames[p.name]}: {_annotation(v)} = {lit(v)}")
        frame.baked |= frame.spatial  # the network's sizes are those compiled
        fixed = [(pynames[p.name], net.values[p.name]) for p in net.params if p.name in frame.baked]
        guards = _guards(fixed, {pynames[p.name]: p.name for p in net.params})
        scope.init[:0] = guards + self.channel_guards(env, frame.baked)
        scheme, opts = net.init
        init_macro = getattr(self.init_t, scheme)
        init_tail = str(init_macro({k: lit(v) for k, v in opts.items()})).rstrip("\n")
        if self.channels_last:
            init_tail += "\n        self.to(memory_format=torch.channels_last)  # the weights too"
        methods = []
        if self.used_fused and not self.inference:
            methods.append(str(self.env_j.get_template("fuse.j2").render()).strip("\n"))
        model = ClassModel(
            name=name,
            doc=docstring(
                network_doc(
                    net, self.header, outputs, self.fuse_bn, self.param_names, self._dropped()
                ),
                "    ",
            ),
            signature=_signature(sig),
            init=_render(scope.init),
            forward=_render(scope.fwd),
            key=("network",),
            returns=f" -> Tensor | {outputs['name']}" if outputs else " -> Tensor",
            init_tail=init_tail,
            methods=methods,
        )
        return model, scope.paths, outputs


# how pyexpr writes the spec's int, round, floor and ceil, and whole()
def _shown(s: Sym) -> str:
    """A value in an f-string's text: a constant as itself, an expression interpolated (when its
    source can sit in an f-string's braces; otherwise 'another value')."""
    if s.const:
        return s.src.replace("{", "{{").replace("}", "}}")
    if any(c in s.src for c in "'\"{}\\:!"):
        return "another number of"
    return "{" + s.src + "}"


def _used_helpers(helpers: list[tuple[str, str]], code: str) -> list[str]:
    """The helper classes and functions the code uses, directly or through another helper (a
    helper asked for while writing a value that no line kept is left out)."""
    used: set[str] = set()
    texts = code
    while True:
        more = {n for n, _ in helpers if n not in used and re.search(rf"\b{n}\(", texts)}
        if not more:
            return [text for n, text in helpers if n in used]
        used |= more
        texts = code + "\n".join(text for n, text in helpers if n in used)


def _changes_size(node: ir.Node) -> bool:
    """Whether a node (as if it were on) gives another height or width than its input."""
    out = node.out_shape
    if ir.is_group(node):
        out = node.branches[0].body.out_shape
    elif isinstance(node, ir.Residual) and not node.skip:
        out = node.body.out_shape
    x = node.in_shape
    return x is not None and out is not None and (x.h, x.w, x.flat) != (out.h, out.w, out.flat)


def _const_value(e) -> Any:
    """The value of a constant IR expression (a block parameter's literal default)."""
    return getattr(fold(e), "value", None)


def _defaulted_tail(block: ir.BlockInfo) -> set[str]:
    """The block's last parameters that all have defaults: they keep them in its class's signature."""
    tail: set[str] = set()
    for p in reversed(block.params):
        if p.default is None:
            break
        tail.add(p.name)
    return tail


def _module_list(var: str, parts: list[tuple[str, str | None]]) -> list[Line]:
    """Constructor lines building `var`, the list of a Sequential's modules, some conditional:
    `layers.append(...)` under an `if`, runs of unconditional ones with `layers.extend([...])`."""
    lines = [Line(f"{var}: list[nn.Module] = []")]
    i = 0
    while i < len(parts):
        expr, cond = parts[i]
        if cond is not None:
            lines += [Line(f"if {cond}:"), Line(f"{var}.append({expr})", depth=1)]
            i += 1
            continue
        j = i
        while j < len(parts) and parts[j][1] is None:
            j += 1
        run = [e for e, _ in parts[i:j]]
        one = len(run) == 1 and not run[0].startswith("*")
        lines.append(
            Line(f"{var}.append({run[0]})" if one else f"{var}.extend([{', '.join(run)}])")
        )
        i = j
    return lines


def _named_runs(node: ir.Repeat, elems: list[str], base: int) -> list[tuple[int, int, str]]:
    """A repeat's named instances as entries of an OrderedDict: a run of three or more equal ones
    is one `*[(f"block3-{i}", ...) for i in range(1, 6)]`. Each run is (index of its first part,
    index after its last, entry), the repeat's first part being parts[base]."""
    if not node.items:  # `0 x row (name1..)`: nothing to write
        return []
    written = node.items[0].label[: -len(str(node.start))]
    if not all(c.isalnum() or c in "_-" for c in written):
        return []
    runs = []
    i = 0
    while i < len(elems):
        j = i
        while j < len(elems) and elems[j] == elems[i]:
            j += 1
        if j - i >= 3:
            a, b = node.start + i, node.start + j
            entry = f'*[(f"{written}{{i}}", {elems[i]}) for i in range({a}, {b})]'
            runs.append((base + i, base + j, entry))
        i = j
    return runs


def _module_dict(var: str, parts: list[tuple[str, str | None]], labels: list) -> list[Line]:
    """Constructor lines building `var`, the OrderedDict of a Sequential's named modules, some
    under an `if` (torchvision's `layers["se"] = ...` in RegNet's BottleneckTransform)."""
    lines = [Line(f"{var}: OrderedDict[str, nn.Module] = OrderedDict()")]
    for (expr, cond), label in zip(parts, labels, strict=True):
        put = Line(f"{var}[{str_lit(str(label))}] = {expr}", depth=int(cond is not None))
        lines += [Line(f"if {cond}:"), put] if cond is not None else [put]
    return lines


def _is_float(v: Any) -> bool:
    return isinstance(v, float)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _call_values(node: ir.Call) -> dict[str, Any]:
    """The concrete values of a block instance's names: its arguments and `in`."""
    values = dict(node.args)
    values["in"] = node.in_shape.c if node.in_shape is not None else None
    return values


def _inplace_ok(node: ir.Node, prev: ir.Node | None) -> bool:
    """An in-place op may overwrite its input only if nothing else reads that tensor: it must be the
    fresh output of the previous row in the same sequence (not a branch's or residual's shared input,
    not a tensor a side head also reads, not dropout's pass-through in eval)."""
    if prev is None or isinstance(prev, (ir.Side, ir.Call, ir.Repeat)):
        return False
    if prev.cond is not None:  # a row a parameter may switch off: its input would be overwritten
        return False
    if isinstance(prev, ir.Merge):  # a merge of two or more makes a fresh tensor; a seq may not
        return len(prev.branches) > 1 and not prev.group
    if isinstance(prev, ir.Residual):  # without its skip, the body's last row may hand x back
        return prev.skip_if is None
    return isinstance(prev, ir.Layer) and prev.op.category in SAFE_INPLACE_AFTER


_HANDLERS = {
    ir.Layer: Generator.emit_layer,
    Moved: Generator.emit_layer,  # a hoisted branch's pool and activation (fusion.ConvGroup.tail)
    ir.Call: Generator.emit_call,
    ir.Repeat: Generator.emit_repeat,
    ir.Merge: Generator.emit_merge,
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
    inference: bool = False,
) -> Rendered:
    """The module's source; `output` is the file it will be written to, as given (see Header).
    `inference`: the inference export (batch norm folded, sibling convs merged, channels-last)."""
    gen = Generator(net, fuse_bn, inference)
    blocker = channels_last_blocker(net) if inference else None
    gen.channels_last = inference and blocker is None
    gen.header = _header(net, output, fuse_bn or inference, table_docstring, inference, blocker)
    gen.helper("make_divisible")  # kept only where a line calls it (see _used_helpers)
    model, paths, outputs = gen.network()
    classes = [model, *list(gen.classes.values())]
    code = "\n".join("\n".join(c.init + c.forward + c.methods + [c.init_tail]) for c in classes)
    body_helpers = _used_helpers(list(gen.helpers.values()), code)
    t = gen.env_j.get_template("module.py.j2")
    probe = code + "\n".join(body_helpers)
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
        uses_ordered_dict="OrderedDict(" in probe,
        uses_f="F." in probe or bool(outputs),  # the outputs' loss() defaults to F.cross_entropy
        outputs=outputs,
        classes=classes,
        helpers=body_helpers,
    )
    return Rendered(text, paths, model.name, dict(gen.param_names))
