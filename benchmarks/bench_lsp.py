"""The language server's latency on every shipped spec (specs/*.isp, specs/zoo/*.isp); print a table.

    .venv/bin/python -m benchmarks.bench_lsp [--edits 10] [--hovers 20] [SPEC...]

Over the real protocol: `python -m inspec lsp` runs in a subprocess and pygls's client talks to it on
stdio, so every figure includes JSON-RPC both ways. Per spec: `first` is didOpen until its diagnostics
arrive (the first analysis); `edit` is one didChange (the whole text, one comment line longer each time)
until the new diagnostics arrive (a re-analysis); `hover` is one hover request on a top-level row, the
rows taken in turn, on the last version (its first hover builds the row index). Times in milliseconds,
median and 90th percentile.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import sys
import time
from pathlib import Path

from lsprotocol import types as T
from pygls.lsp.client import LanguageClient

from inspec.lsp.analysis import Analysis

ROOT = Path(__file__).resolve().parent.parent


def p90(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(0.9 * (len(xs) - 1)))]


def hover_points(path: Path, text: str) -> list[tuple[int, int]]:
    """The start of each top-level row written in the spec (found in-process, not timed)."""
    a = Analysis.of(path.as_uri(), 0, text, str(path))
    out = []
    for r in a.net.rows:
        s = r.node.span
        if s.file == a.name:
            out.append((s.line - 1, s.col))
    return out or [(0, 0)]


class Bench:
    def __init__(self) -> None:
        self.client = LanguageClient("bench", "1")
        self.waiting: dict[str, asyncio.Future] = {}

        @self.client.feature(T.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def diagnostics(params: T.PublishDiagnosticsParams) -> None:
            fut = self.waiting.pop(params.uri, None)
            if fut is not None and not fut.done():
                fut.set_result(params)

    async def start(self) -> None:
        await self.client.start_io(sys.executable, "-m", "inspec", "lsp", cwd=ROOT)
        await self.client.initialize_async(
            T.InitializeParams(capabilities=T.ClientCapabilities(), root_uri=ROOT.as_uri())
        )
        self.client.initialized(T.InitializedParams())

    async def stop(self) -> None:
        await self.client.shutdown_async(None)
        self.client.exit(None)
        await self.client.stop()

    async def _notified(self, uri: str, send) -> float:
        fut = asyncio.get_running_loop().create_future()
        self.waiting[uri] = fut
        t = time.perf_counter()
        send()
        await fut
        return (time.perf_counter() - t) * 1000

    async def spec(self, path: Path, edits: int, hovers: int) -> dict[str, list[float]]:
        uri, text = path.as_uri(), path.read_text()
        first = await self._notified(
            uri,
            lambda: self.client.text_document_did_open(
                T.DidOpenTextDocumentParams(T.TextDocumentItem(uri, "inspec", 1, text))
            ),
        )
        edit_ms = []
        for i in range(edits):
            text += f"# edit {i}\n"
            change = T.DidChangeTextDocumentParams(
                T.VersionedTextDocumentIdentifier(version=i + 2, uri=uri),
                [T.TextDocumentContentChangeWholeDocument(text)],
            )
            edit_ms.append(
                await self._notified(uri, lambda c=change: self.client.text_document_did_change(c))
            )
        points = hover_points(path, text)
        hover_ms = []
        for i in range(hovers):
            line, char = points[i % len(points)]
            t = time.perf_counter()
            result = await self.client.text_document_hover_async(
                T.HoverParams(T.TextDocumentIdentifier(uri), T.Position(line, char))
            )
            hover_ms.append((time.perf_counter() - t) * 1000)
            assert result is not None, f"no hover at {path}:{line + 1}"
        self.client.text_document_did_close(
            T.DidCloseTextDocumentParams(T.TextDocumentIdentifier(uri))
        )
        return {"first": [first], "edit": edit_ms, "hover": hover_ms}


async def run(specs: list[Path], edits: int, hovers: int) -> None:
    bench = Bench()
    await bench.start()
    print(
        f"Python {platform.python_version()}, {platform.machine()}; {edits} edits and {hovers} "
        "hovers a spec; milliseconds over stdio (python -m inspec lsp)\n"
    )
    print(
        "| spec | lines | first analysis | edit: median | edit: p90 | hover: median | hover: p90 |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    worst = {"edit": 0.0, "hover": 0.0}
    try:
        for path in specs:
            r = await bench.spec(path, edits, hovers)
            lines = len(path.read_text().splitlines())
            rel = path.relative_to(ROOT)
            print(
                f"| {rel} | {lines} | {r['first'][0]:.1f} | {statistics.median(r['edit']):.1f} | "
                f"{p90(r['edit']):.1f} | {statistics.median(r['hover']):.1f} | {p90(r['hover']):.1f} |"
            )
            worst["edit"] = max(worst["edit"], max(r["edit"]))
            worst["hover"] = max(worst["hover"], max(r["hover"]))
    finally:
        await bench.stop()
    print(f"\nslowest edit: {worst['edit']:.1f} ms; slowest hover: {worst['hover']:.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("specs", nargs="*", type=Path)
    ap.add_argument("--edits", type=int, default=10)
    ap.add_argument("--hovers", type=int, default=20)
    args = ap.parse_args()
    specs = [p.resolve() for p in args.specs] or sorted((ROOT / "specs").glob("*.isp")) + sorted(
        (ROOT / "specs" / "zoo").glob("*.isp")
    )
    asyncio.run(run(specs, args.edits, args.hovers))


if __name__ == "__main__":
    main()
