"""Size guards that need the whole elaborated network."""

from __future__ import annotations

from inspec.analysis import ir
from inspec.diagnostics import DiagnosticBag

MAX_PARAMS = 1 << 32  # 16 GiB of float32: more is rejected before inspec.build allocates it


def parameter_budget(net: ir.Network, bag: DiagnosticBag) -> None:
    """Reject a network with more than MAX_PARAMS parameters, at the first row that crosses it."""
    params = 0
    for r in net.rows:
        if r.node.active:
            params += r.node.cost.params
            if params > MAX_PARAMS:
                bag.error(
                    f"the network has more than {MAX_PARAMS:,} parameters",
                    r.node.span,
                    f"{params:,} parameters up to and including this row",
                )
                return
