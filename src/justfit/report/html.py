"""Small HTML helpers shared by the report and the tasks' report sections (no templates, no script)."""

from __future__ import annotations

import html
from typing import Any


def escape(v: Any) -> str:
    """``v`` as HTML text."""
    return html.escape(str(v))


def number(v: Any, digits: int = 4) -> str:
    """A float with ``digits`` decimals; anything else escaped."""
    return f"{v:.{digits}f}" if isinstance(v, float) else escape(v)


def table(rows: list[list[Any]], head: list[str]) -> str:
    """A table: numbers right-aligned, ``None`` as a dash."""
    out = ["<table><tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr>"]
    for r in rows:
        out.append("<tr>" + "".join(
            f"<td class='num'>{number(c)}</td>" if isinstance(c, int | float) else
            "<td class='num'>&ndash;</td>" if c is None else f"<td>{escape(c)}</td>" for c in r)
            + "</tr>")
    return "".join(out) + "</table>"
