"""Image data sources: the image kind of ``justfit.data.media`` (a folder per class, a table with an
image column, arrays in a frame), and the pixel values of image arrays given together.

Pixel arrays become uint8 (0-255, what the models' image processors rescale by 1/255) as their
dtype defines: uint8 as is, uint16 by its 16-bit full scale (65535 is white), bool False/True as
black/white, other integers as 0-255 levels. Floats carry no scale in their dtype: their range is
decided once for all the arrays given together (an array, a list, a column), never image by
image, so a dark image is not brightened apart from its neighbours. A set whose floats stay within
[0, 1] is [0, 1] (transformers' ``is_scaled_image`` test, applied to the whole set); one that goes
above 2 is 0-255; between 1 and 2 it is refused: [0, 1] pixels pushed over 1 by processing are far
likelier than a 0-255 set whose brightest pixel is under 2 of 255 (black).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from justfit.data.media import IMAGE, SPLIT_FOLDERS, image_column, media_frame, read_class_folders
from justfit.errors import DataError

# Below this, floats above 1 are neither [0, 1] nor a 0-255 set with any light in it (module docstring).
FLOAT_0_255_FROM = 2.0
_HINT = "pass uint8 (0-255), uint16 (16-bit), or floats in [0, 1] or 0-255"

IMAGE_SUFFIXES = IMAGE.suffixes
IMAGE_COLUMN_NAMES = IMAGE.column_names

__all__ = ["IMAGE_COLUMN_NAMES", "IMAGE_SUFFIXES", "SPLIT_FOLDERS", "float_white", "image_column", "image_frame",
           "image_inputs", "is_image_file", "pixels_uint8", "read_class_folders"]


def is_image_file(p: Path) -> bool:
    return p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES


def image_frame(df: pd.DataFrame, column: str, label: str | None, base: Path | None, where: str,
                allow_missing: bool = False) -> pd.DataFrame:
    """The ``image``/``label`` frame of a table (``media.media_frame`` of the image kind)."""
    return media_frame(df, column, label, base, where, IMAGE, allow_missing=allow_missing)


def float_white(arrays: Sequence[np.ndarray], where: str = "the image arrays given together") -> float:
    """The float value that is white for float ``arrays`` given together: 1.0 ([0, 1]) or 255.0
    (0-255), decided from all of them at once (module docstring); 1.0 when none holds floats.

    Raises ``DataError`` (one line, naming ``where``) for NaN or infinite floats, negative
    floats, floats above 255, or a set whose largest float is above 1 and below 2."""
    floats = [a for a in arrays if np.issubdtype(a.dtype, np.floating) and a.size]
    if not floats:
        return 1.0
    if not all(np.isfinite(a).all() for a in floats):
        raise DataError(f"Image floats in {where} include NaN or infinity: {_HINT}.")
    lo, hi = min(float(a.min()) for a in floats), max(float(a.max()) for a in floats)
    if lo < 0:
        raise DataError(f"Image floats in {where} go down to {lo:g} (normalised images?): {_HINT}.")
    if hi > 255:
        raise DataError(f"Image floats in {where} go up to {hi:g}, above 255: {_HINT}.")
    if 1.0 < hi < FLOAT_0_255_FROM:
        raise DataError(f"Image floats in {where} go up to {hi:g}: floats must be in [0, 1], or 0-255 (a 0-255 set "
                        "this dark would be black); clip them to [0, 1], or pass uint8.")
    return 1.0 if hi <= 1.0 else 255.0


def pixels_uint8(a: np.ndarray, white: float = 1.0, where: str = "an image array") -> np.ndarray:
    """``a`` (any shape) as uint8 pixel values: uint8 as is, uint16 / 257 (65535 -> 255), bool x 255,
    other integers as 0-255 levels, floats x 255 / ``white`` (``float_white`` of the set ``a`` came in).

    Raises ``DataError`` (one line, naming ``where``) for integers outside 0-255 (other than uint16) and for dtypes
    that are no pixel values (complex, objects, strings)."""
    if a.dtype == np.uint8:
        return a
    if a.dtype.kind == "u" and a.dtype.itemsize == 2:  # uint16, either byte order (Pillow's I;16B)
        return (a.astype(np.float64) / 257.0).round().astype(np.uint8)
    if a.dtype == bool:
        return a.astype(np.uint8) * np.uint8(255)
    if np.issubdtype(a.dtype, np.integer):
        lo, hi = (int(a.min()), int(a.max())) if a.size else (0, 0)
        if lo < 0 or hi > 255:
            raise DataError(f"Image values of dtype {a.dtype} in {where} go from {lo} to {hi}, outside the 0-255 "
                            f"levels that integers other than uint16 are read as: {_HINT}.")
        return a.astype(np.uint8)
    if np.issubdtype(a.dtype, np.floating):
        return np.clip(np.round(a.astype(np.float64) * (255.0 / white)), 0, 255).astype(np.uint8)
    raise DataError(f"Image values of dtype {a.dtype} in {where} are no pixel values: {_HINT}.")


def image_inputs(items: Sequence[Any], where: str = "the image arrays given together") -> list[Any]:
    """``items`` (image sources given together: arrays, PIL images, paths, cells) with every array
    made uint8 by ``pixels_uint8`` under the one float scale of the whole set (``float_white``).
    32-bit PIL images (modes ``I`` and ``F``, whose values have no fixed range) count as arrays;
    the rest are returned as they are. Raises ``DataError`` as those two do."""
    def as_array(v: Any) -> Any:
        if type(v).__module__.startswith("PIL.") and getattr(v, "mode", None) in ("I", "F"):
            return np.asarray(v)
        return v

    out = [as_array(v) for v in items]
    arrays = [v for v in out if isinstance(v, np.ndarray)]
    if not arrays:
        return out
    white = float_white(arrays, where)
    return [pixels_uint8(v, white, where) if isinstance(v, np.ndarray) else v for v in out]
