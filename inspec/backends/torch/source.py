"""The PyTorch backend: `generate` writes a readable module from a checked network (without importing
torch); `build_module` executes that same code and instantiates the network class.

    generate(net, fuse_bn=False, table_docstring=False, output=None, inference=False) -> str
    build_module(net, fuse_bn=False, inference=False, **params) -> torch.nn.Module
    module_paths(net) -> {module path: ir.Layer}   (which module computes which layer of the analysis)
    export_state_dict(net, state_dict) -> state_dict   (the training module's -> the inference export's)

`inference=True` is the inference export (docs/codegen.md): batch norm folded into the convolutions,
sibling convolutions merged (inspec/analysis/fusion.py), channels-last (unless
fusion.channels_last_blocker finds a convolution that PyTorch cannot run so).
"""

from __future__ import annotations

import os
from typing import Any

from inspec.analysis import ir
from inspec.analysis.fusion import Moved, plan
from inspec.backends.torch.classes import CodegenError, _py_value
from inspec.backends.torch.generator import render_module

__all__ = [
    "CodegenError",
    "build_module",
    "export_paths",
    "export_state_dict",
    "generate",
    "module_paths",
    "network_class_name",
]


def _rendered(
    net: ir.Network, fuse_bn: bool, table_docstring: bool = False, output=None, inference=False
):
    if not net.ok:
        raise CodegenError("the spec has errors; run `inspec check` to see them")
    if net.input is None:
        raise CodegenError("a block library has no network to compile")
    return render_module(net, fuse_bn, table_docstring, output, inference)


def generate(
    net: ir.Network,
    fuse_bn: bool = False,
    table_docstring: bool = False,
    output: str | os.PathLike | None = None,
    inference: bool = False,
) -> str:
    """The Python source of a module for `net` (a checked network with an input).

    `fuse_bn`: fold batch norm into the convolutions (an inference export). `table_docstring`: the
    network class's docstring holds the spec's whole table (by default it gives the totals and the
    `inspec table` command). `output`: the file the source will be written to, as given; the paths
    the module names are then relative to its folder (None: as given, for standard output).
    `inference`: the inference export (batch norm folded, sibling convolutions merged into one
    whose output is split, channels-last where fusion.channels_last_blocker allows; eval mode
    only); its weights come from the training
    module's through export_state_dict.
    """
    out = None if output is None else os.fspath(output)
    return _rendered(net, fuse_bn, table_docstring, out, inference).text


def module_paths(net: ir.Network, fuse_bn: bool = False) -> dict[str, ir.Layer]:
    """For each layer of the analysis with a module of its own: the module's dotted path."""
    return dict(render_module(net, fuse_bn).paths)


def network_class_name(source: str) -> str:
    """The network class of generated source: the first class after the outputs tuple."""
    import ast

    for node in ast.parse(source).body:
        if isinstance(node, ast.ClassDef) and not any(
            isinstance(b, ast.Name) and b.id == "NamedTuple" for b in node.bases
        ):
            return node.name
    raise CodegenError("generated source has no network class")  # pragma: no cover


def load_source(source: str, name: str = "inspec_generated") -> dict[str, Any]:
    """Execute generated source as a module namespace (what importing the written file does)."""
    import sys
    import types

    module = types.ModuleType(name)
    module.__file__ = f"<{name}>"
    # registered while executing so that dataclass/NamedTuple/pickling machinery can find it
    sys.modules[name] = module
    try:
        exec(compile(source, module.__file__, "exec"), module.__dict__)
    finally:
        sys.modules.pop(name, None)
    return module.__dict__


def build_module(net: ir.Network, fuse_bn: bool = False, inference: bool = False, **params: Any):
    """Render the module as generate() does and instantiate its network class with `params` (the spec's
    network parameters, by their spec names; an enumeration word such as `relu` as a string).
    `inference`: the inference export (see generate)."""
    import torch  # noqa: F401  (the generated code imports it; fail here with a clear traceback)

    rendered = _rendered(net, fuse_bn, inference=inference)
    source = rendered.text
    cls = load_source(source, f"inspec_generated_{net.name}")[rendered.class_name]
    # an enumeration word (elaboration's Symbol) is passed to the module as a string
    kwargs = {rendered.param_names[k]: _py_value(v) for k, v in params.items()}
    module = cls(**kwargs)
    module.inspec_source = source
    return module


def export_paths(net: ir.Network) -> list[tuple[str, list[str]]]:
    """For each module of the inference export that computes layers of the analysis: its path, and
    the paths of the training module's (generate(net)) modules for the same layers, in order. A
    merged convolution has two or more (its members, in the order of its output channels: see
    fusion.ConvGroup); every other module one. A hoisted branch's pool and activation, which stand
    for no module of the training module, are not listed.

    Both modules are rendered from the same IR, so a layer is the same object in both lists of
    paths; a layer that several instances share (a block's elaborated body, a repeat) appears
    once per instance, in the same order in both.
    """
    return [(target, [p for p, _ in sources]) for target, sources in _export_map(net)]


def export_modules(net: ir.Network) -> dict[str, str | None]:
    """For each layer's module path in the training module: the path of the export's module that
    computes that layer alone, or None where the export has none of its own (a merged conv's member;
    a hoisted branch's pool, which runs after the merged conv on its slice)."""
    out: dict[str, str | None] = dict.fromkeys(p for p, _ in _rendered(net, False).paths)
    for target, sources in _export_map(net):
        if len(sources) == 1:
            out[sources[0][0]] = target
    return out


def _export_map(net: ir.Network) -> list[tuple[str, list[tuple[str, ir.Layer]]]]:
    """export_paths, with each training path's layer."""
    from collections import Counter

    seen: Counter[int] = Counter()
    train: dict[tuple[int, int], str] = {}
    for path, layer in _rendered(net, False).paths:
        train[(id(layer), seen[id(layer)])] = path
        seen[id(layer)] += 1
    seen.clear()
    out: dict[str, list[tuple[str, ir.Layer]]] = {}
    for path, layer in _rendered(net, False, inference=True).paths:
        if isinstance(layer, Moved):  # a hoisted branch's pool and activation: no weights
            continue
        out.setdefault(path, []).append((train.pop((id(layer), seen[id(layer)])), layer))
        seen[id(layer)] += 1
    return list(out.items())


# where a conv row's weight sits under its module: a conv unit (ConvBNReLU...), a bare nn.Conv2d, or
# either behind the explicit padding of an nn.Sequential(nn.ZeroPad2d(...), conv)
_CONV_AT = ("conv.", "", "1.conv.", "1.")


def export_state_dict(net: ir.Network, state_dict: dict[str, Any]) -> dict[str, Any]:
    """The state_dict of the inference export (generate(net, inference=True)) from that of the
    training module (generate(net)), both built with the network's values: each batch norm of a conv
    row folded into its conv (w' = w * gamma / sqrt(var + eps), b' = beta + (b - mean) * gamma /
    sqrt(var + eps)), and the folded weights and biases of merged sibling convolutions concatenated
    in the order of the merged conv's output channels (fusion.ConvGroup: branch order, hoisted
    members last; dimension 0). The export then loads it with
    `load_state_dict(..., strict=True)` and gives the training module's eval-mode outputs. Both
    modules are those of `net` as elaborated: built with the network values it was checked for."""
    import torch

    # a merged conv with a hoisted member has no activation: without batch norm it is a bare
    # nn.Conv2d even where its members' rows are conv units (fusion.ConvGroup.act)
    acts = {id(g.layers[0]): g.act for g in plan(net)}
    out: dict[str, Any] = {}
    for target, sources in _export_map(net):
        path, layer = sources[0]
        if layer.op.name != "conv":
            out |= _moved(state_dict, path, target)
            continue
        folded = [_folded(state_dict, p, la.attrs["eps"]) for p, la in sources]
        at = folded[0][0]
        if len(sources) > 1 and not layer.attrs["bn"] and acts[id(layer)] == "none":
            at = ""
        out[f"{target}.{at}weight"] = torch.cat([w for _, w, _ in folded])
        if any(b is not None for _, _, b in folded):
            biases = [b if b is not None else w.new_zeros(w.shape[0]) for _, w, b in folded]
            out[f"{target}.{at}bias"] = torch.cat(biases)
    return out


def _moved(state_dict: dict[str, Any], source: str, target: str) -> dict[str, Any]:
    """The entries of the module at `source`, under `target`."""
    prefix = source + "."
    return {
        target + "." + k[len(prefix) :]: v for k, v in state_dict.items() if k.startswith(prefix)
    }


def _folded(state_dict: dict[str, Any], path: str, eps: float):
    """(where the weight sits under the module, weight, bias or None) of a conv row, its batch norm
    folded in."""
    import torch

    at = next((a for a in _CONV_AT if f"{path}.{a}weight" in state_dict), None)
    if at is None:
        raise KeyError(f"no convolution weight under {path!r} in the state_dict")
    weight = state_dict[f"{path}.{at}weight"]
    bias = state_dict.get(f"{path}.{at}bias")
    bn = f"{path}.{at[: -len('conv.')]}bn." if at.endswith("conv.") else None
    if bn is None or bn + "weight" not in state_dict:
        return at, weight, bias
    gamma, beta = state_dict[bn + "weight"], state_dict[bn + "bias"]
    mean, var = state_dict[bn + "running_mean"], state_dict[bn + "running_var"]
    scale = gamma / torch.sqrt(var + eps)
    if bias is None:
        bias = torch.zeros_like(mean)
    return at, weight * scale.reshape(-1, 1, 1, 1), beta + (bias - mean) * scale
