"""Rendering DOT with the system's `dot` (svg, png, pdf), the marker every output carries, and the
`Diagram` object of the Python API (inline SVG in Jupyter).

`dot` runs as a subprocess of its own (not through the graphviz package), so that its environment fixes
the PDF's date and every way it can fail becomes a DiagramError."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

from inspec.analysis import ir
from inspec.backends.diagram.dot import FORMATS, DiagramError, DotNotFound, to_dot
from inspec.fileio import mark, write_atomic

# ------------------------------------------------------------------------------------------------
# Rendering and the marker


_PDF_DATE = re.compile(rb"/(CreationDate|ModDate) \(D:[0-9]{14}(Z|[+-][0-9]{2}'[0-9]{2}'?)?\)")


def _fixed_date(m: re.Match) -> bytes:
    """The same date entry at the epoch, the same length (so that the PDF's byte offsets hold)."""
    zone = m.group(2) or b""
    zone = b"Z" if zone == b"Z" else re.sub(rb"[0-9]", b"0", zone).replace(b"-", b"+")
    return b"/" + m.group(1) + b" (D:19700101000000" + zone + b")"


def _run_dot(source: str, fmt: str) -> bytes:
    """`dot -Tfmt` on source. Any way it can fail (not installed, cannot start, an error, killed by a
    signal or out of memory, no output) is a DiagramError; Ctrl-C stays a KeyboardInterrupt."""
    exe = shutil.which("dot")
    if exe is None:
        raise DotNotFound()
    # Dates in the output are the epoch (cairo >= 1.18 reads SOURCE_DATE_EPOCH; older ones are
    # normalised below), in UTC whatever the machine's time zone.
    env = dict(os.environ, SOURCE_DATE_EPOCH="0", TZ="UTC")
    try:
        proc = subprocess.run(
            [exe, "-Kdot", f"-T{fmt}"],
            input=source.encode("utf-8", "replace"),
            capture_output=True,
            env=env,
        )
    except FileNotFoundError:
        raise DotNotFound() from None
    except (OSError, MemoryError, subprocess.SubprocessError) as e:
        raise DiagramError(f"dot could not run: {getattr(e, 'strerror', None) or e}") from None
    if proc.returncode < 0:
        sig = -proc.returncode
        if sig == signal.SIGINT:
            raise KeyboardInterrupt
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        hint = ": out of memory? (the diagram may be too large)" if sig == signal.SIGKILL else ""
        raise DiagramError(f"dot was killed by {name}{hint}")
    if proc.returncode != 0:
        lines = proc.stderr.decode(errors="replace").strip().splitlines()
        msg = lines[0] if lines else f"exit status {proc.returncode}"
        raise DiagramError(f"dot failed: {msg[:300]}")
    if not proc.stdout:
        raise DiagramError("dot produced no output")
    return proc.stdout


def render(source: str, fmt: str = "svg") -> bytes:
    """Render DOT text with the system's `dot`, marked as generated; the same text gives the same bytes."""
    if fmt == "dot":
        return source.encode()
    if fmt not in FORMATS:
        raise DiagramError(f"unknown format '{fmt}' (choose {', '.join(FORMATS)})")
    data = _run_dot(source, fmt)
    if fmt == "pdf":
        data = _PDF_DATE.sub(_fixed_date, data)
    try:
        return mark(data, fmt)
    except ValueError as e:
        raise DiagramError(f"dot returned {e}") from None


class Diagram:
    """A diagram of a checked spec: `.source` is the DOT text; renders inline in Jupyter."""

    def __init__(
        self,
        net: ir.Network,
        detail: str = "network",
        block: str | None = None,
        rankdir: str = "TB",
        costs: bool = False,
        repeats: str = "collapse",
    ):
        self.network = net
        self.source = to_dot(
            net, detail=detail, block=block, rankdir=rankdir, costs=costs, repeats=repeats
        )

    def render(self, fmt: str = "svg") -> bytes:
        return render(self.source, fmt)

    def save(self, path: str | os.PathLike, format: str | None = None, force: bool = False) -> Path:
        """Write the diagram; the format comes from the extension unless given. Never overwrites a file
        that inspec did not generate, unless force."""
        fmt = format or Path(path).suffix.lstrip(".").lower()
        if fmt not in FORMATS:
            raise DiagramError(f"cannot tell the format of {path}: use one of {', '.join(FORMATS)}")
        return write_atomic(
            path, self.render(fmt), force=force, protect=tuple(self.network.sources)
        )

    def _repr_svg_(self) -> str | None:
        try:
            return self.render("svg").decode()
        except DiagramError:  # dot missing, failing or killed: Jupyter shows the DOT text instead
            return None

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, str]:
        bundle = {"text/plain": self.source}
        svg = self._repr_svg_()
        if svg is not None:
            bundle["image/svg+xml"] = svg
        return bundle

    def __repr__(self) -> str:
        return (
            f"<inspec.Diagram of {self.network.name!r}: {self.source.count(chr(10))} lines of DOT>"
        )
