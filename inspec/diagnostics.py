"""Diagnostics are values: a severity, a message, a source span and notes with the arithmetic.

Passes collect them; the CLI renders them all at once, each with the source line and a caret::

    specs/bad.isp:7:1: error: window 3x3 does not fit the 2x2x512 input
        7 | maxpool 3x3/2
          | ^^^^^^^^^^^^^
          = note: (2 + 0 - 3) / 2 + 1 = 0.5 < 1
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from enum import Enum


@dataclass(frozen=True)
class Span:
    """A region of a source file; lines and columns count from 1, end is exclusive."""

    file: str
    line: int
    col: int
    end_line: int
    end_col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"  # something worth knowing, not wrong: shown by `inspec check`, not counted


@dataclass(frozen=True)
class Diagnostic:
    severity: Severity
    message: str
    span: Span | None
    notes: tuple[str, ...] = ()
    code: str | None = None  # what kind of finding this is, for a caller that treats one kind apart

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def render(self, sources: dict[str, str] | None = None) -> str:
        """The diagnostic as the CLI prints it. Control characters (ESC and the rest of C0 and C1, DEL)
        and bidirectional-text controls are shown as visible stand-ins (see `printable`), so that a
        quoted line or a file name cannot drive the terminal."""
        return printable(self._render(sources))

    def _render(self, sources: dict[str, str] | None) -> str:
        head = f"{self.span}: " if self.span else ""
        lines = [f"{head}{self.severity.value}: {self.message}"]
        text = (sources or {}).get(self.span.file) if self.span else None
        if self.span and text is not None:
            # lines as the parser counts them: only "\n" ends a line (not \f, \v, \x85, \u2028, ...)
            src_lines = [line.rstrip("\r") for line in text.split("\n")]
            if 1 <= self.span.line <= len(src_lines):
                src = src_lines[self.span.line - 1].expandtabs(1)
                start = max(self.span.col, 1)
                if self.span.end_line == self.span.line:
                    end = max(self.span.end_col, start + 1)
                else:
                    end = max(len(src.rstrip()) + 1, start + 1)
                gutter = " " * len(str(self.span.line))
                lines.append(f" {self.span.line} | {src}")
                lines.append(f" {gutter} | {' ' * (start - 1)}{'^' * (end - start)}")
        pad = " " * (len(str(self.span.line)) if self.span else 1)
        for note in self.notes:
            lines.append(f" {pad} = note: {note}")
        return "\n".join(lines)


# One character for one, so that the caret under a quoted line stays in place: C0 controls as their
# Unicode control pictures (ESC as ␛), DEL as ␡, C1 controls and the bidirectional embeddings,
# overrides and isolates (the "Trojan source" characters) as the replacement character.
_VISIBLE = {c: 0x2400 + c for c in range(0x20) if c != 0x0A}
_VISIBLE[0x7F] = 0x2421
_VISIBLE.update({c: 0xFFFD for c in range(0x80, 0xA0)})
_VISIBLE.update(
    {c: 0xFFFD for c in (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))}
)


def printable(text: str) -> str:
    """text with every control character but the newline replaced by a visible stand-in, one for one."""
    return text.translate(_VISIBLE)


class SpecError(Exception):
    """Raised inside a rule; the caller attaches the span and turns it into a Diagnostic."""

    def __init__(self, message: str, *notes: str, span: Span | None = None):
        super().__init__(message)
        self.message = message
        self.notes = tuple(notes)
        self.span = span


@dataclass
class DiagnosticBag:
    items: list[Diagnostic] = field(default_factory=list)

    def error(self, message: str, span: Span | None, *notes: str, code: str | None = None) -> None:
        self.items.append(Diagnostic(Severity.ERROR, message, span, tuple(notes), code))

    def warning(
        self, message: str, span: Span | None, *notes: str, code: str | None = None
    ) -> None:
        self.items.append(Diagnostic(Severity.WARNING, message, span, tuple(notes), code))

    def note(self, message: str, span: Span | None, *notes: str) -> None:
        self.items.append(Diagnostic(Severity.NOTE, message, span, tuple(notes)))

    def add(self, diag: Diagnostic) -> None:
        self.items.append(diag)

    @property
    def has_errors(self) -> bool:
        return any(d.is_error for d in self.items)

    def sorted(self) -> list[Diagnostic]:
        def key(d: Diagnostic):
            s = d.span
            return (s.file, s.line, s.col) if s else ("", 0, 0)

        seen: set = set()
        out = []
        failed = self.has_errors  # notes matter once the spec is right
        for d in sorted(self.items, key=key):
            if failed and d.severity is Severity.NOTE:
                continue
            k = (d.severity, d.message, d.span)
            if k not in seen:
                seen.add(k)
                out.append(d)
        return out


EXPECT = "expect"  # the code of a warning that a row's `expect` disagrees with what is computed
PARAM = "param"  # the code of an error in a value given from outside (-p, inspec.load(path, N=V))


def promote(diags: list[Diagnostic], code: str, note: str) -> list[Diagnostic]:
    """diags with every warning of this code turned into an error (`inspec check --strict`); the
    first promoted one carries `note`. Once there are errors, notes are left out, as
    DiagnosticBag.sorted leaves them out."""
    out: list[Diagnostic] = []
    noted = False
    for d in diags:
        if d.code == code and d.severity is Severity.WARNING:
            notes = d.notes if noted else (*d.notes, note)
            noted = True
            d = Diagnostic(Severity.ERROR, d.message, d.span, notes, d.code)
        out.append(d)
    if any(d.is_error for d in out):
        out = [d for d in out if d.severity is not Severity.NOTE]
    return out


def did_you_mean(name: str, candidates) -> str | None:
    """A 'did you mean' note for a misspelled name, or None."""
    match = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=0.6)
    return f"did you mean '{match[0]}'?" if match else None
