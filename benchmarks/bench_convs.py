"""Where the inference export's time goes: its convolutions, timed one by one, against the whole pass.

    PYTHONPATH=. ~/.cache/inspec-ref/bin/python -m benchmarks.bench_convs [--nets ...] [--batch 8]
    .venv/bin/python -m benchmarks.bench_convs          (the export only: no reference importable)

For each network (googlenet_bn, inception_v4, inception_resnet_v2): the inference export
(`inspec.build(spec, inference=True)`) and, where torchvision / timm import, the reference converted
to channels-last (its parameters, and its input inside the timed call), eval mode under
torch.inference_mode(), 2 threads. First the whole forward pass of both, interleaved, medians. Then
every nn.Conv2d of each model on its own: called on a fresh tensor of the shape and layout it saw in
the pass (forward pre-hooks record them), the median of `--repeats` calls, summed over the pass. The
table prints, per model: the pass, the sum of its convolutions (the same oneDNN kernels in both: they
run the same convolutions, the export some of them merged), their share of the pass, what is left
outside them (batch norm, activations, pools, concatenations, copies of channel slices), and the
convolutions' multiply-adds per second; then the export's ten slowest convolutions with their rate.
The last line says what the export's pass would take against the reference's if everything outside
its convolutions cost nothing: the least ratio that any change outside the convolutions can reach.
The load average is printed before and after. No assertion: a table to read.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from benchmarks.bench_forward import EXPORTS, ROOT, _loadavg, _reference
from benchmarks.bench_gpu import ChannelsLast
from inspec.analysis.elaborate import elaborate
from inspec.backends.torch import build_module
from inspec.backends.torch.source import export_state_dict

CL = torch.channels_last


def _median_call(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def conv_times(
    model: nn.Module, x: torch.Tensor, repeats: int
) -> list[tuple[str, tuple, float, int]]:
    """(path, input shape, median seconds, multiply-adds) of every conv call in one pass."""
    calls: list[tuple[str, nn.Conv2d, tuple, bool]] = []
    hooks = []
    for name, mod in model.named_modules():
        if isinstance(mod, nn.Conv2d):

            def pre(m, args, name=name):
                t = args[0]
                calls.append((name, m, tuple(t.shape), t.is_contiguous(memory_format=CL)))

            hooks.append(mod.register_forward_pre_hook(pre))
    with torch.inference_mode():
        model(x)
    for h in hooks:
        h.remove()
    out = []
    with torch.inference_mode():
        for name, mod, shape, cl in calls:
            xin = torch.randn(shape)
            if cl:
                xin = xin.contiguous(memory_format=CL)
            y = mod(xin)
            kh, kw = mod.kernel_size
            macs = y.numel() * (mod.in_channels // mod.groups) * kh * kw
            out.append((name, shape, _median_call(lambda m=mod, v=xin: m(v), repeats), macs))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nets", nargs="+", default=list(EXPORTS), choices=list(EXPORTS))
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=7, help="interleaved whole passes")
    ap.add_argument("--repeats", type=int, default=5, help="calls per convolution")
    args = ap.parse_args()
    torch.set_num_threads(2)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}")
    for name in args.nets:
        spec, params, size = EXPORTS[name]
        net = elaborate(path=str(ROOT / spec), params=params)
        torch.manual_seed(0)
        train = build_module(net, **params).eval()
        export = build_module(net, inference=True, **params).eval()
        export.load_state_dict(export_state_dict(net, train.state_dict()), strict=True)
        del train
        models = {"export": export}
        ref = _reference(name)
        if ref is not None:
            models["reference, channels-last"] = ChannelsLast(ref.eval().to(memory_format=CL))
        x = torch.randn(args.batch, 3, size, size)
        print(f"\n{name}: load average {_loadavg()}")
        passes: dict[str, list[float]] = {k: [] for k in models}
        with torch.inference_mode():
            for m in models.values():
                m(x)
                m(x)
            for _ in range(args.rounds):
                for k, m in models.items():
                    t = time.perf_counter()
                    m(x)
                    passes[k].append(time.perf_counter() - t)
        rows = {}
        for k, m in models.items():
            convs = conv_times(m, x, args.repeats)
            rows[k] = (statistics.median(passes[k]), convs)
        print(
            f"  {'model':<26} {'pass ms':>9} {'convs ms':>9} {'share':>6} {'rest ms':>8}"
            f" {'convs':>6} {'GMAC/s':>7}"
        )
        for k, (t, convs) in rows.items():
            s = sum(c[2] for c in convs)
            macs = sum(c[3] for c in convs)
            print(
                f"  {k:<26} {t * 1e3:9.1f} {s * 1e3:9.1f} {s / t:6.1%} {(t - s) * 1e3:8.1f}"
                f" {len(convs):6d} {macs / s / 1e9:7.1f}"
            )
        t, convs = rows["export"]
        print("  the export's ten slowest convolutions:")
        for path, shape, sec, macs in sorted(convs, key=lambda c: -c[2])[:10]:
            print(
                f"    {path:<40} {shape!s:<20} {sec * 1e3:7.2f} ms {macs / sec / 1e9:6.1f} GMAC/s"
            )
        if "reference, channels-last" in rows:
            tr = rows["reference, channels-last"][0]
            s = sum(c[2] for c in convs)
            print(
                f"  export / reference (channels-last): {t / tr:.3f} (medians); with nothing but"
                f" its convolutions: {s / tr:.3f}"
            )
        print(f"  load average after: {_loadavg()}")


if __name__ == "__main__":
    main()
