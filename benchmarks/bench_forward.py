"""Forward-pass speed of generated modules against the reference implementations.

    ~/.cache/inspec-ref/bin/python -m benchmarks.bench_forward (torchvision + timm importable)
    .venv/bin/python -m benchmarks.bench_forward                         (generated modules only)

CPU, eval mode, torch.inference_mode(), batch 8, torch.set_num_threads(2). Each pair is measured side by
side in one process, alternating, and the median of the per-round ratios is reported. Also times
`inspec compile specs/inception_v4.isp` as a whole process (it must not import torch).

    .venv/bin/python -m benchmarks.bench_forward --export [--rounds N] [--batches 1 8]

times the inference export (`generate(net, inference=True)`: batch norm folded, sibling convs merged,
channels-last) against the training module in eval mode, for googlenet_bn, inception_v4 and
inception_resnet_v2, batch 1 and 8 (and against torchvision's / timm's model where importable); the
load average is printed before and after each table.

    PYTHONPATH=. ~/.cache/inspec-ref/bin/python -m benchmarks.bench_forward --references \
        [--rounds N] [--batches 1 8] [--compiled 8] [--train-rounds N] [--nets ...]

(reference venv only) times the export against torchvision's / timm's model in its default layout
and in channels-last (its input converted inside the timed call, as the export converts its own);
with `--compiled B...`, at those batches also both compiled with inductor's freezing
(`inspec.build(..., compile={"dynamic": False})` and `torch.compile(ref, options={"freezing": True})`,
a fresh inductor cache: the first-call times printed are cold compiles). Then a training step
(forward + backward + SGD step, batch 8, train mode) of the training module against the reference's.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from inspec.analysis.elaborate import elaborate
from inspec.backends.torch import build_module

ROOT = Path(__file__).resolve().parent.parent


def _time(m, x) -> float:
    t = time.perf_counter()
    m(x)
    return time.perf_counter() - t


def compare(
    name: str, models: dict, x, rounds: int, grad: bool = False, second: str | None = None
) -> dict:
    """Time callables on `x`, interleaved, after two warm-up calls each; `grad=False`: under
    torch.inference_mode(). Ratios are against the first model, and also against `second`."""
    with torch.inference_mode(not grad):
        for m in models.values():  # warm up
            m(x)
            m(x)
        times = {k: [] for k in models}
        for _ in range(rounds):
            for k, m in models.items():
                times[k].append(_time(m, x))
    med = {k: statistics.median(v) for k, v in times.items()}
    ref = next(iter(models))
    ratios = {
        k: statistics.median([a / b for a, b in zip(times[k], times[ref], strict=False)])
        for k in models
    }
    print(
        f"\n{name} (batch {x.shape[0]}, {rounds} rounds, median ms; ratio = median of per-round ratios vs {ref})"
    )
    also = {}
    if second is not None:
        also = {
            k: statistics.median([a / b for a, b in zip(times[k], times[second], strict=False)])
            for k in models
        }
        print(f"  (ratio2: the same, vs {second})")
    for k in models:
        extra = f"   ratio2 {also[k]:.3f}" if also else ""
        print(f"  {k:<34} {med[k] * 1e3:9.1f} ms   ratio {ratios[k]:.3f}{extra}")
    return {"median_ms": {k: v * 1e3 for k, v in med.items()}, "ratio": ratios, "ratio2": also}


def generated(spec: str, fuse: bool, **params):
    net = elaborate(path=str(ROOT / spec), params=params)
    return build_module(net, fuse_bn=fuse, **params).eval()


def _loadavg() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:  # pragma: no cover
        return "n/a"


def _reference(name: str):
    """torchvision's or timm's model of a shipped spec, if importable (the reference venv)."""
    try:
        if name == "googlenet_bn":
            import torchvision

            return torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=True)
        import timm

        return timm.create_model(name, pretrained=False)
    except ImportError:
        return None


EXPORTS = {
    "googlenet_bn": ("specs/googlenet_bn.isp", {"aux_logits": False}, 224),
    "inception_v4": ("specs/inception_v4.isp", {}, 299),
    "inception_resnet_v2": ("specs/inception_resnet_v2.isp", {}, 299),
}


def export_tables(rounds: int, batches: list[int]) -> None:
    """The inference export against the training module (and the reference), eval mode."""
    from inspec.backends.torch.source import export_state_dict

    for name, (spec, params, size) in EXPORTS.items():
        net = elaborate(path=str(ROOT / spec), params=params)
        train = build_module(net, **params).eval()
        export = build_module(net, inference=True, **params).eval()
        export.load_state_dict(export_state_dict(net, train.state_dict()), strict=True)
        models = {}
        ref = _reference(name)
        if ref is not None:
            models[f"reference {name}"] = ref.eval()
        models |= {f"inspec {name}": train, f"inspec {name} --inference": export}
        x = torch.randn(2, 3, size, size)
        with torch.inference_mode():
            d = ((export(x) - train(x)).abs().max() / train(x).abs().max()).item()
        print(f"\n{name}: export vs training module, max relative |diff| {d:.1e}")
        for batch in batches:
            print(f"load average before: {_loadavg()}")
            compare(name, models, torch.randn(batch, 3, size, size), rounds)
            print(f"load average after: {_loadavg()}")


def _channels_last(model):
    """A reference in channels-last: its parameters converted, its input converted on each call
    (inside the timed call, as the export converts its own input)."""
    model = model.to(memory_format=torch.channels_last)

    def run(x):
        return model(x.contiguous(memory_format=torch.channels_last))

    return run


def _freeze_compile(model):
    """torch.compile with inductor's freezing, as inspec.build(compile=True) does."""
    compiled = torch.compile(model, dynamic=False, options={"freezing": True})

    def run(x):
        with torch.no_grad():
            return compiled(x)

    return run


def _first_call(model, x) -> float:
    with torch.inference_mode():
        t = time.perf_counter()
        model(x)
        return time.perf_counter() - t


def reference_tables(
    rounds: int, batches: list[int], compiled: list[int], train_rounds: int, nets: list[str]
) -> None:
    """The export against torchvision's / timm's model (default layout and channels-last; both
    compiled with freezing at the batches in `compiled`), eval mode; then a training step (forward,
    backward, SGD step) of the training module against the reference's, batch 8."""
    import inspec

    for name in nets:
        spec, params, size = EXPORTS[name]
        ref = _reference(name)
        if ref is None:
            sys.exit("torchvision / timm not importable: run this in the reference venv")
        ref.eval()
        train = inspec.build(str(ROOT / spec), **params).eval()
        export = inspec.build(str(ROOT / spec), train.state_dict(), inference=True, **params)
        ref_cl = _channels_last(_reference(name).eval())
        for batch in batches:
            x = torch.randn(batch, 3, size, size)
            models = {
                f"reference {name}": ref,
                "reference, channels-last": ref_cl,
                "inspec export (eager)": export,
            }
            if batch in compiled:
                ref_c = _freeze_compile(_reference(name).eval())
                t_ref = _first_call(ref_c, x)
                exp_c = inspec.build(
                    str(ROOT / spec),
                    train.state_dict(),
                    compile={"dynamic": False},
                    **params,
                )
                t_exp = _first_call(exp_c, x)
                print(
                    f"\n{name} batch {batch}: first call (compile + 1 forward) reference "
                    f"{t_ref:.1f} s, inspec export {exp_c.inspec_compile_seconds:.1f} s "
                    f"(timed here {t_exp:.1f} s; compiled: {exp_c.inspec_compiled})"
                )
                with torch.inference_mode():
                    d = (exp_c(x) - export(x)).abs().max() / export(x).abs().max()
                print(f"  compiled export vs eager export: max relative |diff| {d.item():.1e}")
                models |= {
                    "reference, compiled (freezing)": ref_c,
                    "inspec export, compiled (freezing)": exp_c,
                }
            print(f"load average before: {_loadavg()}")
            compare(name, models, x, rounds, second="reference, channels-last")
            print(f"load average after: {_loadavg()}")
    if not train_rounds:
        return
    for name in nets:
        spec, params, size = EXPORTS[name]
        steps = {}
        for label, model in (
            (f"reference {name}", _reference(name)),
            ("inspec training module", inspec.build(str(ROOT / spec), **params)),
        ):
            model.train()
            opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
            labels = torch.randint(0, 1000, (8,), generator=torch.Generator().manual_seed(0))

            def step(x, model=model, opt=opt, labels=labels):
                opt.zero_grad(set_to_none=True)
                torch.nn.functional.cross_entropy(model(x), labels).backward()
                opt.step()

            steps[label] = step
        print(f"\ntraining step (forward + backward + SGD step), {name}")
        print(f"load average before: {_loadavg()}")
        compare(name, steps, torch.randn(8, 3, size, size), train_rounds, grad=True)
        print(f"load average after: {_loadavg()}")


def compile_time(runs: int = 5) -> float:
    exe = ROOT / ".venv/bin/inspec"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "inspec"]
    best = []
    with tempfile.TemporaryDirectory() as d:
        for _ in range(runs):
            t = time.perf_counter()
            subprocess.run(
                [
                    *cmd,
                    "compile",
                    str(ROOT / "specs/inception_v4.isp"),
                    "-q",
                    "--force",
                    "-o",
                    os.path.join(d, "v4.py"),
                ],
                check=True,
                capture_output=True,
                cwd=ROOT,
            )
            best.append(time.perf_counter() - t)
    return statistics.median(best)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--export", action="store_true", help="the inference export's tables only")
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    ap.add_argument(
        "--references",
        action="store_true",
        help="the export against torchvision / timm (default layout, channels-last, compiled) "
        "and a training step; reference venv only",
    )
    ap.add_argument("--nets", nargs="+", default=list(EXPORTS), choices=list(EXPORTS))
    ap.add_argument(
        "--compiled",
        type=int,
        nargs="*",
        default=[],
        help="batches at which to also time both models compiled with freezing",
    )
    ap.add_argument("--train-rounds", type=int, default=5, help="0: no training-step table")
    args = ap.parse_args()
    if args.compiled and "TORCHINDUCTOR_CACHE_DIR" not in os.environ:
        # a fresh inductor cache: the first-call times are cold compiles
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="inspec-bench-inductor-")
    torch.set_num_threads(2)
    torch.manual_seed(0)
    print(
        f"python {platform.python_version()}, torch {torch.__version__}, {platform.machine()}, "
        f"{platform.processor() or platform.platform()}, threads {torch.get_num_threads()}"
    )
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}, load average {_loadavg()}")
    if args.references:
        reference_tables(args.rounds, args.batches, args.compiled, args.train_rounds, args.nets)
        return
    if args.export:
        export_tables(args.rounds, args.batches)
        return
    try:
        import torchvision

        tv = torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=True).eval()
        print(f"torchvision {torchvision.__version__}")
    except ImportError:
        tv = None
        print("torchvision not importable: generated modules only")
    try:
        import timm

        tm = timm.create_model("inception_v4", pretrained=False).eval()
        print(f"timm {timm.__version__}")
    except ImportError:
        tm = None
        print("timm not importable: generated modules only")

    g = generated("specs/googlenet_bn.isp", False, aux_logits=False)
    gf = generated("specs/googlenet_bn.isp", True, aux_logits=False)
    if tv is not None:
        g.load_state_dict(tv.state_dict(), strict=True)
        gf.load_unfused_state_dict(tv.state_dict())
        x = torch.randn(2, 3, 224, 224)
        with torch.inference_mode():
            d = (g(x) - tv(x)).abs().max().item()
            df = (gf(x) - tv(x)).abs().max().item()
        print(
            f"torchvision googlenet state_dict -> generated googlenet_bn: strict load OK; "
            f"max |diff| {d:.2e} (fused {df:.2e})"
        )
    x = torch.randn(args.batch, 3, 224, 224)
    models = {"torchvision googlenet": tv} if tv is not None else {}
    models |= {"inspec googlenet_bn": g, "inspec googlenet_bn --fuse-bn": gf}
    compare("GoogLeNet", models, x, args.rounds)

    v4 = generated("specs/inception_v4.isp", False)
    v4f = generated("specs/inception_v4.isp", True)
    if tm is not None:
        missing = v4.load_state_dict(tm.state_dict(), strict=False)
        print(
            f"timm inception_v4 state_dict -> generated: {len(missing.missing_keys)} missing, "
            f"{len(missing.unexpected_keys)} unexpected keys"
        )
    v4f.load_unfused_state_dict(v4.state_dict())
    x = torch.randn(args.batch, 3, 299, 299)
    models = {"timm inception_v4": tm} if tm is not None else {}
    models |= {"inspec inception_v4": v4, "inspec inception_v4 --fuse-bn": v4f}
    compare("Inception-v4", models, x, max(10, args.rounds // 2 + 3))

    t = compile_time()
    print(f"\n`inspec compile specs/inception_v4.isp` (whole process, median of 5): {t:.3f} s")


if __name__ == "__main__":
    main()
