"""HTML and markdown fragments of the board pack: escaped text, tables, records.

Everything the pack shows passes through here as text; nothing a run stores is
written into the page unescaped.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from riskbench.boardpack.formatting import MISSING

__all__ = ["Cell", "Col", "cell_text", "flatten", "html_table", "md", "paragraphs", "prose", "slug"]

# The narrator starts its paragraphs with a short lead-in ("What it would cost.").
_LEAD_IN = re.compile(r"^((?:What|How|Why|Who|Where|When)\b[^.]{0,60}\.)\s+")


def slug(text: str) -> str:
    """The HTML id of a section heading: ``"Appendix: calibration"`` ->
    ``"appendix-calibration"``."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def md(text: Any) -> str:
    """``text`` escaped for markdown, so that it reads exactly as written (no
    emphasis, lists, math or HTML from stray ``*``, ``1.``, ``$`` or ``<``)."""
    return re.sub(r"([\\`*_{}\[\]<>()#+\-.!|$~&])", r"\\\1", str(text))


def paragraphs(text: Any) -> list[str]:
    """The paragraphs of a text (split on blank lines), stripped; none for empty text."""
    return [p.strip() for p in re.split(r"\n\s*\n", str(text or "")) if p.strip()]


def prose(text: str) -> str:
    """A narrator paragraph as markdown, its lead-in in bold."""
    lead = _LEAD_IN.match(text)
    if lead is None:
        return md(text)
    return f"**{md(lead.group(1))}** {md(text[lead.end() :])}"


@dataclass(frozen=True)
class Col:
    """A table column: its header and whether it holds numbers (right-aligned)."""

    header: str
    num: bool = False


#: A table cell: formatted text, or (text, a note in small print under it).
Cell = str | tuple[str, str]


def html_table(
    cols: Sequence[Col], rows: Sequence[Sequence[Cell]], *, cls: str = "", caption: str = ""
) -> str:
    """An HTML table of already formatted cells; every cell is escaped."""

    def cell(tag: str, value: Cell, num: bool) -> str:
        attr = ' class="num"' if num else ""
        if isinstance(value, tuple):
            text, note = value
            inner = f'{html.escape(text)}<br><span class="bp-note">{html.escape(note)}</span>'
        else:
            inner = html.escape(str(value))
        return f"<{tag}{attr}>{inner}</{tag}>"

    head = "".join(cell("th", c.header, c.num) for c in cols)
    body = "\n".join(
        "<tr>" + "".join(cell("td", v, c.num) for c, v in zip(cols, row, strict=True)) + "</tr>"
        for row in rows
    )
    classes = " ".join(["bp-table", *cls.split()])
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return (
        f'<table class="{classes}">{cap}<thead><tr>{head}</tr></thead>\n'
        f"<tbody>\n{body}\n</tbody></table>"
    )


def cell_text(v: Any) -> str:
    """A stored text value for a table cell; missing ones as :data:`MISSING`."""
    return MISSING if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)


def _scalar(v: Any) -> str:
    if v is None:
        return "none"
    if isinstance(v, bool | np.bool_):
        return "true" if v else "false"
    if isinstance(v, np.generic):
        v = v.item()
    return str(v)


def flatten(record: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(dotted key, value as written) of a nested record, in its order; a list of plain
    values on one line, a list of lists one item per line.

    Examples
    --------
    >>> list(flatten({"seed": 7, "inputs": {"card": "ab12"}, "tolerance": [[5, 0.2]]}))
    [('seed', '7'), ('inputs.card', 'ab12'), ('tolerance[0]', '5, 0.2')]
    """
    for key, value in record.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        yield from _flatten_value(name, value)


def _flatten_value(name: str, value: Any) -> Iterator[tuple[str, str]]:
    if isinstance(value, Mapping):
        if value:
            yield from flatten(value, name)
        else:
            yield name, "none"
    elif isinstance(value, list | tuple | np.ndarray):
        items = list(value)
        if all(not isinstance(v, Mapping | list | tuple | np.ndarray) for v in items):
            yield name, ", ".join(_scalar(v) for v in items) if items else "none"
        else:
            for i, item in enumerate(items):
                yield from _flatten_value(f"{name}[{i}]", item)
    elif isinstance(value, pd.Timestamp):
        yield name, value.isoformat()
    else:
        yield name, _scalar(value)
