"""Passes over the elaborated network, run in this order by `elaborate` after elaboration. Each takes
the network and the diagnostic bag, records what it finds on the IR and reports through the bag."""

from inspec.analysis.passes.audit import audit
from inspec.analysis.passes.channels import channels
from inspec.analysis.passes.guards import parameter_budget

PASSES = (parameter_budget, audit, channels)

__all__ = ["PASSES", "audit", "channels", "parameter_budget"]
