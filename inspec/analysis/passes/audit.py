"""The audit pass: compare what a spec's rows `expect` (a paper's printed numbers) with what inspec
computes, and warn at every row where they disagree beyond the printed precision. The warnings carry
the code EXPECT, so that `inspec check --strict` can make them errors (diagnostics.promote)."""

from __future__ import annotations

from inspec.analysis import ir
from inspec.analysis.units import fmt_exact, parse_qty
from inspec.diagnostics import EXPECT, DiagnosticBag

KEYS = ("output", "params", "weights", "ops", "depth")


def _computed(row: ir.Row, key: str):
    n = row.node
    if key == "output":
        return n.out_shape
    if key == "depth":
        return n.depth
    return getattr(n.cost, key)


def _record(row: ir.Row, key: str, raw: str, ok: bool, shown: str) -> None:
    row.checks.append(ir.Check(key, raw, ok, shown))


def audit(net: ir.Network, bag: DiagnosticBag) -> None:
    """Check every row's expectations; record the result on the row and warn where they disagree."""
    explained = False
    for row in [*net.rows, *net.nested_rows]:
        for e in row.expectations:
            if e.key not in KEYS:
                bag.error(
                    f"unknown expectation '{e.key}'",
                    e.span,
                    f"expectations: {', '.join(KEYS)}",
                )
                continue
            if row.node.out_shape is None or not row.node.active:
                continue
            got = _computed(row, e.key)
            if e.key == "output":
                parts = e.raw.split("x")
                if len(parts) != 3 or not all(p.isdigit() for p in parts):
                    bag.error(f"output expects a size such as 28x28x256, got {e.raw}", e.span)
                    continue
                want = tuple(int(p) for p in parts)
                _record(row, "output", e.raw, (got.h, got.w, got.c) == want, str(got))
                if (got.h, got.w, got.c) != want:
                    bag.warning(
                        f"expected output {e.raw}, computed {got}",
                        e.span,
                        f"the spec says output={e.raw}",
                        code=EXPECT,
                    )
                continue
            q = parse_qty(e.raw)
            if q is None:
                bag.error(f"{e.key} expects a number such as 159K or 34M, got {e.raw}", e.span)
                continue
            if e.key == "depth":
                _record(row, "depth", e.raw, not q.suffix and got == q.mantissa, str(got))
                if q.suffix or got != q.mantissa:
                    bag.warning(f"expected depth {e.raw}, computed {got}", e.span, code=EXPECT)
                continue
            want = q.value(e.key, net.units)
            tol = q.half_step(e.key, net.units)
            unit = ""
            if q.suffix:
                per = want / q.mantissa if q.mantissa else 1
                unit = f" = {got / per:.{max(q.decimals, 1) + 1}f}{q.suffix}"
            ok = abs(got - want) <= tol + 1e-9
            _record(row, e.key, e.raw, ok, unit[3:] if unit else fmt_exact(got))
            if ok:
                continue
            diff = (got - want) / want * 100 if want else float("inf")
            units_note = (
                "paper units: K = 1024 for params and weights, M = 10^6 for ops"
                if net.units == "paper"
                else "units: K = 10^3, M = 10^6, G = 10^9"
            )
            # the convention is explained once per file, at the first disagreement
            notes = (
                ()
                if explained
                else (
                    f"agreement means within half a unit of the printed last digit ({units_note})",
                )
            )
            explained = True
            bag.warning(
                f"{e.key}: expected {e.raw}, computed {fmt_exact(got)}{unit} ({diff:+.1f}%)",
                e.span,
                *notes,
                code=EXPECT,
            )
