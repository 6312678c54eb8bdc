"""The Python API: inspec.load() checks a spec; inspec.build() returns the nn.Module."""

from __future__ import annotations

import errno
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
        self,
        format: str = "text",
        granularity: str = "rows",
        units: str | None = None,
        *,
        partial: bool = False,
    ) -> str:
        """The paper-style table; a spec with errors raises SpecErrors unless `partial` (then the
        table holds what could be inferred)."""
        from inspec.backends.table import RENDERERS

        if not partial:
            self._require_ok()
        return RENDERERS[format](self.ir, granularity, units or self.ir.units)

    def totals(self, sides: bool = False, *, partial: bool = False):
        """The network's totals; a spec with errors raises SpecErrors unless `partial` (then the
        totals count what could be inferred)."""
        if not partial:
            self._require_ok()
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
        path = Path(source)
        if not path.exists():
            raise FileNotFoundError(errno.ENOENT, "no such spec file", str(source))
        if path.is_dir():
            raise IsADirectoryError(errno.EISDIR, "a folder, not a spec file", str(source))
        if not os.access(path, os.R_OK):
            raise PermissionError(errno.EACCES, "cannot read the spec file", str(source))
        return Spec(elaborate(path=str(source), params=params))
    return Spec(elaborate(text=str(source), params=params, name="<string>"))


TORCH_MISSING = (
    "{what} needs torch, which is not installed: pip install torch (pytorch.org lists the builds "
    "for each CUDA version), or pip install 'inspec[torch]'"
)


def require_torch(what: str) -> None:
    """Raise ModuleNotFoundError (name 'torch') with a one-line message when torch is missing."""
    try:
        import torch  # noqa: F401
    except ModuleNotFoundError as e:
        if e.name != "torch":
            raise
        raise ModuleNotFoundError(TORCH_MISSING.format(what=what), name="torch") from None


def build(
    source: str | os.PathLike,
    weights: Any = None,
    *,
    strict: bool = True,
    map: str = "key",
    inference: bool = False,
    compile: bool | dict[str, Any] = False,
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
    norm folded, sibling convolutions merged, channels-last unless a convolution with a stride and
    a dilation above 1 rules it out; in eval mode): the weights are loaded
    into the training module as above, then turned into the export's (export_state_dict), so the
    export computes what the training module computes in eval mode.

    `compile=True` implies `inference=True` and returns the export compiled: `torch.compile` with
    inductor's freezing (`options={"freezing": True}`: the weights become constants of the
    compiled code, so they are the ones loaded here; load later weights into `.eager` and build
    again). A dict instead of True is passed to `torch.compile` as keyword arguments (e.g.
    `{"mode": "max-autotune"}`; its `options` get `freezing` unless they set it). The result is a
    module whose forward runs under `torch.no_grad()` (freezing needs it) and compiles on its first
    call; `.inspec_compile_seconds` is then the wall time of that first call (compiling plus one
    forward; None before it), `.eager` the eager export, `.inspec_compiled` whether the compiled
    code runs. Where inductor cannot run (no C compiler, no torch.compile on this platform) a
    one-line warning (RuntimeWarning) says so and the eager export is used: returned as is if
    torch.compile itself fails, else the first call falls back (`.inspec_compiled` False).

    A network parameter named `weights`, `strict`, `map`, `inference` or `compile` cannot be given
    here."""
    spec = load(source, **params)
    spec._require_ok()
    require_torch("inspec.build")
    from inspec.backends.torch import build_module

    module = build_module(spec.ir, **params)
    if weights is not None:
        from inspec.weights.load import load_into

        module.inspec_weights = load_into(
            module, spec.ir, weights, map=map, allow_missing=not strict, allow_unexpected=not strict
        )
    if not inference and compile is False:
        return module
    from inspec.backends.torch import export_state_dict

    export = build_module(spec.ir, inference=True, **params)
    export.load_state_dict(export_state_dict(spec.ir, module.state_dict()), strict=True)
    if weights is not None:
        export.inspec_weights = module.inspec_weights
    export.eval()
    if compile is False:
        return export
    from inspec.analysis.fusion import channels_last_blocker

    kwargs = {} if compile is True else dict(compile)
    if channels_last_blocker(spec.ir) is not None:  # inductor would choose channels-last itself
        kwargs["options"] = {"layout_optimization": False, **kwargs.get("options", {})}
    return _compiled(export, kwargs)


def _compiled(export: Any, kwargs: dict[str, Any]):
    """build(compile=...): the export behind torch.compile with freezing, or the export itself
    (with a warning) where torch.compile fails."""
    import time
    import warnings

    import torch

    def fall_back(e: BaseException) -> None:
        first = (str(e).strip().splitlines() or [""])[0][:160]
        warnings.warn(
            f"inspec.build(compile=True): torch.compile unavailable ({type(e).__name__}: "
            f"{first}); using the eager inference export",
            RuntimeWarning,
            stacklevel=3,
        )

    kwargs["options"] = {"freezing": True, **kwargs.get("options", {})}
    try:
        compiled = torch.compile(export, **kwargs)
    except Exception as e:  # any failure of the backend: the eager export stands
        fall_back(e)
        return export

    class Compiled(torch.nn.Module):
        """The inference export, compiled by torch.compile (freezing) on its first call."""

        def __init__(self) -> None:
            super().__init__()
            self.eager = export
            self._compiled = [compiled]  # a list: not a second registered copy of the module
            self.inspec_compile_seconds: float | None = None
            self.inspec_compiled = True
            if hasattr(export, "inspec_weights"):
                self.inspec_weights = export.inspec_weights
            self.eval()

        def forward(self, *args: Any, **kw: Any):
            with torch.no_grad():
                if not self.inspec_compiled:
                    return self.eager(*args, **kw)
                if self.inspec_compile_seconds is not None:
                    return self._compiled[0](*args, **kw)
                t = time.perf_counter()
                try:
                    out = self._compiled[0](*args, **kw)
                except Exception as e:  # the backend failed, or the input is wrong
                    out = self.eager(*args, **kw)  # a user's error (a bad input) raises here
                    self.inspec_compiled = False
                    fall_back(e)
                    return out
                self.inspec_compile_seconds = time.perf_counter() - t
                return out

    return Compiled()
