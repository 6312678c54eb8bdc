"""Measure every shipped network with the FLOP counters people quote (fvcore, thop, ptflops,
torchinfo) and torch.utils.flop_counter, and write what they print to tests/fixtures/counts.json.

Run it with the reference virtualenv's python (scripts/measure-counts does exactly that):

    ~/.cache/inspec-ref/bin/python scripts/measure_counts.py [--out FILE] [--check] [SPEC ...]

Each tool runs on the module inspec builds from the spec (its default parameters), in eval mode, on
one input of the spec's size (batch 1), with its default options: fvcore's FlopCountAnalysis(model,
x).total(); thop.profile(model, (x,)); ptflops.get_model_complexity_info(model, (C, H, W)) with its
default backend (pytorch, functional calls counted); torchinfo.summary(model, input_data=x)'s
total_mult_adds; torch.utils.flop_counter.FlopCounterMode's total / 2 (recorded as "paper"). For
each spec and tool the fixture holds the total and the figure of every row module: each child of the
network module, and each child of a child that is an nn.Sequential (torchvision's `features`). A
tool that fails on a spec is recorded with its error instead. A small spec of cases no shipped network
has (PROBE) is measured too, and kept with its text. The test suite
(tests/test_count.py) compares inspec's static counts with these and never imports a tool.

--check measures again and compares with the file on disk (exit 1 on a difference).
"""

import warnings

warnings.filterwarnings("ignore")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from importlib.metadata import version  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402
from torch import nn  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import inspec  # noqa: E402

DEFAULT_OUT = ROOT / "tests" / "fixtures" / "counts.json"
TOOLS = ("paper", "fvcore", "thop", "ptflops", "torchinfo")
PACKAGES = {"paper": "torch", "fvcore": "fvcore", "thop": "thop", "ptflops": "ptflops"}
PACKAGES["torchinfo"] = "torchinfo"


# Cases no shipped network has, measured too (the fixture's "probe"): an average pool over TF-SAME
# padding (the AvgPool2dSame helper), activation rows, a softmax that is not the last row, activations
# and batch norm that a parameter chooses (modules, not function calls), an add's activation, an
# adaptive pool whose windows overlap.
PROBE = """network probe(a = relu, b = gelu)
input 17x17x3
conv 3x3 8 act=gelu
avgpool 3x3/2 same
gelu
relu
relu6
silu
softmax
maxpool 2x2/2 same round=floor
conv 1x1 8 act=a bn=true
conv 1x1 8 act=b
bn act=a
lrn 3
avgpool adaptive=3
add act=a {
  branch { conv 1x1 8 }
  branch { }
}
flatten
linear 20 act=a
bn act=relu
linear 10 act=b
softmax
"""


def specs() -> list[Path]:
    """Every shipped network: specs/*.isp and specs/zoo/*.isp (the block libraries are below)."""
    found = sorted((ROOT / "specs").glob("*.isp")) + sorted((ROOT / "specs" / "zoo").glob("*.isp"))
    return [p for p in found if inspec.load(p).ir.input is not None]


def row_modules(model: nn.Module) -> dict[str, nn.Module]:
    """The modules the fixture gives figures for: each child of the network, and each child of a
    child that is an nn.Sequential."""
    out: dict[str, nn.Module] = {}
    for name, child in model.named_children():
        out[name] = child
        if type(child) is nn.Sequential:
            for sub, grandchild in child.named_children():
                out[f"{name}.{sub}"] = grandchild
    return out


def owners(model: nn.Module) -> dict[int, list[str]]:
    """id(module) -> the row modules it is part of (itself or an ancestor)."""
    out: dict[int, list[str]] = {}
    for name, m in row_modules(model).items():
        for sub in m.modules():
            out.setdefault(id(sub), []).append(name)
    return out


class Tracker:
    """Which row modules are running (forward pre/post hooks), to attribute functional calls."""

    def __init__(self, model: nn.Module) -> None:
        self.active: list[str] = []
        self.handles = []
        for name, m in row_modules(model).items():
            self.handles.append(m.register_forward_pre_hook(self._enter(name)))
            self.handles.append(m.register_forward_hook(self._leave(name)))

    def _enter(self, name):
        def hook(m, args):
            self.active.append(name)

        return hook

    def _leave(self, name):
        def hook(m, args, out):
            self.active.remove(name)

        return hook

    def close(self) -> None:
        for h in self.handles:
            h.remove()


def _fresh(spec: Path) -> tuple[nn.Module, torch.Tensor]:
    net = inspec.load(spec).ir
    torch.manual_seed(0)
    model = inspec.build(spec).eval()
    h, w, c = net.input.as_list()
    return model, torch.randn(1, c, h, w)


def _figures(model: nn.Module, per_module: dict[str, int]) -> dict[str, int]:
    """Every row module's figure, 0 where the tool counted nothing."""
    return {name: int(per_module.get(name, 0)) for name in row_modules(model)}


def paper(spec: Path) -> dict:
    from torch.utils.flop_counter import FlopCounterMode

    model, x = _fresh(spec)
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(x)
    counts = fc.get_flop_counts()
    root = type(model).__name__
    mods = {}
    for key, ops in counts.items():
        if key.startswith(f"{root}.") and key.count(".") in (1, 2):
            mods[key[len(root) + 1 :]] = sum(ops.values()) // 2
    return {"total": fc.get_total_flops() // 2, "modules": _figures(model, mods)}


def fvcore(spec: Path) -> dict:
    from fvcore.nn import FlopCountAnalysis

    model, x = _fresh(spec)
    fa = FlopCountAnalysis(model, x)
    fa.unsupported_ops_warnings(False)
    fa.uncalled_modules_warnings(False)
    fa.tracer_warnings("none")
    by = fa.by_module()
    return {"total": int(fa.total()), "modules": _figures(model, dict(by))}


def thop(spec: Path) -> dict:
    import thop as thop_

    model, x = _fresh(spec)
    with contextlib.redirect_stdout(io.StringIO()):
        total, _, layers = thop_.profile(model, inputs=(x,), verbose=False, ret_layer_info=True)
    mods: dict[str, float] = {}
    for name, (ops, _, inner) in layers.items():
        mods[name] = ops
        for sub, (sub_ops, _, _) in inner.items():
            mods[f"{name}.{sub}"] = sub_ops
    return {"total": int(total), "modules": _figures(model, mods)}


def ptflops(spec: Path) -> dict:
    """The default (pytorch) backend. A module hook's count is attributed to the row modules that
    hold the module; a patched functional call's to the row modules running when it is made (a call
    in the network's own forward, to none)."""
    from ptflops import get_model_complexity_info, pytorch_engine

    model, x = _fresh(spec)
    tracker = Tracker(model)
    belong = owners(model)
    mods: dict[str, int] = {}

    def credit(flops, names: list[str]) -> None:
        for name in names:
            mods[name] = mods.get(name, 0) + int(flops)

    wrapper = pytorch_engine.torch_function_wrapper
    original_call = wrapper.__call__

    def call(self, *args, **kwds):
        credit(self.handler(*args, **kwds), tracker.active)
        return original_call(self, *args, **kwds)

    mapping = pytorch_engine.MODULES_MAPPING
    saved = dict(mapping)

    def wrap(hook):
        def counted(module, inputs, output):
            before = module.__flops__
            hook(module, inputs, output)
            credit(module.__flops__ - before, belong.get(id(module), []))

        return counted

    for kind, hook in saved.items():
        mapping[kind] = wrap(hook)
    wrapper.__call__ = call
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            total, _ = get_model_complexity_info(
                model, tuple(x.shape[1:]), as_strings=False, print_per_layer_stat=False
            )
    finally:
        wrapper.__call__ = original_call
        mapping.clear()
        mapping.update(saved)
        tracker.close()
    if total is None:
        raise RuntimeError("ptflops returned None (its estimation failed)")
    return {"total": int(total), "modules": _figures(model, mods)}


def torchinfo(spec: Path) -> dict:
    import torchinfo as torchinfo_

    model, x = _fresh(spec)
    s = torchinfo_.summary(model, input_data=x, verbose=0, mode="eval")
    belong = owners(model)
    mods: dict[str, int] = {}
    for layer in s.summary_list:
        if layer.is_leaf_layer:
            for name in belong.get(id(layer.module), []):
                mods[name] = mods.get(name, 0) + layer.macs
    return {"total": int(s.total_mult_adds), "modules": _figures(model, mods)}


MEASURE = {"paper": paper, "fvcore": fvcore, "thop": thop, "ptflops": ptflops}
MEASURE["torchinfo"] = torchinfo


def measure(spec: Path) -> dict:
    out = {}
    for tool in TOOLS:
        try:
            out[tool] = MEASURE[tool](spec)
        except Exception as e:  # a tool that cannot measure the spec: recorded, not fatal
            out[tool] = {"error": f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"}
    return out


# Where the generated module keeps a softmax that the last-row rule might think it leaves to the loss
# (the fixture's "probes", each measured once and kept while its text stays the same): a repeat's
# final softmax (a repeat is written out, instance by instance), and a softmax followed by a row its
# `if` switches off (the generator still writes that row).
PROBES = {
    "repeat_softmax": """network repeat_softmax
input 8x8x4
block head(n) {
  linear n
  softmax
}
conv 1x1 6
2 x head 10
""",
    "softmax_then_off_row": """network softmax_then_off_row(d = false)
input 8x8x4
conv 1x1 6
linear 10
softmax
dropout 0.1 if d
""",
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("specs", nargs="*", help="spec paths (default: every shipped network)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--check", action="store_true", help="compare with the file, write nothing")
    args = ap.parse_args()
    paths = [Path(p).resolve() for p in args.specs] or specs()
    old = json.loads(args.out.read_text()) if args.out.exists() else {"specs": {}}
    data = {
        "about": "FLOP counters measured on the module inspec builds from each spec "
        "(scripts/measure-counts); paper is torch.utils.flop_counter's FLOPs / 2",
        "tools": {t: version(p) for t, p in PACKAGES.items()},
        "torch": torch.__version__.split("+")[0],
        "specs": dict(old.get("specs", {})) if args.specs else {},
    }
    for path in paths:
        key = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
        t0 = time.perf_counter()
        data["specs"][key] = measure(path)
        totals = ", ".join(
            f"{t} {v['total']:,}" if "total" in v else f"{t} failed"
            for t, v in data["specs"][key].items()
        )
        print(f"{key}: {totals} ({time.perf_counter() - t0:.1f} s)", file=sys.stderr)
    data["specs"] = dict(sorted(data["specs"].items()))
    if args.specs and "probe" in old:
        data["probe"] = old["probe"]
    else:
        with tempfile.TemporaryDirectory() as tmp:
            probe = Path(tmp, "probe.isp")
            probe.write_text(PROBE)
            data["probe"] = {"text": PROBE, "tools": measure(probe)}
    data["probes"] = {}
    for name, text in PROBES.items():
        kept = old.get("probes", {}).get(name)
        if kept is not None and kept["text"] == text and args.specs:
            data["probes"][name] = kept
            continue
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp, f"{name}.isp")
            path.write_text(text)
            data["probes"][name] = {"text": text, "tools": measure(path)}
    text = json.dumps(data, indent=1) + "\n"
    if args.check:
        on_disk = json.loads(args.out.read_text()) if args.out.exists() else {}
        if all(on_disk.get(k) == data[k] for k in ("specs", "probe", "probes")):
            print(f"{args.out}: up to date", file=sys.stderr)
            return 0
        print(f"{args.out}: differs from a fresh measurement", file=sys.stderr)
        return 1
    args.out.write_text(text)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
