"""A seq whose rows are all labelled is an nn.Sequential of an OrderedDict: named seqs inside it,
a repeat's named instances counting from any number (`(block1-0..)`, torchvision's RegNet
stages), labels that are module names but no Python identifiers, and switched rows (the
OrderedDict built entry by entry, as torchvision's BottleneckTransform)."""

from pathlib import Path

from inspec.analysis.elaborate import elaborate
from inspec.backends.torch import build_module, generate, module_paths
from tests.test_codegen import test_spec_builds_and_matches_analysis as builds_and_matches

STAGES = """
network stages(se = true)
padding torch
input 16x16x3

block unit(out, stride = 1, squeeze = 0) {
  add act=relu {
    branch proj if (in != out or stride != 1) { conv 1x1 out stride=stride bias=false; bn }
    branch f {
      seq f {
        seq a { conv 3x3 out stride=stride bias=false; bn; relu }
        conv (se) 1x1 out                                     if (squeeze > 0)
        seq c { conv 1x1 out bias=false; bn }
      }
    }
  }
}

seq stem { conv 3x3/2 8 bias=false; bn; relu }
seq trunk {
  seq block1 { 1 x unit (block1-0..) 8  squeeze=4 }
  seq block2 { 4 x unit (block2-0..) 16 stride=(2 if first else 1) }
}
avgpool (pool) global
linear (fc) 10
"""


def _net(tmp_path: Path, text: str):
    path = tmp_path / "stages.isp"
    path.write_text(text)
    net = elaborate(path=str(path))
    assert net.ok, [d.render(net.sources) for d in net.diagnostics]
    return net, path


def test_named_children_keep_their_labels(tmp_path):
    net, path = _net(tmp_path, STAGES)
    builds_and_matches(str(path))  # params, every layer's shape, forward and backward, fx
    paths = set(module_paths(net))
    assert {"trunk.block2.block2-0.proj.0", "trunk.block1.block1-0.f.se"} <= paths
    assert {f"trunk.block2.block2-{i}.f.a.0" for i in range(4)} <= paths
    assert "trunk.block2.block2-1.proj.0" not in paths  # shape kept: no projection
    assert not any(p.startswith("trunk.block2.block2-1.f.se") for p in paths)  # switched off
    keys = build_module(net).state_dict().keys()
    assert "trunk.block2.block2-3.f.c.1.running_var" in keys
    assert "trunk.block1.block1-0.f.se.weight" in keys


def test_named_children_code(tmp_path):
    net, _ = _net(tmp_path, STAGES)
    code = generate(net)
    # a switched named child: the OrderedDict is built entry by entry
    assert "layers: OrderedDict[str, nn.Module] = OrderedDict()" in code
    assert '    layers["se"] = nn.Conv2d(out, out, kernel_size=1)' in code
    # equal instances after the first: one comprehension, the names counting on; a named seq of
    # named children is a local of __init__ before the seq that holds it
    assert (
        """
        block2 = nn.Sequential(
            OrderedDict(
                [
                    ("block2-0", Unit(8, 16, 2)),
                    *[(f"block2-{i}", Unit(16, 16)) for i in range(1, 4)],
                ]
            )
        )
        self.trunk = nn.Sequential(
            OrderedDict([("block1", block1), ("block2", block2)])
        )
"""
        in code
    )


def test_template_names_outside_a_seq_are_identifiers():
    """In a block's scope the instances are attributes: their names are Python identifiers."""
    text = (
        "network t()\ninput 8x8x3\nblock b() {\n  2 x relu (r1..)\n  3 x relu (block1-0..)\n}\nb\n"
    )
    net = elaborate(text=text, name="t.isp")
    assert net.ok
    assert [p for p in module_paths(net)] == [
        "b.r1",
        "b.r2",
        "b.block1_0",
        "b.block1_1",
        "b.block1_2",
    ]
