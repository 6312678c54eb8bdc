"""The command line: inspec check | table | diff | compile | diagram | weights | verify.

Exit codes: 0 fine (warnings allowed), 1 spec errors (or an output that could not be written, weights
that do not fit, a module that differs from its reference), 2 usage errors (a reference that cannot be
had: a malformed REF, a package that is not installed), 130 interrupted (Ctrl-C). check, table, diff,
compile and diagram never import torch; weights and verify do, when they run.
"""

from __future__ import annotations

import math
import os
import re
import sys
from pathlib import Path

import click

from inspec import __version__
from inspec.analysis.elaborate import elaborate
from inspec.diagnostics import EXPECT, PARAM, Severity, printable, promote
from inspec.fileio import OutputError, check_target, write_atomic

EXIT_OK, EXIT_SPEC, EXIT_USAGE = 0, 1, 2
STRICT_NOTE = "an error under --strict: every expectation must agree (a warning without it)"


STDIN = "<stdin>"  # the name of a spec read from standard input (SPEC given as -)
_stdin: list[str] = []


def _stdin_text() -> str:
    """Standard input, read once (a sweep elaborates the spec once per point)."""
    if not _stdin:
        _stdin.append(sys.stdin.buffer.read().decode("utf-8", errors="replace"))
    return _stdin[0]


def _shown(spec: str) -> str:
    return STDIN if spec == "-" else spec


def _load(spec: str, params: dict | None = None):
    """The spec elaborated with the -p overrides; an override that the network does not take (an
    unknown name, a value of the wrong kind) is a usage error (exit 2)."""
    if spec == "-":
        net = elaborate(text=_stdin_text(), params=params or {}, name=STDIN)
    else:
        net = elaborate(path=spec, params=params or {})
    if params:  # what elaborate says of a value given from outside: a usage error
        for d in net.diagnostics:
            if d.is_error and d.code == PARAM:
                said = d.message + (f" ({'; '.join(d.notes)})" if d.notes else "")
                raise click.BadParameter(printable(said), param_hint=["-p", "--param"])
    return net


def _report(net, quiet: bool = False, hint: bool = False) -> bool:
    """Print the diagnostics (stderr); True when there are no errors.

    quiet prints errors only; hint prints errors and a one-line count of the warnings."""
    diags = net.diagnostics
    for d in diags:
        if (quiet or hint) and not d.is_error:
            continue
        click.echo(d.render(net.sources), err=True)
    errors = sum(d.is_error for d in diags)
    warnings = sum(d.severity is Severity.WARNING for d in diags)
    if hint and warnings and not errors:
        click.echo(
            f"{net.file}: {warnings} warning{'s' * (warnings != 1)} (inspec check {net.file} shows them)",
            err=True,
        )
    if errors:
        click.echo(
            f"{net.file}: {errors} error{'s' * (errors != 1)}"
            + (f", {warnings} warning{'s' * (warnings != 1)}" if warnings else ""),
            err=True,
        )
    return errors == 0


MAX_PARAM_DIGITS = 15  # a -p number: at most 15 digits (10^15), beyond any size a spec can use
_INT = re.compile(r"[+-]?[0-9](?:_?[0-9])*")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _number(name: str, raw: str) -> int | float | None:
    """raw as an int or a float (ASCII digits only), None when it is not a number; too many digits, a
    non-finite float or one of 10^15 or more is a usage error."""
    if _INT.fullmatch(raw):
        digits = sum(c.isdigit() for c in raw)
        if digits > MAX_PARAM_DIGITS:
            raise click.BadParameter(
                f"{name}: a number may have at most {MAX_PARAM_DIGITS} digits (this one has {digits:,})",
                param_hint="--param",
            )
        return int(raw)
    if _FLOAT.fullmatch(raw):
        digits = sum(c.isdigit() for c in raw.lower().partition("e")[0])
        value = float(raw)
        if digits > 2 * MAX_PARAM_DIGITS or not math.isfinite(value) or abs(value) >= 1e15:
            raise click.BadParameter(
                f"{name}: a number must be finite and below 10^15 in size, "
                f"with at most {2 * MAX_PARAM_DIGITS} digits",
                param_hint="--param",
            )
        return value
    return None


def _parse_params(values: tuple[str, ...]) -> dict:
    """--param name=value (value parsed as int, float, true/false, else string)."""
    out = {}
    for item in values:
        name, sep, raw = item.partition("=")
        if not sep or not name.strip():
            shown = item if len(item) <= 60 else item[:60] + "…"
            raise click.BadParameter(f"expected NAME=VALUE, got {shown!r}", param_hint="--param")
        name, raw = name.strip(), raw.strip()
        value: object
        if raw in ("true", "false"):
            value = raw == "true"
        else:
            number = _number(name, raw)
            value = raw if number is None else number
        out[name] = value
    return out


def _range_parts(raw: str) -> tuple[str, str, str] | None:
    """START:STOP:STEP when raw is three numbers so joined, else None."""
    parts = [x.strip() for x in raw.split(":")]
    if len(parts) == 3 and all(_INT.fullmatch(x) or _FLOAT.fullmatch(x) for x in parts):
        return parts[0], parts[1], parts[2]
    return None


def _sweep_params(values: tuple[str, ...]) -> tuple[dict, dict[str, list]]:
    """table's -p items: NAME=VALUE (fixed), NAME=V1,V2,... or NAME=START:STOP:STEP (swept; a list's
    items may be ranges). A list or range of one value is a fixed value; a later -p of a name wins."""
    from inspec.backends.sweep import SweepError, frange

    fixed: dict = {}
    swept: dict[str, list] = {}
    for item in values:
        name, sep, raw = item.partition("=")
        name = name.strip()
        if not (sep and name and ("," in raw or _range_parts(raw))):
            got = _parse_params((item,))
            for key in got:
                swept.pop(key, None)
            fixed.update(got)
            continue
        found: list = []
        for part in raw.split(","):
            if not part.strip():
                shown = raw if len(raw) <= 60 else raw[:60] + "…"
                raise click.BadParameter(
                    f"{name}: an empty value in the list {shown!r}", param_hint="--param"
                )
            bounds = _range_parts(part)
            if bounds is None:
                found.append(_parse_params((f"{name}={part}",))[name])
                continue
            for x in bounds:
                _number(name, x)  # the digit and size limits of a -p number
            try:
                found += frange(*bounds)
            except SweepError as e:
                raise click.BadParameter(f"{name}: {e}", param_hint="--param") from None
        fixed.pop(name, None)
        swept.pop(name, None)
        if len(found) == 1:
            fixed[name] = found[0]
        else:
            swept[name] = found
    return fixed, swept


_spec_arg = click.argument(
    "spec", type=click.Path(exists=True, dir_okay=False, readable=True, allow_dash=True)
)
_spec_file_arg = click.argument("spec", type=click.Path(exists=True, dir_okay=False, readable=True))
_param_opt = click.option(
    "-p",
    "--param",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="Override a network parameter, e.g. -p num_classes=10 -p aux_logits=false.",
)


def _units_opt(default: str):
    """-u/--units of table and diff; `default` says what applies without it."""
    return click.option(
        "-u",
        "--units",
        type=click.Choice(["exact", "paper"]),
        default=None,
        help=f"exact counts, or the paper's K = 1024 params and M = 10^6 ops [default: {default}]",
    )


_granularity_opt = click.option(
    "-g",
    "--granularity",
    type=click.Choice(["rows", "layers"]),
    default="rows",
    show_default=True,
    help="rows as written, or every layer inside blocks",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="inspec")
def cli() -> None:
    """Write a CNN as its paper's table; check, count, draw and compile it."""


_stdin_spec = click.Path(exists=True, dir_okay=False, readable=True, allow_dash=True)


@cli.command()
@click.argument("specs", nargs=-1, required=True, type=_stdin_spec)
@click.option("-q", "--quiet", is_flag=True, help="Print errors only.")
@click.option(
    "--strict",
    is_flag=True,
    help="Every `expect` that disagrees with what is computed is an error (exit 1), not a warning.",
)
@_param_opt
def check(specs: tuple[str, ...], quiet: bool, strict: bool, params: tuple[str, ...]) -> None:
    """Check specs: parse, elaborate, infer every shape, audit expectations."""
    overrides = _parse_params(params)
    failed = False
    for spec in specs:
        net = _load(spec, overrides)
        if strict:
            net.diagnostics = promote(net.diagnostics, EXPECT, STRICT_NOTE)
        ok = _report(net, quiet)
        if ok:
            warns = sum(d.severity is Severity.WARNING for d in net.diagnostics)
            notes = sum(d.severity is Severity.NOTE for d in net.diagnostics)
            if not quiet:
                from inspec.backends.table import summary_line

                said = [f"{warns} warning{'s' * (warns != 1)}"] if warns else []
                said += [f"{notes} note{'s' * (notes != 1)}"] if notes else []
                suffix = f" ({', '.join(said)})" if said else ""
                click.echo(
                    f"{_shown(spec)}: ok{suffix}: {summary_line(net)}"
                    if net.input
                    else f"{_shown(spec)}: ok{suffix} (block library)"
                )
        failed |= not ok
    sys.exit(EXIT_SPEC if failed else EXIT_OK)


@cli.command()
@click.argument("spec", type=_stdin_spec)
@click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(["text", "markdown", "csv", "json", "latex"]),
    default="text",
    show_default=True,
)
@_units_opt("the spec's `units`, else exact")
@_granularity_opt
@click.option(
    "-p",
    "--param",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="Override a network parameter, e.g. -p num_classes=10 -p aux_logits=false. A list "
    "(-p width=0.5,1,2) or a range START:STOP:STEP (-p width=0.5:1.5:0.25, STOP included when a "
    "step lands on it) sweeps the parameter: one line per point (every combination of the swept "
    "parameters) with its params, ops and output shape instead of the table.",
)
def table(
    spec: str, fmt: str, units: str | None, granularity: str, params: tuple[str, ...]
) -> None:
    """Print the network as a paper-style table (or, with a swept -p, a line per point)."""
    fixed, swept = _sweep_params(params)
    if swept:
        _sweep(spec, fmt, units, fixed, swept)
        return
    net = _load(spec, fixed)
    if not _report(net, hint=True):
        sys.exit(EXIT_SPEC)
    if net.input is None:
        click.echo(f"{_shown(spec)} is a block library: it has no network to tabulate", err=True)
        sys.exit(EXIT_SPEC)
    from inspec.backends.table import RENDERERS

    click.echo(RENDERERS[fmt](net, granularity, units or net.units), nl=False)


def _sweep(spec: str, fmt: str, units: str | None, fixed: dict, swept: dict[str, list]) -> None:
    """The sweep's table; exit 1 when a point has errors (each error printed once, then a line
    naming the point)."""
    from inspec.backends.sweep import RENDERERS, Point, Sweep, SweepError, grid, show

    try:
        combos = grid(swept)
    except SweepError as e:
        raise click.BadParameter(str(e), param_hint="--param") from None
    points: list[Point] = []
    printed: set[str] = set()
    for values in combos:
        net = _load(spec, {**fixed, **values})
        errors = [d for d in net.diagnostics if d.is_error]
        if not errors and net.input is None:
            click.echo(
                f"{_shown(spec)} is a block library: it has no network to tabulate", err=True
            )
            sys.exit(EXIT_SPEC)
        for d in errors:
            text = d.render(net.sources)
            if text not in printed:
                printed.add(text)
                click.echo(text, err=True)
        if errors:
            where = ", ".join(f"{k}={show(v)}" for k, v in values.items())
            n = len(errors)
            click.echo(f"{_shown(spec)} with {where}: {n} error{'s' * (n != 1)}", err=True)
        points.append(Point(values, net, [d.message for d in errors]))
    sweep = Sweep(swept, fixed, points)
    unit = units or next((p.net.units for p in points if p.ok), "exact")
    click.echo(RENDERERS[fmt](sweep, unit), nl=False)
    sys.exit(EXIT_SPEC if any(not p.ok for p in points) else EXIT_OK)


@cli.command(name="diff")
@click.argument("spec_a", type=click.Path(exists=True, dir_okay=False, readable=True))
@click.argument("spec_b", type=click.Path(exists=True, dir_okay=False, readable=True))
@click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(["text", "markdown", "json"]),
    default="text",
    show_default=True,
)
@_units_opt("the specs' `units` when they agree, else exact")
@_granularity_opt
@click.option(
    "-p",
    "--param",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="Override a network parameter of both specs.",
)
@click.option(
    "--pa",
    "params_a",
    multiple=True,
    metavar="NAME=VALUE",
    help="Override a parameter of SPEC_A only (after -p).",
)
@click.option(
    "--pb",
    "params_b",
    multiple=True,
    metavar="NAME=VALUE",
    help="Override a parameter of SPEC_B only (after -p): diff a spec with itself, "
    "e.g. inspec diff g.isp g.isp --pb width=0.5.",
)
def diff_(
    spec_a: str,
    spec_b: str,
    fmt: str,
    units: str | None,
    granularity: str,
    params: tuple[str, ...],
    params_a: tuple[str, ...],
    params_b: tuple[str, ...],
) -> None:
    """Compare two specs row by row: output shapes, params and ops, and the totals' deltas."""
    both = _parse_params(params)
    a_over, b_over = {**both, **_parse_params(params_a)}, {**both, **_parse_params(params_b)}
    nets = [_load(spec_a, a_over), _load(spec_b, b_over)]
    ok = all([_report(net, hint=True) for net in nets])  # both reported, even if A fails
    for spec, net in zip((spec_a, spec_b), nets, strict=True):
        if ok and net.input is None:
            click.echo(f"{spec} is a block library: it has no network to compare", err=True)
            ok = False
    if not ok:
        sys.exit(EXIT_SPEC)
    from inspec.backends.diff import RENDERERS, diff

    a, b = nets
    unit = units or (a.units if a.units == b.units else "exact")
    click.echo(RENDERERS[fmt](diff(a, b, spec_a, spec_b, granularity), unit), nl=False)


@cli.command(name="compile")
@_spec_arg
@click.option(
    "-o",
    "--output",
    type=click.Path(allow_dash=True),
    default=None,
    help="Where to write the module: a file, a folder (ending in /, or existing) for NETWORK.py, or "
    "- for stdout [default: ./NETWORK.py, NETWORK being the spec's network name]. Paths the module "
    "names (its header) are relative to this file's folder.",
)
@click.option("--force", is_flag=True, help="Overwrite a file that inspec did not generate.")
@click.option(
    "--fuse-bn",
    is_flag=True,
    help="Fold batch norm into the preceding conv, nothing else (eval only; --inference does more).",
)
@click.option(
    "--inference",
    is_flag=True,
    help="The inference export (eval only): batch norm folded, sibling convs that read the same "
    "tensor merged into one whose output is split, channels-last. Its weights come from the "
    "training module's (inspec.backends.torch.export_state_dict; docs/codegen.md).",
)
@click.option(
    "--table-docstring",
    is_flag=True,
    help="Put the spec's whole table in the network class's docstring [default: its input, "
    "output, parameter and multiply-add totals, and the `inspec table` command].",
)
@click.option("-q", "--quiet", is_flag=True, help="Do not print the summary table.")
@_param_opt
def compile_(
    spec: str,
    output: str | None,
    force: bool,
    fuse_bn: bool,
    inference: bool,
    table_docstring: bool,
    quiet: bool,
    params: tuple[str, ...],
) -> None:
    """Check a spec and write a readable, runnable PyTorch module."""
    if fuse_bn and inference:
        raise click.UsageError(
            "--inference folds batch norm already: give one of --fuse-bn, --inference"
        )
    net = _load(spec, _parse_params(params))
    if not _report(net, hint=True):
        sys.exit(EXIT_SPEC)
    if net.input is None:
        click.echo(f"{_shown(spec)} is a block library: it has no network to compile", err=True)
        sys.exit(EXIT_SPEC)
    from inspec.backends.table import render_text
    from inspec.backends.torch import CodegenError, generate

    to_stdout = output == "-"
    target = output or default_module_file(net.name)
    if output and (output.endswith(("/", os.sep)) or os.path.isdir(output)):
        target = os.path.join(output, default_module_file(net.name))
    try:
        code = generate(
            net,
            fuse_bn=fuse_bn,
            table_docstring=table_docstring,
            output=None if to_stdout or not output else target,
            inference=inference,
        )
    except CodegenError as e:
        click.echo(f"inspec: error: {e}", err=True)
        sys.exit(EXIT_SPEC)
    if to_stdout:
        click.echo(code, nl=False)
        return
    try:
        written = write_atomic(target, code, force=force, protect=tuple(net.sources))
    except OutputError as e:
        click.echo(f"inspec: error: {e}", err=True)
        sys.exit(EXIT_SPEC)
    if not quiet:
        click.echo(render_text(net, "rows", net.units), nl=False)
        click.echo("")
    click.echo(f"wrote {written}")


def default_module_file(name: str) -> str:
    """NETWORK.py, unless that file would shadow a module the generated code or Python imports
    (`network torch` would write a torch.py that imports itself): then NETWORK_net.py."""
    imported = (
        "torch",
        "typing_extensions",
        "numpy",
        "inspec",
        "jinja2",
        "lark",
        "click",
        "graphviz",
    )
    if name in sys.stdlib_module_names or name in imported:
        return f"{name}_net.py"
    return f"{name}.py"


@cli.command()
@click.argument("specs", nargs=-1, required=True, type=_stdin_spec)
@click.option(
    "-o",
    "--output",
    type=click.Path(),
    default=None,
    help="Output file, a folder (ending in /, or existing) for NETWORK.FORMAT, or - for stdout "
    "[default: ./NETWORK.FORMAT]. With several specs, a folder.",
)
@click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(["svg", "png", "pdf", "dot"]),
    default=None,
    help="Output format [default: from the output's extension, else svg].",
)
@click.option(
    "-d",
    "--detail",
    type=click.Choice(["network", "blocks"]),
    default="network",
    show_default=True,
    help="One node per row, or every block instance opened as a cluster.",
)
@click.option("-b", "--block", "block", default=None, help="Draw one block definition on its own.")
@click.option(
    "-r",
    "--rankdir",
    type=click.Choice(["TB", "LR"]),
    default="TB",
    show_default=True,
    help="Top-down or left-right.",
)
@click.option("--costs", is_flag=True, help="Show params and ops on every node.")
@click.option(
    "--expand-repeats",
    is_flag=True,
    help='Draw every instance of `N x row` instead of one node marked "x N".',
)
@click.option("--force", is_flag=True, help="Overwrite a file that inspec did not generate.")
@click.option("-q", "--quiet", is_flag=True, help="Print errors only.")
@_param_opt
def diagram(
    specs: tuple[str, ...],
    output: str | None,
    fmt: str | None,
    detail: str,
    block: str | None,
    rankdir: str,
    costs: bool,
    expand_repeats: bool,
    force: bool,
    quiet: bool,
    params: tuple[str, ...],
) -> None:
    """Draw the network (or one block) of each spec with Graphviz."""
    folder = output is not None and (output.endswith(("/", os.sep)) or os.path.isdir(output))
    if len(specs) > 1 and output is not None and not folder:
        raise click.BadParameter(
            "with several specs, -o names a folder (end it with /)", param_hint=["-o", "--output"]
        )
    ext = Path(output).suffix.lstrip(".").lower() if output and output != "-" and not folder else ""
    known = ext in ("svg", "png", "pdf", "dot")
    if fmt is not None and known and fmt != ext:
        raise click.BadParameter(
            f"{fmt} does not match the output's extension {Path(output).suffix} (give one or the other)",
            param_hint=["-f", "--format"],
        )
    if fmt is None:
        fmt = ext if known else "svg"
    overrides = _parse_params(params)
    failed = False
    for spec in specs:
        net = _load(spec, overrides)
        if not _report(net, quiet=quiet, hint=not quiet):
            failed = True
            continue
        target = output
        if folder or output is None:
            stem = f"{net.name}_{block}" if block else net.name
            target = os.path.join(output or "", f"{stem}.{fmt}")
        failed |= not _draw(
            net,
            target,
            fmt,
            quiet,
            force,
            detail=detail,
            block=block,
            rankdir=rankdir,
            costs=costs,
            repeats="expand" if expand_repeats else "collapse",
        )
    sys.exit(EXIT_SPEC if failed else EXIT_OK)


def _draw(net, target: str, fmt: str, quiet: bool, force: bool, **how) -> bool:
    """Draw one network to target (- for stdout); False when nothing could be written (a usage
    error exits at once)."""
    from inspec.backends.diagram import DiagramError, render, to_dot

    try:
        source = to_dot(net, **how)
    except DiagramError as e:
        click.echo(f"inspec: error: {e}", err=True)
        sys.exit(EXIT_USAGE)
    if target == "-":
        if fmt != "dot":
            click.echo("inspec: error: only --format dot can be written to stdout", err=True)
            sys.exit(EXIT_USAGE)
        click.echo(source, nl=False)
        return True
    try:
        data = source.encode() if fmt == "dot" else render(source, fmt)
        written = write_atomic(target, data, force=force, protect=tuple(net.sources))
    except (DiagramError, OutputError) as e:  # dot missing, failing or killed: nothing written
        click.echo(f"inspec: error: {e}", err=True)
        return False
    if not quiet:
        click.echo(f"wrote {written}")
    return True


_map_opt = click.option(
    "--map",
    "map_",
    type=click.Choice(["auto", "key", "order"]),
    default="auto",
    show_default=True,
    help="Pair entries by key, by order within each kind (name after the last dot, number of "
    "dimensions), or by key where names and shapes agree and by order for the rest.",
)
_report_opt = click.option(
    "--report",
    is_flag=True,
    help="Print the key map: every entry, how it was paired, what was left out.",
)
_REF_HELP = (
    "torchvision:NAME, timm:NAME or package.module:factory, optionally with literal arguments"
)


def _weights_error(e: Exception) -> None:
    """Print a WeightsError (or an OutputError) and exit: 2 for a reference that cannot be had."""
    from inspec.weights import ReferenceUnavailable

    click.echo(f"inspec: error: {e}", err=True)
    sys.exit(EXIT_USAGE if isinstance(e, ReferenceUnavailable) else EXIT_SPEC)


def _checked(spec: str, params: tuple[str, ...], what: str):
    overrides = _parse_params(params)
    net = _load(spec, overrides)
    if not _report(net, hint=True):
        sys.exit(EXIT_SPEC)
    if net.input is None:
        click.echo(f"{spec} is a block library: it has no network to {what}", err=True)
        sys.exit(EXIT_SPEC)
    return net, overrides


@cli.command()
@_spec_file_arg
@click.option(
    "--from",
    "source",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="The checkpoint to convert: .pt/.pth (a state_dict, or a dict with a 'state_dict' or 'model' "
    "entry) or .safetensors. It is only read.",
)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False),
    help="The checkpoint to write (.pt), a plain state_dict.",
)
@_map_opt
@_report_opt
@click.option(
    "--allow-missing", is_flag=True, help="Leave out entries that nothing fits (a new head)."
)
@click.option(
    "--allow-unexpected", is_flag=True, help="Leave out entries of the checkpoint that go nowhere."
)
@click.option(
    "--to-reference",
    is_flag=True,
    help="The other way: --from holds the spec's weights; write a checkpoint that the reference "
    "(--against) loads with strict=True.",
)
@click.option(
    "--against",
    metavar="REF",
    default=None,
    help=f"With --to-reference: the reference, {_REF_HELP}, or a checkpoint of it (its keys and shapes).",
)
@click.option("--force", is_flag=True, help="Overwrite a file that inspec did not write.")
@_param_opt
def weights(
    spec: str,
    source: str,
    output: str,
    map_: str,
    report: bool,
    allow_missing: bool,
    allow_unexpected: bool,
    to_reference: bool,
    against: str | None,
    force: bool,
    params: tuple[str, ...],
) -> None:
    """Convert a checkpoint into the spec's keys (or, --to-reference, the spec's into the reference's)."""
    if to_reference != (against is not None):
        raise click.UsageError("--to-reference and --against REF go together")
    if output == "-":
        raise click.UsageError(
            "a checkpoint is written to a file (-o OUT.pt), not to standard output"
        )
    net, overrides = _checked(spec, params, "load weights into")
    from inspec.backends.torch import build_module, module_paths
    from inspec.weights import WeightsError, checkpoint, reference
    from inspec.weights.load import port
    from inspec.weights.report import Rows, Sides

    rows = Rows(net, module_paths(net))
    protect = (*net.sources, source)
    try:
        check_target(output, force=force, protect=protect)  # before the work; written atomically
        module = build_module(net, **overrides)
        ours = checkpoint.entries(module.state_dict())
        state = checkpoint.read(source)
        if not to_reference:
            sides = Sides(target=net.name, source=source)
            new, ported = port(state, ours, rows, sides, map_, allow_missing, allow_unexpected)
        else:  # the spec's checkpoint, by key, then to the reference's keys
            mine = Sides(target=net.name, source=source)
            state, _ = port(state, ours, rows, mine, "key")
            if Path(against).suffix in (".pt", ".pth", ".safetensors") or Path(against).is_file():
                template = checkpoint.entries(checkpoint.read(against))
                protect += (against,)
            else:
                template = checkpoint.entries(reference.build(against).state_dict())
            sides = Sides(target=against, source=source, spec_side="source")
            new, ported = port(state, template, rows, sides, map_, allow_missing, allow_unexpected)
        click.echo(ported.report() if report else str(ported))
        written = checkpoint.save(new, output, force=force, protect=protect)
    except (WeightsError, OutputError) as e:
        _weights_error(e)
    click.echo(f"wrote {written}")


@cli.command()
@_spec_file_arg
@click.option("--against", metavar="REF", required=True, help=f"The reference model: {_REF_HELP}.")
@_map_opt
@click.option(
    "--rtol",
    type=click.FloatRange(min=0, max=1),
    default=1e-5,
    show_default=True,
    help="The largest relative error (max |spec - reference| / max |reference|) that counts as equal.",
)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@_report_opt
@_param_opt
def verify(
    spec: str,
    against: str,
    map_: str,
    rtol: float,
    seed: int,
    report: bool,
    params: tuple[str, ...],
) -> None:
    """Compare the spec's module with its reference model, the reference's weights ported into it."""
    net, overrides = _checked(spec, params, "verify")
    from inspec.weights import WeightsError
    from inspec.weights import verify as verifying

    try:
        verdict = verifying.verify(net, against, overrides, map=map_, rtol=rtol, seed=seed)
    except WeightsError as e:
        _weights_error(e)
    if report:
        click.echo(verdict.ported.report())
    click.echo(verifying.render(verdict))
    sys.exit(EXIT_OK if verdict.ok else EXIT_SPEC)


EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a command ended by Ctrl-C


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except (click.exceptions.Abort, KeyboardInterrupt):
        # click turns a KeyboardInterrupt into Abort (after printing an empty line)
        click.echo("inspec: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except click.ClickException as e:
        e.show()
        sys.exit(EXIT_USAGE)
    except SystemExit:
        raise
    except RecursionError:
        click.echo("inspec: error: the spec is nested too deeply to process", err=True)
        sys.exit(EXIT_SPEC)
    sys.exit(EXIT_OK)
