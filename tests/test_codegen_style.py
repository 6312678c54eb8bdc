"""Generated code a reader cannot tell from hand-formatted torchvision code (issue 10, point 6).

- Layout: `layout.layout` lays a statement out exactly as `ruff format` does from the statement on
  one line (arguments hugged on one indented line where they fit, one per line with a trailing comma
  only where they do not), checked against ruff itself with the project's configuration, for
  synthetic statements and for every statement the generator writes for the shipped specs.
- Docstrings: `Args:` lines only where a header string (or a renamed parameter) says something; the
  network class's docstring short (input, output, totals, `inspec table`), the whole table with
  `--table-docstring`.
- Header: the spec's path relative to the output file; its `inspec compile` hint a command that
  works from the working directory.
"""

from __future__ import annotations

import random
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import inspec
from inspec import fileio
from inspec.analysis.elaborate import elaborate
from inspec.backends.table import render_text
from inspec.backends.torch import generate, generator
from inspec.backends.torch.layout import LINE_LENGTH, layout, signature
from tests.conftest import ROOT, SPECS, run_cli

RUFF = Path(sys.executable).parent / "ruff"
CONFIG = ROOT / "pyproject.toml"
# the project's own line length (pyproject's [tool.ruff]), beside ruff's default (the generator's)
PROJECT_WIDTH = int(re.search(r"(?m)^line-length\s*=\s*(\d+)", CONFIG.read_text()).group(1))
WIDTHS = sorted({LINE_LENGTH, PROJECT_WIDTH})
NETWORKS = [
    p
    for p in sorted(SPECS.rglob("*.isp"))
    if (n := elaborate(path=str(p))).input is not None and n.ok
]


def ruff_format(source: str, width: int) -> str:
    """`ruff format -` with the project's configuration, at line length `width`."""
    r = subprocess.run(
        [str(RUFF), "format", "--config", str(CONFIG), "--line-length", str(width), "-"],
        input=source,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert r.returncode == 0, r.stderr
    return r.stdout


def compare_with_ruff(statements: list[tuple[str, str]], width: int) -> list[str]:
    """Lay out each (indent, code) statement and let ruff format the same statements given on one
    line; returns a report for each statement where the two differ (and checks that ruff leaves our
    layout unchanged)."""
    flat, ours = ["class A:", "    def f(self):"], ["class A:", "    def f(self):"]
    for k, (indent, code) in enumerate(statements):
        header = code.endswith(":")  # `if ...:` needs a body
        for out, lines in ((flat, [indent + code]), (ours, layout(code, indent, width=width))):
            depth = (len(indent) - 8) // 4
            out += [f"{'    ' * (2 + d)}if True:" for d in range(depth)]
            out += [f"{indent}# -- {k}", *lines]
            out += [indent + "    pass"] if header else []
    want, mine = ruff_format("\n".join(flat) + "\n", width), "\n".join(ours) + "\n"
    assert ruff_format(mine, width) == mine, "ruff format changes the generator's layout"

    def split(text: str) -> dict[int, list[str]]:
        blocks: dict[int, list[str]] = {}
        key = None
        for ln in text.split("\n"):
            m = re.fullmatch(r"\s*# -- (\d+)", ln)
            if m:
                key = int(m.group(1))
                blocks[key] = []
            elif key is not None and not ln.strip().startswith("if True:"):
                blocks[key].append(ln)
        return blocks

    a, b = split(want), split(mine)
    return [
        f"{statements[k][1]}\nruff:\n" + "\n".join(a[k]) + "\nours:\n" + "\n".join(b[k])
        for k in a
        if a[k] != b[k]
    ]


# Long statements of the kinds the generator writes, and a few it could write with long names.
LONG = "branch3x3dbl_" * 3
STATEMENTS = [
    # hugged arguments, then one per line
    "self.inception3a = Inception(192, 64, 96, 128, 16, 32, 32, some_long_argument_here_xxxxxx)",
    "self.conv1 = nn.Sequential(nn.ZeroPad2d((2, 3, 2, 3)), "
    "ConvReLU(3, 64, kernel_size=7, stride=2))",
    "self.branch2 = nn.Sequential(ConvReLU(in_channels, n3x3red, kernel_size=1), "
    "ConvReLU(n3x3red, n3x3, kernel_size=3, padding=1))",
    "self.branch1 = nn.Sequential(ConvBNReLU(in_channels, 128, kernel_size=1), "
    "ConvBNReLU(128, 160, kernel_size=(1, 7), padding=(0, 3)), "
    "ConvBNReLU(160, 192, kernel_size=(7, 1), padding=(3, 0)))",
    # nested calls: the inner call hugs, explodes, or stays on its line
    f"x = self.fc(torch.flatten({LONG}xxxxxxxxxxxxxxxxxxxxxxxx, 1))",
    f"x = self.fc(torch.flatten({LONG}xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx, 1))",
    "self.conv3 = nn.Sequential(ConvNormAct(128, 256, kernel_size=3, padding=1, bn=batch_norm, "
    'act="relu"), *[ConvNormAct(256, 256, kernel_size=3, padding=1, bn=batch_norm, act="relu") '
    "for _ in range(3)])",
    "self.conv5 = nn.Sequential(*[ConvNormAct(512, 512, kernel_size=3, padding=1, bn=batch_norm) "
    "for _ in range(n)])",
    # lists and tuples: no hug, one element per line at once
    f"x = torch.cat([{LONG}1, {LONG}2, {LONG}3, {LONG}4], 1)",
    "x = torch.cat([branch1xxxxxxxxxx, branch2xxxxxxxxxxxxxxxxx, branch3xxxxxxx, branch4xxxx], 1)",
    f"self.pad = nn.ZeroPad2d(({LONG}left, {LONG}right, {LONG}top, {LONG}bottom))",
    f"x = ({LONG}aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa,)",
    # binary operators: broken before the loosest operator, parenthesized at statement level
    "self.last_linear = nn.Linear(round(256 * width) + (round(256 * width) + round(256 * width)) "
    "+ (round(256 * width) + round(256 * width)) + round(256 * width), num_classes)",
    "self.mixed_7a = SlimReductionB(round(384 * width) + round(256 * width) + round(256 * width) "
    "+ round(128 * width), width)",
    "self.slim_b = nn.Sequential(SlimB(round(384 * width) + round(256 * width) + "
    "(round(96 * width) + round(96 * width) + round(96 * width) + round(96 * width)), width), "
    "*[SlimB(round(384 * width) + round(256 * width) + round(256 * width) + round(128 * width), "
    "width) for _ in range(3)])",
    f"x = {LONG}identity + self.scale_of_the_residual_branch * {LONG}body",
    f"x = {LONG}identity + 0.17 * self.body({LONG}x)",
    f"x = self.act({LONG}identity + self.scale * {LONG}x)",
    f"self.fc = nn.Linear({LONG} * {LONG} * 7 * 7 // groups_xxxxxxxxxxxxxxxxxx, num_classes)",
    # keyword arguments
    f"self.lrn = nn.LocalResponseNorm(5, alpha=2e-05 * 5, beta=0.75, k=1.0, {LONG}=True)",
    f"self.conv = ConvBNReLU(in_channels, out_channels, kernel_size=3, padding={LONG}padding + 1)",
    f"self.conv = ConvBNReLU(kernel_size={LONG}{LONG}{LONG}kernel * 3 + 1)",
    # long string literals (they never split)
    "raise ValueError(f\"compiled for s=2, got {s!r}: this argument fixes the module's structure; "
    'run `inspec compile -p s=...`")',
    'raise ValueError(f"compiled for s=2, got {s!r}: this argument fixes the structure")',
    f'self.act = activation("a very long activation name that does not fit {LONG}", {LONG})',
    # conditional expressions, `if` headers, returns
    f"self.aux1 = Aux(528, num_classes, {LONG}) if aux_logits else None",
    f"self.aux1 = Aux(528, num_classes, {LONG}{LONG}xxxxxx) if aux_logits else None",
    f"if self.training and (self.{LONG}1 is not None or self.{LONG}2 is not None):",
    f"if self.training and (self.{LONG}1 is not None or self.aux2 is not None):",
    f"return GooglenetOutputs(x, {LONG}aux1, {LONG}aux2, {LONG}aux3)",
    f"x = self.{LONG}[0](torch.flatten({LONG}x, 1), {LONG}y)",
    f"{LONG}aux1: Tensor | None = {LONG}Head({LONG}x, num_classes)",
]


@pytest.mark.parametrize("width", WIDTHS)
def test_layout_of_synthetic_statements_is_ruffs(width):
    statements = [(ind, s) for s in STATEMENTS for ind in ("        ", "            ")]
    assert not compare_with_ruff(statements, width)


def _random_statement(r: random.Random) -> str:
    """A random statement over calls, lists, tuples, binary operators, keywords and strings."""

    def name() -> str:
        return r.choice(["x", "in_channels", "num_classes", "width"]) + "_x" * r.randint(0, 12)

    def atom(d: int) -> str:
        k = r.random()
        if k < 0.45:
            return name()
        if k < 0.65:
            return str(r.choice([1, 64, 192, 0.4, 2e-05]))
        if k < 0.75:
            return '"' + "a long string literal " * r.randint(1, 4) + '"'
        return call(d) if d < 4 else name()

    def call(d: int) -> str:
        f = r.choice(["ConvBNReLU", "nn.Sequential", "round", "self.branch1", "torch.cat"])
        pos = [expr(d + 1) for _ in range(r.randint(0, 4))]
        if r.random() < 0.2:
            pos.append(f"*[{expr(d + 1)} for _ in range(3)]")
        kw = [
            f"{r.choice(['stride', 'padding', 'bn'])}={expr(d + 1)}" for _ in range(r.randint(0, 2))
        ]
        return f"{f}({', '.join(pos + kw)})"

    def expr(d: int = 0) -> str:
        k = r.random()
        if d > 3 or k < 0.35:
            return atom(d)
        if k < 0.6:
            return call(d)
        if k < 0.75:
            out = atom(d + 1)
            for _ in range(r.randint(1, 4)):
                part = atom(d + 1)
                part = f"({part} + {atom(d + 1)})" if r.random() < 0.2 else part
                out += f" {r.choice(['+', '-', '*', '//'])} {part}"
            return out
        if k < 0.85:
            return "[" + ", ".join(expr(d + 1) for _ in range(r.randint(1, 4))) + "]"
        if k < 0.92:
            return f"{call(d + 1)} if {name()} else None"
        items = [expr(d + 1) for _ in range(r.randint(1, 3))]
        return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"

    target = r.choice(["x", "self.conv_xxxxxxxxxxxx", "return", "if"])
    if target == "return":
        return f"return {expr()}"
    if target == "if":
        return f"if {expr()} == {name()} and {name()} is not None:"
    return f"{target} = {expr()}"


@pytest.mark.parametrize("width", WIDTHS)
def test_layout_of_random_statements_is_ruffs(width):
    r = random.Random(width)
    statements = [
        (r.choice(("        ", "            ")), _random_statement(r)) for _ in range(300)
    ]
    assert sum(len(layout(c, i, width=width)) > 1 for i, c in statements) > 100  # most break
    assert not compare_with_ruff(statements, width)


def test_layout_of_every_generated_statement_is_ruffs(monkeypatch):
    """Every statement the generator lays out for the shipped specs (plain and fused) is laid out as
    ruff lays it out from one line: a trailing comma only where ruff would add one, never where the
    arguments fit on one line (which `ruff format --check` alone would not notice)."""
    seen: set[tuple[str, str]] = set()
    real = generator.layout

    def spy(code, indent, comment="", width=LINE_LENGTH):
        seen.add((indent, code))
        return real(code, indent, comment, width)

    monkeypatch.setattr(generator, "layout", spy)
    for p in NETWORKS:
        net = elaborate(path=str(p))
        generate(net)
        generate(net, fuse_bn=True)
    long = sorted(s for s in seen if len(s[0]) + len(s[1]) > LINE_LENGTH)
    assert len(long) > 30
    assert not compare_with_ruff(long, LINE_LENGTH)


def test_signature_hugs_then_explodes():
    short = signature("__init__", ["self", "in_channels: int", "k: int"], "None", "    ")
    assert short == ["    def __init__(self, in_channels: int, k: int) -> None:"]
    params = ["self", "num_classes: int = 1000", "dropout: float = 0.4", "aux_logits: bool = True"]
    assert signature("__init__", params, "None", "    ") == [
        "    def __init__(",
        "        self, num_classes: int = 1000, dropout: float = 0.4, aux_logits: bool = True",
        "    ) -> None:",
    ]
    many = [*params, "transform_input: bool = False"]
    lines = signature("__init__", many, "None", "    ")
    assert lines[1:-1] == [f"        {p}," for p in many]
    source = "class A:\n" + "\n".join(lines) + "\n        pass\n"
    assert ruff_format(source, LINE_LENGTH) == source


def test_a_single_dropout_is_not_numbered():
    code = generate(elaborate(path=str(SPECS / "googlenet.isp")))
    assert "self.dropout = nn.Dropout(p=dropout)" in code and "dropout1" not in code


# -- docstrings ---------------------------------------------------------------------------------


def _docstring(code: str, cls: str) -> str:
    m = re.search(rf'class {cls}\(nn\.Module\):\n    """(.*?)"""', code, re.S)
    assert m, cls
    return m.group(1)


def test_args_come_from_header_strings_only(in_root):
    code = generate(elaborate(path="specs/googlenet.isp"))
    # the network's parameters have no header strings: no Args section (the signature says it all)
    assert "Args:" not in _docstring(code, "Googlenet")
    inception = _docstring(code, "Inception")
    assert "        n1x1: #1x1\n" in inception and "        pool_proj: pool proj\n" in inception
    assert "        in_channels: channels of the input (the spec's `in`)\n" in inception
    # reduction_a(k "k", l "l", m "m", n "n"): a header that repeats the name says nothing
    v4 = generate(elaborate(path="specs/inception_v4.isp"))
    reduction = _docstring(v4, "ReductionA")
    assert not re.search(r"^\s+(k|m|n): ", reduction, re.M)
    assert "        l_: the spec's `l`\n" in reduction  # E741: `l` is `l_` in Python
    assert "def __init__(self, in_channels: int, k: int, l_: int, m: int, n: int) -> None:" in v4


def test_no_args_section_without_headers():
    text = "network t(a = 4)\ninput 8x8x3\nblock b(c) {\n  conv 1x1 c\n}\nb a\n"
    code = generate(elaborate(text=text, name="t.isp"))
    assert "Args:" not in code


def test_args_of_headers_and_renamed_parameters():
    text = (
        'network t(a = 4 "#stem", type = 8 "type", l = 2)\ninput 8x8x3\n'
        'block b(c "#out", list "#proj") {\n  conv 1x1 c\n  conv 1x1 list\n}\n'
        "conv 1x1 a\nb type l\n"
    )
    code = generate(elaborate(text=text, name="t.isp"))
    net_doc = _docstring(code, "T")
    assert (
        "Args:\n        a: #stem\n        type_: the spec's `type`\n        l_: the spec's `l`\n"
        in net_doc
    )
    block_doc = _docstring(code, "B")
    assert "        c: #out\n        list_: #proj (the spec's `list`)\n" in block_doc


def test_network_docstring_is_short(in_root):
    net = elaborate(path="specs/googlenet.isp")
    doc = _docstring(generate(net), "Googlenet")
    main, full = net.totals(), net.totals(sides=True)
    flat = " ".join(doc.split())
    assert "Input N x 3 x 224 x 224; returns logits, N x 1000" in flat
    assert f"{main.params:,} parameters ({full.params:,} with side heads)" in flat
    assert (
        f"{main.ops:,} multiply-adds of conv and linear layers ({full.ops:,} with side heads)"
        in flat
    )
    assert "        inspec table specs/googlenet.isp\n" in doc
    assert "inception (3a)" not in doc and "total with side heads" not in doc
    assert len(doc.splitlines()) < 16
    assert all(len(ln) <= LINE_LENGTH for ln in doc.splitlines())


def test_table_docstring_holds_the_whole_table(in_root):
    net = elaborate(path="specs/googlenet.isp")
    code = generate(net, table_docstring=True)
    doc = _docstring(code, "Googlenet")
    for line in render_text(net, "rows", net.units).splitlines():
        assert line.rstrip() in doc
    assert "--table-docstring" in code.splitlines()[1]
    assert inspec.load("specs/googlenet.isp").to_python(table_docstring=True) == code
    assert "inception (3a)" not in inspec.load("specs/googlenet.isp").to_python()


def test_fused_docstring_says_what_its_counts_are(in_root):
    doc = _docstring(
        generate(elaborate(path="specs/googlenet_bn.isp"), fuse_bn=True), "GooglenetBn"
    )
    flat = " ".join(doc.split())
    assert "parameters before batch norm is folded" in flat and "inference-only" in flat


# -- the header ---------------------------------------------------------------------------------


def _cli(cwd, *args):
    return run_cli(*args, cwd=cwd)


@pytest.fixture
def workdir(tmp_path):
    """A working directory with the shipped specs in specs/ and an empty out/."""
    (tmp_path / "specs").symlink_to(SPECS, target_is_directory=True)
    (tmp_path / "out").mkdir()
    return tmp_path


def test_header_names_the_spec_relative_to_the_output(workdir, monkeypatch):
    r = _cli(workdir, "compile", "specs/googlenet.isp", "-o", "out/gn.py", "-q")
    assert r.returncode == 0, r.stderr
    code = (workdir / "out/gn.py").read_text()
    first, second = code.splitlines()[:2]
    assert first == "# Generated by inspec 0.1.0 from ../specs/googlenet.isp. Do not edit by hand:"
    assert second == "# change the spec and run `inspec compile specs/googlenet.isp`."
    assert (workdir / "out" / first.split(" from ")[1].split(". Do not")[0]).is_file()
    assert "Block `inception` of ../specs/blocks/googlenet.isp (line 11)." in code
    assert fileio.is_marked(code.encode()[:16384], code.encode()[-64:])
    # the API says the same for the same output
    net = elaborate(path=str(workdir / "specs/googlenet.isp"))
    net.file = "specs/googlenet.isp"
    monkeypatch.chdir(workdir)
    assert generate(net, output="out/gn.py") == code


def test_header_keeps_the_path_as_given_on_stdout(workdir):
    r = _cli(workdir, "compile", "specs/googlenet.isp", "-o", "-")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "# Generated by inspec 0.1.0 from specs/googlenet.isp. Do not edit by hand:"
    assert "wrote" not in r.stdout and "inception (3a)  " not in r.stdout  # the module alone
    assert not list(workdir.glob("*.py"))


def test_the_hint_is_a_command_that_recompiles_the_module(workdir):
    r = _cli(
        workdir, "compile", "specs/googlenet_bn.isp", "--fuse-bn", "-p", "num_classes=10",
        "-o", "out/gbn.py", "-q",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    code = (workdir / "out/gbn.py").read_text()
    hint = re.fullmatch(r"# change the spec and run `(.*)`\.", code.splitlines()[1]).group(1)
    assert hint == "inspec compile specs/googlenet_bn.isp --fuse-bn -p num_classes=10"
    assert "inspec table specs/googlenet_bn.isp -p num_classes=10" in code
    again = _cli(workdir, *shlex.split(hint)[1:], "-q")  # from the working directory, as written
    assert again.returncode == 0, again.stderr
    rewritten = (workdir / "googlenet_bn.py").read_text()
    assert rewritten.split("\n", 1)[1] == code.split("\n", 1)[1].replace("../specs/", "specs/")
