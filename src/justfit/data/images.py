"""Image data sources: a folder per class, a table with an image column, arrays in a frame.

* **A folder per class**: ``root/<label>/*.png`` (any of ``tasks.image.IMAGE_SUFFIXES``, case
  ignored); ``root/train/<label>/...`` with ``val``/``validation``/``valid``/``dev`` and ``test``
  beside it are given splits.
* **A table** (CSV, TSV, JSON Lines, Parquet, a ``save_to_disk`` folder) with a column of image
  paths (relative to the table's folder), of ``datasets`` ``Image`` cells (``{"bytes", "path"}``)
  or of arrays.

Every source becomes a frame with an ``image`` column (paths made absolute, or the cells as
given) and a ``label`` column (the label's text), indexed by row number. Images are not decoded
here (decoding is lazy, in the loader); the data stage checks that each one can be read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from justfit.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff")
IMAGE_COLUMN_NAMES = ("image", "img", "image_path", "path", "file", "filename", "filepath", "file_path", "picture")
SPLIT_FOLDERS = {"train": "train", "val": "validation", "validation": "validation", "valid": "validation",
                 "dev": "validation", "test": "test"}


def is_image_file(p: Path) -> bool:
    return p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES


def _class_folders(root: Path) -> list[Path]:
    return sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))


def looks_like_image_folder(root: Path) -> bool:
    """Whether ``root`` is a folder per class (or split folders of them) holding image files."""
    if not root.is_dir():
        return False
    for sub in _class_folders(root):
        inner = sub.rglob("*") if sub.name.lower() in SPLIT_FOLDERS else sub.iterdir()
        if any(is_image_file(p) for p in inner):
            return True
    return False


def read_class_folders(root: Path) -> pd.DataFrame | dict[str, pd.DataFrame]:
    """The ``image``/``label`` frame of a folder per class, or one frame per split folder.

    Raises ``DataError`` for a folder without images, a class folder with none (named), or
    files that are not images mixed in (named; they are not read)."""
    splits = {SPLIT_FOLDERS[d.name.lower()]: d for d in _class_folders(root) if d.name.lower() in SPLIT_FOLDERS}
    if splits:
        if "train" not in splits:
            raise DataError(f"'{root}' has split folders ({', '.join(sorted(d.name for d in splits.values()))}) but no "
                            "train/ folder. Add train/<label>/ images, or pass the class folders' parent alone.")
        return {name: _one_root(folder) for name, folder in splits.items()}
    return _one_root(root)


def _one_root(root: Path) -> pd.DataFrame:
    rows: list[tuple[str, str]] = []
    empty, others = [], []
    for folder in _class_folders(root):
        files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
        images = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
        others += [p for p in files if p.suffix.lower() not in IMAGE_SUFFIXES]
        if not images:
            empty.append(folder.name)
        rows += [(str(p.resolve()), folder.name) for p in images]
    if not rows:
        raise DataError(f"No images in '{root}': expected a folder per class holding image files "
                        f"({', '.join(IMAGE_SUFFIXES)}).")
    if empty:
        raise DataError(f"Class folder(s) {', '.join(repr(e) for e in empty)} in '{root}' hold no images. Add images "
                        "or remove the folder(s).")
    frame = pd.DataFrame(rows, columns=["image", "label"])
    if others:
        import warnings

        from justfit.errors import DataQualityWarning

        shown = ", ".join(p.name for p in others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
        warnings.warn(f"{len(others)} file(s) in '{root}' are not images and were not read ({shown}).",
                      DataQualityWarning, stacklevel=3)
    frame.attrs["label_column"] = "folder"
    return frame


def _is_image_cell(v: Any) -> bool:
    if isinstance(v, np.ndarray):
        return v.ndim in (2, 3)
    if isinstance(v, dict):
        return "bytes" in v or "path" in v
    return type(v).__module__.startswith("PIL.")


def image_column(df: pd.DataFrame, given: str | None = None) -> str | None:
    """The column of ``df`` holding images: ``given`` if it does, else one of arrays or image
    cells, else one whose values are mostly paths with image suffixes; None when there is none."""
    def holds_images(col: pd.Series) -> bool:
        values = col.dropna()
        if not len(values):
            return False
        head = values.iloc[:200]
        if all(_is_image_cell(v) for v in head):
            return True
        strings = head[head.map(lambda v: isinstance(v, str))]
        return len(strings) == len(head) and strings.str.lower().str.endswith(IMAGE_SUFFIXES).mean() >= 0.9

    if given is not None:
        return given if given in df.columns and holds_images(df[given]) else None
    names = sorted(df.columns, key=lambda c: (str(c).lower() not in IMAGE_COLUMN_NAMES, str(c)))
    return next((str(c) for c in names if holds_images(df[c])), None)


def image_frame(df: pd.DataFrame, column: str, label: str | None, base: Path | None, where: str,
                allow_missing: bool = False) -> pd.DataFrame:
    """The ``image``/``label`` frame of a table: ``column`` holds the images (relative paths are
    resolved against ``base``), ``label`` the labels (their text). Raises ``DataError`` listing
    every path that does not exist."""
    from justfit.data.io import ColumnSpec, normalise

    images = df[column].reset_index(drop=True)
    missing_cells = images.isna()
    if missing_cells.any() and not allow_missing:
        rows = [int(i) for i in np.flatnonzero(missing_cells.to_numpy())[:5]]
        raise DataError(f"{int(missing_cells.sum())} row(s) of {where} have no image in column '{column}' "
                        f"(rows {rows}, 0-based). Fill or remove them.")
    if images.map(lambda v: isinstance(v, str)).any():
        def absolute(v: Any) -> Any:
            if not isinstance(v, str):
                return v
            p = Path(v).expanduser()
            return str((base / p).resolve() if base is not None and not p.is_absolute() else p)

        images = images.map(absolute)
        gone = [v for v in images if isinstance(v, str) and not Path(v).exists()]
        if gone and not allow_missing:
            shown = ", ".join(gone[:10]) + (f" and {len(gone) - 10} more" if len(gone) > 10 else "")
            raise DataError(f"{len(gone)} image path(s) in column '{column}' of {where} do not exist (paths are "
                            f"relative to the table's folder): {shown}.")
    spec = ColumnSpec(text=column, label=label)
    labels = df.assign(**{column: ""}) if label is not None else df
    out = normalise(labels, spec, where=where, allow_missing=allow_missing, labels_as_text=True)
    out = out.drop(columns="text")
    out.insert(0, "image", pd.Series(images.to_numpy(), index=out.index, dtype=object))
    return out
