"""Loading a checkpoint into a module built from a spec, and porting one across names.

    load_into(module, net, weights, map="key", allow_missing=False, allow_unexpected=False) -> Ported
    port(state, target_entries, map, ...) -> (new state_dict, Plan)

Strict by default: anything missing, unexpected or mis-shaped raises WeightsError, whose message lists
the keys under the spec rows that made them (report.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch

from inspec.analysis import ir
from inspec.weights import checkpoint
from inspec.weights.errors import WeightsError
from inspec.weights.plan import Entry, Plan, make_plan
from inspec.weights.report import Rows, Sides, problems_text, report_text, summary_text


@dataclass
class Ported:
    """What a load or a port did: the plan, and how to tell it (`str()` is the summary)."""

    plan: Plan
    rows: Rows
    sides: Sides

    @property
    def missing(self) -> list[str]:
        """Keys of the target that nothing filled (mis-shaped ones included)."""
        return [e.key for e in self.plan.missing] + [p.target.key for p in self.plan.misshaped]

    @property
    def unexpected(self) -> list[str]:
        """Keys of the source left unused (mis-shaped ones included)."""
        return [e.key for e in self.plan.unexpected] + [p.source.key for p in self.plan.misshaped]

    @property
    def key_map(self) -> dict[str, str]:
        """target key -> source key, for every entry ported."""
        return {p.target.key: p.source.key for p in self.plan.pairs}

    def report(self) -> str:
        return report_text(self.plan, self.rows, self.sides)

    def __str__(self) -> str:
        return summary_text(self.plan, self.sides)


def check(
    plan: Plan,
    rows: Rows,
    sides: Sides,
    allow_missing: bool,
    allow_unexpected: bool,
    partial: bool = True,
) -> None:
    """WeightsError unless the plan can be carried out with these allowances (`partial`: the caller
    offers them, so the message may suggest them)."""
    if plan.problems(allow_missing, allow_unexpected):
        raise WeightsError(problems_text(plan, rows, sides, partial))


def assemble(plan: Plan, state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The target's state_dict: each ported entry's tensor under its target key, in the target's order,
    and the counters the plan fills."""
    out = {p.target.key: state[p.source.key] for p in plan.pairs}
    for e in plan.filled:
        out[e.key] = torch.tensor(0, dtype=torch.long)
    order = plan.target_order
    return dict(sorted(out.items(), key=lambda kv: order[kv[0]]))


def port(
    state: Mapping[str, torch.Tensor],
    target: list[Entry],
    rows: Rows,
    sides: Sides,
    map: str = "auto",
    allow_missing: bool = False,
    allow_unexpected: bool = False,
) -> tuple[dict[str, torch.Tensor], Ported]:
    """`state` under the target's keys (see plan.py for `map`); WeightsError when it does not fit."""
    plan = make_plan(checkpoint.entries(state), target, map)
    check(plan, rows, sides, allow_missing, allow_unexpected)
    return assemble(plan, state), Ported(plan, rows, sides)


def load_into(
    module: torch.nn.Module,
    net: ir.Network,
    weights,
    map: str = "key",
    allow_missing: bool = False,
    allow_unexpected: bool = False,
) -> Ported:
    """Load `weights` (a path or a mapping, see checkpoint.read) into `module`, built from `net`."""
    from inspec.backends.torch import module_paths

    state = checkpoint.read(weights)
    rows = Rows(net, module_paths(net))
    sides = Sides(target=net.name, source=checkpoint.name_of(weights))
    target = checkpoint.entries(module.state_dict())
    new, ported = port(state, target, rows, sides, map, allow_missing, allow_unexpected)
    result = module.load_state_dict(new, strict=False)
    assert not result.unexpected_keys, (
        result.unexpected_keys
    )  # the plan names only the module's keys
    return ported
