"""Helpers shared by the spec tests (tests/test_specs_*.py)."""

from __future__ import annotations

from pathlib import Path

import inspec
from inspec.analysis import ir

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


def forward_modes(spec: str, **params):
    """Build a shipped spec's module and run one input through it in train and in eval mode."""
    import torch

    module = inspec.build(SPECS / spec, **params)
    net = inspec.load(SPECS / spec, **params).ir
    x = torch.randn(1, net.input.c, net.input.h, net.input.w)
    outs = {}
    with torch.no_grad():
        for mode in ("train", "eval"):
            getattr(module, mode)()
            outs[mode] = module(x)
    return module, outs
