"""Weights in and out (inspec/weights/, docs/weights.md): inspec.build(spec, weights=...) by key and
strictly, porting across names (`inspec weights`, by key, by order, both), partial loads, the way back
to the reference (--to-reference), the safe writing of checkpoints, and every error message."""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import pickle
import struct

import pytest
import torch
from click.testing import CliRunner
from torch import nn

import inspec
from inspec import fileio
from inspec.cli import cli
from inspec.weights import WeightsError, checkpoint
from inspec.weights.plan import Entry, make_plan
from tests.fixtures.weights import refs
from tests.fixtures.weights.refs import REF


def _same(a: dict, b: dict) -> bool:
    return list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)


def _seeded(seed: int = 1, **params) -> nn.Module:
    torch.manual_seed(seed)
    return inspec.build("small.isp", **params)


def _run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _digest(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


# ------------------------------------------------------------------------------------------------
# The key map (plan.py)


def E(key, *shape):
    return Entry(key, shape)


def test_plan_by_key():
    source = [E("a.weight", 4, 3), E("a.bias", 4), E("old", 2)]
    target = [E("a.weight", 4, 3), E("a.bias", 5), E("new", 1)]
    plan = make_plan(source, target, "key")
    assert [(p.target.key, p.how) for p in plan.pairs] == [("a.weight", "key")]
    assert [(p.target.shape, p.source.shape) for p in plan.misshaped] == [((5,), (4,))]
    assert plan.missing == [E("new", 1)] and plan.unexpected == [E("old", 2)]
    assert plan.problems() and not plan.problems(allow_missing=True, allow_unexpected=True)
    assert plan.problems(allow_missing=True)  # a mis-shaped pair needs both allowances


def test_plan_by_order_pairs_each_kind_in_order():
    # the norm comes first in the source, after the conv in the target: kinds keep them apart
    source = [E("n.weight", 8), E("c.weight", 8, 3, 3, 3), E("c.bias", 8), E("fc.weight", 2, 8)]
    target = [
        E("x.0.weight", 8, 3, 3, 3),
        E("x.0.bias", 8),
        E("x.1.weight", 8),
        E("y.weight", 2, 8),
    ]
    plan = make_plan(source, target, "order")
    assert [(p.target.key, p.source.key) for p in plan.pairs] == [
        ("x.0.weight", "c.weight"),
        ("x.0.bias", "c.bias"),
        ("x.1.weight", "n.weight"),
        ("y.weight", "fc.weight"),
    ]
    assert not plan.problems() and plan.by_order == 4 and plan.by_key == 0


def test_plan_auto_takes_agreeing_names_first_then_order():
    source = [E("stem.weight", 8, 3, 3, 3), E("a.weight", 4, 8, 1, 1), E("head.weight", 10, 4)]
    target = [E("c.weight", 4, 8, 1, 1), E("stem.weight", 8, 3, 3, 3), E("fc.weight", 10, 4)]
    plan = make_plan(source, target, "auto")
    assert [(p.target.key, p.source.key, p.how) for p in plan.pairs] == [
        ("c.weight", "a.weight", "order"),
        ("stem.weight", "stem.weight", "key"),
        ("fc.weight", "head.weight", "order"),
    ]


def test_plan_unequal_counts_align_by_shape_and_report_the_first_mismatch():
    # the target has one more 3x3 conv in the middle (a deeper stage)
    source = [E("a.weight", 8, 3, 3, 3), E("b.weight", 16, 8, 3, 3), E("c.weight", 10, 16, 1, 1)]
    target = [*source[:2], E("extra.weight", 16, 16, 3, 3), source[2]]
    plan = make_plan(source, target, "order")
    assert [p.target.key for p in plan.pairs] == ["a.weight", "b.weight", "c.weight"]
    assert plan.missing == [E("extra.weight", 16, 16, 3, 3)] and not plan.unexpected
    m = plan.first_mismatch
    assert (m.index, m.count_target, m.count_source) == (2, 4, 3)
    assert m.target.key == "extra.weight" and m.source.key == "c.weight"


def test_plan_num_batches_tracked_is_filled_or_dropped_never_an_error():
    bn = [E("bn.weight", 4), E("bn.running_mean", 4), E("bn.running_var", 4)]
    plan = make_plan(bn, [*bn, E("bn.num_batches_tracked")], "key")
    assert plan.filled == [E("bn.num_batches_tracked")] and not plan.problems()
    plan = make_plan([*bn, E("bn.num_batches_tracked")], bn, "order")
    assert plan.dropped == [E("bn.num_batches_tracked")] and not plan.problems()


def test_plan_rejects_an_unknown_map():
    with pytest.raises(ValueError, match="map must be one of auto, key, order, not 'name'"):
        make_plan([], [], "name")


# ------------------------------------------------------------------------------------------------
# inspec.build(spec, weights=...)


@pytest.mark.parametrize("form", ["pt", "pth", "checkpoint", "model", "safetensors", "mapping"])
def test_build_loads_by_key(work, form):
    state = _seeded(1).state_dict()
    if form == "mapping":
        weights = state
    elif form == "safetensors":
        from safetensors.torch import save_file

        weights = work / "w.safetensors"
        save_file(dict(state), str(weights))
    else:
        weights = work / f"w.{'pth' if form == 'pth' else 'pt'}"
        obj = {"epoch": 3, "state_dict" if form == "checkpoint" else "model": state}
        torch.save(state if form in ("pt", "pth") else obj, weights)
    model = _seeded(2, weights=weights)
    assert _same(model.state_dict(), state)
    assert model.inspec_weights.missing == [] and model.inspec_weights.unexpected == []
    assert str(model.inspec_weights) == (
        f"small <- {checkpoint.name_of(weights)} (map key): 14 of 14 entries ported, "
        "14 by key and 0 by order"
    )


def test_build_fills_an_absent_num_batches_tracked(work):
    state = dict(_seeded(1).state_dict())
    del state["stem.bn.num_batches_tracked"]
    model = _seeded(2, weights=state)
    assert int(model.stem.bn.num_batches_tracked) == 0
    assert str(model.inspec_weights).endswith(
        "\nfilled: 1 num_batches_tracked absent from the state_dict given (0)"
    )


BAD_BY_KEY = """bad.pt does not fit small (map key): 1 missing, 2 unexpected, 1 mis-shaped
small.isp:3 `conv (stem) 3x3 8 bias=false bn=true act=relu` (stem)
  unexpected stem.conv.bias 8
small.isp:6 `conv (b1) 1x1 4` (b1)
  missing    b1.bias 4
small.isp:8 `linear (fc) num_classes` (fc)
  mis-shaped fc.weight 10x512 <- fc.weight 3x512
(no row of the spec)
  unexpected extra.weight 2
hint: to load what fits and leave the rest out, allow missing and unexpected entries (--allow-missing, --allow-unexpected; strict=False in inspec.build)"""


def _bad_checkpoint(work):
    state = dict(_seeded(1).state_dict())
    del state["b1.bias"]
    state["stem.conv.bias"] = torch.zeros(8)
    state["fc.weight"] = torch.zeros(3, 512)
    state["extra.weight"] = torch.zeros(2)
    torch.save(state, work / "bad.pt")
    return state


def test_strict_load_lists_missing_unexpected_and_misshaped_keys_by_row(work):
    _bad_checkpoint(work)
    with pytest.raises(WeightsError) as e:
        inspec.build("small.isp", weights="bad.pt")
    assert str(e.value) == BAD_BY_KEY


def test_strict_false_loads_what_fits_and_tells_the_rest(work):
    state = _bad_checkpoint(work)
    model = _seeded(2, weights="bad.pt", strict=False)
    w = model.inspec_weights
    assert w.missing == ["b1.bias", "fc.weight"]
    assert w.unexpected == ["stem.conv.bias", "extra.weight", "fc.weight"]
    loaded = model.state_dict()
    assert torch.equal(loaded["down.1.weight"], state["down.1.weight"])
    assert not torch.equal(loaded["fc.weight"][:3], state["fc.weight"])
    assert str(w) == (
        "small <- bad.pt (map key): 12 of 14 entries ported, 12 by key and 0 by order\n"
        "left out: 2 of small's entries (nothing fits them), 3 of bad.pt's (unused)"
    )


NAMES_DISAGREE = """ref.pt does not fit small (map key): 13 missing, 13 unexpected
small.isp:3 `conv (stem) 3x3 8 bias=false bn=true act=relu` (stem)
  missing    stem.conv.weight 8x3x3x3
  missing    stem.bn.weight 8
  missing    stem.bn.bias 8
  missing    stem.bn.running_mean 8
  missing    stem.bn.running_var 8
small.isp:4 `conv (down) 3x3/2 8 same` (down)
  missing    down.1.weight 8x8x3x3
  missing    down.1.bias 8
small.isp:6 `conv (b1) 1x1 4` (b1)
  missing    b1.weight 4x8x1x1
  missing    b1.bias 4
small.isp:7 `conv (b2) 1x1 4` (b2, in small.isp:6 `branch { conv (b1) 1x1 4 } ...`)
  missing    b2.weight 4x8x1x1
  missing    b2.bias 4
small.isp:8 `linear (fc) num_classes` (fc)
  missing    fc.weight 10x512
  missing    fc.bias 10
(no row of the spec)
  unexpected features.conv.weight 8x3x3x3
  unexpected features.bn.weight 8
  unexpected features.bn.bias 8
  unexpected features.bn.running_mean 8
  unexpected features.bn.running_var 8
  unexpected reduce.1.weight 8x8x3x3
  unexpected reduce.1.bias 8
  unexpected left.weight 4x8x1x1
  unexpected left.bias 4
  unexpected right.1.weight 4x8x1x1
  unexpected right.1.bias 4
  unexpected classifier.weight 10x512
  unexpected classifier.bias 10
hint: only 0 of 14 names agree; map 'auto' pairs the rest by structure (--map auto; map='auto' in inspec.build)
hint: to load what fits and leave the rest out, allow missing and unexpected entries (--allow-missing, --allow-unexpected; strict=False in inspec.build)"""


def test_names_that_disagree_are_refused_by_key_and_ported_by_structure(work):
    ref = refs.net()
    torch.save(ref.state_dict(), work / "ref.pt")
    with pytest.raises(WeightsError) as e:
        inspec.build("small.isp", weights="ref.pt")
    assert str(e.value) == NAMES_DISAGREE
    for how in ("auto", "order"):
        model = _seeded(2, weights="ref.pt", map=how)
        assert list(model.inspec_weights.key_map.items())[:2] == [
            ("stem.conv.weight", "features.conv.weight"),
            ("stem.bn.weight", "features.bn.weight"),
        ]
        x = torch.randn(2, 3, 16, 16)
        with torch.no_grad():
            torch.testing.assert_close(model.eval()(x), ref.eval()(x), rtol=0, atol=0)


ORDER_REFUSED = """ref.pt does not fit small (map order): 2 mis-shaped
first mismatch in order: the 2-d 'weight' entries (1 on each side; number 1): small's fc.weight 5x512, ref.pt's classifier.weight 10x512
small.isp:8 `linear (fc) num_classes` (fc)
  mis-shaped fc.weight 5x512 <- classifier.weight 10x512
  mis-shaped fc.bias 5 <- classifier.bias 10
hint: to load what fits and leave the rest out, allow missing and unexpected entries (--allow-missing, --allow-unexpected; strict=False in inspec.build)"""


def test_order_refuses_with_the_first_mismatch_and_a_new_head_loads_partially(work):
    torch.save(refs.net().state_dict(), work / "ref.pt")
    with pytest.raises(WeightsError) as e:
        inspec.build("small.isp", weights="ref.pt", map="order", num_classes=5)
    assert str(e.value) == ORDER_REFUSED
    model = _seeded(2, weights="ref.pt", map="auto", num_classes=5, strict=False)
    assert model.inspec_weights.missing == ["fc.weight", "fc.bias"]
    assert model.inspec_weights.unexpected == ["classifier.weight", "classifier.bias"]


def test_unequal_counts_in_order(work):
    """A reference with one conv more than the spec: the refusal names the first position that
    differs; with the allowances the rest loads."""
    ref = refs.net()
    ref.extra = nn.Conv2d(8, 8, 1)  # registered last: its weight is the last 4-d weight
    torch.save(ref.state_dict(), work / "ref.pt")
    with pytest.raises(WeightsError) as e:
        inspec.build("small.isp", weights="ref.pt", map="order")
    lines = str(e.value).split("\n")
    assert lines[:2] == [
        "ref.pt does not fit small (map order): 2 unexpected",
        "first mismatch in order: the 4-d 'weight' entries (4 in small, 5 in ref.pt; number 5): "
        "small has no more, ref.pt's extra.weight 8x8x1x1",
    ]
    assert lines[2:5] == [
        "(no row of the spec)",
        "  unexpected extra.weight 8x8x1x1",
        "  unexpected extra.bias 8",
    ]
    model = _seeded(2, weights="ref.pt", map="order", strict=False)
    assert model.inspec_weights.unexpected == ["extra.weight", "extra.bias"]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: None, "cannot read {d}/nothing.pt: no such file"),
        (lambda d: os.mkdir(d / "nothing.pt"), "cannot read {d}/nothing.pt: not a regular file"),
        (
            lambda d: (d / "nothing.pt").write_bytes(b"not a checkpoint"),
            "cannot read {d}/nothing.pt: not a PyTorch checkpoint (Unsupported operand 110)",
        ),
        (
            lambda d: torch.save({"args": argparse.Namespace(lr=0.1)}, d / "nothing.pt"),
            "cannot read {d}/nothing.pt: it holds an argparse.Namespace, and inspec unpickles "
            "nothing but tensors and plain containers (torch.load with weights_only=True, so that "
            "reading runs no code); if you trust the file, save its state_dict alone: "
            "torch.save(torch.load('{d}/nothing.pt', weights_only=False)['state_dict'], "
            "'weights.pt')",
        ),
        (
            lambda d: torch.save({"epoch": 3, "lr": torch.tensor(0.1)}, d / "nothing.pt"),
            "{d}/nothing.pt is not a state_dict: 'epoch' is an int, not a tensor, and there is no "
            "'state_dict' or 'model' entry holding one (its entries: 'epoch', 'lr')",
        ),
        (
            lambda d: torch.save([torch.zeros(1)], d / "nothing.pt"),
            "{d}/nothing.pt holds a list, not a state_dict",
        ),
        (lambda d: torch.save({}, d / "nothing.pt"), "{d}/nothing.pt is empty"),
        (
            lambda d: torch.save({1: torch.zeros(1)}, d / "nothing.pt"),
            "{d}/nothing.pt: a state_dict's keys are strings",
        ),
    ],
)
def test_unreadable_checkpoints(tmp_path, make, message):
    make(tmp_path)
    with pytest.raises(WeightsError) as e:
        checkpoint.read(tmp_path / "nothing.pt")
    assert str(e.value) == message.format(d=tmp_path)


def test_a_pickle_of_arbitrary_objects_is_never_run(tmp_path):
    class Boom:
        def __reduce__(self):
            return (os.system, ("touch pwned",))

    (tmp_path / "evil.pt").write_bytes(pickle.dumps({"a": Boom()}, protocol=2))
    with pytest.raises(WeightsError) as e:
        checkpoint.read(tmp_path / "evil.pt")
    assert str(e.value).startswith(f"cannot read {tmp_path}/evil.pt: it holds a posix.system, ")
    assert not (tmp_path / "pwned").exists() and not os.path.exists("pwned")


def test_weights_must_be_a_path_or_a_mapping(work):
    with pytest.raises(WeightsError) as e:
        inspec.build("small.isp", weights=42)
    assert str(e.value) == "weights must be a path or a mapping of names to tensors, not int"


def test_safetensors_without_the_package_is_one_clear_error(work, monkeypatch):
    import sys

    (work / "w.safetensors").write_bytes(b"\0" * 16)
    monkeypatch.setitem(sys.modules, "safetensors.torch", None)
    with pytest.raises(WeightsError) as e:
        inspec.build("small.isp", weights="w.safetensors")
    assert str(e.value) == (
        "reading w.safetensors needs the package 'safetensors', which is not installed "
        "(pip install safetensors)"
    )


def test_loading_never_touches_the_checkpoint_or_its_folder(work):
    torch.save(refs.net().state_dict(), work / "ref.pt")
    before = (
        _digest(work / "ref.pt"),
        os.stat(work / "ref.pt").st_mtime_ns,
        sorted(os.listdir(work)),
    )
    _seeded(2, weights="ref.pt", map="auto")
    with pytest.raises(WeightsError):
        inspec.build("small.isp", weights="ref.pt")
    after = (
        _digest(work / "ref.pt"),
        os.stat(work / "ref.pt").st_mtime_ns,
        sorted(os.listdir(work)),
    )
    assert before == after


# ------------------------------------------------------------------------------------------------
# inspec weights SPEC --from CKPT -o OUT.pt


def test_weights_command_ports_and_writes_a_marked_checkpoint(work):
    ref = refs.net()
    torch.save(ref.state_dict(), work / "ref.pt")
    r = _run("weights", "small.isp", "--from", "ref.pt", "-o", "small.pt")
    assert r.exit_code == 0, r.output
    assert r.stdout == (
        "small <- ref.pt (map auto): 14 of 14 entries ported, 0 by key and 14 by order\n"
        "wrote small.pt\n"
    )
    raw = (work / "small.pt").read_bytes()
    assert fileio.is_marked(raw[:16384], raw[-64:])
    state = torch.load(work / "small.pt", weights_only=True)
    model = _seeded(2)
    model.load_state_dict(state, strict=True)  # the spec's own keys: loads by key, strictly
    assert torch.equal(model.fc.weight, ref.classifier.weight)
    # a second run replaces inspec's own file without --force
    r = _run("weights", "small.isp", "--from", "ref.pt", "-o", "small.pt", "--map", "order")
    assert r.exit_code == 0, r.output


def test_weights_report_lists_every_pair(work):
    torch.save(refs.net().state_dict(), work / "ref.pt")
    r = _run(
        "weights",
        "small.isp",
        "--from",
        "ref.pt",
        "-o",
        "small.pt",
        "--report",
        "-p",
        "num_classes=5",
        "--allow-missing",
        "--allow-unexpected",
    )
    assert r.exit_code == 0, r.output
    assert (
        r.stdout
        == """key map: small <- ref.pt (map auto)
small.isp:3 `conv (stem) 3x3 8 bias=false bn=true act=relu` (stem)
  order      stem.conv.weight 8x3x3x3 <- features.conv.weight
  order      stem.bn.weight 8 <- features.bn.weight
  order      stem.bn.bias 8 <- features.bn.bias
  order      stem.bn.running_mean 8 <- features.bn.running_mean
  order      stem.bn.running_var 8 <- features.bn.running_var
  order      stem.bn.num_batches_tracked scalar <- features.bn.num_batches_tracked
small.isp:4 `conv (down) 3x3/2 8 same` (down)
  order      down.1.weight 8x8x3x3 <- reduce.1.weight
  order      down.1.bias 8 <- reduce.1.bias
small.isp:6 `conv (b1) 1x1 4` (b1)
  order      b1.weight 4x8x1x1 <- left.weight
  order      b1.bias 4 <- left.bias
small.isp:7 `conv (b2) 1x1 4` (b2, in small.isp:6 `branch { conv (b1) 1x1 4 } ...`)
  order      b2.weight 4x8x1x1 <- right.1.weight
  order      b2.bias 4 <- right.1.bias
small.isp:8 `linear (fc) num_classes` (fc)
  mis-shaped fc.weight 5x512 <- classifier.weight 10x512
  mis-shaped fc.bias 5 <- classifier.bias 10
small <- ref.pt (map auto): 12 of 14 entries ported, 0 by key and 12 by order
left out: 2 of small's entries (nothing fits them), 2 of ref.pt's (unused)
wrote small.pt
"""
    )
    assert list(torch.load(work / "small.pt", weights_only=True))[-2:] == ["b2.weight", "b2.bias"]


def test_weights_command_refusals(work):
    _bad_checkpoint(work)
    r = _run("weights", "small.isp", "--from", "bad.pt", "-o", "out.pt", "--map", "key")
    assert r.exit_code == 1 and r.stdout == ""
    assert r.stderr == f"inspec: error: {BAD_BY_KEY}\n"
    assert not (work / "out.pt").exists()
    # never over the checkpoint it reads, nor a file inspec did not write, nor the spec
    state = _seeded(1).state_dict()
    torch.save(state, work / "mine.pt")
    digest = _digest(work / "mine.pt")
    r = _run("weights", "small.isp", "--from", "mine.pt", "-o", "mine.pt", "--force")
    assert (r.exit_code, r.stderr) == (
        1,
        "inspec: error: refusing to overwrite the input file mine.pt\n",
    )
    torch.save(state, work / "other.pt")
    r = _run("weights", "small.isp", "--from", "mine.pt", "-o", "other.pt")
    assert (r.exit_code, r.stderr.splitlines()[-1]) == (
        1,
        "inspec: error: other.pt exists and was not generated by inspec; use --force to overwrite it",
    )
    r = _run("weights", "small.isp", "--from", "mine.pt", "-o", "other.pt", "--force")
    assert r.exit_code == 0, r.output
    r = _run("weights", "small.isp", "--from", "mine.pt", "-o", "x.safetensors")
    assert r.stderr.splitlines()[-1] == (
        "inspec: error: inspec writes PyTorch checkpoints (.pt, .pth), not .safetensors"
    )
    assert _digest(work / "mine.pt") == digest


def test_weights_command_usage_errors(work):
    torch.save(_seeded(1).state_dict(), work / "mine.pt")
    r = _run("weights", "small.isp", "--from", "mine.pt", "-o", "o.pt", "--to-reference")
    assert r.exit_code == 2 and "Error: --to-reference and --against REF go together" in r.stderr
    r = _run("weights", "small.isp", "--from", "mine.pt", "-o", "o.pt", "--against", REF)
    assert r.exit_code == 2 and "Error: --to-reference and --against REF go together" in r.stderr
    r = _run("weights", "small.isp", "--from", "none.pt", "-o", "o.pt")
    assert r.exit_code == 2 and "'none.pt' does not exist" in r.stderr
    r = _run("weights", "small.isp", "--from", "mine.pt", "-o", "-")
    assert r.exit_code == 2 and "Error: a checkpoint is written to a file (-o OUT.pt)" in r.stderr
    r = _run(
        "weights",
        "small.isp",
        "--from",
        "mine.pt",
        "-o",
        "o.pt",
        "--to-reference",
        "--against",
        "gone.pt",
    )
    assert (r.exit_code, r.stderr) == (1, "inspec: error: cannot read gone.pt: no such file\n")
    r = _run("weights", "small.isp", "--from", "mine.pt", "-o", "o.pt", "--map", "names")
    assert r.exit_code == 2 and "'names' is not one of 'auto', 'key', 'order'" in r.stderr


@pytest.mark.parametrize("against", [REF, "template.pt"])
def test_to_reference_writes_what_the_reference_loads_strictly(work, against):
    ours = _seeded(3)
    torch.save(ours.state_dict(), work / "mine.pt")
    torch.save(refs.net().state_dict(), work / "template.pt")
    template = _digest(work / "template.pt")
    r = _run(
        "weights",
        "small.isp",
        "--from",
        "mine.pt",
        "-o",
        "ref.pt",
        "--to-reference",
        "--against",
        against,
    )
    assert r.exit_code == 0, r.output
    assert r.stdout == (
        f"{against} <- mine.pt (map auto): 14 of 14 entries ported, 0 by key and 14 by order\n"
        "wrote ref.pt\n"
    )
    ref = refs.net()
    ref.load_state_dict(torch.load(work / "ref.pt", weights_only=True), strict=True)
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(ref.eval()(x), ours.eval()(x), rtol=0, atol=0)
    assert _digest(work / "template.pt") == template


def test_to_reference_groups_problems_by_the_spec_rows_of_the_source(work):
    torch.save(_seeded(3, num_classes=5).state_dict(), work / "mine.pt")
    r = _run(
        "weights",
        "small.isp",
        "-p",
        "num_classes=5",
        "--from",
        "mine.pt",
        "-o",
        "ref.pt",
        "--to-reference",
        "--against",
        REF,
    )
    assert r.exit_code == 1
    assert r.stderr.split("\n")[:5] == [
        f"inspec: error: mine.pt does not fit {REF} (map auto): 2 mis-shaped",
        f"first mismatch in order: the 2-d 'weight' entries (1 on each side; number 1): {REF}'s "
        "classifier.weight 10x512, mine.pt's fc.weight 5x512",
        "small.isp:8 `linear (fc) num_classes` (fc)",
        "  mis-shaped classifier.weight 10x512 <- fc.weight 5x512",
        "  mis-shaped classifier.bias 10 <- fc.bias 5",
    ]


def test_a_spec_checkpoint_that_does_not_fit_its_spec_is_refused_before_going_back(work):
    torch.save(refs.net().state_dict(), work / "notmine.pt")
    r = _run(
        "weights",
        "small.isp",
        "--from",
        "notmine.pt",
        "-o",
        "ref.pt",
        "--to-reference",
        "--against",
        REF,
    )
    assert r.exit_code == 1
    assert r.stderr.startswith(
        "inspec: error: notmine.pt does not fit small (map key): 13 missing, 13 unexpected\n"
    )


def test_weights_spec_errors_exit_1(work):
    (work / "bad.isp").write_text("network b\ninput 8x8x3\nconv 3x3 16 groups=5\n")
    torch.save({"a": torch.zeros(1)}, work / "a.pt")
    r = _run("weights", "bad.isp", "--from", "a.pt", "-o", "o.pt")
    assert r.exit_code == 1 and "bad.isp:3:1: error" in r.stderr


# ------------------------------------------------------------------------------------------------
# The marker of inspec's own checkpoints (fileio)


def test_the_checkpoint_marker_sits_in_the_zip_comment_only():
    buf = io.BytesIO()
    torch.save({"a": torch.zeros(2)}, buf)
    raw = buf.getvalue()
    assert not fileio.is_marked(raw[:16384], raw[-64:])
    marked = fileio.mark_zip(raw)
    assert fileio.is_marked(marked[:16384], marked[-64:])
    assert torch.equal(torch.load(io.BytesIO(marked), weights_only=True)["a"], torch.zeros(2))
    # the marker text elsewhere, or a comment of another length, does not count
    other = raw[:-2] + struct.pack("<H", len(fileio.ZIP_COMMENT) + 1) + fileio.ZIP_COMMENT + b"!"
    assert not fileio.is_marked(other[:16384], other[-64:])
    assert not fileio.is_marked(fileio.ZIP_COMMENT, fileio.ZIP_COMMENT)
    with pytest.raises(ValueError):
        fileio.mark_zip(marked)


COND = """network cond(aux = false)
input 8x8x3
conv (stem) 3x3 4
conv (more) 1x1 4 if aux
avgpool global
linear (fc) 2
"""


def test_keys_of_a_row_that_is_off_are_told_by_that_row(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cond.isp").write_text(COND)
    state = inspec.build("cond.isp", aux=True).state_dict()
    with pytest.raises(WeightsError) as e:
        inspec.build("cond.isp", weights=state)
    assert str(e.value).split("\n")[:4] == [
        "the state_dict given does not fit cond (map key): 2 unexpected",
        "cond.isp:4 `conv (more) 1x1 4` (more; off: `if aux` is false)",
        "  unexpected more.weight 4x4x1x1",
        "  unexpected more.bias 4",
    ]
