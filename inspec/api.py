"""The Python API: inspec.load() checks a spec; inspec.build() returns the nn.Module."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from inspec.analysis import ir
from inspec.analysis.elaborate import elaborate
from inspec.diagnostics import Diagnostic


class SpecErrors(Exception):
    """A spec has errors; str() renders them like the CLI does."""

    def __init__(self, net: ir.Network):
        self.network = net
        self.diagnostics = [d for d in net.diagnostics if d.is_error]
        super().__init__("\n".join(d.render(net.sources) for d in self.diagnostics))


class Spec:
    """A checked network: its IR, its diagnostics, and the backends as methods."""

    def __init__(self, net: ir.Network):
        self.ir = net

    @property
    def name(self) -> str:
        return self.ir.name

    @property
    def diagnostics(self) -> list[Diagnostic]:
        return self.ir.diagnostics

    @property
    def ok(self) -> bool:
        return self.ir.ok

    def render_diagnostics(self) -> str:
        return "\n".join(d.render(self.ir.sources) for d in self.ir.diagnostics)

    def table(
        self, format: str = "text", granularity: str = "rows", units: str | None = None
    ) -> str:
        from inspec.backends.table import RENDERERS

        return RENDERERS[format](self.ir, granularity, units or self.ir.units)

    def totals(self, sides: bool = False):
        return self.ir.totals(sides)

    def to_python(
        self,
        fuse_bn: bool = False,
        table_docstring: bool = False,
        output: str | os.PathLike | None = None,
    ) -> str:
        """The PyTorch module's source, as `inspec compile` writes it: `fuse_bn` folds batch norm
        into the convolutions, `table_docstring` puts the spec's whole table in the network class's
        docstring, `output` is the file the source is meant for (the paths it names are relative to
        its folder)."""
        from inspec.backends.torch import generate

        self._require_ok()
        return generate(self.ir, fuse_bn=fuse_bn, table_docstring=table_docstring, output=output)

    def diagram(self, **options: Any):
        from inspec.backends.diagram import Diagram

        return Diagram(self.ir, **options)

    def _require_ok(self) -> None:
        if not self.ir.ok:
            raise SpecErrors(self.ir)

    def __repr__(self) -> str:
        errs = sum(d.is_error for d in self.diagnostics)
        return f"<inspec.Spec {self.name!r}: {errs} error(s)>"


def _is_path(source: str | os.PathLike) -> bool:
    if isinstance(source, os.PathLike):
        return True
    return "\n" not in source and (source.endswith(".isp") or Path(source).is_file())


def load(source: str | os.PathLike, **params: Any) -> Spec:
    """Check a spec given as a path or as text; `params` override the network's parameters."""
    if _is_path(source):
        return Spec(elaborate(path=str(source), params=params))
    return Spec(elaborate(text=str(source), params=params, name="<string>"))


def build(
    source: str | os.PathLike,
    weights: Any = None,
    *,
    strict: bool = True,
    map: str = "key",
    inference: bool = False,
    **params: Any,
):
    """Build the PyTorch module of a spec, through the same code `inspec compile` writes.

    `weights` loads a checkpoint into it: a path (a `.pt`/`.pth` state_dict, or a checkpoint dict
    with a `state_dict` or `model` entry; a `.safetensors` file when the `safetensors` package is
    installed) or a mapping of names to tensors. By key (`map="key"`; `"order"` and `"auto"` pair
    the entries by structure, see docs/weights.md) and strictly: anything missing, unexpected or
    mis-shaped raises inspec.weights.WeightsError, listing the keys under the spec rows that made
    them. `strict=False` loads what fits and leaves the rest out. Either way the module's
    `inspec_weights` tells what was loaded, how, and what was left out (`.missing`, `.unexpected`,
    `.key_map`, `.report()`).

    `inference=True` returns the inference export instead (`inspec compile --inference`: batch
    norm folded, sibling convolutions merged, channels-last; in eval mode): the weights are loaded
    into the training module as above, then turned into the export's (export_state_dict), so the
    export computes what the training module computes in eval mode. A network parameter named
    `weights`, `strict`, `map` or `inference` cannot be given here."""
    spec = load(source, **params)
    spec._require_ok()
    from inspec.backends.torch import build_module

    module = build_module(spec.ir, **params)
    if weights is not None:
        from inspec.weights.load import load_into

        module.inspec_weights = load_into(
            module, spec.ir, weights, map=map, allow_missing=not strict, allow_unexpected=not strict
        )
    if not inference:
        return module
    from inspec.backends.torch import export_state_dict

    export = build_module(spec.ir, inference=True, **params)
    export.load_state_dict(export_state_dict(spec.ir, module.state_dict()), strict=True)
    if weights is not None:
        export.inspec_weights = module.inspec_weights
    return export.eval()
