"""Forward-pass speed of generated modules against the reference implementations.

    /root/.cache/inspec-ref/bin/python -m benchmarks.bench_forward (torchvision + timm importable)
    .venv/bin/python -m benchmarks.bench_forward                         (generated modules only)

CPU, eval mode, torch.inference_mode(), batch 8, torch.set_num_threads(2). Each pair is measured side by
side in one process, alternating, and the median of the per-round ratios is reported. Also times
`inspec compile specs/inception_v4.isp` as a whole process (it must not import torch).
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


def compare(name: str, models: dict, x, rounds: int) -> dict:
    with torch.inference_mode():
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
    for k in models:
        print(f"  {k:<34} {med[k] * 1e3:9.1f} ms   ratio {ratios[k]:.3f}")
    return {"median_ms": {k: v * 1e3 for k, v in med.items()}, "ratio": ratios}


def generated(spec: str, fuse: bool, **params):
    net = elaborate(path=str(ROOT / spec), params=params)
    return build_module(net, fuse_bn=fuse, **params).eval()


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
    args = ap.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(0)
    print(
        f"python {platform.python_version()}, torch {torch.__version__}, {platform.machine()}, "
        f"{platform.processor() or platform.platform()}, threads {torch.get_num_threads()}"
    )
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
