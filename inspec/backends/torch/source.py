"""The PyTorch backend: `generate` writes a readable module from a checked network (without importing
torch); `build_module` executes that same code and instantiates the network class.

    generate(net, fuse_bn=False, table_docstring=False, output=None) -> str
    build_module(net, fuse_bn=False, **params) -> torch.nn.Module
    module_paths(net) -> {module path: ir.Layer}   (which module computes which layer of the analysis)
"""

from __future__ import annotations

import os
from typing import Any

from inspec.analysis import ir
from inspec.backends.torch.classes import CodegenError, _py_value
from inspec.backends.torch.generator import render_module

__all__ = ["CodegenError", "build_module", "generate", "module_paths", "network_class_name"]


def _rendered(net: ir.Network, fuse_bn: bool, table_docstring: bool = False, output=None):
    if not net.ok:
        raise CodegenError("the spec has errors; run `inspec check` to see them")
    if net.input is None:
        raise CodegenError("a block library has no network to compile")
    return render_module(net, fuse_bn, table_docstring, output)


def generate(
    net: ir.Network,
    fuse_bn: bool = False,
    table_docstring: bool = False,
    output: str | os.PathLike | None = None,
) -> str:
    """The Python source of a module for `net` (a checked network with an input).

    `fuse_bn`: fold batch norm into the convolutions (an inference export). `table_docstring`: the
    network class's docstring holds the spec's whole table (by default it gives the totals and the
    `inspec table` command). `output`: the file the source will be written to, as given; the paths
    the module names are then relative to its folder (None: as given, for standard output).
    """
    out = None if output is None else os.fspath(output)
    return _rendered(net, fuse_bn, table_docstring, out).text


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


def build_module(net: ir.Network, fuse_bn: bool = False, **params: Any):
    """Render the module as generate() does and instantiate its network class with `params` (the spec's
    network parameters, by their spec names; an enumeration word such as `relu` as a string)."""
    import torch  # noqa: F401  (the generated code imports it; fail here with a clear traceback)

    rendered = _rendered(net, fuse_bn)
    source = rendered.text
    cls = load_source(source, f"inspec_generated_{net.name}")[rendered.class_name]
    # an enumeration word (elaboration's Symbol) is passed to the module as a string
    kwargs = {rendered.param_names[k]: _py_value(v) for k, v in params.items()}
    module = cls(**kwargs)
    module.inspec_source = source
    return module
