"""Naming in one place: the table's layer paths, the diagram's node ids, the generated module's
attributes and `named_modules()` agree for every shipped spec and every block definition."""

import pytest

from inspec.analysis import ir
from inspec.analysis.elaborate import elaborate
from inspec.analysis.naming import MODULE_ATTRIBUTES, RESERVED, ident
from inspec.backends.diagram.view import VBox, VCluster, VSeq, VSide, VSplit, _IRView
from inspec.backends.table import rows
from inspec.backends.torch import build_module, module_paths
from tests.conftest import ROOT

SPECS = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "specs").rglob("*.isp"))


def _boxes(item, out: list[str]) -> list[str]:
    """The ids of the layer boxes of a view tree."""
    if isinstance(item, VBox):
        if item.layer:
            out.append(item.id)
    elif isinstance(item, VSeq):
        for i in item.items:
            _boxes(i, out)
    elif isinstance(item, VSplit):
        for b in item.branches:
            _boxes(b, out)
    elif isinstance(item, VCluster):
        _boxes(item.body, out)
    elif isinstance(item, VSide):
        _boxes(item.head, out)
    return out


def _diagram_paths(net: ir.Network) -> list[str]:
    view = _IRView(net, "blocks", costs=False, repeats="expand")
    return _boxes(view.seq(net.body, ""), [])


def _table_paths(net: ir.Network) -> list[str]:
    return [tr.path for tr in rows(net, "layers")]


@pytest.mark.parametrize("spec", SPECS)
def test_table_diagram_and_module_agree(spec, in_root):
    net = elaborate(spec)
    if net.input is None:  # a block library: its definitions are checked below
        return
    if not net.ok:
        return  # the paper's inconsistent widths example: refused, nothing to name
    table = _table_paths(net)
    assert len(table) == len(set(table)), "two layers share a path"
    assert _diagram_paths(net) == [p for p, _ in _active_and_inactive(net)]
    assert sorted(table) == sorted(p for p, _ in _active_and_inactive(net))
    generated = sorted(module_paths(net))
    active = [p for p, layer in net.body.layers()]
    assert set(generated) <= set(active)
    # only a final row the module leaves to the loss (softmax) has no module: the last layer of the
    # trunk or of a side head
    ends = {active[-1]} | {
        list(ir.row_layers(s, True))[-1][0] for s in net.body.items if isinstance(s, ir.Side)
    }
    assert set(active) - set(generated) <= ends
    module = build_module(net)
    modules = dict(module.named_modules())
    for path in generated:
        assert path in modules, f"{spec}: {path} is not a module of the built network"


def _active_and_inactive(net: ir.Network):
    out = []
    for node in net.body.items:
        out += list(ir.row_layers(node, include_inactive=True))
    return out


@pytest.mark.parametrize("spec", SPECS)
def test_block_definitions_name_rows_as_their_instances(spec, in_root):
    """A block drawn from its definition (symbolic arguments) has the paths of an instance of it."""
    net = elaborate(spec)
    for name, definition in net.definitions.items():
        symbolic = _IRView(net, "network", False, "expand", symbolic=True)
        drawn = _boxes(symbolic.seq(definition.body, f"{name}."), [])
        # a block of block calls only (DenseNet's dense_block) draws them as boxes, not layers
        calls_only = all(
            isinstance(n, ir.Call)
            or (isinstance(n, ir.Repeat) and all(isinstance(i, ir.Call) for i in n.items))
            for n in definition.body.items
        )
        assert drawn or calls_only, name
        instance = _first_instance(net, name)
        if instance is None or _has_parameter_counts(definition.body):
            continue
        own = [f"{name}.{p}" for p, _ in instance.body.layers(include_inactive=True)]
        assert drawn == own, name


def _first_instance(net: ir.Network, name: str) -> ir.Call | None:
    for node in net.body.walk():
        if isinstance(node, ir.Call) and node.block.name == name and node.body is not None:
            return node
    return None


def _has_parameter_counts(seq: ir.Seq) -> bool:
    """Structure that the arguments decide: a count, or a condition in a numbered sequence (which
    numbers only the rows that are on)."""
    return any(
        (isinstance(n, ir.Repeat) and n.count_expr is not None)
        or (
            isinstance(n, ir.Branch) and n.is_sequence and any(ir.row_cond(i) for i in n.body.items)
        )
        or (ir.is_group(n) and n.branches[0].cond is not None)
        for n in seq.walk()
    )


MIX = """\
network t
input 8x8x4
block mix {
  branch a { conv (first) 1x1 4; conv (second) 3x3 4 }
  branch { conv 1x1 4; relu }
  branch b { conv 1x1 4
     branch b_1a { conv 1x1 2 }
     branch { conv 1x1 2 } }
}
mix (m)
dropout 0.5
"""


def test_labels_in_branches_are_honoured_and_not_prefixed_twice():
    net = elaborate(text=MIX, name="t.isp")
    assert net.ok, [d.message for d in net.diagnostics]
    expected = [
        "m.first",
        "m.second",
        "m.branch2.0",
        "m.branch2.1",
        "m.b_0",
        "m.b_1a",
        "m.b_branch2",
        "dropout",  # numbered only where names collide
    ]
    assert _table_paths(net) == expected
    assert _diagram_paths(net) == expected
    assert sorted(module_paths(net)) == sorted(expected)
    symbolic = _IRView(net, "network", False, "expand", symbolic=True)
    drawn = _boxes(symbolic.seq(net.definitions["mix"].body, "mix."), [])
    assert drawn == ["mix." + p[2:] for p in expected[:-1]]


def test_a_label_standing_alone_in_a_branch_must_be_free():
    text = MIX.replace("conv (second) 3x3 4", "conv (m) 3x3 4").replace(
        "branch b_1a", "branch first"
    )
    net = elaborate(text=text, name="t.isp")
    assert [d.message for d in net.diagnostics if d.is_error] == [
        "duplicate label: 'first' is already used in this scope"
    ]


@pytest.mark.parametrize(
    "label", ["print", "self", "__init__", "_modules", "named_parameters", "forward", "training"]
)
def test_hostile_labels_are_renamed_the_same_everywhere(label):
    text = f"network t\ninput 4x4x2\nconv ({label}) 1x1 2\nconv 1x1 2\n"
    net = elaborate(text=text, name="t.isp")
    assert net.ok
    (path, _), _ = net.body.layers()
    assert path == ident(label) and path != label
    assert _table_paths(net)[0] == path == _diagram_paths(net)[0]
    module = build_module(net)
    assert path in dict(module.named_modules())


def test_reserved_names_cover_nn_module():
    import torch

    names = set(dir(torch.nn.Module)) | set(vars(torch.nn.Module()))
    assert {n for n in names if not n.startswith("__")} <= MODULE_ATTRIBUTES
    assert {"F", "torch", "nn", "Tensor", "print", "in"} <= RESERVED
