"""Elaboration, the entry point: load a spec and its imports, bind the network's parameters (`-p`
overrides checked), its units, init and defaults lines and its input, elaborate its rows
(elaborator.py), elaborate every block once with symbolic arguments (for diagrams of definitions), and
run the passes (passes/) in order. Returns the checked IR network with every diagnostic.
"""

from __future__ import annotations

import gc
import math
from pathlib import Path
from typing import Any

from inspec.analysis import exprs as E
from inspec.analysis import ir
from inspec.analysis.elaborator import MAX_BLOCK_DEPTH, MAX_LAYERS, MAX_REPEAT, Elaborator
from inspec.analysis.loader import _Loader
from inspec.analysis.ops import (
    MAX_CHANNELS,
    MAX_SPATIAL,
    OPS,
    ROW_OPS,
)
from inspec.analysis.passes import PASSES
from inspec.analysis.shapes import Shape
from inspec.analysis.values import (
    ENUM_WORDS,
    NUM_LIMIT,
    UNKNOWN,
    Symbol,
    _defined,
    _num,
    _value,
    coerce,
    evaluate,
)
from inspec.diagnostics import PARAM, DiagnosticBag, Span, SpecError, did_you_mean
from inspec.language import ast as A

UNITS = ("exact", "paper")
INIT_SCHEMES: dict[str, dict[str, Any]] = {
    "default": {},
    "trunc_normal": {"std": 0.01, "a": -2.0, "b": 2.0},
    "normal": {"std": 0.01},
    "kaiming": {},
    "xavier": {},
}


# ------------------------------------------------------------------------------------------------
# Entry point


def elaborate(
    path: str | None = None,
    text: str | None = None,
    params: dict[str, Any] | None = None,
    name: str | None = None,
) -> ir.Network:
    """Load a spec (from a path, or from text) and elaborate it into a checked Network."""
    # Parsing and elaboration allocate many small objects and free none: the cyclic collector would
    # only rescan them (about 10% of the time on large specs). Sizes are bounded by the resource guards.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _elaborate(path, text, params, name)
    finally:
        if enabled:
            gc.enable()


def _elaborate(path, text, params, name) -> ir.Network:
    bag = DiagnosticBag()
    loader = _Loader(bag)
    file = name or path or "<string>"
    if text is None:
        module = loader.load(path, None, (), None)
        file = path
    else:
        loader.sources[file] = text
        module = loader.load(file, text, (), None)
    el = Elaborator(bag, loader.blocks)
    net = ir.Network(
        name=Path(file).stem,
        file=file,
        params=[],
        values={},
        input=None,
        units="exact",
        init=("default", {}),
        defaults={},
        blocks={name: el.info(b) for name, b in loader.blocks.items()},
        body=ir.Seq(name="", span=Span(file, 1, 1, 1, 1)),
        rows=[],
        diagnostics=[],
        sources=loader.sources,
    )
    if module is None:
        net.diagnostics = bag.sorted()
        return net
    if module.network is None:
        if module.body or module.input:
            first = (module.body or [module.input])[0]
            bag.error(
                "rows without a 'network' statement",
                first.span,
                "start the file with: network NAME",
            )
        _check_library(module, el, bag)
        net.definitions = _definitions(loader.blocks, el.defaults)
        net.diagnostics = bag.sorted()
        return net

    net.name = module.network.name
    scope = _parameters(module.network, params, net, bag)
    _units(module, net, bag)
    _init(module, scope, net, bag)
    _padding(module, el, bag)
    _defaults(module, scope, net, el, bag)
    x = _input(module, bag)
    net.input = x

    body = el.body(module.body, x, scope, module.network.span, top=True)
    net.body = body
    for node in body.items:
        exps = list(node.expect)
        net.rows.append(ir.Row(node=node, expectations=exps))
    net.nested_rows = [ir.Row(node=n, expectations=list(n.expect)) for n in _nested_expecting(body)]
    net.definitions = _definitions(loader.blocks, el.defaults)

    for run in PASSES:
        run(net, bag)
    net.diagnostics = bag.sorted()
    return net


def _nested_expecting(body: ir.Seq) -> list[ir.Node]:
    """The nodes below the top level that carry `expect`, each once (a block body that several
    instances share is visited once)."""
    top = {id(n) for n in body.items}
    seen: set[int] = set()
    out: list[ir.Node] = []
    stack = [body]
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:  # a call whose body failed has none
            continue
        seen.add(id(node))
        if node.expect and id(node) not in top:
            out.append(node)
        stack.extend(reversed(node.children()))
    return out


def _parameters(network: A.Network, params, net: ir.Network, bag: DiagnosticBag):
    """Bind the network's parameters: defaults, then the values given from outside (checked)."""
    scope: dict[str, Any] = {}
    given = dict(params or {})
    for p in network.params:
        if p.name in scope:
            bag.error(f"parameter '{p.name}' is declared twice", p.span)
            continue
        default = None
        if p.default is not None:
            try:
                default = _value(evaluate(p.default, scope), p.default, scope)
            except SpecError as e:
                bag.error(e.message, e.span or p.span, *e.notes)
        else:
            bag.error(f"network parameter '{p.name}' needs a default value", p.span)
        net.params.append(ir.ParamInfo(p.name, default, p.header, p.span))
        value = given.pop(p.name, default)
        if p.name in (params or {}) and default is not None:
            value = _override(p.name, value, default, p.span, bag)
        scope[p.name] = value
    for extra in given:
        names = [p.name for p in network.params]
        bag.error(
            f"network '{net.name}' has no parameter '{extra}'",
            network.span,
            *filter(None, [did_you_mean(extra, names)]),
            f"parameters: {', '.join(names) or 'none'}",
            code=PARAM,
        )
    net.values = dict(scope)

    return scope


def _units(module: A.Module, net: ir.Network, bag: DiagnosticBag):
    """The `units` line."""
    if module.units is not None:
        if module.units.name not in UNITS:
            bag.error(f"units must be one of {', '.join(UNITS)}", module.units.span)
        else:
            net.units = module.units.name


def _init(module: A.Module, scope, net: ir.Network, bag: DiagnosticBag):
    """The `init` line: a scheme and its options (numbers, validated)."""
    if module.init is not None:
        scheme = module.init.scheme
        if scheme not in INIT_SCHEMES:
            bag.error(
                f"unknown init scheme '{scheme}'",
                module.init.span,
                *filter(None, [did_you_mean(scheme, INIT_SCHEMES)]),
                f"schemes: {', '.join(INIT_SCHEMES)}",
            )
        else:
            opts = dict(INIT_SCHEMES[scheme])
            for kw in module.init.kwargs:
                if kw.name not in opts:
                    bag.error(f"init {scheme} has no option '{kw.name}'", kw.span)
                    continue
                try:
                    v = _num(_defined(evaluate(kw.value, scope), kw.value, scope), kw.value)
                    opts[kw.name] = _init_option(kw.name, float(v), opts, kw.value.span)
                    net.init_exprs[kw.name] = E.lower(kw.value, scope)
                except SpecError as e:
                    bag.error(e.message, e.span or kw.span, *e.notes)
            if opts.get("a", 0.0) >= opts.get("b", 1.0):
                bag.error(
                    f"init {scheme}: the lower bound a = {opts['a']:g} must be below b = {opts['b']:g}",
                    module.init.span,
                )
            net.init = (scheme, opts)


# `padding torch`: what each sliding window defaults to (a `defaults` line or the row still wins)
TORCH_PADDING = {
    "conv": {"pad": "half", "round": "floor"},
    "maxpool": {"pad": "half", "round": "floor"},
    "avgpool": {"pad": "half", "round": "floor", "count_include_pad": True},
}


def _padding(module: A.Module, el: Elaborator, bag: DiagnosticBag) -> None:
    """The `padding` statement: `tf` (TensorFlow's SAME, the default) or `torch` (PyTorch's
    convention: symmetric (k - 1) // 2 * dilation, floor rounding without a warning, average
    pools counting the padding)."""
    p = module.padding
    if p is None or p.convention == "tf":
        return
    if p.convention != "torch":
        bag.error(
            f"unknown padding convention '{p.convention}'",
            p.convention_span,
            "padding torch (symmetric (k - 1) // 2, as PyTorch's layers are written) or padding tf "
            "(TensorFlow's SAME, the default)",
        )
        return
    for op, table in TORCH_PADDING.items():
        seeded = el.defaults.setdefault(op, {})
        for k, v in table.items():
            expr = E.Lit(p.span, v) if isinstance(v, bool) else E.Word(p.span, v)
            seeded[k] = (v, p.span, expr)


def _defaults(module: A.Module, scope, net: ir.Network, el: Elaborator, bag: DiagnosticBag):
    """The `defaults OP(...)` lines, checked against the op's attributes; kept with their expressions."""
    for d in module.defaults:
        op = ROW_OPS.get(d.op) or (OPS["add"] if d.op == "add" else None)
        if op is None:
            bag.error(
                f"defaults for unknown op '{d.op}'",
                d.span,
                *filter(None, [did_you_mean(d.op, ROW_OPS)]),
            )
            continue
        table = el.defaults.setdefault(op.name, {})
        for kw in d.kwargs:
            if op.attr(kw.name) is None or kw.name == "out":
                names = [a.name for a in op.attrs if a.name != "out"]
                bag.error(
                    f"{op.name} has no attribute '{kw.name}' to default",
                    kw.span,
                    *filter(None, [did_you_mean(kw.name, names)]),
                )
                continue
            try:
                v = evaluate(kw.value, scope)
                coerce(op.attr(kw.name), v, kw.value.span, scope, op.name)
            except SpecError as e:
                bag.error(e.message, e.span or kw.span, *e.notes)
                continue
            table[kw.name] = (v, kw.value.span, E.lower(kw.value, scope))
    net.defaults = {k: {n: v for n, (v, _, _) in t.items()} for k, t in el.defaults.items()}


def _input(module: A.Module, bag: DiagnosticBag):
    """The `input HxWxC` line."""
    x = None
    if module.input is None:
        bag.error("missing 'input' statement (for example: input 224x224x3)", module.network.span)
    else:
        h, w, c = module.input.dims
        if min(h, w, c) < 1 or max(h, w) > MAX_SPATIAL or c > MAX_CHANNELS:
            bag.error(
                f"input {h}x{w}x{c} is out of range",
                module.input.span,
                f"sizes must be between 1 and {MAX_SPATIAL:,}; channels at most {MAX_CHANNELS:,}",
            )
        else:
            x = Shape(h, w, c)

    return x


def _init_option(name: str, v: float, opts: dict[str, float], span: Span) -> float:
    """An init option: finite, and a standard deviation positive."""
    if not math.isfinite(v):
        raise SpecError(f"init option {name} must be finite, got {v:g}", span=span)
    if name == "std" and v <= 0:
        raise SpecError(f"init option std must be positive, got {v:g}", span=span)
    return v


def _definitions(blocks: dict[str, A.BlockDef], defaults) -> dict[str, ir.Call]:
    """Every block elaborated once with symbolic arguments: its rows, names and expressions as the
    definition writes them, with no shapes (what `diagram --block` draws when no instance exists)."""
    el = Elaborator(DiagnosticBag(), blocks)
    el.symbolic = True
    el.defaults = defaults
    out: dict[str, ir.Call] = {}
    for name, block in blocks.items():
        scope: dict[str, Any] = {p.name: UNKNOWN for p in block.params}
        scope["in"] = UNKNOWN
        el.stack = [name]
        body = el.body(block.body, None, scope, block.span)
        exprs = {p.name: E.Ref(p.span, p.name) for p in block.params}
        out[name] = ir.Call(
            name=name, span=block.span, block=el.info(block), arg_exprs=exprs, body=body
        )
    return out


_KINDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def _override(name: str, value: Any, default: Any, span: Span, bag: DiagnosticBag) -> Any:
    """A parameter value given from outside (-p NAME=VALUE, inspec.load(path, NAME=VALUE)), checked
    against the kind of its default. A word parameter (`act = relu`) takes a string."""
    if isinstance(default, Symbol):
        word = value.name if isinstance(value, Symbol) else value
        if isinstance(word, str) and word in ENUM_WORDS:
            return Symbol(word)
        bag.error(
            f"parameter '{name}' expects a word such as {default.name}, got {value!r}",
            span,
            *filter(None, [did_you_mean(str(word), ENUM_WORDS)]),
            code=PARAM,
        )
        return default
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not abs(value) <= NUM_LIMIT:  # also refuses inf and nan
            shown = (
                f"{value:.3g}"
                if isinstance(value, float)
                else f"an integer of {len(str(value))} digits"
            )
            bag.error(f"parameter '{name}' is out of range: {shown}", span, code=PARAM)
            return default
    if type(value) is type(default):
        return value
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    kind = _KINDS.get(type(default), type(default).__name__)
    bag.error(f"parameter '{name}' expects {kind}, got {value!r}", span, code=PARAM)
    return default


def _check_library(module: A.Module, el: Elaborator, bag: DiagnosticBag) -> None:
    """A file without a network: check that every row names a known op or block."""
    known = set(ROW_OPS) | set(el.blocks)

    def walk(stmts):
        for s in stmts:
            if isinstance(s, (A.RowStmt, A.SideStmt)):
                if s.row.op not in known:
                    bag.error(
                        f"unknown op or block '{s.row.op}'",
                        s.row.op_span,
                        *filter(None, [did_you_mean(s.row.op, known)]),
                    )
            elif isinstance(s, (A.Branch, A.Residual)):
                walk(s.body)

    for b in module.blocks:
        walk(b.body)


__all__ = ["MAX_BLOCK_DEPTH", "MAX_LAYERS", "MAX_REPEAT", "elaborate"]
