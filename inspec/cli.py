"""The command line: inspec check | table | diff | compile | diagram | report | fmt | lsp | profile |
weights | verify.

Exit codes: 0 fine (warnings allowed), 1 spec errors (or an output that could not be written, weights
that do not fit, a module that differs from its reference), 2 usage errors (a reference that cannot be
had: a malformed REF, a package that is not installed), 130 interrupted (Ctrl-C). check, table, diff,
compile, diagram, report, fmt and lsp never import torch; weights, verify and profile do, when they
run.
"""

from __future__ import annotations

import math
import os
import re
import sys
from pathlib import Path

import click

from inspec import __version__
from inspec.analysis.conventions import CONVENTIONS
from inspec.analysis.conventions import DEFAULT as DEFAULT_COUNT
from inspec.analysis.elaborate import elaborate
from inspec.diagnostics import EXPECT, PARAM, Severity, printable, promote
from inspec.fileio import OutputError, check_target, rewrite_spec, write_atomic

EXIT_OK, EXIT_SPEC, EXIT_USAGE = 0, 1, 2
STRICT_NOTE = "an error under --strict: every expectation must agree (a warning without it)"


STDIN = "<stdin>"  # the name of a spec read from standard input (SPEC given as -)
_stdin: list[str] = []


def _stdin_text() -> str:
    """Standard input, read once (a sweep elaborates the spec once per point)."""
    if not _stdin:
        data = sys.stdin.buffer.read()
        try:
            _stdin.append(data.decode("utf-8"))
        except UnicodeDecodeError as e:  # as the loader says of a file
            click.echo(f"inspec: error: {STDIN} is not UTF-8 text (byte {e.start})", err=True)
            sys.exit(EXIT_SPEC)
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


def _format_opt(*formats: str):
    return click.option(
        "-f", "--format", "fmt", type=click.Choice(formats), default="text", show_default=True
    )


_granularity_opt = click.option(
    "-g",
    "--granularity",
    type=click.Choice(["rows", "layers"]),
    default="rows",
    show_default=True,
    help="rows as written, or every layer inside blocks",
)

_count_opt = click.option(
    "--count",
    type=click.Choice(list(CONVENTIONS)),
    default=DEFAULT_COUNT,
    show_default=True,
    help="what the ops column counts: the paper's multiply-adds, or what fvcore, thop, ptflops or "
    "torchinfo would print for the generated module (docs/counting.md)",
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
@click.argument("specs", nargs=-1, required=True, type=_stdin_spec)
@click.option("-q", "--quiet", is_flag=True, help="Print errors only (no count of the warnings).")
@_format_opt("text", "markdown", "csv", "json", "latex")
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
@click.option(
    "--plot",
    type=click.Path(dir_okay=False),
    default=None,
    metavar="FILE",
    help="With a swept -p: also draw params and ops against the first swept parameter (one line "
    "per value of a second) into FILE, as .svg, .png or .pdf (needs matplotlib).",
)
@click.option("--force", is_flag=True, help="With --plot: overwrite a file inspec did not write.")
@_count_opt
def table(
    specs: tuple[str, ...],
    quiet: bool,
    fmt: str,
    units: str | None,
    granularity: str,
    params: tuple[str, ...],
    plot: str | None,
    force: bool,
    count: str,
) -> None:
    """Print each network as a paper-style table (or, with a swept -p, a line per point).

    Several specs give their tables one after another, a blank line apart (with -f json, one JSON
    array of the tables); a spec with errors is reported and the others are still printed."""
    fixed, swept = _sweep_params(params)
    if swept and len(specs) > 1:
        raise click.UsageError("a sweep (a -p with several values) takes one spec")
    if plot is not None:
        _plot_checked(plot, swept, force, specs[0])
    if swept:
        _sweep(specs[0], fmt, units, fixed, swept, plot, force, count)
        return
    from inspec.backends.table import RENDERERS, dump_json, to_json

    tables, failed = [], False
    for spec in specs:
        net = _load(spec, fixed)
        if not _report(net, quiet=quiet, hint=not quiet):
            failed = True
            continue
        if net.input is None:
            click.echo(
                f"{_shown(spec)} is a block library: it has no network to tabulate", err=True
            )
            failed = True
            continue
        if fmt == "json" and len(specs) > 1:  # one document: an array of the tables
            tables.append(to_json(net, granularity, count))
        else:
            tables.append(RENDERERS[fmt](net, granularity, units or net.units, count))
    if fmt == "json" and len(specs) > 1:
        tables = [dump_json(tables)]
    click.echo("\n".join(tables), nl=False)
    sys.exit(EXIT_SPEC if failed else EXIT_OK)


def _plot_checked(plot: str, swept: dict[str, list], force: bool, spec: str) -> None:
    """Usage errors of --plot (exit 2), before any work: no sweep, more swept parameters than a plot
    shows, a format it is not written in; a target that cannot be written exits 1."""
    from inspec.backends.plot import FORMATS, PlotError, drawable

    if not swept:
        raise click.UsageError(
            "--plot draws a sweep: give a -p with several values (-p width=0.5:1.5:0.25)"
        )
    try:
        drawable(list(swept))
    except PlotError as e:
        raise click.BadParameter(str(e), param_hint="--plot") from None
    if Path(plot).suffix.lstrip(".").lower() not in FORMATS:
        raise click.BadParameter(
            f"{plot}: the file's extension gives the format, one of .{', .'.join(FORMATS)}",
            param_hint="--plot",
        )
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        raise click.UsageError("--plot needs matplotlib, which is not installed")
    try:
        check_target(plot, force=force, protect=() if spec == "-" else (spec,))
    except OutputError as e:
        click.echo(f"inspec: error: {e}", err=True)
        sys.exit(EXIT_SPEC)


def _sweep(
    spec: str,
    fmt: str,
    units: str | None,
    fixed: dict,
    swept: dict[str, list],
    plot: str | None = None,
    force: bool = False,
    count: str = DEFAULT_COUNT,
) -> None:
    """The sweep's table (and its --plot); exit 1 when a point has errors (each error printed once,
    then a line naming the point)."""
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
    sweep = Sweep(swept, fixed, points, count)
    unit = units or next((p.net.units for p in points if p.ok), "exact")
    click.echo(RENDERERS[fmt](sweep, unit), nl=False)
    if plot is not None:
        from inspec.backends.plot import PlotError, render

        try:
            data = render(sweep, Path(plot).suffix.lstrip(".").lower())
            sources = tuple(s for p in points for s in p.net.sources)
            written = write_atomic(plot, data, force=force, protect=sources)
        except (PlotError, OutputError) as e:
            click.echo(f"inspec: error: {e}", err=True)
            sys.exit(EXIT_SPEC)
        click.echo(f"wrote {written}", err=True)  # stdout holds the table in the format asked
    sys.exit(EXIT_SPEC if any(not p.ok for p in points) else EXIT_OK)


@cli.command(name="diff")
@click.argument("spec_a", type=_stdin_spec)
@click.argument("spec_b", type=_stdin_spec)
@_format_opt("text", "markdown", "json")
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
@_count_opt
@click.option("-q", "--quiet", is_flag=True, help="Print errors only (no count of the warnings).")
def diff_(
    spec_a: str,
    spec_b: str,
    fmt: str,
    units: str | None,
    granularity: str,
    params: tuple[str, ...],
    params_a: tuple[str, ...],
    params_b: tuple[str, ...],
    count: str,
    quiet: bool,
) -> None:
    """Compare two specs row by row: output shapes, params and ops, and the totals' deltas."""
    both = _parse_params(params)
    a_over, b_over = {**both, **_parse_params(params_a)}, {**both, **_parse_params(params_b)}
    nets = [_load(spec_a, a_over), _load(spec_b, b_over)]
    ok = all([_report(net, quiet=quiet, hint=not quiet) for net in nets])  # both, even if A fails
    for spec, net in zip((spec_a, spec_b), nets, strict=True):
        if ok and net.input is None:
            click.echo(f"{_shown(spec)} is a block library: it has no network to compare", err=True)
            ok = False
    if not ok:
        sys.exit(EXIT_SPEC)
    from inspec.backends.diff import RENDERERS, diff

    a, b = nets
    unit = units or (a.units if a.units == b.units else "exact")
    click.echo(
        RENDERERS[fmt](diff(a, b, _shown(spec_a), _shown(spec_b), granularity, count), unit),
        nl=False,
    )


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
    "tensor merged into one whose output is split, channels-last (unless a conv has a stride and "
    "a dilation above 1). Its weights come from the "
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
    target = _target(output, default_module_file(net.name))
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


def _names_folder(output: str | None) -> bool:
    """-o names a folder: it ends with a separator, or is one."""
    if output is None or output == "-":
        return False
    return output.endswith(("/", os.sep)) or os.path.isdir(output)


def _target(output: str | None, name: str) -> str:
    """Where an output goes: -o as given, or `name` in the folder that -o names (without -o, the
    current one)."""
    return os.path.join(output or "", name) if output is None or _names_folder(output) else output


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
    folder = _names_folder(output)
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
        stem = f"{net.name}_{block}" if block else net.name
        target = _target(output, f"{stem}.{fmt}")
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


@cli.command()
@click.argument("spec", type=_stdin_spec)
@click.option(
    "-o",
    "--output",
    type=click.Path(allow_dash=True),
    default=None,
    help="Where to write the page: a file, a folder (ending in /, or existing) for NETWORK.html, "
    "or - for stdout [default: ./NETWORK.html].",
)
@_units_opt("the spec's `units`, else exact")
@click.option("--force", is_flag=True, help="Overwrite a file that inspec did not generate.")
@click.option("-q", "--quiet", is_flag=True, help="Print errors only.")
@_param_opt
def report(
    spec: str,
    output: str | None,
    units: str | None,
    force: bool,
    quiet: bool,
    params: tuple[str, ...],
) -> None:
    """Write one self-contained HTML page: the table, its audit, the diagrams, the module."""
    net = _load(spec, _parse_params(params))
    if not _report(net, quiet=quiet, hint=not quiet):
        sys.exit(EXIT_SPEC)
    if net.input is None:
        click.echo(f"{_shown(spec)} is a block library: it has no network to report", err=True)
        sys.exit(EXIT_SPEC)
    from inspec.backends.report import ReportError, render_report

    to_stdout = output == "-"
    target = _target(output, f"{net.name}.html")
    protect = tuple(s for s in net.sources if s != STDIN)
    try:
        if not to_stdout:
            check_target(target, force=force, protect=protect)  # before dot runs
        page = render_report(net, units, output=None if to_stdout else target)
        if to_stdout:
            click.echo(page, nl=False)
            return
        written = write_atomic(target, page, force=force, protect=protect)
    except (ReportError, OutputError) as e:
        click.echo(f"inspec: error: {e}", err=True)
        sys.exit(EXIT_SPEC)
    if not quiet:
        click.echo(f"wrote {written}")


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


def _checked(spec: str, params: tuple[str, ...], what: str, quiet: bool = False):
    overrides = _parse_params(params)
    net = _load(spec, overrides)
    if not _report(net, quiet=quiet, hint=not quiet):
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
@click.option(
    "--inference",
    is_flag=True,
    help="Write the inference export's state_dict (batch norm folded, merged convs concatenated: "
    "what `inspec compile --inference` loads) instead of the training module's.",
)
@click.option("--force", is_flag=True, help="Overwrite a file that inspec did not write.")
@_param_opt
@click.option(
    "-q", "--quiet", is_flag=True, help="Print the spec's errors only (no count of its warnings)."
)
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
    inference: bool,
    force: bool,
    params: tuple[str, ...],
    quiet: bool,
) -> None:
    """Convert a checkpoint into the spec's keys (or, --to-reference, the spec's into the reference's;
    --inference, into the inference export's)."""
    if to_reference != (against is not None):
        raise click.UsageError("--to-reference and --against REF go together")
    if inference and to_reference:
        raise click.UsageError(
            "--inference writes the export's keys, --to-reference the reference's"
        )
    if output == "-":
        raise click.UsageError(
            "a checkpoint is written to a file (-o OUT.pt), not to standard output"
        )
    net, overrides = _checked(spec, params, "load weights into", quiet)
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
        if inference:  # the training module's weights (its own init where --allow-missing left
            # entries out), turned into the export's
            from inspec.backends.torch import export_state_dict

            module.load_state_dict(new, strict=False)
            new = export_state_dict(net, module.state_dict())
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
@click.option(
    "-q", "--quiet", is_flag=True, help="Print the spec's errors only (no count of its warnings)."
)
def verify(
    spec: str,
    against: str,
    map_: str,
    rtol: float,
    seed: int,
    report: bool,
    params: tuple[str, ...],
    quiet: bool,
) -> None:
    """Compare the spec's module with its reference model, the reference's weights ported into it."""
    net, overrides = _checked(spec, params, "verify", quiet)
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


@cli.command(name="profile")
@_spec_arg
@_format_opt("text", "markdown", "json")
@_units_opt("the spec's `units`, else exact")
@_granularity_opt
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@click.option(
    "--dtype",
    type=click.Choice(["float32", "bfloat16", "float16"]),
    default="float32",
    show_default=True,
)
@click.option("--batch", type=click.IntRange(1, 65536), default=1, show_default=True)
@click.option(
    "--repeats",
    type=click.IntRange(1, 100000),
    default=20,
    show_default=True,
    help="Timed passes of each kind (whole passes, passes with hooks); medians are reported.",
)
@click.option(
    "--warmup", type=click.IntRange(0, 100000), default=5, show_default=True, help="Untimed passes."
)
@click.option(
    "--threads",
    type=click.IntRange(1, 4096),
    default=None,
    help="torch's CPU threads (torch.set_num_threads) [default: torch's own choice].",
)
@click.option(
    "--inference", is_flag=True, help="Profile the inference export (inspec compile --inference)."
)
@_param_opt
@click.option(
    "-q", "--quiet", is_flag=True, help="Print the spec's errors only (no count of its warnings)."
)
def profile_(
    spec: str,
    fmt: str,
    units: str | None,
    granularity: str,
    device: str,
    dtype: str,
    batch: int,
    repeats: int,
    warmup: int,
    threads: int | None,
    inference: bool,
    params: tuple[str, ...],
    quiet: bool,
) -> None:
    """Time the spec's module row by row (medians of repeated passes) beside each row's ops."""
    from inspec.api import require_torch

    require_torch("inspec profile")  # main() prints its one line and exits 2
    from inspec.backends.profile import RENDERERS, ProfileError, profile, unavailable

    why = unavailable(device)
    if why:
        raise click.BadParameter(why, param_hint="--device")
    net, overrides = _checked(spec, params, "profile", quiet)
    try:
        found = profile(
            net,
            overrides,
            granularity=granularity,
            device=device,
            dtype=dtype,
            batch=batch,
            repeats=repeats,
            warmup=warmup,
            threads=threads,
            inference=inference,
        )
    except ProfileError as e:
        click.echo(f"inspec: error: {e}", err=True)
        sys.exit(EXIT_SPEC)
    click.echo(RENDERERS[fmt](found, units or net.units), nl=False)


@cli.command(name="fmt")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, allow_dash=True))
@click.option("--check", is_flag=True, help="Write nothing; exit 1 when a file would change.")
@click.option("--diff", "show_diff", is_flag=True, help="Write nothing; print a unified diff.")
@click.option("-q", "--quiet", is_flag=True, help="Print errors only.")
def fmt_(files: tuple[str, ...], check: bool, show_diff: bool, quiet: bool) -> None:
    """Rewrite specs in the canonical layout (- reads standard input, writes standard output).

    A folder stands for the .isp files below it. A file is rewritten only when it changes, and only
    when the result elaborates to the same network, keeps every comment and is stable."""
    import difflib

    from inspec.language.fmt import format_text, normalize_source  # text in, text out: no AST here

    paths: list[str] = []
    for f in files:
        paths += sorted(str(p) for p in Path(f).rglob("*.isp")) if os.path.isdir(f) else [f]
    failed = changed = 0
    for path in paths:
        shown = _shown(path)
        try:
            text = _stdin_text() if path == "-" else Path(path).read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError) as e:
            said = getattr(e, "strerror", None) or e
            click.echo(f"inspec: error: cannot read {path}: {said}", err=True)
            failed += 1
            continue
        result = format_text(text, shown)
        if result.diagnostics:
            for d in result.diagnostics:
                click.echo(d.render({shown: normalize_source(text)}), err=True)
            n = sum(d.is_error for d in result.diagnostics)
            click.echo(f"{shown}: {n} error{'s' * (n != 1)}", err=True)
            failed += 1
            continue
        changed += result.changed
        if show_diff and result.changed:
            diff = difflib.unified_diff(
                normalize_source(text).splitlines(True),
                normalize_source(result.text).splitlines(True),
                shown,
                f"{shown} (formatted)",
            )
            click.echo(printable("".join(diff)), nl=False)
        if check or show_diff:
            if result.changed and check and not quiet:
                click.echo(f"would reformat {shown}", err=True)
        elif path == "-":
            click.echo(result.text, nl=False)
        elif result.changed:
            try:
                rewrite_spec(path, result.text)
            except OutputError as e:
                click.echo(f"inspec: error: {e}", err=True)
                failed += 1
                continue
            if not quiet:
                click.echo(f"reformatted {shown}", err=True)
    if not quiet and len(paths) > 1:
        would = "would be " if check or show_diff else ""
        click.echo(
            f"{changed} file{'s' * (changed != 1)} {would}reformatted, "
            f"{len(paths) - changed - failed} {would}left unchanged"
            + (f", {failed} with errors" if failed else ""),
            err=True,
        )
    sys.exit(EXIT_SPEC if failed or (check and changed) else EXIT_OK)


@cli.command()
def lsp() -> None:
    """Run the language server (LSP over standard input and output) for editors: docs/editors.md."""
    try:
        from inspec.lsp.server import serve
    except ImportError as e:
        if (e.name or "").split(".")[0] not in ("pygls", "lsprotocol"):
            raise
        click.echo("inspec lsp needs pygls: pip install inspec[lsp]", err=True)
        sys.exit(EXIT_USAGE)
    serve()


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
    except ModuleNotFoundError as e:  # torch, for weights, verify and profile
        if e.name != "torch":
            raise
        from inspec.api import TORCH_MISSING

        what = f"inspec {sys.argv[1]}" if len(sys.argv) > 1 else "inspec"
        said = str(e) if "pip install" in str(e) else TORCH_MISSING.format(what=what)
        click.echo(f"inspec: error: {said}", err=True)
        sys.exit(EXIT_USAGE)
    sys.exit(EXIT_OK)
