"""Reading a checkpoint into a state_dict, and writing one that inspec can recognise as its own.

Read: a `.pt`/`.pth` file holding a state_dict, or a checkpoint dict whose `state_dict` or `model`
entry is one (read with torch.load's `weights_only=True`: nothing but tensors and plain containers is
ever unpickled); a `.safetensors` file when the `safetensors` package is installed; or a mapping already
in memory. Reading never writes anything.

Written: torch.save's zip archive of a plain state_dict, marked with fileio's ZIP_COMMENT so that a
later run may replace it without --force, and written atomically by fileio.write_atomic.
"""

from __future__ import annotations

import io
import os
import re
import warnings
from collections.abc import Mapping
from pathlib import Path

import torch

from inspec.fileio import mark_zip, write_atomic
from inspec.weights.errors import WeightsError
from inspec.weights.plan import Entry

NESTED = ("state_dict", "model")  # a checkpoint dict's entries that may hold the state_dict


def name_of(weights) -> str:
    return os.fspath(weights) if isinstance(weights, (str, os.PathLike)) else "the state_dict given"


def read(weights) -> dict[str, torch.Tensor]:
    """The state_dict of a path or a mapping (see the module's docstring), in its own order."""
    if isinstance(weights, Mapping):
        return _state_dict(weights, "the mapping given")
    if not isinstance(weights, (str, os.PathLike)):
        raise WeightsError(
            f"weights must be a path or a mapping of names to tensors, not {type(weights).__name__}"
        )
    path = Path(weights)
    if not path.is_file():
        why = "no such file" if not path.exists() else "not a regular file"
        raise WeightsError(f"cannot read {path}: {why}")
    if path.suffix == ".safetensors":
        try:
            from safetensors.torch import load_file
        except ImportError:
            raise WeightsError(
                f"reading {path} needs the package 'safetensors', which is not installed "
                "(pip install safetensors)"
            ) from None
        try:
            return dict(load_file(str(path), device="cpu"))
        except Exception as e:
            raise WeightsError(f"cannot read {path}: {_first_line(e)}") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's notes on pickle protocols
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise WeightsError(_unreadable(path, e)) from None
    if not isinstance(obj, Mapping):
        raise WeightsError(f"{path} holds {_a(type(obj).__name__)}, not a state_dict")
    return _state_dict(obj, str(path))


_GLOBAL = re.compile(r"(?:Unsupported global: GLOBAL|unsupported GLOBAL) ([\w.]+)")


def _unreadable(path: Path, e: Exception) -> str:
    """Why torch.load(weights_only=True) refused: an object that is not a tensor (a class it would
    have to import, such as argparse.Namespace), or not a checkpoint at all."""
    text = str(e)
    found = _GLOBAL.search(text)
    if found:
        return (
            f"cannot read {path}: it holds {_a(found[1])}, and inspec unpickles nothing but tensors "
            "and plain containers (torch.load with weights_only=True, so that reading runs no "
            "code); if you trust the file, save its state_dict alone: "
            f"torch.save(torch.load('{path}', weights_only=False)['state_dict'], 'weights.pt')"
        )
    why = text.partition("WeightsUnpickler error:")[2].strip().split("\n", 1)[0]
    if not why and "Weights only load failed" in text:  # the reason is the second paragraph
        rest = [x.strip() for x in text.split("\n")[1:] if x.strip()]
        why = rest[0] if rest and not rest[0].startswith("Check the documentation") else ""
    return f"cannot read {path}: not a PyTorch checkpoint ({why or _first_line(e)})"


def _first_line(e: Exception) -> str:
    text = str(e).strip().split("\n", 1)[0] or type(e).__name__
    return text if len(text) <= 300 else text[:300] + "…"


def _state_dict(obj: Mapping, name: str) -> dict[str, torch.Tensor]:
    """obj itself when all its values are tensors, else its `state_dict` or `model` entry."""
    if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        if not all(isinstance(k, str) for k in obj):
            raise WeightsError(f"{name}: a state_dict's keys are strings")
        return dict(obj)
    for key in NESTED:
        inner = obj.get(key)
        if isinstance(inner, Mapping) and inner:
            return _state_dict(inner, f"{name} [{key!r}]")
    if not obj:
        raise WeightsError(f"{name} is empty")
    keys = ", ".join(repr(k) for k in list(obj)[:8]) + (", ..." if len(obj) > 8 else "")
    bad = next(k for k, v in obj.items() if not isinstance(v, torch.Tensor))
    raise WeightsError(
        f"{name} is not a state_dict: {bad!r} is {_a(type(obj[bad]).__name__)}, not a tensor, and "
        f"there is no 'state_dict' or 'model' entry holding one (its entries: {keys})"
    )


def entries(state: Mapping[str, torch.Tensor]) -> list[Entry]:
    return [Entry(k, tuple(v.shape)) for k, v in state.items()]


def save(state: Mapping[str, torch.Tensor], path, force: bool = False, protect: tuple = ()) -> Path:
    """Write `state` as a marked checkpoint (fileio's rules: never over a file inspec did not write
    without force, never over an input, atomically)."""
    if Path(path).suffix in (".safetensors", ".py", ".isp"):
        raise WeightsError(
            f"inspec writes PyTorch checkpoints (.pt, .pth), not {Path(path).suffix}"
        )
    buf = io.BytesIO()
    torch.save({k: v.detach().clone() for k, v in state.items()}, buf)  # own storages
    return write_atomic(path, mark_zip(buf.getvalue()), force=force, protect=protect)


def _a(word: str) -> str:
    """word with its indefinite article: an int, a list."""
    return f"{'an' if word[:1].lower() in 'aeiou' else 'a'} {word}"
