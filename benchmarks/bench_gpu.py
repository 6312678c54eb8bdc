"""GPU forward timings of generated modules against torchvision and timm (run on a CUDA machine).

The generated modules import nothing but torch, so they are compiled here and carried to the GPU machine:

    for s in googlenet_bn inception_v4; do
      .venv/bin/inspec compile specs/$s.isp -q -o build/gpu/$s.py
      .venv/bin/inspec compile specs/$s.isp -q --fuse-bn -o build/gpu/${s}_fused.py
    done
    python3 benchmarks/bench_gpu.py build/gpu            # on the GPU machine (torchvision, timm there)

Eval mode under torch.inference_mode(); for each setting the models are timed in one process,
alternating round by round (CUDA events, 20 forward passes a round, 15 rounds, after warm-up). The
ratio is the median over rounds of (model / reference in the same round). Settings: fp32 NCHW, and
bf16 autocast with channels_last memory format. Outputs are checked against the reference first
(torchvision's weights loaded into the generated GoogLeNet by name; timm's weights cannot be loaded by
name into the TF-slim-named Inception-v4, so that pair is compared for timing only).
"""

from __future__ import annotations

import importlib.util
import statistics
import sys
from pathlib import Path

import torch


def load(path: Path, cls: str):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return getattr(mod, cls)


def _randomize_bn(model) -> None:
    """Fresh batch norms are identities in eval mode; give them statistics so that checking the
    folded (--fuse-bn) module against the unfused one means something."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)


def rounds(models: dict, x, n_rounds=15, iters=20, bf16=False) -> dict[str, list[float]]:
    times = {k: [] for k in models}
    ctx = (
        torch.autocast("cuda", dtype=torch.bfloat16)
        if bf16
        else torch.autocast("cuda", enabled=False)
    )
    with torch.inference_mode(), ctx:
        for m in models.values():
            for _ in range(5):
                m(x)
        torch.cuda.synchronize()
        for _ in range(n_rounds):
            for name, m in models.items():
                start, end = (
                    torch.cuda.Event(enable_timing=True),
                    torch.cuda.Event(enable_timing=True),
                )
                start.record()
                for _ in range(iters):
                    m(x)
                end.record()
                torch.cuda.synchronize()
                times[name].append(start.elapsed_time(end) / iters)
    return times


def table(title: str, times: dict[str, list[float]], ref: str, batch: int) -> str:
    lines = [
        f"### {title}",
        "",
        "| model | median ms / batch | images/s | ratio vs reference |",
        "|---|---:|---:|---:|",
    ]
    for name, ts in times.items():
        ratio = statistics.median(t / r for t, r in zip(ts, times[ref], strict=True))
        med = statistics.median(ts)
        lines.append(f"| {name} | {med:.2f} | {batch / med * 1000:,.0f} | {ratio:.3f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "build/gpu")
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else None
    import timm
    import torchvision

    torch.backends.cudnn.benchmark = True
    dev = torch.device("cuda")
    report = [
        f"GPU: {torch.cuda.get_device_name(0)}; torch {torch.__version__}, torchvision "
        f"{torchvision.__version__}, timm {timm.__version__}, cuDNN {torch.backends.cudnn.version()}.",
        "",
    ]

    torch.manual_seed(0)
    tv = torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=True).eval()
    _randomize_bn(tv)
    g = load(folder / "googlenet_bn.py", "GooglenetBn")(aux_logits=False).eval()
    g.load_state_dict(tv.state_dict())
    gf = load(folder / "googlenet_bn_fused.py", "GooglenetBn")(aux_logits=False).eval()
    gf.load_unfused_state_dict(tv.state_dict())
    v4ref = timm.create_model("inception_v4").eval()
    v4 = load(folder / "inception_v4.py", "InceptionV4")().eval()
    _randomize_bn(v4)
    v4f = load(folder / "inception_v4_fused.py", "InceptionV4")().eval()
    v4f.load_unfused_state_dict(v4.state_dict())
    nparams = {
        k: sum(p.numel() for p in m.parameters())
        for k, m in (("tv", tv), ("g", g), ("timm", v4ref), ("v4", v4))
    }
    report.append(
        f"Parameters: torchvision {nparams['tv']:,} / generated {nparams['g']:,}; timm {nparams['timm']:,} / generated {nparams['v4']:,}."
    )

    for m in (tv, g, gf, v4ref, v4, v4f):
        m.to(dev)
    with torch.inference_mode():
        x = torch.randn(8, 3, 224, 224, device=dev)
        ref = tv(x)
        d1 = (g(x) - ref).abs().max().item()
        d2 = (gf(x) - ref).abs().max().item()
        x4 = torch.randn(8, 3, 299, 299, device=dev)
        d3 = ((v4f(x4) - v4(x4)).abs().max() / v4(x4).abs().max()).item()
    report.append(
        f"Checks (fp32): generated GoogLeNet with torchvision's weights max |diff| {d1:.1e}, fused {d2:.1e}; "
        f"fused Inception-v4 vs unfused relative max diff {d3:.1e}."
    )
    report.append("")

    groups = [  # (title, input size, models with the reference first)
        ("GoogLeNet", 224, {"torchvision googlenet": tv, "inspec googlenet_bn": g,
                            "inspec googlenet_bn --fuse-bn": gf}),
        ("Inception-v4", 299, {"timm inception_v4": v4ref, "inspec inception_v4": v4,
                               "inspec inception_v4 --fuse-bn": v4f}),
    ]  # fmt: skip
    batch = 64
    for bf16 in (False, True):
        fmt = torch.channels_last if bf16 else torch.contiguous_format
        label = "bf16 autocast, channels_last" if bf16 else "fp32, NCHW"
        for title, size, models in groups:
            for m in models.values():
                m.to(memory_format=fmt)
            x = torch.randn(batch, 3, size, size, device=dev).to(memory_format=fmt)
            t = rounds(models, x, bf16=bf16)
            ref = next(iter(models))
            report.append(table(f"{title} {size}x{size}, batch {batch}, {label}", t, ref, batch))
    text = "\n".join(report)
    print(text)
    if out:
        out.write_text(text)


if __name__ == "__main__":
    main()
