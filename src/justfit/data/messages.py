"""Short renderings of value lists for one-line messages: a few examples and a count, never the whole list."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def _plain(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v


def examples(values: Iterable[Any], limit: int = 5, *, quote: bool = True, width: int = 40) -> str:
    """``'a', 'b', 'c' and 997 more``: at most ``limit`` values (each cut to ``width`` characters) and a count."""
    values = list(values)
    shown = []
    for v in values[:limit]:
        s = repr(str(_plain(v))) if quote else str(_plain(v))
        shown.append(s if len(s) <= width else s[:width - 3] + "...")
    rest = len(values) - len(shown)
    return ", ".join(shown) + (f" and {rest:,} more" if rest > 0 else "")


def listing(names: Iterable[Any], limit: int = 10, *, quote: bool = False) -> str:
    """Column names and the like: the first ``limit`` of them and how many more."""
    return examples(names, limit, quote=quote, width=60)
