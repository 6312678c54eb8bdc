"""The op reference of docs/language.md, generated from the registry so that it cannot drift."""

from __future__ import annotations

from inspec.analysis.ops import ACTIVATIONS, OPS

BEGIN = "<!-- ops:begin (generated from inspec/analysis/ops.py by scripts/regen-golden; do not edit) -->"
END = "<!-- ops:end -->"


def _default(value) -> str:
    if value is None:
        return "required"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _num(v) -> str:
    return f"{int(v):,}" if float(v).is_integer() else f"{v:g}"


def ops_markdown() -> str:
    out = [BEGIN, ""]
    for op in OPS.values():
        how = f"`{op.name}`" if op.user_visible else f"`{op.name}` (written as `{op.written_as}`)"
        out.append(f"### {how} — {op.title}")
        out.append("")
        out.append(op.doc)
        out.append("")
        facts = [f"category: {op.category}"]
        if op.patch:
            facts.append("patch: `KHxKW[/S]`" + (" (required)" if op.patch_required else ""))
        if op.positional:
            facts.append("positional: " + ", ".join(f"`{p}`" for p in op.positional))
        if op.flags:
            facts.append(
                "flags: "
                + ", ".join(f"`{f}` ({a}={_default(v)})" for f, (a, v) in op.flags.items())
            )
        facts.append("depth: 1" if op.weighted else "depth: 0")
        out.append("; ".join(facts) + ".")
        out.append("")
        if op.attrs:
            out.append("| attribute | values | default | meaning |")
            out.append("|---|---|---|---|")
            for a in op.attrs:
                rng = ""
                if a.minimum is not None and a.maximum is not None:
                    rng = f", {_num(a.minimum)} to {_num(a.maximum)}"
                elif a.minimum is not None:
                    rng = f" >= {_num(a.minimum)}"
                kind = a.describe_kind().replace("|", "\\|")
                default = "none" if a.optional else _default(a.default)
                out.append(f"| `{a.name}` | {kind}{rng} | {default} | {a.doc} |")
            out.append("")
    out.append("### Activations")
    out.append("")
    out.append(
        "The words an `act` attribute accepts (conv, linear, residual), with the code each becomes."
    )
    out.append("")
    out.append("| `act` | applied to a tensor `x` | as a module |")
    out.append("|---|---|---|")
    for a in ACTIVATIONS.values():
        out.append(f"| `{a.name}` | `{a.functional.format('x')}` | `{a.module}` |")
    out.append("")
    out.append(END)
    return "\n".join(out) + "\n"
