"""The inference export and the training module against torchvision and timm on a GPU, fp32 and bf16.

    PYTHONPATH=. python3 benchmarks/bench_gpu.py [--device cuda] [--batches 1 8 64] [--rounds 15]
        [--iters 20] [--nets googlenet_bn inception_v4 inception_resnet_v2] [--train-batch 32]
        [-o report.md]

Needs torch, torchvision and timm, and inspec importable with its own pure-Python dependencies (lark,
jinja2, markupsafe): on a machine without an index, copy those three packages from .venv's
site-packages into a folder and add it to PYTHONPATH. The modules are built there with `inspec.build`:
the training module (`inspec.build(spec)`) with the reference's weights (torchvision's googlenet loads
into googlenet_bn by key, timm's inception_v4 and inception_resnet_v2 into theirs), random batch-norm
statistics, and the inference export (`inspec.build(spec, inference=True)`: batch norm folded, sibling
convs merged, channels-last) with the training module's weights through `export_state_dict`; the
outputs are checked against the reference first (max relative |diff|, fp32).

Eval tables, per network, dtype (fp32; bf16 under torch.autocast) and batch: the reference in its
default layout, the reference in channels-last (its parameters, and its input converted inside the
timed call, as the export converts its own), the training module and the export, timed in one
process, alternating round by round (CUDA events around `--iters` forward passes a round, after
warm-up; on `--device cpu`, perf_counter: a smoke run of the script itself), under
torch.inference_mode(); the ratios are medians over rounds of (model / reference in the same round),
against the default layout and against channels-last. Then a training step (forward, cross-entropy,
backward, SGD with momentum; train mode, `--train-batch`) of the training module against the
reference, fp32 and bf16 autocast. Prints markdown; `-o` writes it too.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
NETS = {  # spec, parameters, input size
    "googlenet_bn": ("specs/googlenet_bn.isp", {"aux_logits": False}, 224),
    "inception_v4": ("specs/inception_v4.isp", {}, 299),
    "inception_resnet_v2": ("specs/inception_resnet_v2.isp", {}, 299),
}
CL = torch.channels_last


class ChannelsLast(nn.Module):
    """A model with its parameters and its input (converted inside the call) in channels-last."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x.contiguous(memory_format=CL))


def reference(name: str) -> nn.Module:
    if name == "googlenet_bn":
        import torchvision

        return torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=True)
    import timm

    return timm.create_model(name, pretrained=False)


def randomize_bn(model: nn.Module) -> None:
    """Fresh batch norms are identities in eval mode; statistics make the checks mean something."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.rand(m.num_features, generator=g) - 0.5)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) * 1.5 + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.rand(m.num_features, generator=g) * 0.4 - 0.2)


def models_of(name: str, device: torch.device) -> tuple[dict[str, nn.Module], str]:
    """The four models of one network on `device`, eval mode, and a line of checks."""
    import copy

    import inspec
    from inspec.analysis.elaborate import elaborate
    from inspec.backends.torch.source import export_state_dict

    spec, params, _ = NETS[name]
    torch.manual_seed(0)
    ref = reference(name).eval()
    randomize_bn(ref)
    train = inspec.build(str(ROOT / spec), **params).eval()
    train.load_state_dict(ref.state_dict(), strict=True)
    export = inspec.build(str(ROOT / spec), inference=True, **params).eval()
    net = elaborate(path=str(ROOT / spec), params=params)
    export.load_state_dict(export_state_dict(net, train.state_dict()), strict=True)
    ref_cl = ChannelsLast(copy.deepcopy(ref).to(memory_format=CL)).eval()
    models = {"reference": ref, "reference, channels-last": ref_cl, "training module": train}
    models["export"] = export
    for m in models.values():
        m.to(device)
    size = NETS[name][2]
    with torch.inference_mode():
        x = torch.randn(4, 3, size, size, device=device)
        want = ref(x)
        diffs = {
            k: ((m(x) - want).abs().max() / want.abs().max()).item()
            for k, m in models.items()
            if k != "reference"
        }
    check = ", ".join(f"{k} {v:.1e}" for k, v in diffs.items())
    return models, f"{name}: max relative |diff| against the reference (fp32, batch 4): {check}."


def _timer(device: torch.device):
    if device.type == "cuda":

        def run(fn, iters: int) -> float:
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(iters):
                fn()
            end.record()
            torch.cuda.synchronize()
            return start.elapsed_time(end) / iters

        return run

    def run_cpu(fn, iters: int) -> float:
        t = time.perf_counter()
        for _ in range(iters):
            fn()
        return (time.perf_counter() - t) * 1e3 / iters

    return run_cpu


def _autocast(device: torch.device, bf16: bool):
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)


def eval_rounds(models, x, rounds: int, iters: int, bf16: bool) -> dict[str, list[float]]:
    run = _timer(x.device)
    times: dict[str, list[float]] = {k: [] for k in models}
    with torch.inference_mode(), _autocast(x.device, bf16):
        for m in models.values():
            for _ in range(3):
                m(x)
        if x.device.type == "cuda":
            torch.cuda.synchronize()
        for _ in range(rounds):
            for k, m in models.items():
                times[k].append(run(lambda m=m: m(x), iters))
    return times


def train_rounds(models, x, rounds: int, iters: int, bf16: bool) -> dict[str, list[float]]:
    run = _timer(x.device)
    y = torch.randint(0, 1000, (x.shape[0],), device=x.device)
    steps = {}
    for k, m in models.items():
        m.train()
        opt = torch.optim.SGD(m.parameters(), lr=1e-3, momentum=0.9)

        def step(m=m, opt=opt):
            opt.zero_grad(set_to_none=True)
            with _autocast(x.device, bf16):
                out = m(x)
                out = out[0] if isinstance(out, tuple) else out
                loss = nn.functional.cross_entropy(out.float(), y)
            loss.backward()
            opt.step()

        steps[k] = step
    times: dict[str, list[float]] = {k: [] for k in models}
    for s in steps.values():
        s()
        s()
    for _ in range(rounds):
        for k, s in steps.items():
            times[k].append(run(s, iters))
    for m in models.values():
        m.eval()
    return times


def table(title: str, times: dict[str, list[float]], batch: int, refs: list[str]) -> str:
    head = " | ".join(f"ratio vs {r}" for r in refs)
    lines = [f"### {title}", "", f"| model | median ms | images/s | {head} |"]
    lines.append("|---|---:|---:|" + "---:|" * len(refs))
    for k, ts in times.items():
        med = statistics.median(ts)
        ratios = " | ".join(
            f"{statistics.median(t / r for t, r in zip(ts, times[ref], strict=True)):.3f}"
            for ref in refs
        )
        lines.append(f"| {k} | {med:.2f} | {batch / med * 1000:,.0f} | {ratios} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 8, 64])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--iters", type=int, default=20, help="forward passes per timed round")
    ap.add_argument("--nets", nargs="+", default=list(NETS), choices=list(NETS))
    ap.add_argument("--train-batch", type=int, default=32, help="0: no training-step tables")
    ap.add_argument("-o", "--output", type=Path)
    args = ap.parse_args()
    device = torch.device(args.device)
    import timm
    import torchvision

    name = torch.cuda.get_device_name(0) if device.type == "cuda" else "CPU"
    report = [
        f"Device: {name}; torch {torch.__version__}, torchvision {torchvision.__version__}, timm "
        f"{timm.__version__}"
        + (f", cuDNN {torch.backends.cudnn.version()}" if device.type == "cuda" else "")
        + f". {args.rounds} rounds of {args.iters} passes.",
        "",
    ]
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    for net in args.nets:
        models, check = models_of(net, device)
        report += [check, ""]
        print(check, flush=True)
        size = NETS[net][2]
        for bf16 in (False, True):
            dtype = "bf16 autocast" if bf16 else "fp32"
            for batch in args.batches:
                x = torch.randn(batch, 3, size, size, device=device)
                t = eval_rounds(models, x, args.rounds, args.iters, bf16)
                title = f"{net} {size}x{size}, batch {batch}, {dtype}, eval"
                report.append(table(title, t, batch, ["reference", "reference, channels-last"]))
                print(report[-1], flush=True)
        if args.train_batch:
            pair = {k: models[k] for k in ("reference", "training module")}
            x = torch.randn(args.train_batch, 3, size, size, device=device)
            for bf16 in (False, True):
                dtype = "bf16 autocast" if bf16 else "fp32"
                t = train_rounds(pair, x, args.rounds, max(1, args.iters // 4), bf16)
                title = f"{net}, batch {args.train_batch}, {dtype}, training step"
                report.append(table(title, t, args.train_batch, ["reference"]))
                print(report[-1], flush=True)
        del models
        if device.type == "cuda":
            torch.cuda.empty_cache()
    if args.output:
        args.output.write_text("\n".join(report), encoding="utf-8")


if __name__ == "__main__":
    main()
