"""What a generated class is made of, apart from its layers: its lines, its constructor's signature and
guards, its docstring's Args and the file's header (paths relative to the output)."""

from __future__ import annotations

import os
import shlex
import textwrap
from dataclasses import dataclass, field, replace
from typing import Any

from inspec.analysis import ir
from inspec.analysis.naming import ident, member, standalone, unique
from inspec.backends.torch.layout import signature
from inspec.backends.torch.pyexpr import (
    P_ATOM,
    Sym,
    lit,
    str_lit,
)


@dataclass
class Line:
    code: str
    comment: str = ""
    depth: int = 0  # extra indentation levels inside the method


@dataclass
class ClassModel:
    name: str
    doc: list[str]
    signature: list[str]
    init: list[str]
    forward: list[str]
    key: tuple
    returns: str = " -> Tensor"
    class_lines: list[str] = field(default_factory=list)
    init_tail: str = ""
    methods: list[str] = field(default_factory=list)
    pynames: dict[str, str] = field(default_factory=dict)  # a block's parameters, in Python


@dataclass
class Frame:
    """The class being written: the concrete values of its spec names (network or block parameters,
    `in`) and the names whose values its code fixes (`baked`: guarded in its constructor)."""

    values: dict[str, Any]
    baked: set[str]
    network: bool = False
    # the spec names whose values its code needs as whole numbers (a channel count, a size)
    integral: set[str] = field(default_factory=set)
    # names that set only output sizes (a stride): fixed where a class holds a size (reads_spatial)
    spatial: set[str] = field(default_factory=set)
    reads_spatial: bool = False
    fractional: set[str] = field(default_factory=set)  # arguments that may be fractions


def _integral(s: Sym, whole: str) -> Sym:
    """An expression the spec requires to be a whole number, as an int in Python: `whole` is the
    generated module's function that converts it and refuses a fraction (a true division or a float
    argument is a float in Python even where its value is whole)."""
    if not s.has_div:
        return s
    return Sym(f"{whole}({s.src})", P_ATOM, s.const, False, s.deps, frozenset())


def _py_value(v: Any) -> Any:
    """A spec value as the generated module takes it (an enumeration word as a string)."""
    return v if v is None or isinstance(v, (bool, int, float, str, tuple)) else str(v)


def _annotation(v: Any) -> str:
    """The constructor annotation of a spec value (an enumeration word is passed as a string)."""
    if isinstance(v, (bool, int, float, str, tuple)):
        return type(v).__name__
    return "str"


def _spec_value(v: Any) -> str:
    """A value as `inspec compile -p NAME=VALUE` writes it."""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _guards(fixed: list[tuple[str, Any]], spec_names: dict[str, str] | None) -> list[Line]:
    """Constructor lines rejecting any value other than the compiled one, for arguments that the
    module's structure depends on in a way the code cannot follow (spatial sizes, say). With
    `spec_names` (the network class) the message says how to compile for another value."""
    lines: list[Line] = []
    for name, value in fixed:
        if isinstance(value, bool):
            test = f"not {name}" if value else name
        else:
            test = f"{name} != {lit(value)}"
        shown = _escape_braces(f"{name}={_spec_value(value)}")
        text = f"compiled for {shown}, got {{{name}!r}}: this argument fixes the module's structure"
        if spec_names is not None:
            text += f"; run `inspec compile -p {_escape_braces(spec_names[name])}=...`"
        lines.append(Line(f"if {test}:"))
        lines.append(Line(f"raise ValueError(f{str_lit(text)})", depth=1))
    return lines


def _escape_braces(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def _signature(params: list[str]) -> list[str]:
    return signature("__init__", ["self", *params], "None", "    ")


def _wrap(text: str) -> list[str]:
    """A paragraph of a class docstring, wrapped to the line length (the docstring is indented)."""
    return textwrap.wrap(text, 84, break_long_words=False, break_on_hyphens=False)


def _args_lines(params, pynames: dict[str, str]) -> list[str]:
    """Google-style `Args:` lines: a parameter's header string (the paper's column title), and the
    spec's name where the Python name differs; nothing for a parameter with neither (its name and
    default are in the signature already)."""
    lines = []
    for p in params:
        name = pynames[p.name]
        text = p.header if p.header and p.header not in (p.name, name) else ""
        if name != p.name:
            text = f"{text} (the spec's `{p.name}`)" if text else f"the spec's `{p.name}`"
        if text:
            lines.append(f"    {name}: {text}")
    return lines


@dataclass(frozen=True)
class Header:
    """Where the module comes from, as its header and docstrings say.

    `output` is the file the module is written to, as given (None: standard output, or a string for
    the caller). Paths in the module (its first line, the docstrings) are relative to the output's
    folder, so that they are right from where the file is; the commands it shows (`inspec compile`,
    `inspec table`, with the options that shaped the module) name the spec as given, to run from
    where the module was compiled.
    """

    spec: str  # the spec's path as given
    output: str | None = None
    params: tuple[str, ...] = ()  # NAME=VALUE for each network parameter compiled for another value
    fuse_bn: bool = False
    table_docstring: bool = False
    inference: bool = False
    # the inference export in the default layout: where the conv that keeps it from channels-last
    # is (fusion.channels_last_blocker), as the docstring names it
    default_layout: str | None = None

    def ref(self, path: str) -> str:
        """A file's path from the output's folder (as given, without an output file)."""
        if self.output is None or not os.path.isfile(path):
            return _display_path(path)
        here, there = os.path.dirname(os.path.abspath(self.output)), os.path.abspath(path)
        try:
            common = os.path.commonpath([here, there])
        except ValueError:  # another drive
            return _display_path(path)
        if common == os.path.dirname(common):  # nothing in common but the root
            return there.replace(os.sep, "/")
        return os.path.relpath(there, here).replace(os.sep, "/")

    def _run(self, command: str, *options: str) -> str:
        params = [x for p in self.params for x in ("-p", p)]
        return shlex.join(["inspec", command, _command_path(self.spec), *options, *params])

    @property
    def command(self) -> str:
        options = ["--inference"] if self.inference else ["--fuse-bn"] * self.fuse_bn
        options += ["--table-docstring"] * self.table_docstring
        return self._run("compile", *options)

    @property
    def table_command(self) -> str:
        return self._run("table")


def _header(
    net: ir.Network,
    output,
    fuse_bn: bool,
    table_docstring: bool,
    inference: bool = False,
    default_layout: ir.Layer | None = None,
) -> Header:
    params = tuple(
        f"{p.name}={_spec_value(net.values[p.name])}"
        for p in net.params
        if net.values[p.name] != p.default or type(net.values[p.name]) is not type(p.default)
    )
    header = Header(net.file, output, params, fuse_bn, table_docstring, inference)
    if default_layout is None:
        return header
    span = default_layout.span
    return replace(header, default_layout=f"{header.ref(span.file)} line {span.line}")


def _command_path(path: str) -> str:
    """The spec's path for a command run from the working directory: as given (an absolute path
    inside the working directory relative to it; `-` for a spec read from standard input)."""
    if path == "<stdin>":
        return "-"
    if os.path.isabs(path):
        try:
            rel = os.path.relpath(path)
        except ValueError:  # another drive
            return path
        return path if rel == ".." or rel.startswith(".." + os.sep) else rel.replace(os.sep, "/")
    return path.replace(os.sep, "/")


def _display_path(path: str) -> str:
    if os.path.isabs(path):
        try:
            rel = os.path.relpath(path)
            if not rel.startswith(".."):
                return rel.replace(os.sep, "/")
        except ValueError:
            pass
        return os.path.basename(path)
    return path.replace(os.sep, "/")


class CodegenError(Exception):
    """A spec construct that has no exact PyTorch rendering."""


class Scope:
    """One class being written: its attribute names, local variable names and lines."""

    def __init__(self, env: dict[str, Sym], items: list[ir.Node]):
        self.env = env
        # the module paths of the scope's rows (naming.py), which extra attributes must not take
        self.members = {path for _, path in ir.scope_children(items)}
        self.attrs: set[str] = set()
        self.locals: set[str] = {"x", "self"}
        self.init: list[Line] = []
        self.fwd: list[Line] = []
        self.paths: list[tuple[str, ir.Layer]] = []
        self.calls: list[tuple[str, ir.Call]] = []

    def member(self, node: ir.Node, prefix: str) -> str:
        """The attribute of a row: its module path in the scope, as the IR names it."""
        alone = node.given if isinstance(node, ir.Branch) else standalone(node.label)
        name = member("", prefix, node.name, alone)
        if name in self.attrs:  # elaboration keeps a scope's names apart; this would be a bug
            raise CodegenError(f"two modules named '{name}' in one class")
        self.attrs.add(name)
        return name

    def claim(self, name: str, prefix: str = "") -> str:
        """An attribute that is not a row (a residual's scale, an activation chosen by a parameter)."""
        name = unique(ident(prefix + name), self.attrs | self.members)
        self.attrs.add(name)  # a second claim of the same name gets another
        return name

    def local(self, name: str) -> str:
        return unique(ident(name), self.locals)


def block_doc(header: Header, node: ir.Call, pynames, variant: int, base: str) -> str:
    """A block class's docstring: where the block is written, its Args, the instance it shows."""
    block = node.block
    where = header.ref(block.file)
    lines = [f"Block `{block.name}` of {where} (line {block.span.line})."]
    if variant > 1:
        lines += [
            "",
            *_wrap(
                f"A variant of {base}: this instance differs in a value that depends on its "
                "input (such as resolved `same` padding or a flattened feature count) or in an "
                "argument that its code fixes (checked in the constructor)."
            ),
        ]
    args = _args_lines(block.params, pynames)
    if args:
        lines += [
            "",
            "Args:",
            "    in_channels: channels of the input (the spec's `in`)",
            *args,
        ]
    instance, shape = node.label or node.name, node.in_shape.torch_comment()
    lines += ["", f"Shape comments are for the instance ({instance}), input {shape}."]
    return "\n".join(lines)


def network_doc(
    net: ir.Network, header: Header, outputs, fuse_bn: bool, param_names, dropped
) -> str:
    """What the network is, its input and output, its totals and a pointer to its table; the
    whole table with `table_docstring`. `dropped`: the op of a final row left out (softmax)."""
    from inspec.backends.table import render_text

    lines = [f"{net.name}, compiled from {header.ref(net.file)}.", ""]
    out = net.output.torch_comment()
    returns = f"returns {out}"
    if dropped is not None:  # the op of a final row the module leaves out (softmax)
        returns = f"returns logits, {out}: the final {dropped} row is left to the loss"
        returns += " (nn.CrossEntropyLoss)"
    text = f"Input {net.input.torch_comment()}; {returns}."
    if outputs:
        text += (
            f" In training mode, with side heads present: {outputs['name']}"
            f"({', '.join(outputs['fields'])}); in eval mode the main logits only."
        )
    if header.inference:
        text += (
            " An inference export (eval mode only): batch norm is folded into the convolutions,"
            " sibling convolutions that read the same tensor with the same kernel, stride and"
            " padding (with a pool branch's 1x1, computed before its average pool where that is"
            " exact) are one convolution whose output is split"
        )
        if header.default_layout is None:
            text += (
                ", and the module converts its input to channels-last (torch.channels_last) and"
                " keeps its weights so."
            )
        else:
            text += (
                ". It runs in the default memory layout, not channels-last: the convolution at"
                f" {header.default_layout} has a stride and a dilation above 1, on which"
                " PyTorch's CPU convolution can crash in channels-last."
            )
        text += (
            " Its weights come from the training module's: inspec.backends.torch.export_state_dict."
        )
    elif fuse_bn:
        text += " Batch norm is folded into the convolutions: an inference-only export."
    lines += [*_wrap(text), ""]
    main_t, full = net.totals(), net.totals(sides=True)
    params = f"{main_t.params:,} parameters"
    ops = f"{main_t.ops:,} multiply-adds of conv and linear layers"
    if any(side.active for side in net.sides):
        params += f" ({full.params:,} with side heads)"
        ops += f" ({full.ops:,} with side heads)"
    if fuse_bn:  # the analysis counts the batch-norm parameters that folding removes
        params += " before batch norm is folded"
    lines += _wrap(f"{params} and {ops}, for the default arguments.")
    if header.table_docstring:
        lines += ["", "The spec's table (for the default arguments):", ""]
        lines += render_text(net, "rows", net.units).rstrip("\n").split("\n")
    else:
        lines += ["", "The spec's table, row by row:", "", f"    {header.table_command}"]
    args = _args_lines(net.params, param_names)
    if args:
        lines += ["", "Args:", *args]
    return "\n".join(lines)
