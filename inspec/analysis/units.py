"""Number formats: exact counts, SI units, and the GoogLeNet paper's units.

The GoogLeNet paper prints params in units of 1024 (its "K") and ops in units of 10^6 ("M").
`--units paper` prints the same way, so that a row can be read against the printed table; expectations
in a spec that says `units paper` are read in those units too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SUFFIX = {"K": 1, "M": 2, "G": 3}
_QTY = re.compile(r"^(\d+(?:\.\d+)?)([KMG])?$")


def base(kind: str, units: str) -> int:
    """The multiplier of 'K' for a quantity kind (params, weights, ops) under a unit system."""
    if units == "paper" and kind in ("params", "weights"):
        return 1024
    return 1000


@dataclass(frozen=True)
class Qty:
    mantissa: float
    decimals: int
    suffix: str | None

    def value(self, kind: str, units: str) -> float:
        if self.suffix is None:
            return self.mantissa
        return self.mantissa * base(kind, units) ** _SUFFIX[self.suffix]

    def half_step(self, kind: str, units: str) -> float:
        """Half a unit of the last printed digit: the precision the printed number carries."""
        step = 10.0 ** (-self.decimals)
        if self.suffix is None:
            return 0.5 * step if self.decimals else 0.0
        return 0.5 * step * base(kind, units) ** _SUFFIX[self.suffix]


def parse_qty(raw: str) -> Qty | None:
    m = _QTY.match(raw)
    if not m:
        return None
    num, suffix = m.groups()
    decimals = len(num.partition(".")[2])
    return Qty(float(num), decimals, suffix)


def fmt_exact(n: int) -> str:
    return f"{n:,}"


def fmt_paper(n: int, kind: str) -> str:
    """Format like the paper's table: params in K (x1024), ops in M (x10^6)."""
    if n == 0:
        return ""
    if kind == "ops":
        v, suffix = n / 1e6, "M"
        if v < 0.95:
            v, suffix = n / 1e3, "K"
    else:
        v, suffix = n / 1024, "K"
        if v >= 1024 * 100:
            v, suffix = n / 1024**2, "M"
    text = f"{v:.1f}" if v < 10 else f"{v:.0f}"
    if text.endswith(".0"):
        text = text[:-2]
    return f"{text}{suffix}"


def fmt_si(n: int) -> str:
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= div:
            return f"{n / div:.3g}{suffix}"
    return str(n)


def fmt_count(n: int, kind: str, units: str) -> str:
    if units == "paper":
        return fmt_paper(n, kind)
    return fmt_exact(n)
