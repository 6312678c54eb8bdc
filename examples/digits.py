"""Train a compiled spec on scikit-learn's digits, in one process, with plain PyTorch.

The digits are scikit-learn's bundled 1,797 grey 8x8 images of the digits 0-9 (no download), scaled
to [0, 1], upsampled (bilinear) to the spec's input size and standardised; a fixed, stratified 20 %
is held out (360 images) and never trained on. The model is `inspec.build(spec)`, the module that
`inspec compile` writes; in training mode a spec with side heads returns its outputs tuple, whose
`loss(target)` adds each side head's loss times the spec's `loss_weight`.

    .venv/bin/python examples/digits.py                      # LeNet-5, then examples/inception_digits.isp
    .venv/bin/python examples/digits.py specs/lenet5.isp --epochs 5

scikit-learn is needed here only (`scripts/setup --test` installs it); inspec itself never imports it.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

import inspec

ROOT = Path(__file__).resolve().parent.parent
LENET5 = ROOT / "specs" / "lenet5.isp"
INCEPTION = ROOT / "examples" / "inception_digits.isp"


def digits(size: tuple[int, int], channels: int = 1, seed: int = 0):
    """The digits as (train, held-out) TensorDatasets of N x channels x H x W images and labels."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    x = torch.tensor(data.images, dtype=torch.float32).unsqueeze(1) / 16.0
    x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    y = torch.tensor(data.target, dtype=torch.long)
    train, test = train_test_split(
        list(range(len(y))), test_size=0.2, random_state=seed, stratify=data.target
    )
    mean, std = x[train].mean(), x[train].std()  # the training images' statistics only
    x = ((x - mean) / std).expand(-1, channels, -1, -1).contiguous()
    return TensorDataset(x[train], y[train]), TensorDataset(x[test], y[test])


def datasets_for(spec) -> tuple[TensorDataset, TensorDataset]:
    """The digits at the spec's input size and channel count."""
    shape = inspec.load(spec).ir.input
    return digits((shape.h, shape.w), shape.c)


def shift(x: Tensor, pixels: float, generator: torch.Generator) -> Tensor:
    """Each image moved by a random offset of up to `pixels` in each direction (the augmentation:
    the digits are centred, the held-out ones a little less so); edges repeat the border."""
    if pixels <= 0:
        return x
    n, _, h, w = x.shape
    offsets = (torch.rand(n, 2, generator=generator) * 2 - 1) * pixels
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = 1
    theta[:, 0, 2], theta[:, 1, 2] = offsets[:, 0] * 2 / w, offsets[:, 1] * 2 / h
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, padding_mode="border", align_corners=False)


def training_loss(out, target: Tensor) -> Tensor:
    """The spec's training loss: the outputs tuple's loss() (main logits plus each side head's
    loss times its weight), or cross-entropy of the logits for a network without side heads."""
    return out.loss(target) if hasattr(out, "loss") else F.cross_entropy(out, target)


@torch.no_grad()
def accuracy(model: nn.Module, data: TensorDataset, batch_size: int = 512) -> float:
    """The fraction of `data` that the model (in eval mode) classifies right."""
    model.eval()
    device = next(model.parameters()).device
    right = 0
    for x, y in DataLoader(data, batch_size=batch_size):
        right += (model(x.to(device)).argmax(1).cpu() == y).sum().item()
    return right / len(data)


def train(
    spec,
    epochs: int,
    batch_size: int = 32,
    lr: float = 2e-3,
    shift_px: float = 2.0,
    seed: int = 0,
    log=print,
):
    """Train `spec` from scratch (Adam, cosine schedule, random shifts of up to `shift_px`
    pixels); returns the model, the held-out accuracy after the last epoch and each epoch's
    training time in seconds."""
    torch.manual_seed(seed)
    model = inspec.build(spec)
    train_set, test_set = datasets_for(spec)
    order = torch.Generator().manual_seed(seed)
    loader = DataLoader(train_set, batch_size=batch_size, shuffle=True, generator=order)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * len(loader))
    seconds, acc = [], 0.0
    for epoch in range(1, epochs + 1):
        model.train()
        start, total = time.perf_counter(), 0.0
        for x, y in loader:
            opt.zero_grad(set_to_none=True)
            loss = training_loss(model(shift(x, shift_px, order)), y)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(y)
        seconds.append(time.perf_counter() - start)
        acc = accuracy(model, test_set)
        log(
            f"{Path(spec).stem} epoch {epoch}/{epochs}: training loss {total / len(train_set):.4f}, "
            f"held-out accuracy {acc:.2%} ({seconds[-1]:.2f} s)"
        )
    return {"model": model, "accuracy": acc, "epoch_seconds": seconds}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("specs", nargs="*", default=[str(LENET5), str(INCEPTION)])
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--shift", type=float, default=2.0, help="augmentation: pixels, 0 for none")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, help="torch's intra-op threads (default: torch's own)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    results = {}
    for spec in args.specs:
        results[spec] = train(spec, args.epochs, args.batch_size, args.lr, args.shift, args.seed)
    print()
    for spec, r in results.items():
        mean = sum(r["epoch_seconds"]) / len(r["epoch_seconds"])
        print(
            f"{Path(spec).stem}: held-out accuracy {r['accuracy']:.2%} (360 images) after "
            f"{args.epochs} epoch{'s' if args.epochs != 1 else ''}, {mean:.2f} s per epoch "
            f"(torch threads: {torch.get_num_threads()})"
        )


if __name__ == "__main__":
    main()
