"""Grids of cells as text, markdown and LaTeX: the layout that `inspec table`, `inspec diff` and a
sweep share. A grid is a header, body rows and total rows (cells are strings); `right` holds the
indices of the columns aligned right (numbers)."""

from __future__ import annotations

import re

Cells = list[str]


def text_lines(
    head: Cells,
    body: list[Cells],
    right: set[int],
    totals: list[Cells] = (),
    fit_totals: bool = False,
) -> list[str]:
    """Columns padded to the widest header or body cell (and total, with fit_totals; else a total
    may overflow its column, as the table's `total with side heads` does), two spaces apart, a rule
    of dashes under the header and above the totals."""
    fitted = [head, *body, *(totals if fit_totals else ())]
    widths = [max(len(r[i]) for r in fitted) for i in range(len(head))]

    def fmt(cells: Cells) -> str:
        parts = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=False))
        ]
        return "  ".join(parts).rstrip()

    rule = fmt(["-" * w for w in widths])
    out = [fmt(head), rule, *(fmt(r) for r in body)]
    if totals:
        out += [rule, *(fmt(r) for r in totals)]
    return out


def md_cell(c: str) -> str:
    """A markdown cell: a backslash and a pipe escaped (a pipe would end the cell)."""
    return c.replace("\\", "\\\\").replace("|", "\\|").strip() or " "


def markdown_lines(
    head: Cells, body: list[Cells], right: set[int], totals: list[Cells] = ()
) -> list[str]:
    """A GitHub-flavoured markdown table; totals in bold."""
    out = ["| " + " | ".join(md_cell(h) for h in head) + " |"]
    out.append("|" + "|".join("---:" if i in right else "---" for i in range(len(head))) + "|")
    out += ["| " + " | ".join(md_cell(c) for c in r) + " |" for r in body]
    out += ["| " + " | ".join(f"**{md_cell(c)}**" if c else " " for c in r) + " |" for r in totals]
    return out


_LATEX = {
    "\\": r"\textbackslash{}",
    "#": r"\#",
    "%": r"\%",
    "_": r"\_",
    "&": r"\&",
    "$": r"\$",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}
_SIZE = re.compile(r"[0-9]+(?:x[0-9]+)+(?:/[0-9]+)?")


def latex_escape(text: str) -> str:
    """text as LaTeX typesets it literally: its ten special characters escaped."""
    return "".join(_LATEX.get(c, c) for c in text)


def latex_cell(text: str) -> str:
    """A cell: a size (7x7/2, 28x28x256) with times signs, anything else escaped."""
    if _SIZE.fullmatch(text):
        return text.replace("x", r"$\times$")
    return latex_escape(text)


def latex_label(name: str) -> str:
    """A \\label key made of a name: characters other than letters, digits and _.:- as hyphens."""
    return re.sub(r"[^A-Za-z0-9_.:-]", "-", name)


def latex_lines(
    head: Cells, body: list[Cells], right: set[int], totals: list[Cells] = ()
) -> list[str]:
    """A booktabs tabular (needs \\usepackage{booktabs}): \\toprule, the header, \\midrule, the body,
    \\midrule and the totals if any, \\bottomrule. Cells are escaped (latex_cell) and padded so that
    the ampersands line up in the source."""
    rows = [[latex_cell(c) for c in r] for r in [head, *body, *totals]]
    widths = [max(len(r[j]) for r in rows) for j in range(len(head))]

    def line(cells: Cells) -> str:
        padded = [
            c.rjust(w) if j in right else c.ljust(w)
            for j, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return " & ".join(padded) + r" \\"

    align = "".join("r" if j in right else "l" for j in range(len(head)))
    out = [rf"\begin{{tabular}}{{{align}}}", r"\toprule", line(rows[0]), r"\midrule"]
    out += [line(r) for r in rows[1 : 1 + len(body)]]
    if totals:
        out += [r"\midrule", *(line(r) for r in rows[1 + len(body) :])]
    out += [r"\bottomrule", r"\end{tabular}"]
    return out
