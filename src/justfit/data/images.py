"""Image data sources: the image kind of ``justfit.data.media`` (a folder per class, a table with an
image column, arrays in a frame)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from justfit.data.media import IMAGE, SPLIT_FOLDERS, image_column, media_frame, read_class_folders

IMAGE_SUFFIXES = IMAGE.suffixes
IMAGE_COLUMN_NAMES = IMAGE.column_names

__all__ = ["IMAGE_COLUMN_NAMES", "IMAGE_SUFFIXES", "SPLIT_FOLDERS", "image_column", "image_frame",
           "is_image_file", "read_class_folders"]


def is_image_file(p: Path) -> bool:
    return p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES


def image_frame(df: pd.DataFrame, column: str, label: str | None, base: Path | None, where: str,
                allow_missing: bool = False) -> pd.DataFrame:
    """The ``image``/``label`` frame of a table (``media.media_frame`` of the image kind)."""
    return media_frame(df, column, label, base, where, IMAGE, allow_missing=allow_missing)
