"""A split's branches are drawn in concat order: left to right top-down (-r TB), top to bottom left-right
(-r LR), with blocks opened as clusters (-d blocks) or not. Positions come from `dot -Tplain`."""

from __future__ import annotations

import re
import subprocess

import pytest

from inspec.analysis.elaborate import elaborate
from inspec.backends.diagram import to_dot
from tests.conftest import ROOT

CHAIN = re.compile(r"\{rank=same; (.*?) \[style=invis\]\}")
SPECS = [
    "googlenet.isp",
    "inception_v4.isp",
    "inception_resnet_v1.isp",
    "inception_resnet_v2.isp",
    "zoo/inception_v3.isp",
]


def _positions(source: str) -> dict[str, tuple[float, float]]:
    plain = subprocess.run(
        ["dot", "-Tplain"], input=source, capture_output=True, text=True, check=True
    ).stdout
    pos = {}
    for line in plain.splitlines():
        if line.startswith("node "):
            _, name, x, y, *_ = line.split()
            pos[name.strip('"')] = (float(x), float(y))
    return pos


def _branch_heads(net, detail: str) -> list[list[str]]:
    """Each split's branch heads in concat order (the emitter chains them so when top-down)."""
    source = to_dot(net, detail=detail, rankdir="TB")
    return [[i.strip('"') for i in m.group(1).split(" -> ")] for m in CHAIN.finditer(source)]


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("detail", ["network", "blocks"])
def test_branches_keep_concat_order(spec, detail):
    net = elaborate(path=str(ROOT / "specs" / spec))
    splits = _branch_heads(net, detail)
    if detail == "blocks":
        assert splits, "the blocks view draws every split"
    for rankdir in ("TB", "LR"):
        pos = _positions(to_dot(net, detail=detail, rankdir=rankdir))
        for heads in splits:
            if rankdir == "TB":  # left to right: x grows
                along = [pos[h][0] for h in heads]
            else:  # top to bottom: y (upwards in -Tplain) falls
                along = [-pos[h][1] for h in heads]
            assert along == sorted(along) and len(set(along)) == len(along), (
                f"{spec} -d {detail} -r {rankdir}: branches {heads} drawn out of concat order"
            )
