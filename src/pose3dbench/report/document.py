"""A small document model (headings, paragraphs, banners, tables, figures) rendered to Markdown and HTML.

The report is built once as a list of blocks; ``to_markdown`` links the PNG files next to the
report, ``to_html`` embeds them as base64 data URIs so the HTML file stands alone.
"""
from __future__ import annotations

import base64
import html
import os
import re
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Heading:
    text: str
    level: int = 2

    @property
    def anchor(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.text.lower()).strip("-")


@dataclass
class Paragraph:
    text: str
    muted: bool = False


@dataclass
class Bullets:
    items: list[str]


@dataclass
class Banner:
    title: str
    text: str
    kind: str = "warning"  # warning | info


@dataclass
class Table:
    """Cells are preformatted strings. ``numeric[c]`` right-aligns column c; ``bold`` holds (row, col)."""

    title: str
    columns: list[str]
    rows: list[list[str]]
    caption: str = ""
    numeric: list[bool] | None = None
    bold: set[tuple[int, int]] = field(default_factory=set)
    group_header: list[tuple[str, int]] | None = None  # optional spanning header: (label, span)
    #: row groups: (index of the group's first row, label), e.g. model families; drawn as a spanning row
    row_groups: list[tuple[int, str]] = field(default_factory=list)
    #: secondary rows (e.g. a published row under the measured one), drawn muted/italic
    minor_rows: set[int] = field(default_factory=set)
    #: LaTeX label (``\label{...}``) when the table is also written as LaTeX
    key: str = ""
    #: sized to the page (wrapping headers and text cells) instead of scrolling sideways
    fit: bool = False

    def __post_init__(self) -> None:
        for r, row in enumerate(self.rows):
            if len(row) != len(self.columns):
                raise ValueError(f"table {self.title!r}: row {r} has {len(row)} cells, expected {len(self.columns)}")
        if self.numeric is None:
            self.numeric = [False] * len(self.columns)
        if len(self.numeric) != len(self.columns):
            raise ValueError(f"table {self.title!r}: numeric flags for {len(self.numeric)} "
                             f"of {len(self.columns)} columns")
        if self.group_header and sum(span for _, span in self.group_header) != len(self.columns):
            raise ValueError(f"table {self.title!r}: group header spans do not add up to {len(self.columns)} columns")
        for start, _ in self.row_groups:
            if not 0 <= start <= len(self.rows):
                raise ValueError(f"table {self.title!r}: row group starts at row {start} of {len(self.rows)}")

    def group_at(self, r: int) -> str | None:
        """The label of the row group that starts at row ``r`` (None when none starts there)."""
        return next((label for start, label in self.row_groups if start == r), None)


@dataclass
class Figure:
    path: Path
    title: str
    caption: str
    alt: str = ""


@dataclass
class Provenance:
    """The one block that says how every figure and table of the report was produced (captions refer to it)."""

    items: list[str]


Block = Heading | Paragraph | Bullets | Banner | Table | Figure | Provenance


# --- Markdown ----------------------------------------------------------------------------------

def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(blocks: list[Block], out_dir: Path) -> str:
    """Markdown text; figure paths are written relative to ``out_dir`` (where report.md lives)."""
    lines: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            lines += ["#" * b.level + " " + b.text, ""]
        elif isinstance(b, Paragraph):
            lines += [f"*{b.text}*" if b.muted else b.text, ""]
        elif isinstance(b, Bullets):
            lines += [f"- {item}" for item in b.items] + [""]
        elif isinstance(b, Banner):
            icon = "⚠️" if b.kind == "warning" else "ℹ️"
            lines += [f"> {icon} **{b.title}**", ">", f"> {b.text}", ""]
        elif isinstance(b, Table):
            lines += [f"**{b.title}**", ""]
            cells = [[_md_cell(c) for c in row] for row in b.rows]
            for (r, c) in b.bold:
                if cells[r][c] not in ("", "—"):
                    cells[r][c] = f"**{cells[r][c]}**"
            columns = list(b.columns)
            if b.group_header:  # Markdown cannot span columns: prefix each column with its group
                labels = [label for label, span in b.group_header for _ in range(span)]
                columns = [f"{g}: {c}" if g else c for g, c in zip(labels, columns)]
            lines.append("| " + " | ".join(_md_cell(c) for c in columns) + " |")
            lines.append("|" + "|".join("---:" if n else ":---" for n in b.numeric) + "|")
            for r, row in enumerate(cells):
                group = b.group_at(r)
                if group is not None:
                    lines.append("| " + " | ".join([f"*{_md_cell(group)}*"] + [""] * (len(row) - 1)) + " |")
                if r in b.minor_rows:
                    row = [f"*{c}*" if c not in ("", "—") and not c.startswith("**") else c for c in row]
                lines.append("| " + " | ".join(row) + " |")
            lines.append("")
            if b.caption:
                lines += [f"<sub>{b.caption}</sub>", ""]
        elif isinstance(b, Provenance):
            lines += [f"- {item}" for item in b.items] + [""]
        elif isinstance(b, Figure):
            rel = os.path.relpath(b.path, out_dir).replace(os.sep, "/")
            lines += [f"**{b.title}**", "", f"![{b.alt or b.title}]({rel})", ""]
            if b.caption:
                lines += [f"<sub>{b.caption}</sub>", ""]
        else:  # pragma: no cover
            raise TypeError(f"unknown block {type(b).__name__}")
    return "\n".join(lines).rstrip() + "\n"


# --- HTML --------------------------------------------------------------------------------------

_CSS = """
:root { --fg:#1f2328; --muted:#59636e; --line:#d1d9e0; --bg:#ffffff; --head:#f6f8fa; --accent:#0969da; }
* { box-sizing: border-box; }
body { font: 15px/1.5 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: var(--fg);
       background: var(--bg); margin: 0; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 64px; }
h1 { font-size: 28px; margin: 8px 0 4px; }
h2 { font-size: 21px; margin: 36px 0 10px; padding-bottom: 6px; border-bottom: 1px solid var(--line); }
h3 { font-size: 17px; margin: 24px 0 8px; }
p.muted, .caption { color: var(--muted); font-size: 13px; }
nav.toc { background: var(--head); border: 1px solid var(--line); border-radius: 6px; padding: 8px 16px;
          margin: 12px 0 8px; font-size: 14px; }
nav.toc { display: flex; flex-wrap: wrap; gap: 2px 16px; }
nav.toc a { color: var(--accent); text-decoration: none; white-space: nowrap; }
.banner { border-radius: 6px; padding: 12px 16px; margin: 16px 0; border: 1px solid; }
.banner.warning { background: #fff8c5; border-color: #d4a72c; }
.banner.info { background: #ddf4ff; border-color: #54aeff; }
.banner strong { display: block; font-size: 16px; margin-bottom: 2px; }
figure { margin: 12px 0 24px; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 4px; }
.table-title { font-weight: 600; margin: 18px 0 6px; }
.table-wrap { overflow-x: auto; margin-bottom: 4px; }
table { border-collapse: collapse; font-size: 13px; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid var(--line); padding: 4px 8px; }
th { background: var(--head); font-weight: 600; text-align: center; }
td.num { text-align: right; white-space: nowrap; }
td.txt { text-align: left; }
td { white-space: nowrap; }
tbody tr:nth-child(even) td { background: #fafbfc; }
td b { color: #0a3069; }
tr.group td { background: #eef1f4 !important; font-weight: 600; text-align: left; }
tr.minor td { color: var(--muted); font-style: italic; }
.table-wrap.fit table { width: 100%; font-size: 12px; }
.table-wrap.fit td.txt { white-space: normal; min-width: 4.5em; }
.table-wrap.fit th { white-space: normal; padding: 4px 4px; }
.table-wrap.fit td { padding: 3px 4px; }
.provenance { background: var(--head); border: 1px solid var(--line); border-radius: 6px; padding: 8px 16px;
              font-size: 13px; }
ul { margin: 6px 0 12px; }
.caption { margin: 4px 0 20px; }
"""


def _img_data_uri(path: Path) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f"data:image/png;base64,{data}"


def to_html(blocks: list[Block], title: str) -> str:
    """One self-contained HTML page: inline CSS, PNGs embedded as data URIs, no external resources."""
    e = html.escape
    body: list[str] = []
    toc = [b for b in blocks if isinstance(b, Heading) and b.level == 2]
    toc_done = False
    for b in blocks:
        if isinstance(b, Heading):
            if b.level == 2 and not toc_done and toc:
                body.append('<nav class="toc">' + "".join(f'<a href="#{h.anchor}">{e(h.text)}</a>' for h in toc)
                            + "</nav>")
                toc_done = True
            body.append(f'<h{b.level} id="{b.anchor}">{e(b.text)}</h{b.level}>')
        elif isinstance(b, Paragraph):
            body.append(f'<p class="muted">{e(b.text)}</p>' if b.muted else f"<p>{e(b.text)}</p>")
        elif isinstance(b, Bullets):
            body.append("<ul>" + "".join(f"<li>{e(i)}</li>" for i in b.items) + "</ul>")
        elif isinstance(b, Banner):
            body.append(f'<div class="banner {e(b.kind)}" role="alert"><strong>{e(b.title)}</strong>{e(b.text)}</div>')
        elif isinstance(b, Table):
            parts = [f'<div class="table-title">{e(b.title)}</div>'
                     f'<div class="table-wrap{" fit" if b.fit else ""}"><table><thead>']
            if b.group_header:
                parts.append("<tr>" + "".join(f'<th colspan="{span}">{e(label)}</th>' for label, span in b.group_header)
                             + "</tr>")
            parts.append("<tr>" + "".join(f"<th>{e(c)}</th>" for c in b.columns) + "</tr></thead><tbody>")
            for r, row in enumerate(b.rows):
                group = b.group_at(r)
                if group is not None:
                    parts.append(f'<tr class="group"><td colspan="{len(row)}">{e(group)}</td></tr>')
                tds = []
                for c, cell in enumerate(row):
                    text = f"<b>{e(cell)}</b>" if (r, c) in b.bold else e(cell)
                    tds.append(f'<td class="{"num" if b.numeric[c] else "txt"}">{text}</td>')
                parts.append(('<tr class="minor">' if r in b.minor_rows else "<tr>") + "".join(tds) + "</tr>")
            parts.append("</tbody></table></div>")
            if b.caption:
                parts.append(f'<div class="caption">{e(b.caption)}</div>')
            body.append("".join(parts))
        elif isinstance(b, Provenance):
            body.append('<div class="provenance"><ul>' + "".join(f"<li>{e(i)}</li>" for i in b.items) + "</ul></div>")
        elif isinstance(b, Figure):
            body.append(f'<figure><div class="table-title">{e(b.title)}</div>'
                        f'<img src="{_img_data_uri(b.path)}" alt="{e(b.alt or b.title)}">'
                        f'<figcaption class="caption">{e(b.caption)}</figcaption></figure>')
        else:  # pragma: no cover
            raise TypeError(f"unknown block {type(b).__name__}")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{e(title)}</title><style>{_CSS}</style></head><body><main>\n"
            + "\n".join(body) + "\n</main></body></html>\n")


# --- LaTeX -------------------------------------------------------------------------------------

_TEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
_TEX_UNICODE = {"Δ": r"$\Delta$", "−": "$-$", "—": "--", "–": "--", "×": r"$\times$", "≥": r"$\geq$",
                "≤": r"$\leq$", "·": r"$\cdot$", "±": r"$\pm$", "µ": r"$\mu$", "…": r"\ldots{}", "′": "'",
                "↳": r"$\hookrightarrow$", "†": r"$^\dagger$", "→": r"$\rightarrow$"}


def tex_escape(text: str) -> str:
    """``text`` as LaTeX source: special characters escaped, the report's few Unicode symbols as math."""
    out = []
    for ch in str(text):
        if ch in _TEX_SPECIAL:
            out.append(_TEX_SPECIAL[ch])
        elif ch in _TEX_UNICODE:
            out.append(_TEX_UNICODE[ch])
        elif ord(ch) < 128:
            out.append(ch)
        else:
            out.append("?")  # a character LaTeX's default fonts cannot set; never silently dropped
    # a minus sign, not a hyphen, before a number (-2.36, +0.50 stay aligned in the table)
    return re.sub(r"(?<![A-Za-z0-9])-(?=\d)", "$-$", "".join(out))


def table_to_latex(t: Table) -> str:
    """One booktabs ``table`` environment: spanning group header with cmidrules, row groups, bold best values.

    Needs ``\\usepackage{booktabs}`` and ``\\usepackage{graphicx}`` (wide tables are scaled to the line width).
    """
    n = len(t.columns)
    spec = "".join("r" if num else "l" for num in t.numeric)
    lines = [r"\begin{table*}[t]", r"\centering", r"\caption{" + tex_escape(t.title) + "}"]
    if t.key:
        lines.append(r"\label{tab:" + re.sub(r"[^A-Za-z0-9:-]+", "-", t.key) + "}")
    lines += [r"\resizebox{\linewidth}{!}{%", r"\begin{tabular}{" + spec + "}", r"\toprule"]
    if t.group_header:
        cells, rules, col = [], [], 1
        for label, span in t.group_header:
            cells.append(r"\multicolumn{%d}{c}{%s}" % (span, tex_escape(label)) if span > 1 else tex_escape(label))
            if label:
                rules.append(r"\cmidrule(lr){%d-%d}" % (col, col + span - 1))
            col += span
        lines.append(" & ".join(cells) + r" \\")
        if rules:
            lines.append(" ".join(rules))
    lines.append(" & ".join(tex_escape(c) for c in t.columns) + r" \\")
    lines.append(r"\midrule")
    for r, row in enumerate(t.rows):
        group = t.group_at(r)
        if group is not None:
            if r:
                lines.append(r"\midrule")
            lines.append(r"\multicolumn{%d}{l}{\textit{%s}} \\" % (n, tex_escape(group)))
        cells = []
        for c, cell in enumerate(row):
            text = tex_escape(cell)
            if (r, c) in t.bold and cell not in ("", "—"):
                text = r"\textbf{" + text + "}"
            elif r in t.minor_rows and cell not in ("", "—"):
                text = r"\textit{" + text + "}"
            cells.append(text)
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}}"]
    if t.caption:
        lines.append(r"\par\smallskip\parbox{\linewidth}{\footnotesize " + tex_escape(t.caption) + "}")
    lines.append(r"\end{table*}")
    return "\n".join(lines) + "\n"


def to_latex(tables: list[Table], header: str = "") -> str:
    """A LaTeX file of booktabs tables, ready to ``\\input`` into a paper (packages listed at the top)."""
    head = ["% pose3dbench tables (booktabs). In the preamble: \\usepackage{booktabs} \\usepackage{graphicx}"]
    head += [f"% {line}" for line in header.splitlines() if line.strip()]
    return "\n".join(head) + "\n\n" + "\n".join(table_to_latex(t) for t in tables)
