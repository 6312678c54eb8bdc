"""The IR's expressions: folding constants and the channel rules' reading of them."""

from inspec.analysis import exprs as E
from inspec.analysis.elaborate import elaborate
from inspec.analysis.passes.channels import network_rules

N = E.Ref(None, "n")
T, F = E.lit(True), E.lit(False)


def _and(a, b):
    return E.BinOp(None, "and", a, b)


def _or(a, b):
    return E.BinOp(None, "or", a, b)


def test_fold_decides_and_or_from_one_known_side():
    cond = E.BinOp(None, "==", N, E.lit(1))
    assert E.fold(_and(F, cond)) == F
    assert E.show(E.fold(_and(T, cond))) == E.show(cond)
    assert E.fold(_or(T, cond)) == T
    assert E.show(E.fold(_or(F, cond))) == E.show(cond)
    # Python evaluates the left side first: `cond and false` is left as written
    assert E.show(E.fold(_and(cond, F))) == E.show(_and(cond, F))


def test_fold_arithmetic_and_comparisons():
    assert E.fold(E.BinOp(None, "+", E.lit(64), E.lit(32))) == E.lit(96)
    assert E.fold(E.BinOp(None, ">", E.lit(2), E.lit(1))) == T
    pick = E.IfElse(None, E.BinOp(None, "<", E.lit(1), E.lit(2)), N, E.lit(3))
    assert E.show(E.fold(pick)) == "n"


def _rules(text):
    net = elaborate(text=text, name="t.isp")
    assert net.ok, [d.message for d in net.diagnostics]
    return [(r.kind, E.show(r.a), E.show(r.b)) for r, _, _ in network_rules(net)]


def test_rules_that_hold_for_any_values_are_left_out():
    # a grouped conv whose channels are a multiple of the groups, a residual guarded by `in == out`
    text = """
network t(g = 2, w = 4)
input 8x8x3
block b(out) {
  residual if (in == out) { conv 1x1 out }
}
conv 1x1 (w * g)
conv 3x3 (w * g) groups=g
b 8
"""
    assert _rules(text) == []


def test_a_fraction_times_the_groups_is_not_a_multiple():
    text = """
network t(w = 4)
input 8x8x3
conv 1x1 (w / 2 * 2)
channel_shuffle 2
"""
    assert _rules(text) == [("divides", "int(w / 2 * 2)", "2")]
