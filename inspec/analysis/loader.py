"""Loading a spec and its imports: files read safely, parsed, and their blocks collected.

Imports nest at most MAX_IMPORT_DEPTH files deep (the loader recurses once a level). An imported file
that does not parse as a spec (say `import "/etc/shadow"`) is not quoted: its diagnostics are cut to the
first, which shows only the offending token, at most MAX_TOKEN_SHOWN characters of it.
"""

from __future__ import annotations

import os
from pathlib import Path

from inspec.analysis.ops import ROW_OPS
from inspec.diagnostics import Diagnostic, DiagnosticBag, Span
from inspec.language import ast as A
from inspec.language.parser import MAX_SOURCE_BYTES, normalize_source, parse

MAX_IMPORT_DEPTH = 32  # files below the spec in one chain of imports
# characters of the offending token shown from an imported file that does not parse
MAX_TOKEN_SHOWN = 16


def _token_only(d: Diagnostic, text: str, via: A.Import) -> tuple[Diagnostic, str]:
    """The first syntax error of an imported file that does not parse, and a stand-in for the file's
    text that holds nothing but the offending token (cut to MAX_TOKEN_SHOWN characters) where it
    stood, so that the quoted line and caret show no more of the file than that."""
    lines = text.split("\n")
    span = d.span
    blank = "\n" * (len(lines) - 1)
    if span is None or not 1 <= span.line <= len(lines):
        return d, blank
    line = lines[span.line - 1]
    start = max(span.col, 1)
    end = span.end_col if span.end_line == span.line else len(line) + 1
    token = line[start - 1 : max(end - 1, start)]
    shown = token if len(token) <= MAX_TOKEN_SHOWN else token[:MAX_TOKEN_SHOWN] + "\u2026"
    message = d.message
    if token and shown != token:
        message = message.replace(repr(token), repr(shown))
    if len(message) > 120:
        message = message[:120] + "\u2026"
    notes = (
        *d.notes,
        f"imported at {via.span}: of a file that does not parse, only the first error and its token "
        "are shown",
    )
    cut = Span(span.file, span.line, start, span.line, start + max(len(shown), 1))
    stand_in = [""] * len(lines)
    stand_in[span.line - 1] = " " * (start - 1) + shown
    return Diagnostic(d.severity, message, cut, notes), "\n".join(stand_in)


def _where(stmt: object, file: str) -> str:
    span = getattr(stmt, "span", None)
    return str(span) if span is not None else file


SEARCH_PATH_VAR = "INSPEC_PATH"  # folders to look in for imports, separated by os.pathsep
LIBRARY_PREFIX = "inspec/"  # `import "inspec/blocks/inception.isp"`: the library inspec ships


def library_root() -> Path:
    """The shipped specs and block libraries: inspec/library in an installed wheel, the repository's
    specs/ folder in a checkout."""
    here = Path(__file__).resolve().parent.parent
    packaged = here / "library"
    return packaged if packaged.is_dir() else here.parent / "specs"


def candidates(name: str, base: Path) -> list[str]:
    """Where `import "name"` is looked for, in order: next to the importing file (base), in each
    folder of $INSPEC_PATH, and, for `inspec/...`, in the shipped library."""
    if os.path.isabs(name):
        return [os.path.normpath(name)]
    found = [os.path.normpath(str(base / name))]
    for folder in os.environ.get(SEARCH_PATH_VAR, "").split(os.pathsep):
        if folder:
            found.append(os.path.normpath(os.path.join(folder, name)))
    if name.startswith(LIBRARY_PREFIX):
        found.append(str(library_root() / name[len(LIBRARY_PREFIX) :]))
    return list(dict.fromkeys(found))


class _Loader:
    def __init__(self, bag: DiagnosticBag):
        self.bag = bag
        self.sources: dict[str, str] = {}
        self.modules: dict[str, A.Module | None] = {}
        self.blocks: dict[str, A.BlockDef] = {}
        self.block_files: dict[str, str] = {}

    def load(self, path: str, text: str | None, stack: tuple[str, ...], via: A.Import | None):
        # a text under the name of a file (an editor's unsaved document) stands for that file
        on_disk = text is None or os.path.isfile(path)
        key = os.path.normcase(os.path.abspath(path)) if on_disk else path
        if key in stack:
            cycle = " -> ".join(os.path.basename(s) for s in (*stack[stack.index(key) :], key))
            self.bag.error("import cycle", via.span if via else None, cycle)
            return None
        if key in self.modules:
            return self.modules[key]
        if via is not None and len(stack) > MAX_IMPORT_DEPTH:
            self.bag.error(
                f"imports nested more than {MAX_IMPORT_DEPTH} files deep",
                via.span,
                f"each file of a chain imports the next: at most {MAX_IMPORT_DEPTH} files below the "
                "spec are followed",
            )
            return None
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
        # the text the spans count in: the parser's (no byte order mark, \n line ends only)
        self.sources[display] = normalize_source(text)
        module, diags = parse(text, display)
        errors = [d for d in diags if d.is_error]
        if module is None and via is not None and errors:
            first = min(errors, key=lambda d: (d.span.line, d.span.col) if d.span else (0, 0))
            first, self.sources[display] = _token_only(first, self.sources[display], via)
            diags = [first]
        for d in diags:
            self.bag.add(d)
        self.modules[key] = module
        if module is None:
            return None
        if via is not None and module.network is None and module.body:
            self.bag.warning(
                f"'{via.path}' has rows but no network; an import takes only its blocks",
                via.span,
                f"its first row is at {_where(module.body[0], display)}",
            )
        base = Path(path).parent
        for imp in module.imports:
            tried = candidates(imp.path, base)
            target = next((t for t in tried if os.path.exists(t)), None)
            if target is None and not os.path.isabs(imp.path):
                self.bag.error(
                    f"cannot find '{imp.path}' to import",
                    imp.span,
                    "tried " + ", ".join(tried),
                    "an import is looked up next to the importing file, then in each folder of "
                    f"${SEARCH_PATH_VAR}, then (for `inspec/...`) in the library inspec ships",
                )
                continue
            self.load(target or tried[0], None, (*stack, key), imp)
        for b in module.blocks:
            for param in b.params:
                if param.name == "in":
                    self.bag.error(
                        "'in' is the block's input channels; a parameter cannot take that name",
                        param.span,
                    )
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
