"""Measured latency beside the ops (`inspec profile SPEC`): the spec's module is built, warmed up
and run in eval mode; each row of the table (`-g rows` or `layers`, by its module path) is timed
between its module's forward pre-hook and forward hook, and the whole pass without hooks. Medians
of repeated passes, per row and in total, next to the row's multiply-adds, so that the rows where
FLOPs and latency disagree stand out. torch is imported only inside the functions that run it."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any

from inspec.analysis import ir
from inspec.analysis.units import fmt_count
from inspec.backends.grid import markdown_lines, text_lines
from inspec.backends.table import SCHEMA_VERSION, TableRow, dump_json, rows, units_line

DEVICES = ("cpu", "cuda")
DTYPES = ("float32", "bfloat16", "float16")
SEED = 0  # the input is torch.randn with this seed; the weights are the module's initialisation

NOTES = {
    "no module": "the row has no module of its own (a function of forward such as softmax, or, in "
    "the inference export, a conv merged into its siblings' or a pool that runs after it)",
    "not run": "its module was not called in eval mode (a side head)",
    "off": "switched off by its `if`",
}


class ProfileError(Exception):
    """The module could not be built or run (a clear, one-line reason)."""


@dataclass
class Setup:
    """How the times were measured."""

    device: str
    device_name: str
    threads: int
    batch: int
    dtype: str
    repeats: int
    warmup: int
    inference: bool
    torch: str
    timer: str


@dataclass
class RowTime:
    row: TableRow
    ms: float | None  # the median over the timed passes; None when not timed
    note: str = ""  # why a row has no time: a key of NOTES


@dataclass
class Profile:
    net: ir.Network
    granularity: str
    setup: Setup
    rows: list[RowTime]
    total_ms: float  # the median of whole forward passes without hooks

    def timed(self) -> list[RowTime]:
        return [r for r in self.rows if r.ms is not None]

    def rows_ms(self) -> float:
        return sum(r.ms for r in self.timed())  # type: ignore[misc]

    def shares(self, r: RowTime) -> tuple[float | None, float | None]:
        """The row's share of the timed rows' time and of their ops, in percent."""
        if r.ms is None:
            return None, None
        ms, ops = self.rows_ms(), sum(t.row.ops for t in self.timed())
        return (100 * r.ms / ms if ms else 0.0), (100 * r.row.ops / ops if ops else 0.0)


def unavailable(device: str) -> str | None:
    """Why `device` cannot be used here (None when it can)."""
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        build = f"torch {torch.__version__}" + (
            "" if torch.version.cuda else ", a build without CUDA"
        )
        return f"CUDA is not available here ({build}); use --device cpu"
    return None


def _modules(named: dict[str, Any], path: str) -> tuple[Any, Any] | None:
    """The modules whose forward pre-hook and forward hook bound a row: its own module, or for a
    row of a repeat's instances (`features.6..9`) the first instance's and the last's."""
    if ".." not in path:
        return (named[path], named[path]) if path in named else None
    first, last = path.split("..", 1)
    if first not in named:
        return None
    parts = first.split(".")
    for k in range(len(parts) - 1, -1, -1):  # the longest prefix under which the last one exists
        whole = ".".join([*parts[:k], last])  # (k = 0: top-level instances, `layer1..layer3`)
        if whole in named:
            return named[first], named[whole]
    return None


class _CpuClock:
    name = "time.perf_counter"

    def mark(self) -> float:
        return time.perf_counter()

    def ms(self, a: float, b: float) -> float:
        return (b - a) * 1000

    def sync(self) -> None:
        pass


class _CudaClock:
    name = "CUDA events (elapsed_time, read after torch.cuda.synchronize at the end of each pass)"

    def __init__(self, torch: Any):
        self.torch = torch

    def mark(self) -> Any:
        event = self.torch.cuda.Event(enable_timing=True)
        event.record()
        return event

    def ms(self, a: Any, b: Any) -> float:
        return a.elapsed_time(b)

    def sync(self) -> None:
        self.torch.cuda.synchronize()


def _build(net: ir.Network, params: dict, inference: bool):
    from inspec.backends.torch import build_module, export_state_dict

    module = build_module(net, **params)
    if inference:  # as inspec.build(..., inference=True)
        export = build_module(net, inference=True, **params)
        export.load_state_dict(export_state_dict(net, module.state_dict()), strict=True)
        module = export
    return module.eval()


def profile(
    net: ir.Network,
    params: dict | None = None,
    *,
    granularity: str = "rows",
    device: str = "cpu",
    dtype: str = "float32",
    batch: int = 1,
    repeats: int = 20,
    warmup: int = 5,
    threads: int | None = None,
    inference: bool = False,
) -> Profile:
    """Time `net`'s module (built with the network parameters `params`): `warmup` passes, then
    `repeats` whole passes without hooks (the total) and `repeats` passes with a pre-hook and a
    hook on each row's module (the rows); medians of both. `threads` sets torch's CPU threads for
    the run (torch.set_num_threads; restored afterwards)."""
    import torch

    from inspec.backends.torch import export_modules

    if dtype not in DTYPES or device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES} and dtype one of {DTYPES}")
    why = unavailable(device)
    if why:
        raise ProfileError(why)
    if net.input is None or not net.ok:
        raise ProfileError(f"{net.name} has no network to run (errors, or a block library)")
    saved = torch.get_num_threads()
    try:
        if threads is not None:
            torch.set_num_threads(threads)
        clock = _CudaClock(torch) if device == "cuda" else _CpuClock()
        kind = getattr(torch, dtype)
        module = _build(net, params or {}, inference).to(device=device, dtype=kind)
        h, w, c = net.input.as_list()
        x = torch.randn(batch, c, h, w, generator=torch.Generator().manual_seed(SEED))
        x = x.to(device=device, dtype=kind)
        setup = Setup(
            device=device,
            device_name=torch.cuda.get_device_name() if device == "cuda" else "",
            threads=torch.get_num_threads(),
            batch=batch,
            dtype=dtype,
            repeats=repeats,
            warmup=warmup,
            inference=inference,
            torch=torch.__version__,
            timer=clock.name,
        )
        with torch.inference_mode():
            for _ in range(warmup):
                module(x)
            clock.sync()
            total = []
            for _ in range(repeats):
                a = clock.mark()
                module(x)
                b = clock.mark()
                clock.sync()
                total.append(clock.ms(a, b))
            # the export's modules for the training module's layer paths (a block's is the same)
            moved = export_modules(net) if inference else {}
            times = _row_times(module, rows(net, granularity), clock, x, repeats, moved)
    except (RuntimeError, MemoryError) as e:  # unsupported dtype, out of memory, ...
        said = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ProfileError(f"the module failed on {device} in {dtype}: {said}") from None
    finally:
        torch.set_num_threads(saved)
    return Profile(net, granularity, setup, times, statistics.median(total))


def _row_times(
    module: Any, trs: list[TableRow], clock: Any, x: Any, repeats: int, moved: dict | None = None
) -> list[RowTime]:
    """Each row's median time over `repeats` passes with hooks on its module (or its note). `moved`:
    for the inference export, the training module's layer paths that name another module there (or
    none: None)."""
    named = dict(module.named_modules())
    bounds: dict[int, tuple[Any, Any]] = {}
    out = [RowTime(tr, None) for tr in trs]
    for i, r in enumerate(out):
        path = (moved or {}).get(r.row.path, r.row.path)
        found = _modules(named, path) if r.row.active and path is not None else None
        if found is None:
            r.note = "off" if not r.row.active else "no module"
        else:
            bounds[i] = found
    started: dict[int, Any] = {}
    spans: dict[int, list[tuple[Any, Any]]] = {i: [] for i in bounds}

    def pre(i: int):
        def hook(_m, _args):
            started[i] = clock.mark()

        return hook

    def post(i: int):
        def hook(_m, _args, _out):
            spans[i].append((started.pop(i), clock.mark()))

        return hook

    handles = []
    try:
        for i, (first, last) in bounds.items():
            handles.append(first.register_forward_pre_hook(pre(i)))
            handles.append(last.register_forward_hook(post(i)))
        passes: dict[int, list[float]] = {i: [] for i in bounds}
        for _ in range(repeats):
            for s in spans.values():
                s.clear()
            module(x)
            clock.sync()
            for i, s in spans.items():
                if s:  # a module called twice in a pass counts both calls
                    passes[i].append(sum(clock.ms(a, b) for a, b in s))
    finally:
        for h in handles:
            h.remove()
    for i in bounds:
        if passes[i]:
            out[i].ms = statistics.median(passes[i])
        else:
            out[i].note = "not run"
    return out


# ------------------------------------------------------------------------------------------------
# Rendering


def _type(tr: TableRow) -> str:
    prefix = f"{tr.path}: "
    return tr.type[len(prefix) :] if tr.type.startswith(prefix) else tr.type


def header(p: Profile) -> list[str]:
    """The lines that say what was measured and how."""
    s, net = p.setup, p.net
    inp = "x".join(map(str, net.input.as_list())) if net.input else "?"
    module = "the inference export" if s.inference else "the training module in eval mode"
    on = f"{s.device} ({s.device_name})" if s.device_name else s.device
    return [
        f"{net.name}: input {inp}, batch {s.batch}, {s.dtype}, {module}",
        f"measured on {on} with {s.threads} CPU thread{'s' * (s.threads != 1)}, torch {s.torch}: "
        f"{s.warmup} warm-up pass{'es' * (s.warmup != 1)}, then {s.repeats} timed "
        f"pass{'es' * (s.repeats != 1)} of each kind",
        f"rows: the median over {s.repeats} passes with hooks of the time between each row's "
        f"forward pre-hook and forward hook ({s.timer})",
        f"total: the median of {s.repeats} whole forward passes without hooks",
    ]


def _percent(v: float) -> str:
    """A share in percent with one decimal; a small share that is not 0 as <0.1."""
    return "0" if v == 0 else "<0.1" if v < 0.05 else f"{v:.1f}"


def _grid(p: Profile, units: str) -> tuple[list[str], list[list[str]], list[list[str]]]:
    head = ["row", "type", "output", "ops", "ms", "time %", "ops %", "time/ops"]
    body = []
    for r in p.rows:
        tshare, oshare = p.shares(r)
        line = [r.row.path, _type(r.row), r.row.output_text(), fmt_count(r.row.ops, "ops", units)]
        if r.ms is None:
            line += [r.note, "", "", ""]
        else:
            ratio = f"{tshare / oshare:.2f}" if oshare else ""
            line += [f"{r.ms:.3f}", _percent(tshare), _percent(oshare), ratio]
        body.append(line)
    ops = sum(r.row.ops for r in p.timed())
    sums = [
        ["sum of the timed rows", "", "", fmt_count(ops, "ops", units), f"{p.rows_ms():.3f}"],
        ["total (whole passes)", "", "", "", f"{p.total_ms:.3f}"],
    ]
    return head, body, [s + [""] * (len(head) - len(s)) for s in sums]


def footer(p: Profile, units: str) -> list[str]:
    s = p.setup
    out = [
        f"ops: multiply-adds per image, as the table counts them; ms: for the batch of {s.batch}. "
        "time % and ops %: the row's share of the timed rows' time and ops; time/ops = time % / "
        "ops % (above 1: slower than its multiply-adds suggest).",
        "The sum of the rows differs from the total: it leaves out work outside the rows (a "
        "function of forward such as softmax, a concatenation at the top) and includes the hooks' "
        "own overhead.",
    ]
    notes = sorted({r.note for r in p.rows if r.note}, key=list(NOTES).index)
    out += [f"{n}: {NOTES[n]}." for n in notes]
    out.append(units_line(units) + ". Timings vary from run to run and machine to machine.")
    return out


def render_text(p: Profile, units: str = "exact") -> str:
    head, body, sums = _grid(p, units)
    right = set(range(3, len(head)))
    out = [*header(p), "", *text_lines(head, body, right, sums, fit_totals=True), ""]
    return "\n".join([*out, *footer(p, units)]) + "\n"


def render_markdown(p: Profile, units: str = "exact") -> str:
    head, body, sums = _grid(p, units)
    right = set(range(3, len(head)))
    out = [*(f"{line}  " for line in header(p)), "", *markdown_lines(head, body, right, sums), ""]
    return "\n".join([*out, " ".join(footer(p, units))]) + "\n"


def to_json(p: Profile) -> dict[str, Any]:
    net, s = p.net, p.setup
    out_rows = []
    for r in p.rows:
        tshare, oshare = p.shares(r)
        out_rows.append(
            {
                "name": r.row.path,
                "type": _type(r.row),
                "output": r.row.output,
                "params": r.row.params,
                "ops": r.row.ops,
                "ms": r.ms,
                "time_percent": tshare,
                "ops_percent": oshare,
                "note": r.note or None,
            }
        )
    return {
        "schema": SCHEMA_VERSION,
        "network": net.name,
        "input": net.input.as_list() if net.input else None,
        "parameters": {q.name: net.values.get(q.name) for q in net.params},
        "granularity": p.granularity,
        "measured": {
            "device": s.device,
            "device_name": s.device_name or None,
            "threads": s.threads,
            "batch": s.batch,
            "dtype": s.dtype,
            "repeats": s.repeats,
            "warmup": s.warmup,
            "inference": s.inference,
            "torch": s.torch,
            "timer": s.timer,
        },
        "rows": out_rows,
        "total": {"ms": p.total_ms, "rows_ms": p.rows_ms()},
    }


def render_json(p: Profile, units: str = "exact") -> str:
    """Exact counts, whatever the units; times in milliseconds."""
    return dump_json(to_json(p))


RENDERERS = {"text": render_text, "markdown": render_markdown, "json": render_json}
