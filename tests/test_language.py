"""The .isp language: each construct, elaborated and checked."""

import pytest

from inspec.analysis import ir
from inspec.analysis.elaborate import MAX_REPEAT, elaborate
from inspec.language.parser import MAX_NESTING


def net_of(text, **params):
    return elaborate(text=text, params=params, name="t.isp")


def errors(net):
    return [d for d in net.diagnostics if d.is_error]


def shapes(net):
    return [(r.node.name, str(r.node.out_shape)) for r in net.rows]


def test_rows_patch_stride_and_flags():
    n = net_of(
        """network t
input 32x32x3
conv 3x3/2 16 valid
conv 1x7 16
conv 7x1 16 pad=(3, 0)
maxpool 3x3/2 ceil pad=0
avgpool global
"""
    )
    assert not errors(n)
    assert shapes(n) == [
        ("conv1", "15x15x16"),
        ("conv2", "15x15x16"),
        ("conv3", "15x15x16"),
        ("maxpool", "7x7x16"),
        ("avgpool", "1x1x16"),
    ]


def test_defaults_are_overridden_by_rows():
    n = net_of(
        """network t
input 8x8x4
defaults conv(bias = false, bn = true, eps = 0.001, act = relu)
conv 1x1 8
conv 1x1 8 bn=false bias=true
"""
    )
    a, b = (r.node for r in n.rows)
    assert (
        a.attrs["bn"]
        and not a.attrs["bias"]
        and a.attrs["eps"] == 0.001
        and a.attrs["act"] == "relu"
    )
    assert a.cost.params == 4 * 8 + 2 * 8
    assert b.cost.params == 8 * 8 + 8


def test_blocks_positional_keyword_defaults_and_in():
    n = net_of(
        """network t(width = 2)
input 8x8x16
block proj(n, extra = 0) {
  conv 1x1 n + extra
  conv 1x1 in
}
proj 4
proj n=4 extra=width * 3
"""
    )
    assert not errors(n)
    first, second = (r.node for r in n.rows)
    assert isinstance(first, ir.Call) and first.args == {"n": 4, "extra": 0}
    assert second.args == {"n": 4, "extra": 6}
    # `in` is the channel count entering the block: both project back to 16
    assert str(first.out_shape) == str(second.out_shape) == "8x8x16"
    inner = [p for p, _ in second.layers()]
    assert inner == ["conv1", "conv2"]


def test_branches_concat_in_order_and_names():
    n = net_of(
        """network t
input 16x16x8
block mix() {
  branch { conv 1x1 4 }
  branch wide { conv 1x1 2; conv 3x3 6 }
  branch { maxpool 3x3/1; conv 1x1 3 }
}
mix (m1)
"""
    )
    assert not errors(n)
    node = n.rows[0].node
    assert node.name == "m1" and str(node.out_shape) == "16x16x13"
    assert [p for p, _ in node.layers()] == [
        "branch1",
        "wide.0",
        "wide.1",
        "branch3.0",
        "branch3.1",
    ]
    assert node.depth == 2


def test_residual_scale_act_and_mismatch():
    ok = net_of(
        """network t
input 8x8x32
block r(scale = 0.17) {
  residual scale=scale act=relu {
    branch { conv 1x1 8 }
    branch { conv 1x1 8; conv 3x3 8 }
    conv 1x1 in bias=true act=none
  }
}
r
r scale=1.0
"""
    )
    assert not errors(ok)
    res = ok.rows[0].node.body.items[0]
    assert isinstance(res, ir.Residual) and res.attrs == {
        "scale": 0.17,
        "act": "relu",
        "_round_explicit": False,
    }
    bad = net_of(
        """network t
input 8x8x32
residual { conv 1x1 16 }
"""
    )
    (e,) = errors(bad)
    assert "8x8x32" in " ".join(e.notes) and "8x8x16" in " ".join(e.notes)


def test_repeat_names_and_shapes():
    n = net_of(
        """network t
input 32x32x8
block down(n) { conv 3x3/2 n }
3 x down (d) 8
"""
    )
    node = n.rows[0].node
    assert isinstance(node, ir.Repeat) and node.count == 3 and node.name == "d"
    assert [i.name for i in node.items] == ["0", "1", "2"]
    assert str(node.out_shape) == "4x4x8"
    big = net_of(f"network t\ninput 8x8x3\n{MAX_REPEAT + 1} x conv 1x1 3\n")
    assert "repeat count" in errors(big)[0].message


def test_side_heads_and_conditions():
    text = """network t(aux = true, extra = false)
input 16x16x8
conv 3x3 8
side head (h1) if aux
conv 1x1 8 if extra
conv 1x1 8
block head() { avgpool global; linear 10 }
"""
    on = net_of(text)
    assert not errors(on)
    side = on.rows[1].node
    assert isinstance(side, ir.Side) and side.active and str(side.out_shape) == "1x1x10"
    assert on.totals(sides=True).params == on.totals().params + side.cost.params
    off = net_of(text, aux=False, extra=True)
    assert not off.rows[1].node.active
    assert off.rows[2].node.active and off.totals().params == on.totals().params + 72


def test_expressions_and_functions():
    n = net_of(
        """network t(mult = 0.5)
input 8x8x3
conv 1x1 int(64 * mult)
conv 1x1 max(8, round(10 / 3))
conv 1x1 (3 + 5) // 2 * 4 % 7
"""
    )
    assert [r.node.out_shape.c for r in n.rows] == [32, 8, 2]
    bad = net_of("network t(mult = 0.3)\ninput 8x8x3\nconv 1x1 64 * mult\n")
    assert "must be an integer, got 19.2" in errors(bad)[0].message


def test_expectations_are_audited():
    n = net_of(
        """network t
input 8x8x3
conv 3x3 16 expect output=8x8x16 params=448 ops=27.6K depth=1
conv 3x3 16 expect output=8x8x15 params=2.3K ops=1M depth=2
"""
    )
    assert not errors(n)
    # row 1 agrees everywhere (448 params; 27,648 ops = 27.6K); on row 2, 2,320 params = 2.3K agrees
    assert sorted(d.message for d in n.diagnostics) == [
        "expected depth 2, computed 1",
        "expected output 8x8x15, computed 8x8x16",
        "ops: expected 1M, computed 147,456 = 0.15M (-85.3%)",
    ]
    assert all(d.span.line == 4 for d in n.diagnostics)


def test_imports_are_relative_and_cycles_detected(tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "blocks.isp").write_text('import "more.isp"\nblock b(n) { c n }\n')
    (tmp_path / "lib" / "more.isp").write_text("block c(n) { conv 1x1 n }\n")
    main = tmp_path / "main.isp"
    main.write_text('network t\ninput 8x8x3\nimport "lib/blocks.isp"\nb 5\n')
    n = elaborate(path=str(main))
    assert not errors(n) and n.rows[0].node.out_shape.c == 5
    (tmp_path / "lib" / "more.isp").write_text('import "blocks.isp"\nblock c(n) { conv 1x1 n }\n')
    n = elaborate(path=str(main))
    (e,) = errors(n)
    assert e.message == "import cycle" and e.notes == ("blocks.isp -> more.isp -> blocks.isp",)
    assert e.span.file.endswith("more.isp") and e.span.line == 1


def test_missing_import_is_located(tmp_path):
    main = tmp_path / "main.isp"
    main.write_text('network t\ninput 8x8x3\nimport "nope.isp"\n')
    (e,) = errors(elaborate(path=str(main)))
    assert e.message == "cannot find 'nope.isp' to import" and e.span.line == 3
    assert e.notes[0] == f"tried {tmp_path / 'nope.isp'}"


def test_deep_nesting_is_rejected_cleanly():
    deep = (
        "network t\ninput 8x8x3\n"
        + "branch { " * (MAX_NESTING + 5)
        + "}" * (MAX_NESTING + 5)
        + "\n"
    )
    (e,) = errors(net_of(deep))
    assert "nesting deeper than" in e.message


def test_recursive_blocks_and_depth_limit():
    text = (
        "network t\ninput 8x8x3\n"
        + "".join(f"block b{i}() {{ b{i + 1} }}\n" for i in range(60))
        + "block b60() { conv 1x1 3 }\nb0\n"
    )
    (e,) = errors(net_of(text))
    assert "nested deeper than" in e.message


@pytest.mark.parametrize(
    "text,message",
    [
        ("network t\ninput 8x8x3\nconv 16\n", "conv needs a patch size"),
        ("network t\ninput 8x8x3\nrelu 3x3\n", "relu takes no patch size"),
        ("network t\ninput 8x8x3\nconv 3x3 16 pad=wide\n", "undefined parameter 'wide'"),
        ("network t\ninput 8x8x3\nconv 3x3 16 act=tanhh\n", "conv act must be one of"),
        ("network t\ninput 8x8x3\nconv 3x3 16 16\n", "too many arguments for conv"),
        ("network t\ninput 8x8x3\nconv 3x3 16 bias=true bias=false\n", "'bias' is given twice"),
        ("network t\ninput 8x8x3\ndefaults pool(pad = 1)\n", "defaults for unknown op 'pool'"),
        ("network t\ninput 8x8x3\nunits metric\n", "units must be one of"),
        ("network t\ninput 8x8x3\ninit orthogonal\n", "unknown init scheme"),
        ("network t\ninput 0x8x3\n", "input 0x8x3 is out of range"),
        ("network t\ninput 8x8x3\nconv 1x1 1000000000\n", "conv out must be at most"),
        ("network t\ninput 8x8x3\nconv 1x1 8 / 0\n", "division by zero"),
        ("network t\ninput 8x8x3\nconcat\n", "'concat' merges branches: concat { branch"),
        ("network t\ninput 8x8x3\nmul 3\n", "'mul' merges branches"),
        (
            "network t\ninput 8x8x3\nblock b() { side conv 1x1 3 }\nb\n",
            "side heads belong to the network",
        ),
    ],
)
def test_error_messages(text, message):
    errs = errors(net_of(text))
    assert errs, text
    assert any(message in " ".join((e.message, *e.notes)) for e in errs), [e.message for e in errs]
    for e in errs:
        assert e.span is not None and e.span.file == "t.isp"


def test_syntax_error_is_one_located_diagnostic():
    n = net_of("network t\ninput 8x8x3\nconv 3x3 16 =\n")
    (e,) = errors(n)
    assert (e.span.line, e.span.col) == (3, 13)
    assert e.message == "unexpected '='"


def test_label_identifiers():
    n = net_of(
        "network t\ninput 8x8x3\nconv (3a) 1x1 3\nconv (forward) 1x1 3\nconv (x.y-z) 1x1 3\n"
    )
    assert [r.node.name for r in n.rows] == ["conv3a", "forward_", "x_y_z"]


def test_enum_words_as_block_arguments_and_defaults():
    n = net_of(
        """network t(act = relu)
input 8x8x4
block unit(a = relu, p = same) { conv 3x3 4 act=a pad=p }
unit
unit a=none p=valid
unit act
"""
    )
    assert not errors(n)
    layers = [layer for r in n.rows for _, layer in r.node.layers()]
    assert [(x.attrs["act"], x.attrs["pad"]) for x in layers] == [
        ("relu", "same"),
        ("none", "valid"),
        ("relu", "same"),
    ]
    (e,) = errors(net_of("network t\ninput 8x8x4\nblock u(a) { conv 3x3 4 act=a }\nu rleu\n"))
    assert e.message == "undefined parameter 'rleu'"


def test_parameter_repeat_counts():
    text = """network t(n = 3)
input 8x8x4
block c() { conv 3x3 4 }
n x c (cs)
(n - 1) x c
"""
    n = net_of(text)
    assert not errors(n)
    assert [r.node.count for r in n.rows] == [3, 2]
    assert n.rows[0].node.count_expr is not None
    assert [r.node.count for r in net_of(text, n=5).rows] == [5, 4]
    (e,) = errors(net_of("network t(n = 2)\ninput 8x8x4\nn x conv 3x3/2 4\n"))
    assert "must keep its input's shape" in e.message
    (e,) = errors(net_of("network t(n = 0.5)\ninput 8x8x4\nn x conv 3x3 4\n"))
    assert "must be an integer" in e.message


def test_no_follow_on_errors_after_a_failed_row():
    n = net_of(
        """network t
input 8x8x4
block proj() { conv 1x1 in }
conv 3x3 4 groups=3
proj
"""
    )
    (e,) = errors(n)
    assert "groups=3" in e.message


def test_errors_inside_blocks_name_the_call_site():
    n = net_of("network t\ninput 8x8x4\nblock b(k) { conv 1x1 4 groups=k }\nconv 1x1 4\nb 3\n")
    (e,) = errors(n)
    assert e.span.line == 3
    assert e.notes[-1] == "in block 'b', called at t.isp:5:1"


def test_side_heads_carry_expectations():
    n = net_of(
        "network t\ninput 8x8x4\nblock h() { avgpool global; linear 10 }\n"
        "side h (aux) expect output=1x1x10 params=50\n"
    )
    assert n.diagnostics == []  # 4 * 10 + 10 = 50 params: agrees
    assert [c.ok for c in n.rows[0].checks] == [True, True]
    n = net_of(
        "network t\ninput 8x8x4\nblock h() { avgpool global; linear 10 }\n"
        "side h (aux) expect params=60\n"
    )
    (w,) = n.diagnostics
    assert w.message == "params: expected 60, computed 50 (-16.7%)"


def test_parameter_overrides_are_checked_against_their_defaults():
    text = "network t(a = relu, w = 0.5, on = true)\ninput 8x8x3\nconv 3x3 8 act=a\nconv 1x1 int(16 * w)\n"
    n = net_of(text, a="none", w=1)
    assert not errors(n)
    assert n.rows[0].node.attrs["act"] == "none" and n.rows[1].node.out_shape.c == 16
    (e,) = errors(net_of(text, a="rleu"))
    assert e.message == "parameter 'a' expects a word such as relu, got 'rleu'"
    assert e.notes == ("did you mean 'relu'?",)
    (e,) = errors(net_of(text, w=True))
    assert e.message == "parameter 'w' expects a number, got True"
    (e,) = errors(net_of(text, on=1))
    assert e.message == "parameter 'on' expects true or false, got 1"


def test_rows_override_defaults_by_patch_flag_argument_or_keyword():
    n = net_of(
        """network t(w = 16)
input 8x8x3
defaults conv(pad = valid, stride = 2, act = relu)
conv 3x3/1 w same
conv 3x3 16 act=none
conv 3x3 16
"""
    )
    assert not errors(n)
    a, b, c = (r.node for r in n.rows)
    assert (str(a.out_shape), a.attrs["stride"], a.attrs["pad"]) == ("8x8x16", 1, "same")
    assert (b.attrs["stride"], b.attrs["pad"], b.attrs["act"]) == (2, "valid", "none")
    assert str(c.out_shape) == "1x1x16"
    # provenance: which expression set each attribute (read by the code generator)
    assert set(a.sources) == {"out", "pad"} and set(a.defaulted) == {"act"}
    assert set(b.sources) == {"out", "act"} and set(b.defaulted) == {"pad", "stride"}


def test_an_import_cycle_through_a_text_named_as_its_file():
    """An editor's document (text under the file's name) is that file: a cycle back to it is one
    cycle, as `inspec check` reports it, not a second load and a block 'defined twice'."""
    path = "tests/bad/cycle_b.isp"
    with open(path) as f:
        net = elaborate(text=f.read(), name=path)
    (e,) = errors(net)
    assert e.message == "import cycle" and e.notes == ("cycle_b.isp -> cycle_a.isp -> cycle_b.isp",)


def test_later_syntax_errors_quote_their_own_character(tmp_path):
    spec = tmp_path / "t.isp"
    spec.write_text("network n\ninput 8x8x3\nconv 3x3 16 @\nbn $\n")
    found = [(d.span.line, d.message) for d in errors(elaborate(path=str(spec)))]
    assert found == [(3, "unexpected character '@'"), (4, "unexpected character '$'")]


def test_a_refused_value_still_has_a_type_title():
    net = elaborate(text="network n\ninput 8x8x3\ndropout 1.5\nchannel_shuffle groups=0\n")
    assert errors(net)
    for node in net.body.items:
        assert node.title in ("dropout", "channel shuffle")
