"""Loading a spec and its imports: files read safely, parsed, and their blocks collected."""

from __future__ import annotations

import os
from pathlib import Path

from inspec.analysis.ops import ROW_OPS
from inspec.diagnostics import DiagnosticBag
from inspec.language import ast as A
from inspec.language.parser import MAX_SOURCE_BYTES, parse


class _Loader:
    def __init__(self, bag: DiagnosticBag):
        self.bag = bag
        self.sources: dict[str, str] = {}
        self.modules: dict[str, A.Module | None] = {}
        self.blocks: dict[str, A.BlockDef] = {}
        self.block_files: dict[str, str] = {}

    def load(self, path: str, text: str | None, stack: tuple[str, ...], via: A.Import | None):
        key = os.path.normcase(os.path.abspath(path)) if text is None else path
        if key in stack:
            cycle = " -> ".join(os.path.basename(s) for s in (*stack[stack.index(key) :], key))
            self.bag.error("import cycle", via.span if via else None, cycle)
            return None
        if key in self.modules:
            return self.modules[key]
        if text is None:
            try:
                # a device or FIFO (/dev/zero, /dev/stdin) would be read forever: regular files only,
                # and no more than the parser accepts
                if os.path.exists(path) and not os.path.isdir(path) and not os.path.isfile(path):
                    raise OSError(0, "not a regular file")
                with open(path, "rb") as f:
                    data = f.read(MAX_SOURCE_BYTES + 1)
            except OSError as e:
                self.bag.error(
                    f"cannot read '{path}': {e.strerror or e}", via.span if via else None
                )
                self.modules[key] = None
                return None
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as e:
                self.bag.error(
                    f"'{path}' is not UTF-8 text (byte {e.start})", via.span if via else None
                )
                self.modules[key] = None
                return None
        display = path
        self.sources[display] = text
        module, diags = parse(text, display)
        for d in diags:
            self.bag.add(d)
        self.modules[key] = module
        if module is None:
            return None
        base = Path(path).parent
        for imp in module.imports:
            target = os.path.normpath(str(base / imp.path))
            self.load(target, None, (*stack, key), imp)
        for b in module.blocks:
            if b.name in ROW_OPS:
                self.bag.error(f"block '{b.name}' has the name of a built-in op", b.span)
            elif b.name in self.blocks:
                prev = self.blocks[b.name]
                if prev is not b:
                    self.bag.error(
                        f"block '{b.name}' is defined twice",
                        b.span,
                        f"the first definition is at {prev.span}",
                    )
            else:
                self.blocks[b.name] = b
                self.block_files[b.name] = display
        return module
