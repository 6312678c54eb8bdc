"""Helpers shared by the spec tests (tests/test_specs_*.py)."""

from __future__ import annotations

from pathlib import Path

import inspec
from inspec import ir

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"


def load(name: str, **params) -> ir.Network:
    """A shipped spec, which must check without errors or warnings."""
    net = inspec.load(SPECS / name, **params).ir
    rendered = "\n".join(d.render(net.sources) for d in net.diagnostics)
    assert net.diagnostics == [], f"{name} should check without errors or warnings:\n{rendered}"
    return net


def rows(net: ir.Network) -> dict[str, ir.Node]:
    return {r.node.name: r.node for r in net.rows}
