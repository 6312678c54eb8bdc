"""The analysis names every layer by the attribute path of its module in the generated PyTorch model,
so that `inspec table -g layers`, the JSON table and the diagrams use the names a user sees in
`model.named_modules()` and `state_dict()`."""

import pytest

from inspec.analysis import ir
from inspec.analysis.elaborate import elaborate
from inspec.backends.torch import module_paths
from tests.conftest import ROOT

SPECS = sorted(
    p
    for p in [*ROOT.glob("specs/*.isp"), *ROOT.glob("specs/examples/*.isp")]
    if "KNOWN NOT TO CHECK" not in p.read_text(encoding="utf-8")
)


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.name)
def test_analysis_paths_are_module_paths(spec):
    net = elaborate(path=str(spec))
    assert net.ok
    analysis = {}
    for row in net.rows:  # a merge or a seq row is transparent: its branches are the scope's
        for path, layer in ir.row_layers(row.node):
            analysis[path] = layer
    modules = module_paths(net)
    # a final softmax is left to the loss: the only layers without a module
    assert {p for p in set(analysis) - set(modules) if analysis[p].op.name != "softmax"} == set()
    assert set(modules) <= set(analysis)
    for path, layer in modules.items():
        assert analysis[path] is layer, path
