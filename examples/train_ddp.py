"""Train a compiled spec on several processes with DistributedDataParallel (or FSDP), under torchrun.

    torchrun --nproc_per_node=2 examples/train_ddp.py                      # examples/inception_digits.isp
    torchrun --nproc_per_node=2 examples/train_ddp.py specs/lenet5.isp --epochs 5
    torchrun --nproc_per_node=2 examples/train_ddp.py --checkpoint run.pt --resume   # go on from run.pt
    torchrun --nproc_per_node=2 examples/train_ddp.py --fsdp                 # FSDP2 (fully_shard)

The same script runs on CPUs (gloo) and on GPUs (NCCL, one GPU per process, chosen by LOCAL_RANK).
Every process builds the same module (`inspec.build`, same seed); DistributedSampler gives each its
share of scikit-learn's digits (examples/digits.py: upsampled to the spec's input, 20 % held out);
DDP averages the gradients, so every rank holds the same parameters after every step. The loss is the
outputs tuple's loss(): the main logits plus each side head's loss times the spec's `loss_weight`.

Checkpoints: rank 0 writes `--checkpoint` (model, optimizer, scheduler, where the run is) at the end
of every epoch and when `--max-steps` stops the run, through inspec.fileio's rules: written
atomically (a crash leaves the previous checkpoint whole), marked as inspec's own so that the next
run may replace it, and never over a file that inspec did not write (`--force` to allow that).
`--resume` loads it on every rank and goes on from the next batch, with the same data order.

Each rank prints one line `train_ddp rank=R {json}` at the end: the losses of its steps, the
held-out accuracy and a SHA-256 digest of its full parameters (equal digests: the ranks agree).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler

import inspec
from inspec.fileio import OutputError, check_target, mark_zip, write_atomic

sys.path.insert(0, str(Path(__file__).resolve().parent))
from digits import INCEPTION, accuracy, datasets_for, shift, training_loss


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("spec", nargs="?", default=str(INCEPTION))
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument(
        "--max-steps", type=int, help="stop after this many steps in all (a checkpoint)"
    )
    ap.add_argument("--batch-size", type=int, default=32, help="per process")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--shift", type=float, default=2.0, help="augmentation: pixels, 0 for none")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--checkpoint", help="the checkpoint file rank 0 writes (.pt)")
    ap.add_argument("--resume", action="store_true", help="go on from --checkpoint if it exists")
    ap.add_argument(
        "--force", action="store_true", help="replace a --checkpoint inspec did not write"
    )
    ap.add_argument("--fsdp", action="store_true", help="shard with FSDP2 instead of DDP")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per process (CPU)")
    return ap.parse_args(argv)


def wrap(model: torch.nn.Module, fsdp: bool, device: torch.device, find_unused: bool):
    """DDP, or FSDP2: each top-level child with parameters sharded on its own, then the root."""
    if not fsdp:
        ids = [device.index] if device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids, find_unused_parameters=find_unused)
    from torch.distributed.fsdp import fully_shard

    for child in model.children():
        if any(p.requires_grad for p in child.parameters()):
            fully_shard(child)
    return fully_shard(model)


def full_state(model, opt, fsdp: bool) -> tuple[dict, dict]:
    """The model's and the optimizer's whole state (FSDP: gathered from the shards, on every
    rank), with the module's own keys."""
    if not fsdp:
        return model.module.state_dict(), opt.state_dict()
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        get_model_state_dict,
        get_optimizer_state_dict,
    )

    options = StateDictOptions(full_state_dict=True)
    return get_model_state_dict(model, options=options), get_optimizer_state_dict(
        model, opt, options=options
    )


def load_state(model, opt, state: dict, fsdp: bool) -> None:
    if not fsdp:
        model.module.load_state_dict(state["model"], strict=True)
        opt.load_state_dict(state["optimizer"])
        return
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        set_model_state_dict,
        set_optimizer_state_dict,
    )

    options = StateDictOptions(full_state_dict=True)
    set_model_state_dict(model, state["model"], options=options)
    set_optimizer_state_dict(model, opt, state["optimizer"], options=options)


def save_checkpoint(path: str, state: dict, force: bool) -> None:
    """torch.save's archive, marked as inspec's and written atomically (inspec.fileio)."""
    buf = io.BytesIO()
    torch.save(state, buf)
    write_atomic(path, mark_zip(buf.getvalue()), force=force)


def digest(state: dict[str, torch.Tensor], names) -> str:
    """A SHA-256 digest of the tensors of `state` named in `names`, by name."""
    h = hashlib.sha256()
    for name in sorted(names):
        h.update(name.encode())
        h.update(state[name].detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()


def main(argv=None) -> int:
    args = parse_args(argv)
    cuda = torch.cuda.is_available()
    dist.init_process_group("nccl" if cuda else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    local = int(os.environ.get("LOCAL_RANK", 0))
    device = torch.device("cuda", local) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    else:
        torch.set_num_threads(args.threads)
    # refuse before training, not after, a checkpoint path holding a file inspec did not write
    # (fileio's rule): rank 0 looks, every rank hears the answer
    refusal = [None]
    if args.checkpoint and rank == 0:
        try:
            check_target(args.checkpoint, force=args.force)
        except OutputError as e:
            refusal = [str(e)]
    dist.broadcast_object_list(refusal, src=0)
    if refusal[0] is not None:
        if rank == 0:
            print(f"train_ddp: {refusal[0]}", file=sys.stderr)
        dist.destroy_process_group()
        return 2

    torch.manual_seed(args.seed)  # the same initial weights on every rank (DDP broadcasts rank 0's)
    net = inspec.load(args.spec).ir
    module = inspec.build(args.spec).to(device)
    # a side head whose loss weighs 0 gets no gradient: DDP must be told
    find_unused = any(s.active and s.loss_weight == 0 for s in net.sides)
    model = wrap(module, args.fsdp, device, find_unused)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    train_set, test_set = datasets_for(args.spec)
    sampler = DistributedSampler(train_set, num_replicas=world, rank=rank, seed=args.seed)
    # its own generator: a loader drawing from the global one would change dropout's after a resume
    own = torch.Generator().manual_seed(args.seed)
    loader = DataLoader(train_set, batch_size=args.batch_size, sampler=sampler, generator=own)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs * len(loader))

    epoch, batch, step = 0, 0, 0  # where the run is: the next batch to train
    if args.resume and args.checkpoint and Path(args.checkpoint).exists():
        state = torch.load(args.checkpoint, map_location=device, weights_only=True)
        load_state(model, opt, state, args.fsdp)
        sched.load_state_dict(state["scheduler"])
        epoch, batch, step = state["epoch"], state["batch"], state["step"]
        torch.set_rng_state(state["rng"].cpu())
        if cuda and "cuda_rng" in state:
            torch.cuda.set_rng_state(state["cuda_rng"].cpu(), device)
        if rank == 0:
            print(f"train_ddp: resumed from {args.checkpoint} at epoch {epoch}, batch {batch}")

    losses, seconds = [], []
    while epoch < args.epochs and (args.max_steps is None or step < args.max_steps):
        sampler.set_epoch(epoch)  # every rank shuffles alike, each takes its share
        model.train()
        start = time.perf_counter()
        for k, (x, y) in enumerate(loader):
            if k < batch:
                continue  # trained before the checkpoint this run resumed from
            if args.max_steps is not None and step >= args.max_steps:
                break
            # the augmentation's offsets depend on the batch alone, so a resumed run draws the same
            augment = torch.Generator().manual_seed(
                ((args.seed * 1009 + epoch) * len(loader) + k) * world + rank
            )
            x, y = shift(x, args.shift, augment).to(device), y.to(device)
            opt.zero_grad(set_to_none=True)
            loss = training_loss(model(x), y)
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
            step, batch = step + 1, k + 1
        seconds.append(time.perf_counter() - start)
        if batch >= len(loader):
            epoch, batch = epoch + 1, 0
        params, optim = full_state(model, opt, args.fsdp)  # a collective under FSDP
        if args.checkpoint and rank == 0:
            state = {"model": params, "optimizer": optim, "scheduler": sched.state_dict()}
            state.update(epoch=epoch, batch=batch, step=step, spec=str(args.spec))
            state["rng"] = torch.get_rng_state()  # dropout's; the same on every rank
            if cuda:
                state["cuda_rng"] = torch.cuda.get_rng_state(device)
            save_checkpoint(args.checkpoint, state, args.force)
        dist.barrier()

    params, _ = full_state(model, opt, args.fsdp)
    evaluated = module if not args.fsdp else model
    report = {
        "rank": rank,
        "world": world,
        "backend": dist.get_backend(),
        "fsdp": args.fsdp,
        "steps": step,
        "losses": losses,
        "epoch_seconds": seconds,
        "accuracy": accuracy(evaluated, test_set),
        # the parameters; batch norm's running statistics are each rank's own (DDP broadcasts
        # rank 0's before every forward, and the checkpoint holds rank 0's)
        "params_sha256": digest(params, [name for name, _ in module.named_parameters()]),
    }
    sys.stdout.write(f"train_ddp rank={rank} {json.dumps(report)}\n")  # one write: whole lines
    sys.stdout.flush()
    dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
