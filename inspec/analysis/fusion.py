"""Which sibling convolutions the inference export merges into one, computed from the IR.

The branches of a merge (concat, add or mul; not split, whose branches read different channels) all
read the merge's input. Where the first rows of two or more of them are convolutions with the same
kernel, stride, resolved padding and dilation, the same activation and the same bias and batch-norm
settings, they are one convolution whose output channels are the members' in branch order: the export
(`generate(net, inference=True)`) computes that one convolution and splits its output along the
channels, each branch going on from its share. With batch norm folded into each conv first, this is
exact: an output channel of a convolution depends only on its own filter, bias and the shared input,
and the activation is applied channel by channel.

Every attribute that decides the merge must be a constant in the block (not an argument), so that the
merge holds for any arguments the block's class is constructed with: only the output widths (the split
sizes) may follow the arguments. Nothing here imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass

from inspec.analysis import ir
from inspec.analysis.exprs import is_const

# the attributes that must agree (with the input, which every branch shares) for convs to merge
KEY_ATTRS = ("kernel", "stride", "padding", "dilation", "groups", "act", "bn", "bias")
# the attributes the spec may write, which must not depend on an argument (`out` may)
FIXED_SOURCES = ("kernel", "stride", "pad", "dilation", "groups", "act", "bn", "bias")


@dataclass(frozen=True)
class ConvGroup:
    """Sibling convolutions of one merge that the export computes as one: the first row of each of
    `branches` (indices into merge.branches, in order), whose layers are `layers`."""

    merge: ir.Merge
    branches: tuple[int, ...]
    layers: tuple[ir.Layer, ...]

    @property
    def kernel(self) -> tuple[int, int]:
        return tuple(self.layers[0].attrs["kernel"])

    @property
    def stride(self) -> int:
        return self.layers[0].attrs["stride"]

    @property
    def out_channels(self) -> int:
        """The merged convolution's output channels (for the instance)."""
        return sum(layer.out_shape.c for layer in self.layers)


def _mergeable(branch: ir.Branch) -> ir.Layer | None:
    """The branch's first row, if it is a convolution that may join others."""
    if not branch.active or branch.cond is not None or branch.seq or not branch.body.items:
        return None
    first = branch.body.items[0]
    if not isinstance(first, ir.Layer) or first.op.name != "conv":
        return None
    if not first.active or first.cond is not None or first.attrs.get("groups", 1) != 1:
        return None
    if not first.one_module or first.attrs.get("padding") is None:
        return None
    if not first.attrs["padding"].symmetric:
        return None
    for name in FIXED_SOURCES:
        if not is_const(first.sources.get(name)) or not is_const(first.defaulted.get(name)):
            return None
    return first


def _key(layer: ir.Layer) -> tuple:
    a = layer.attrs
    same = (tuple(a[k]) if isinstance(a.get(k), list) else a.get(k) for k in KEY_ATTRS)
    return (*same, layer.in_shape.c)


def sibling_convs(merge: ir.Merge) -> list[ConvGroup]:
    """The groups of sibling convolutions of one merge that the export merges (two or more each), in
    the order of their first branch."""
    if merge.group or merge.op is None or merge.op.name == "split" or len(merge.branches) < 2:
        return []
    if not merge.active:
        return []
    groups: dict[tuple, list[int]] = {}
    for k, br in enumerate(merge.branches):
        layer = _mergeable(br)
        if layer is not None:
            groups.setdefault(_key(layer), []).append(k)
    out = []
    for members in groups.values():
        if len(members) >= 2:
            layers = tuple(merge.branches[k].body.items[0] for k in members)
            out.append(ConvGroup(merge, tuple(members), layers))
    return out


def plan(net: ir.Network) -> list[ConvGroup]:
    """Every group the export merges in the module built with the network's values, instance by
    instance (a block called twice counts twice), in the order of the rows; side heads included
    when they are on, rows that a condition switches off left out."""
    out: list[ConvGroup] = []
    stack: list[ir.Node] = [net.body]
    while stack:
        node = stack.pop()
        if not node.active:
            continue
        if isinstance(node, ir.Merge):
            out += sibling_convs(node)
        stack += reversed(node.children())
    return out
