"""Differential testing: random valid specs, inspec's analysis against a brute-force reference model and
against the PyTorch module inspec builds (shapes through forward hooks, multiply-adds counted from the
module's own conv and linear layers, parameters from module.parameters()).

The generator and both oracles live in tests/strategies.py; `scripts/differential` runs 10,000 cases.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inspec.analysis.elaborate import elaborate
from inspec.analysis.shapes import resolve_padding, window_out
from inspec.diagnostics import SpecError
from tests.strategies import (
    OPEN_BUGS,
    check_analysis,
    check_torch,
    differential,
    random_spec,
    same_pads,
    specs,
    window_starts,
)

ROOT = Path(__file__).resolve().parent.parent
CASES = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: threads only add overhead (and xdist runs 2 workers)
    yield
    torch.set_num_threads(n)


@CASES
@given(specs(OPEN_BUGS))
def test_analysis_equals_reference_and_module(spec):
    """300 random specs: shapes, params and multiply-adds agree with the reference and the module,
    also with other parameter values; specs made to be refused are refused (tests/strategies.py)."""
    problems = differential(spec, paths=False)
    assert not problems, "\n".join(problems) + "\n\nspec:\n" + spec.text


@settings(CASES, max_examples=150)
@given(specs(OPEN_BUGS))
def test_layer_paths_are_module_paths(spec):
    """node.layers() names every layer by the attribute path of its module in the built network."""
    problems = [p for p in differential(spec) if "path: " in p]
    assert not problems, "\n".join(problems) + "\n\nspec:\n" + spec.text


@settings(CASES, max_examples=300)
@given(
    size=st.integers(1, 40),
    k=st.integers(1, 9),
    s=st.integers(1, 5),
    before=st.integers(0, 4),
    after=st.integers(0, 4),
    d=st.integers(1, 3),
    rounding=st.sampled_from(["floor", "ceil"]),
)
def test_window_rule_equals_enumeration(size, k, s, before, after, d, rounding):
    """The conv/pool output size rule against counting PyTorch's window positions one by one."""
    if rounding == "ceil":  # pools only: no dilation, padding at most half the window
        d, before, after = 1, min(before, k // 2), min(after, k // 2)
    eff = d * (k - 1) + 1
    want = len(window_starts(size, eff, s, before, after, rounding == "ceil"))
    try:
        got, _ = window_out(size, k, s, before, after, d, rounding, "height", "conv")
    except SpecError:
        got = 0
    assert got == want


@settings(CASES, max_examples=300)
@given(size=st.integers(1, 64), k=st.integers(1, 9), s=st.integers(1, 5), d=st.integers(1, 3))
def test_same_padding_equals_search(size, k, s, d):
    """TensorFlow SAME: the smallest padding that gives ceil(size / stride) outputs, odd pixel after."""
    assert resolve_padding("same", size, k, s, d, "height") == same_pads(size, k, s, d)


def test_random_generator_is_reproducible():
    assert random_spec(1234).text == random_spec(1234).text
    assert random_spec(1).text != random_spec(2).text


def test_seeded_cases_match_analysis_only():
    """The same generator driven by random.Random (what scripts/differential runs), analysis only."""
    bad = {}
    for seed in range(300):
        spec = random_spec(seed, OPEN_BUGS)
        if spec.refuse is not None:
            continue  # made to be refused: differential() checks the error
        net = elaborate(text=spec.text, name="gen.isp")
        errors = [d.message for d in net.diagnostics if d.is_error]
        problems = errors or check_analysis(net, spec)
        if problems:
            bad[seed] = problems
    assert not bad, bad


SHIPPED = ["lenet5.isp", "googlenet.isp", "googlenet_bn.isp", "examples/bottleneck.isp"]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_specs_equal_their_modules(name):
    """Whole shipped networks (side heads included in the parameter count) against their modules."""
    net = elaborate(path=str(ROOT / "specs" / name))
    assert net.ok, [d.message for d in net.diagnostics if d.is_error]
    problems = check_torch(net, batch=1)
    assert not problems, "\n".join(problems)


def test_oracle_catches_planted_errors():
    """The torch oracle is not vacuous: a wrong shape, a wrong count and a wrong total are each found."""
    spec = next(
        s
        for s in map(random_spec, range(100))
        if "conv" in s.text and "branch" in s.text and s.refuse is None
    )
    net = elaborate(text=spec.text, name="gen.isp")
    assert not check_torch(net, check_paths=False)
    _path, layer = next((p, lay) for p, lay in net.body.layers() if lay.op.name == "conv")
    from dataclasses import replace

    good_shape, good_cost = layer.out_shape, layer.cost
    layer.out_shape = replace(good_shape, h=good_shape.h + 1)
    assert any("module gives" in p for p in check_torch(net, check_paths=False))
    layer.out_shape = good_shape
    layer.cost = replace(good_cost, ops=good_cost.ops + 1)
    assert any("multiply-adds" in p for p in check_torch(net, check_paths=False))
    layer.cost = replace(good_cost, params=good_cost.params - 1)
    assert any("params" in p for p in check_torch(net, check_paths=False))
    layer.cost = good_cost
    spec.ref.params += 1
    assert any(p.startswith("params") for p in check_analysis(net, spec))


def test_strategy_covers_the_language():
    """The generated specs use every feature the issue lists (over a fixed sample)."""
    text = "\n".join(random_spec(seed).text for seed in range(400))
    for feature in [
        "groups=",
        "dilation=",
        "bn=true",
        "bias=false",
        "valid",
        "pad=(",
        "ceil",
        "count_include_pad=",
        "global",
        "maxpool",
        "avgpool",
        "branch",
        "residual",
        " x conv",
        " x blk",
        "block blk",
        "(in",
        "flatten",
        "linear",
        "dropout",
        "stride=",
        "softmax",
        "lrn",
    ]:
        assert feature in text, feature
    assert any(f"{a}x{b}" in text for a in range(1, 6) for b in range(1, 6) if a != b)
    rng = random.Random(0)
    assert rng  # the generator is driven by random.Random(seed) in random_spec


# Issue 16 ("Never lie, round two"): the kinds of case the generator grew to write, and the oracle's
# new checks (values without a reference, other parameter values, specs that must be refused).

ROUND_TWO_KINDS = {
    "pool_pad4",  # pools with pad=(t, b, l, r), often with ceil
    "cond",  # rows switched off by a parameter, then an in-place ReLU: trunk, residual, branches
    "cond_alone",  # a branch whose only row is switched off
    "override",  # other parameter values: the analysis, the compiled module and the constructor
    "bad_override",  # values the analysis refuses: the constructor must refuse them too
    "width_param",
    "stride_param",
    "count_param",
    "act_param",
    "scale_param",
    "defaults_add",  # `defaults add(scale = s, act = a)`
    "defaults_conv",  # `defaults conv(bn = batch_norm)`
    "hostile_block",  # block names whose class is a helper's, an import's or another block's
    "hostile_label",  # labels and branch names that are keywords, builtins, nn.Module attributes
    "hostile_param",
    "hostile_network",
    "slash_conv",  # `conv 3x3 width/2`
    "slash_expr",  # `conv 1x1 (in * 2)/2`
    "slash_arg",  # `b w/2`
    "float_mul",  # `conv 3x3 (width * 0.5)`
    "init",
    "chain",  # nested blocks, fan-outs
    "repeat_linear",  # `2 x linear 4`
    "repeat_softmax",  # `2 x softmax`
    "refuse_residual_flatten",
    "refuse_block_in",
    "refuse_init",
    "refuse_cond_shape",
}


def test_strategy_writes_every_round_two_kind():
    kinds = set().union(*(random_spec(seed).kinds for seed in range(600)))
    assert ROUND_TWO_KINDS <= kinds, ROUND_TWO_KINDS - kinds
    text = "\n".join(random_spec(seed).text for seed in range(600))
    for feature in ["ceil", " if not ", "defaults add(scale = ", "init trunc_normal(", "x softmax"]:
        assert feature in text, feature
    assert re.search(r"pool \dx\d/\d pad=\(\d, \d, \d, \d\) ceil", text)
    assert re.search(r"^block conv_re_l_u\(", text, re.M)
    assert re.search(r"^\w+ \w+/2$", text, re.M)  # `b w/2`


# The newer language (merges, seqs, `residual if`, newer rows, index/first, padding torch): the
# kinds of case the generator writes for it, and the refusals it makes of it.

NEW_KINDS = {
    "padding_torch",  # `padding torch`: rows that write no padding get half
    "pad_half",  # `pad=half` written out
    "add",  # `add [scale=S] [act=A] { branch ... }`
    "mul",  # `mul { ... }`: gates that broadcast
    "gate_1x1",  # a 1x1xC, HxWx1 or 1x1x1 branch of a mul
    "split",  # `split { ... }`, sometimes followed by channel_shuffle
    "channel_shuffle",
    "concat_kw",  # `concat { ... }`, and bare runs with a conditional branch
    "branch_if",  # `branch NAME if COND { ... }`: block arguments, or network parameters at the top
    "seq",  # `seq [NAME] [if COND] { rows }`
    "seq_nested",  # a seq in a seq
    "seq_branch",  # a seq in a branch
    "seq_if",  # a conditional seq
    "res_if",  # `residual if COND`, COND saying when the body keeps the shape (or a flag)
    "cond_shape",  # a row a block's argument switches, which reshapes (in a seq)
    "cond_reshape",  # the same in a block's own scope
    "block_stride",  # a block's stride argument
    "block_count",  # a block's count argument
    "count_block",  # `k x ROW`, `max(k - 1, 0) x ROW` inside a block
    "count_call",  # `max(n - 1, 0) x ROW` at the top, n a network parameter
    "repeat_zero",  # `0 x ROW`
    "repeat_index",  # `index` and `first` in repeated rows and block calls
    "new_rows",  # identity, tanh, sigmoid, gelu, silu, hardswish, hardsigmoid, drop_path
    "bn_act",  # `bn act=A`
    "make_divisible",
    "ifelse",  # `(a if f else b)`
    "refused_override",  # parameter values the reference refuses: inspec must refuse them
    "refuse_add_channels",
    "refuse_split_uneven",
    "refuse_mul_broadcast",
    "refuse_merge_one",
    "refuse_seq_label",
    "refuse_residual_if_top",
    "refuse_residual_if_body",
    "named_seq",  # a seq whose rows are all labelled: children by name (an OrderedDict)
    "named_nested",  # a named seq in such a seq
    "named_switched",  # a labelled row, call or named seq switched by a condition there
    "named_repeat",  # a template repeat there (`3 x blk (block1-0..) ...`)
    "named_block_scope",  # a template repeat in a block's own scope (names made identifiers)
    "named_start_0",  # template names counting from 0
    "named_start_1",  # from 1
    "named_start_other",  # from another number
    "named_zero",  # a template repeat with no instance there
}


def test_strategy_writes_every_new_kind():
    specs_ = [random_spec(seed) for seed in range(600)]
    kinds = set().union(*(s.kinds for s in specs_))
    assert NEW_KINDS <= kinds, NEW_KINDS - kinds
    assert OPEN_BUGS <= kinds, (
        OPEN_BUGS - kinds
    )  # each open bug's kind is written where not skipped
    text = "\n".join(s.text for s in specs_)
    for feature in [
        "padding torch",
        "pad=half",
        "add scale=",
        "mul {",
        "split {",
        "concat {",
        "channel_shuffle ",
        "seq {",
        "residual if (",
        " if first else ",
        "make_divisible(",
        "max(",
        "index)",
        "drop_path",
        "identity",
        "hardswish",
        "hardsigmoid",
        "bn act=",
    ]:
        assert feature in text, feature
    assert re.search(r"^ *branch \w+ if ", text, re.M)
    assert re.search(r"^ *seq \w+ if ", text, re.M)
    assert re.search(r"^0 x ", text, re.M)


def test_open_bugs_are_left_out_where_skipped():
    """The kinds of OPEN_BUGS are never written where the caller skips them (the suite's runs)."""
    for seed in range(300):
        assert not random_spec(seed, OPEN_BUGS).kinds & OPEN_BUGS, seed


def test_refused_specs_are_refused_at_their_line():
    refused = [s for s in map(random_spec, range(600)) if s.refuse is not None]
    assert len(refused) >= 10
    for spec in refused:
        assert differential(spec, torch_too=False) == [], spec.text


def test_oracle_catches_an_accepted_spec_that_must_be_refused():
    spec = next(s for s in map(random_spec, range(100)) if s.refuse is None)
    spec.refuse = (3, "residual add: the body gives a flat vector")
    (problem,) = differential(spec, torch_too=False)
    assert problem.startswith("inspec accepts a spec it must refuse")


def test_oracle_catches_an_in_place_op_that_overwrites_a_shared_tensor():
    """What the module computes is checked without a reference: an in-place ReLU planted on the
    first row of a residual body (the skip tensor) and of the trunk (the caller's tensor) is found."""
    import torch

    from inspec.backends.torch import build_module
    from tests.strategies import _value_problems

    for text in ("residual { relu }\n", "relu\nconv 1x1 2\n"):
        net = elaborate(text="network t\ninput 3x3x2\n" + text, name="t.isp")
        model = build_module(net).eval()
        assert not check_torch(net)
        for m in model.modules():
            if isinstance(m, torch.nn.ReLU):
                m.inplace = True
        x = torch.randn(2, 2, 3, 3)
        x_in = x.clone()
        with torch.no_grad():
            y = model(x_in)
        problems = _value_problems(model, x, x_in, y)
        assert "forward() overwrote the caller's input tensor (an in-place op on it)" in problems
        if "residual" in text:
            assert any(p.startswith("in-place ops change the output") for p in problems)


def test_oracle_catches_a_constructor_that_ignores_its_argument(monkeypatch):
    """Issue 16, item 5 as it was: T(s=1.0) computing what T() computes. A build_module that drops
    the arguments is caught by check_constructor; the real one follows them."""
    from inspec.analysis.values import Symbol
    from inspec.backends import torch as backend
    from tests.strategies import check_constructor

    text = "network t(s = 0.5, a = relu)\ninput 2x2x2\ndefaults add(scale = s, act = a)\n"
    text += "residual { conv 1x1 2 }\n"
    net = elaborate(text=text, name="t.isp")
    values = {"s": 1.0, "a": "tanh"}
    over = elaborate(text=text, name="t.isp", params={"s": 1.0, "a": Symbol("tanh")})
    assert check_constructor(net, over, values) == []
    real = backend.build_module
    monkeypatch.setattr(backend, "build_module", lambda n, **params: real(n))
    (problem,) = check_constructor(net, over, values)
    assert problem.startswith("it computes another output than the module compiled with them")
