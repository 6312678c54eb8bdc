"""Which sibling convolutions the inference export merges into one, computed from the IR.

The branches of a merge (concat, add or mul; not split, whose branches read different channels) all
read the merge's input. Where the first rows of two or more of them are convolutions with the same
kernel, stride, resolved padding and dilation, the same activation and the same bias and batch-norm
settings, they are one convolution whose output channels are the members' in branch order (below: a
hoisted member's come after the others'): the export
(`generate(net, inference=True)`) computes that one convolution and splits its output along the
channels, each branch going on from its share. With batch norm folded into each conv first, this is
exact: an output channel of a convolution depends only on its own filter, bias and the shared input,
and the activation is applied channel by channel.

A branch that starts with an average pool of stride 1 that keeps the size (no global or adaptive
pool, and one whose weights sum to one at every position: padded zeros not counted, or no padding) and
then a 1x1 convolution joins the merge too, its convolution computed before the pool (hoisted): the
pool and the convolution are both linear maps, one across space and one across channels, so they
commute, and the convolution's bias (the folded batch norm's shift) comes out of an average whose
weights sum to one unchanged. Its activation follows the pool. Such a member comes after the others
in the merged convolution's output; with one, the merged convolution has no activation of its own, and
the others' (which they share) is applied to their part of its output. It is Inception-v4's and
Inception-ResNet-v2's pool branch (`avgpool 3x3/1 pad=1 count_include_pad=false; conv 1x1 96`): its
projection joins the block's other 1x1 convolutions, and the pool averages 96 channels instead of 384.
(Inception-v3's pools count padded zeros; with a bias that is not exact, and they stay as they are.)

Every attribute that decides the merge must be a constant in the block (not an argument), so that the
merge holds for any arguments the block's class is constructed with: only the output widths (the split
sizes) may follow the arguments. Nothing here imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from inspec.analysis import ir
from inspec.analysis.exprs import is_const
from inspec.analysis.ops import OPS, ZERO

# the attributes that must agree (with the input, which every branch shares) for convs to merge
KEY_ATTRS = ("kernel", "stride", "padding", "dilation", "groups", "act", "bn", "bias")
# the attributes the spec may write, which must not depend on an argument (`out` may)
FIXED_SOURCES = ("kernel", "stride", "pad", "dilation", "groups", "act", "bn", "bias")
# those of an average pool that a hoisted convolution moves in front of
POOL_SOURCES = ("kernel", "stride", "pad", "round", "global", "adaptive", "count_include_pad")


class Moved(ir.Layer):
    """A row of a hoisted branch as the export runs it (see `ConvGroup.tail`): its average pool, now
    over the convolution's output channels, and the convolution's activation after it. It stands
    for no row of the training module and has no weights."""


@dataclass(frozen=True)
class ConvGroup:
    """Sibling convolutions of one merge that the export computes as one: the first row of each of
    `branches` (indices into merge.branches) and the second of each hoisted one, whose layers are
    `layers`, in the order of the merged convolution's output channels: the members that are not
    hoisted in branch order, then the hoisted ones in branch order."""

    merge: ir.Merge
    branches: tuple[int, ...]
    layers: tuple[ir.Layer, ...]
    # the members whose convolution is their branch's second row, computed before the average pool
    # that is its first (they come last in `branches`)
    hoisted: tuple[int, ...] = ()

    @property
    def act(self) -> str:
        """The activation the merged convolution applies: the members' own, or none with a hoisted
        member (the others' is then applied to their part of its output: `plain_act`)."""
        return "none" if self.hoisted else self.layers[0].attrs["act"]

    @property
    def plain_act(self) -> str:
        """The activation of the members that are not hoisted ("none" where all are)."""
        plain = [
            la for k, la in zip(self.branches, self.layers, strict=True) if k not in self.hoisted
        ]
        return plain[0].attrs["act"] if plain else "none"

    @property
    def head(self) -> ir.Layer:
        """The layer the merged convolution is written from: the first member, with the group's
        activation (a copy where that is not the member's own)."""
        first = self.layers[0]
        if first.attrs["act"] == self.act:
            return first
        return replace(first, attrs={**first.attrs, "act": self.act})

    def tail(self, k: int) -> list[ir.Node]:
        """The rows branch `k` (a member) runs on its part of the merged convolution's output: the
        rest of its rows; for a hoisted member first its pool and the convolution's activation
        (`Moved` rows over the convolution's output channels; the activation row takes the
        convolution's name, free in the export, where the convolution is the merged one's)."""
        items = self.merge.branches[k].body.items
        if k not in self.hoisted:
            return items[1:]
        pool, conv = items[0], items[1]
        shape = conv.out_shape
        moved: list[ir.Node] = [
            Moved(**{**_fields(pool), "in_shape": shape, "out_shape": shape, "chan": conv.chan})
        ]
        act = conv.attrs["act"]
        if act != "none":
            row = {"op": OPS[act], "attrs": {}, "sources": {}, "defaulted": {}, "cost": ZERO}
            row |= {"in_shape": shape, "in_chan": conv.chan}
            moved.append(Moved(**{**_fields(conv), **row}))
        return moved + items[2:]

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


def _fields(layer: ir.Layer) -> dict:
    return {f: getattr(layer, f) for f in layer.__dataclass_fields__}


def _plain(layer: ir.Node, sources: tuple[str, ...]) -> bool:
    """Whether a row is an active, unconditional layer whose `sources` are constants."""
    if not isinstance(layer, ir.Layer) or not layer.active or layer.cond is not None:
        return False
    return all(is_const(layer.sources.get(n)) and is_const(layer.defaulted.get(n)) for n in sources)


def _hoistable(branch: ir.Branch) -> ir.Layer | None:
    """The branch's second row, if the branch starts with an average pool that keeps the size and
    sums to one everywhere and then a 1x1 convolution that may be computed before it."""
    if not branch.active or branch.cond is not None or branch.seq or len(branch.body.items) < 2:
        return None
    pool, conv = branch.body.items[:2]
    if not _plain(pool, POOL_SOURCES) or pool.op.name != "avgpool" or not pool.one_module:
        return None
    a = pool.attrs
    if a.get("global") or a.get("adaptive") is not None or a.get("stride") != 1:
        return None
    pad = a.get("padding")
    if pad is None or (
        a.get("count_include_pad") and (pad.top, pad.bottom, pad.left, pad.right) != (0, 0, 0, 0)
    ):
        return None
    if (pool.in_shape.h, pool.in_shape.w) != (pool.out_shape.h, pool.out_shape.w):
        return None
    layer = _mergeable_layer(conv)
    if layer is None or tuple(layer.attrs["kernel"]) != (1, 1) or layer.attrs["stride"] != 1:
        return None
    if layer.attrs["padding"].torch() != (0, 0):
        return None
    return layer


def _mergeable(branch: ir.Branch) -> ir.Layer | None:
    """The branch's first row, if it is a convolution that may join others."""
    if not branch.active or branch.cond is not None or branch.seq or not branch.body.items:
        return None
    return _mergeable_layer(branch.body.items[0])


def _mergeable_layer(first: ir.Node) -> ir.Layer | None:
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


def _without_act(key: tuple) -> tuple:
    at = KEY_ATTRS.index("act")
    return key[:at] + key[at + 1 :]


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
    # a hoisted conv joins the first group of its kind whatever its activation (it applies its own
    # after the pool); there must be such a group: hoisted convs are not merged among themselves
    hoisted: dict[tuple, list[int]] = {}
    for k, br in enumerate(merge.branches):
        layer = _hoistable(br)
        if layer is None:
            continue
        key = next((g for g in groups if _without_act(g) == _without_act(_key(layer))), None)
        if key is not None:
            hoisted.setdefault(key, []).append(k)
    out = []
    for key, members in groups.items():
        up = hoisted.get(key, [])
        if len(members) + len(up) >= 2:
            layers = tuple(merge.branches[k].body.items[0] for k in members)
            layers += tuple(merge.branches[k].body.items[1] for k in up)
            out.append(ConvGroup(merge, tuple(members + up), layers, tuple(up)))
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


def channels_last_blocker(net: ir.Network) -> ir.Layer | None:
    """The first convolution that keeps the inference export in the default layout, or None.

    PyTorch's CPU convolution (oneDNN, as torch 2.13 ships it) crashes the process (a segmentation
    fault) on some convolutions whose stride and dilation are both above 1 when the tensors are
    channels-last, as small as a 1x1 of stride 2 and dilation 2 on a 2x1 input; the same
    convolutions in the default layout are right, and none with a stride or a dilation of 1 was seen
    to fail (tests/test_inference_export.py). So a network with such a conv, switched on or not,
    runs its export in the default layout, and its docstring says which row. The values are the
    instance's: a module's constructor refuses other values of the arguments that set a stride or a
    dilation (they fix its structure)."""
    for node in net.body.walk():
        if isinstance(node, ir.Layer) and node.op.name == "conv":
            if node.attrs.get("stride", 1) > 1 and node.attrs.get("dilation", 1) > 1:
                return node
    return None
