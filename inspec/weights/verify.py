"""`inspec verify`: is the spec's module the reference model, weights and all?

Both are built (the reference with random weights, seeded), the reference's parameters that an
initialisation leaves constant and its batch norms' statistics are randomised (so that equal outputs
mean something: a batch norm with mean 0 and variance 1 hides its eps, a zero bias hides a swap), its
state_dict is ported into the spec's module (plan.py, `map`), and both run on the same random input in
eval mode and in train mode (the same seed before each forward: dropout and drop-path draw the same
masks). The error of an output is max|spec - reference| / max|reference|.

When they differ, the first layer that diverges is found with hooks. Each layer of the spec that holds
weights is paired, through the key map, with the reference's modules that hold nothing but the sources
of its weights: those that hold all of them are compared on their outputs, those that hold the first of
them to run on their inputs (a wrapper that pads before a conv and the conv itself both stand for the
spec's conv row; the layer agrees when one of them does). Walking the spec's layers in the order they
run, the first whose output differs although its input agrees is the layer itself; the first whose
input differs puts the divergence in the layers without weights that ran since the previous pair (an
average pool counting its padding, say), or in the forward code between them (a concatenation in
another order). Activations are compared in chunks of at most CAPTURE_BYTES of the reference's held at
once, one forward of each model per chunk.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
from torch import nn

from inspec.analysis import ir
from inspec.weights import checkpoint, reference
from inspec.weights.errors import WeightsError
from inspec.weights.load import Ported, assemble, check
from inspec.weights.plan import Plan, make_plan
from inspec.weights.report import Rows, Sides

RTOL = 1e-5
CAPTURE_BYTES = 1 << 31  # reference activations held at once while looking for the divergence


@dataclass
class Run:
    """One mode's comparison: the errors, or why the outputs cannot be compared."""

    mode: str
    max_abs: float = math.nan
    max_rel: float = math.nan
    scale: float = math.nan  # max |reference output|: equal zeros would prove nothing
    problem: str | None = None

    def ok(self, rtol: float) -> bool:
        return self.problem is None and self.max_rel <= rtol


@dataclass
class Verdict:
    net: ir.Network
    reference: str
    spec_params: int
    ref_params: int
    ported: Ported
    rtol: float
    runs: list[Run] = field(default_factory=list)
    divergence: str | None = None

    @property
    def ok(self) -> bool:
        return all(r.ok(self.rtol) for r in self.runs)


def randomise(model: nn.Module, seed: int) -> None:
    """Give a batch norm's statistics and affine parameters random values (mean ~ N(0, 0.1), variance
    ~ U(0.5, 1.5), weight ~ U(0.5, 1.5), bias ~ N(0, 0.1)) and every other parameter that is constant
    (a zero bias, a layer scale) noise of a tenth of its size (at least 0.01)."""
    g = torch.Generator().manual_seed(seed)
    done: set[int] = set()

    def noise(t: torch.Tensor) -> torch.Tensor:
        return torch.randn(t.shape, generator=g).to(t.dtype)

    with torch.no_grad():
        for m in model.modules():
            mean, var = getattr(m, "running_mean", None), getattr(m, "running_var", None)
            if not isinstance(mean, torch.Tensor) or not isinstance(var, torch.Tensor):
                continue
            mean.copy_(noise(mean) * 0.1)
            var.copy_(torch.rand(var.shape, generator=g).to(var.dtype) + 0.5)
            w, b = getattr(m, "weight", None), getattr(m, "bias", None)
            if isinstance(w, torch.Tensor):
                w.copy_(torch.rand(w.shape, generator=g).to(w.dtype) + 0.5)
                done.add(id(w))
            if isinstance(b, torch.Tensor):
                b.copy_(noise(b) * 0.1)
                done.add(id(b))
        for p in model.parameters():
            if id(p) in done or p.numel() == 0 or not p.is_floating_point():
                continue
            if bool((p == p.reshape(-1)[0]).all()):
                size = max(abs(float(p.reshape(-1)[0])), 0.1)
                p.add_(noise(p) * 0.1 * size)


def _tensors(out) -> list[torch.Tensor] | None:
    """The tensors of a model's output (a tensor, a tuple or named tuple, a list, a dict), in order."""
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, Mapping):
        out = list(out.values())
    if isinstance(out, (tuple, list)):
        found: list[torch.Tensor] = []
        for o in out:
            if o is None:
                continue
            sub = _tensors(o)
            if sub is None:
                return None
            found += sub
        return found
    return None


def rel_error(a: torch.Tensor, b: torch.Tensor) -> tuple[float, float]:
    """(max |a - b|, max |a - b| / max |b|); inf when the shapes differ."""
    if a.shape != b.shape:
        return math.inf, math.inf
    diff = float((a.detach().double() - b.detach().double()).abs().max()) if a.numel() else 0.0
    scale = float(b.detach().double().abs().max()) if b.numel() else 0.0
    if diff == 0:
        return 0.0, 0.0
    return diff, (diff / scale if scale > 0 else math.inf)


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'s' * (n != 1)}"


def _shape(t: torch.Tensor) -> str:
    return "x".join(map(str, t.shape))


class _Pair:
    """Two models set to the same state before every forward, and the input they are given."""

    def __init__(self, ours: nn.Module, ref: nn.Module, x: torch.Tensor, seed: int):
        self.ours, self.ref, self.x, self.seed = ours, ref, x, seed
        self.states = [{k: v.clone() for k, v in m.state_dict().items()} for m in (ours, ref)]

    def forward(self, model: nn.Module, train: bool):
        state = self.states[0 if model is self.ours else 1]
        model.load_state_dict(state)
        model.train(train)
        torch.manual_seed(self.seed + 2)
        with torch.no_grad():
            return model(self.x.clone())


def compare(pair: _Pair, mode: str) -> Run:
    run = Run(mode)
    train = mode == "train"
    outs = []
    for model, who in ((pair.ours, "the spec's module"), (pair.ref, "the reference")):
        try:
            outs.append(pair.forward(model, train))
        except Exception as e:
            run.problem = f"{who} fails on a {_shape(pair.x)} input: {type(e).__name__}: {e}"
            run.problem = run.problem.split("\n", 1)[0]
            return run
    a, b = (_tensors(o) for o in outs)
    if a is None or b is None:
        run.problem = "an output is neither a tensor nor a tuple, list or dict of tensors"
    elif len(a) != len(b):
        run.problem = (
            f"the spec's module returns {_count(len(a), 'tensor')}, the reference {len(b)}"
        )
    elif any(x.shape != y.shape for x, y in zip(a, b, strict=True)):
        run.problem = (
            "the outputs' shapes differ: the spec's module "
            + ", ".join(_shape(t) for t in a)
            + "; the reference "
            + ", ".join(_shape(t) for t in b)
        )
    else:
        errors = [rel_error(x, y) for x, y in zip(a, b, strict=True)]
        run.max_abs = max((e[0] for e in errors), default=0.0)
        run.max_rel = max((e[1] for e in errors), default=0.0)
        run.scale = max(
            (float(y.detach().double().abs().max()) for y in b if y.numel()), default=0.0
        )
    return run


def _first_tensor(obj) -> torch.Tensor | None:
    if isinstance(obj, torch.Tensor):
        return obj
    if isinstance(obj, (tuple, list)):
        for o in obj:
            t = _first_tensor(o)
            if t is not None:
                return t
    return None


@dataclass
class _Probe:
    """A spec layer and the reference modules it is compared with: its input with theirs (`ins`), its
    output with theirs (`outs`); it agrees when one of them does (a wrapper that pads before a conv
    and the conv itself are both the conv row of a spec)."""

    path: str
    ins: list[str]
    outs: list[str]
    in_rel: float | None = None
    in_at: str = ""
    out_rel: float | None = None
    out_at: str = ""


def _above(module: str) -> list[str]:
    """A module path and the paths of every module above it, up to the root ('')."""
    parts = module.split(".") if module else []
    return [".".join(parts[:n]) for n in range(len(parts), -1, -1)]


def _owner(key: str) -> str:
    return key.rpartition(".")[0]


def _probes(plan: Plan, rows: Rows, ref_keys: list[str], ref_order: dict[str, int]) -> list[_Probe]:
    """For each spec layer with ported entries, the reference modules that hold nothing but their
    sources: those holding them all compare outputs, those holding the first of them to run compare
    inputs."""
    sources: dict[str, set[str]] = {}
    for p in plan.pairs:
        layer = rows.owner(p.target.key)
        if layer is not None:
            sources.setdefault(layer, set()).add(p.source.key)
    held: dict[str, set[str]] = {}
    dropped = {e.key for e in plan.dropped}
    for k in ref_keys:
        if k not in dropped:
            for m in _above(_owner(k)):
                held.setdefault(m, set()).add(k)
    probes = []
    for layer, keys in sources.items():
        inside = {m for k in keys for m in _above(_owner(k)) if held[m] <= keys and m in ref_order}
        owners = [_owner(k) for k in keys if _owner(k) in ref_order]
        if not owners:
            continue
        first = min(owners, key=ref_order.get)
        ins = sorted((m for m in inside if m in _above(first)), key=ref_order.get)
        outs = sorted((m for m in inside if held[m] == keys), key=ref_order.get)
        probes.append(_Probe(layer, ins, outs))
    return probes


def _hook_calls(modules: dict[str, nn.Module], record) -> list:
    handles = []
    for name, m in modules.items():
        handles.append(m.register_forward_pre_hook(lambda mod, args, n=name: record(n, args, None)))
        handles.append(m.register_forward_hook(lambda mod, args, out, n=name: record(n, None, out)))
    return handles


def _trace(pair: _Pair, model: nn.Module, modules: dict[str, nn.Module], train: bool):
    """Each module's first call: its place in the order of calls, and the bytes of its input and of
    its output ((name, False) and (name, True))."""
    order: dict[str, int] = {}
    size: dict[tuple[str, bool], int] = {}

    def record(name, args, out):
        if args is not None:
            order.setdefault(name, len(order))
        t = _first_tensor(args if args is not None else out)
        if t is not None and (name, args is None) not in size:
            size[(name, args is None)] = t.numel() * t.element_size()

    handles = _hook_calls(modules, record)
    try:
        pair.forward(model, train)
    finally:
        for h in handles:
            h.remove()
    return order, size


def find_divergence(
    pair: _Pair, rows: Rows, plan: Plan, mode: str, rtol: float, budget: int = CAPTURE_BYTES
) -> str:
    """Where the spec's module first departs from the reference (see the module's docstring)."""
    train = mode == "train"
    ours_modules = {}
    for path in rows.paths:
        try:
            ours_modules[path] = pair.ours.get_submodule(path)
        except AttributeError:
            continue
    ref_modules = dict(pair.ref.named_modules())
    spec_order, _ = _trace(pair, pair.ours, ours_modules, train)
    ref_order, ref_size = _trace(pair, pair.ref, ref_modules, train)
    probes = _probes(plan, rows, list(pair.states[1]), ref_order)
    probes = sorted((p for p in probes if p.path in spec_order), key=lambda p: spec_order[p.path])
    if not probes:
        return (
            f"first divergence ({mode}): not found: no layer of the spec could be paired with a "
            "module of the reference that runs"
        )
    # compare in chunks of reference activations, stopping at the first chunk that differs
    start = 0
    while start < len(probes):
        used, end = 0, start
        while end < len(probes) and (end == start or used < budget):
            p = probes[end]
            used += sum(ref_size.get((m, False), 0) for m in p.ins)
            used += sum(ref_size.get((m, True), 0) for m in p.outs)
            end += 1
        chunk = probes[start:end]
        _measure(pair, chunk, ours_modules, ref_modules, train)
        if any(_bad(p.in_rel, rtol) or _bad(p.out_rel, rtol) for p in chunk):
            probes = probes[:end]
            break
        start = end
    return _verdict(probes, spec_order, rows, mode, rtol)


def _bad(rel: float | None, rtol: float) -> bool:
    return rel is not None and not rel <= rtol


def _measure(pair: _Pair, chunk: list[_Probe], ours_modules, ref_modules, train: bool) -> None:
    """Run the reference keeping the chunk's inputs and outputs, then the spec's module comparing its
    layers' inputs and outputs with them as they come."""
    want = {(m, False) for p in chunk for m in p.ins} | {(m, True) for p in chunk for m in p.outs}
    kept: dict[tuple[str, bool], torch.Tensor] = {}

    def keep(name, args, out):
        key = (name, args is None)
        if key in kept or key not in want:
            return
        t = _first_tensor(args if args is not None else out)
        if t is not None:
            kept[key] = t.detach().clone()  # before an in-place op changes it

    handles = _hook_calls({m: ref_modules[m] for m, _ in want}, keep)
    try:
        pair.forward(pair.ref, train)
    finally:
        for h in handles:
            h.remove()
    by_path = {p.path: p for p in chunk}
    seen: set[tuple[str, bool]] = set()

    def check_(name, args, out):
        output = args is None
        if (name, output) in seen:
            return
        seen.add((name, output))
        p = by_path[name]
        t = _first_tensor(out if output else args)
        if t is None:
            return
        found = [
            (rel_error(t, kept[(m, output)])[1], m)
            for m in (p.outs if output else p.ins)
            if (m, output) in kept
        ]
        if not found:
            return
        rel, at = min(found)
        if output:
            p.out_rel, p.out_at = rel, at
        else:
            p.in_rel, p.in_at = rel, at

    handles = _hook_calls({p.path: ours_modules[p.path] for p in chunk}, check_)
    try:
        pair.forward(pair.ours, train)
    finally:
        for h in handles:
            h.remove()


def _verdict(probes: list[_Probe], spec_order: dict[str, int], rows: Rows, mode: str, rtol):
    head = f"first divergence ({mode}):"
    first_in = next((i for i, p in enumerate(probes) if _bad(p.in_rel, rtol)), None)
    first_out = next(
        (i for i, p in enumerate(probes) if not _bad(p.in_rel, rtol) and _bad(p.out_rel, rtol)),
        None,
    )
    if first_out is not None and (first_in is None or first_out < first_in):
        p = probes[first_out]
        return (
            f"{head} {rows.name(p.path)}\n"
            f"  its input agrees with the reference's ({p.in_at}), its output does not "
            f"(max rel error {p.out_rel:.1e})"
        )
    paired = {p.path for p in probes}

    def ran_between(lo: int, hi: int) -> list[str]:
        ran = sorted(spec_order.items(), key=lambda kv: kv[1])
        return [path for path, k in ran if lo < k < hi and path not in paired]

    def suspects(between: list[str], where: str, named: str) -> list[str]:
        """The layers without weights that ran `where`, or the forward code `named` there."""
        if len(between) == 1:
            return [f"{head} {rows.name(between[0])}", f"  it has no weights and runs {where}"]
        if between:
            return [
                f"{head} one of the {len(between)} layers without weights that run {where}:",
                *(f"  {rows.name(b)}" for b in between),
            ]
        return [
            f"{head} the forward code {named}",
            "  no layer of its own runs there: a concatenation, a sum or an activation applied in "
            "forward",
        ]

    if first_in is not None:
        p = probes[first_in]
        prev = probes[first_in - 1] if first_in else None
        where = f"between {prev.path} and {p.path}" if prev else f"before {p.path}"
        named = f"{where.rpartition(' ')[0]} {rows.name(p.path)}"
        lo = spec_order[prev.path] if prev else -1
        lines = suspects(ran_between(lo, spec_order[p.path]), where, named)
        lines.append(
            "  the layers with weights that run before agree with the reference; the input of "
            f"{p.path} does not (reference: {p.in_at}; max rel error {p.in_rel:.1e})"
        )
        if prev is not None and prev.out_rel is None:
            lines.append(
                f"  (or {prev.path} itself: its output has no counterpart in the reference to "
                "compare with)"
            )
        return "\n".join(lines)
    last = probes[-1]
    where = f"after {last.path}"
    lines = suspects(
        ran_between(spec_order[last.path], len(spec_order) + 1),
        where,
        f"after {rows.name(last.path)}, the last layer with weights",
    )
    lines.append("  every layer with weights agrees with the reference")
    return "\n".join(lines)


def verify(
    net: ir.Network,
    against: str,
    params: Mapping | None = None,
    map: str = "auto",
    rtol: float = RTOL,
    seed: int = 0,
    batch: int = 2,
) -> Verdict:
    """Build the spec's module and the reference, port the reference's (randomised) weights, compare."""
    from inspec.backends.torch import build_module, module_paths

    if net.input is None:
        raise WeightsError(f"{net.name} is a block library: it has no network to verify")
    ref_spec = reference.parse(against)
    torch.manual_seed(seed)
    ref = reference.build(ref_spec)
    randomise(ref, seed)
    ours = build_module(net, **dict(params or {}))
    rows = Rows(net, module_paths(net))
    sides = Sides(target=f"{net.name}", source=str(ref_spec))
    ref_state = ref.state_dict()
    plan = make_plan(checkpoint.entries(ref_state), checkpoint.entries(ours.state_dict()), map)
    check(plan, rows, sides, False, False, partial=False)
    ours.load_state_dict(assemble(plan, ref_state), strict=True)
    verdict = Verdict(
        net=net,
        reference=str(ref_spec),
        spec_params=sum(p.numel() for p in ours.parameters()),
        ref_params=sum(p.numel() for p in ref.parameters()),
        ported=Ported(plan, rows, sides),
        rtol=rtol,
    )
    s = net.input
    x = torch.randn((batch, s.c, s.h, s.w), generator=torch.Generator().manual_seed(seed + 1))
    pair = _Pair(ours, ref, x, seed)
    verdict.runs = [compare(pair, "eval"), compare(pair, "train")]
    failing = next((r for r in verdict.runs if r.problem is None and not r.ok(rtol)), None)
    if failing is not None:
        verdict.divergence = find_divergence(pair, rows, plan, failing.mode, rtol)
    return verdict


def render(v: Verdict) -> str:
    p = v.ported.plan
    how = f"{p.by_key} by key, {p.by_order} by order"
    lines = [
        f"{v.net.name} ({v.net.file}) against {v.reference}",
        f"params: spec {v.spec_params:,}, reference {v.ref_params:,}",
        f"weights: {len(p.pairs)} entries ported ({how}; map {p.how})"
        + (f", {len(p.filled)} counters filled" if p.filled else ""),
    ]
    for r in v.runs:
        if r.problem is not None:
            lines.append(f"{r.mode + ':':<6} {r.problem}")
        else:
            lines.append(
                f"{r.mode + ':':<6} max abs error {r.max_abs:.1e}, max rel error {r.max_rel:.1e} "
                f"(outputs up to {r.scale:.1e})"
            )
    if v.divergence:
        lines.append(v.divergence)
    worst = max((r.max_rel for r in v.runs if r.problem is None), default=math.nan)
    if v.ok:
        lines.append(f"equal within rtol {v.rtol:g}")
    elif any(r.problem for r in v.runs):
        lines.append("differs: the outputs cannot be compared")
    else:
        lines.append(f"differs: max rel error {worst:.1e} > rtol {v.rtol:g}")
    return "\n".join(lines)
