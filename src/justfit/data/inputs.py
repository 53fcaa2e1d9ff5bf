"""What the Python API accepts as data, turned into justfit's ``text``/``label`` frames.

``as_frame`` reads one argument pair (texts and labels, a DataFrame, or a data file);
``as_texts`` the inputs of ``predict``. ``justfit.data.stage.training_frames`` builds a fit's checked
training and validation frames from them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from justfit.data.io import ColumnSpec, load_table, normalise, table_frame, table_spec
from justfit.data.media import AUDIO, IMAGE, KINDS, media_column
from justfit.errors import DataError
from justfit.tasks.image.sources import float_white, pixels_uint8

# The input column of data that is no media and no words with tags: one string per row.
PLAIN_INPUTS = "text"


def is_missing(value: Any) -> bool:
    """A missing input cell: ``None`` or a float NaN (as pandas leaves an empty cell)."""
    return value is None or (isinstance(value, float) and value != value)


def media_kind(X: Any, text_column: str | None = None, sampling_rate: int | None = None) -> str | None:
    """The media ``X`` holds, by the input column of its task (``"image"``, ``"audio"``), or None for texts:

    * images: an array of shape ``(n, h, w)`` or ``(n, h, w, c)``; a sequence of image arrays, ``PIL``
      images or image paths;
    * audio: a sequence of 1-D arrays, ``{"array", "sampling_rate"}`` items or audio paths; an
      array of shape ``(n, samples)`` when ``sampling_rate`` is given;
    * a DataFrame with a column of either (``text_column`` when given: ``data.media.media_column``)."""

    if isinstance(X, np.ndarray):
        return "image" if X.ndim in (3, 4) else "audio" if X.ndim == 2 and sampling_rate else None
    if isinstance(X, pd.DataFrame):
        hit = media_column(X.rename(columns=str), text_column)
        return hit[1].column if hit is not None else None
    if isinstance(X, str | Path) or not hasattr(X, "__len__") or not len(X):
        return None
    first = X.iloc[0] if isinstance(X, pd.Series) else X[0] if isinstance(X, list | tuple) else None
    if isinstance(first, np.ndarray):
        if first.ndim == 1 or (first.ndim == 2 and sampling_rate and min(first.shape) <= 8):
            return "audio"  # a waveform, or (with a rate given) channels x samples
        return "image" if first.ndim in (2, 3) else None
    if isinstance(first, dict) and "array" in first:
        return "audio"  # a decoded Audio item (its rate is checked when it is read)
    if type(first).__module__.startswith("PIL."):
        return "image"
    if AUDIO.is_cell(first):
        return "audio"
    if isinstance(first, str | Path):
        suffix = Path(str(first)).suffix.lower()
        return "audio" if suffix in AUDIO.suffixes else "image" if suffix in IMAGE.suffixes else None
    return None


def looks_like_images(X: Any, text_column: str | None = None) -> bool:
    """Whether ``X`` holds images rather than texts (``media_kind``)."""
    return media_kind(X, text_column) == "image"


def image_batch(X: np.ndarray) -> np.ndarray:
    """An image array of shape ``(n, h, w)`` or ``(n, h, w, c)`` as uint8, its float range read from
    the whole batch, not image by image (``justfit.tasks.image.sources``: uint8 as is, uint16 by 65535, other
    integers as 0-255 levels, floats as [0, 1] or 0-255).

    Raises ``DataError`` for NaN, infinite or negative values, values above 255 (other than
    uint16), and floats above 1 but below 2 (neither range)."""

    return pixels_uint8(X, float_white([X], "the image array"), "the image array")


def check_array_inputs(X: Any, sampling_rate: int | None = None) -> None:
    """Refuse a numeric array that is neither images nor audio, with what each takes (one line)."""
    if isinstance(X, np.ndarray) and X.dtype.kind in "biuf" and media_kind(X, sampling_rate=sampling_rate) is None:
        hint = " (with sampling_rate for audio)" if X.ndim == 2 else ""
        raise DataError(f"A numeric array of shape {X.shape} is neither images, (n, h, w) or (n, h, w, c), nor "
                        f"audio, a list of 1-D waveforms or an (n, samples) array{hint}. Texts are strings.")


def with_rate(items: list[Any], sampling_rate: int | None) -> list[Any]:
    """Bare audio arrays as ``{"array", "sampling_rate"}`` items when ``sampling_rate`` (Hz) is known."""
    if not sampling_rate:
        return items
    return [{"array": x, "sampling_rate": int(sampling_rate)} if isinstance(x, np.ndarray | list) else x
            for x in items]


def as_inputs(X: Any, column: str) -> list[Any]:
    """The inputs of ``X`` for a task whose frames hold them in ``column`` (``text``: strings; other
    columns: the items as given, e.g. image arrays or paths; image arrays given together made uint8
    under one value range, ``justfit.tasks.image.sources.image_inputs``)."""
    items = _items(X, column)
    if column == "image":
        from justfit.tasks.image.sources import image_inputs

        return image_inputs(items)
    return items


def _items(X: Any, column: str) -> list[Any]:
    if column == "text":
        return as_texts(X)
    if column == "tokens" and isinstance(X, pd.DataFrame) and "tokens" not in X.columns and "text" in X.columns:
        return X["text"].astype(str).tolist()  # texts to split into words
    if isinstance(X, pd.DataFrame):
        if column in X.columns:
            return X[column].tolist()
        from justfit.data.messages import listing

        raise DataError(f"This DataFrame has no '{column}' column (columns: {listing(X.columns)}). Pass the inputs "
                        f"themselves, e.g. df['{column}'].")
    if isinstance(X, np.ndarray):
        if column == "audio" and X.ndim == 1:
            return [X]  # one waveform
        return [X[i] for i in range(len(X))]
    if isinstance(X, dict):
        return [X]  # one decoded clip or image cell
    if isinstance(X, pd.Series):
        return X.tolist()
    if isinstance(X, str | Path):
        return [X]
    return list(X)


def as_texts(X: Any) -> list[str]:
    """The texts of ``X``: a string, a sequence of strings, or a DataFrame with a ``text`` column."""
    if isinstance(X, str):
        return [X]
    if isinstance(X, pd.DataFrame):
        if "text" in X.columns:
            return X["text"].astype(str).tolist()
        from justfit.data.messages import listing

        raise DataError(f"Cannot tell the text column of this DataFrame (columns: {listing(X.columns)}). "
                        "Pass the column itself, e.g. df['review'].")
    return [str(t) for t in X]


def as_frame(X: Any, y: Any, cfg: Any, where: str, column: str = "text") -> pd.DataFrame:
    """A ``text``/``label`` frame from ``X`` (texts, a DataFrame, or a data file path) and labels ``y``;
    for a task whose inputs are not texts, a ``column``/``label`` frame of the inputs as given.

    Raises ``DataError`` (one line) for missing texts or labels, a length mismatch, or a file
    given together with separate labels."""

    if isinstance(X, pd.DataFrame) and y is None:
        X = X.rename(columns=str)
        if list(X.columns) == ["text", "label"]:  # already normalised (e.g. by finetune's split)
            return normalise(X, ColumnSpec(text="text", label="label"), where=where)
        if {"tokens", "label", "text"} <= set(X.columns) and X["label"].map(lambda v: isinstance(v, str)).all():
            return X  # a token frame as the data stage made it (words, tags joined by spaces)
        return table_frame(X, table_spec(X, cfg.data.text_column, cfg.data.label_column, where=where), None, where)
    if column == "tokens" and not isinstance(X, str | Path):
        if y is None:
            raise DataError(f"No tags given for {where}. Pass y (a list of tags per sentence), or a DataFrame with "
                            "'tokens' and 'tags' columns.")
        from justfit.tasks.tagging.data import token_frame

        words = list(X)
        tags = [t.split() if isinstance(t, str) else t for t in y]  # "B-PER O" or ["B-PER", "O"]
        if len(words) != len(tags):
            raise DataError(f"{where[0].upper() + where[1:]} has {len(words)} sentences but {len(tags)} tag lists. "
                            "Pass one tag list per sentence.")
        from justfit.tasks.tagging.step import words_of

        frame = pd.DataFrame({"tokens": pd.Series([words_of(w) for w in words], dtype=object),
                              "tags": pd.Series([list(t) for t in tags], dtype=object)})
        return token_frame(frame, ("tags", "tokens", "tags"), where)
    check_array_inputs(X, cfg.data.sampling_rate)
    if column == "image" and isinstance(X, np.ndarray) and X.ndim in (3, 4):
        X = image_batch(X)
    if column != "text" and not isinstance(X, str | Path):
        inputs = as_inputs(X, column)
        if column == "audio":
            inputs = with_rate(inputs, cfg.data.sampling_rate)
        if y is None:
            raise DataError(f"No labels given for {where}. Pass y, or a DataFrame with a label column.")
        labels = list(y)
        if len(labels) != len(inputs):
            raise DataError(f"{where[0].upper() + where[1:]} has {len(inputs)} inputs but {len(labels)} labels. "
                            "Pass one label per input.")
        frame = normalise(pd.DataFrame({"text": [""] * len(labels), "label": pd.Series(labels, dtype=object)}),
                          ColumnSpec(text="text", label="label"), where=where)
        return frame.drop(columns="text").assign(**{column: pd.Series(inputs, index=frame.index, dtype=object)})[
            [column, "label"]]

    if isinstance(X, str | Path):
        if y is not None:
            raise DataError(f"Got a data file and separate labels for {where}; the file brings its own labels. "
                            "Pass the file alone, or texts and labels.")
        return load_table(X, cfg.data.text_column, cfg.data.label_column, encoding=cfg.data.encoding).frame
    if not isinstance(X, str) and any(is_missing(t) for t in X):
        raise DataError(f"Some texts of {where} are missing (None/NaN). Fill or remove them.")
    texts = as_texts(X)
    if y is None:
        raise DataError(f"No labels given for {where}. Pass y, or a DataFrame with a label column.")
    # Object dtype keeps each label's own type, so normalise can tell 1 from 1.0 (and warn when it merges them).
    labels = pd.Series(list(y), name="label", dtype=object)
    if len(labels) != len(texts):
        raise DataError(f"{where[0].upper() + where[1:]} has {len(texts)} texts but {len(labels)} labels. "
                        "Pass one label per text.")
    return normalise(pd.DataFrame({"text": texts, "label": labels}), ColumnSpec(text="text", label="label"),
                     where=where)


def with_weights(train: pd.DataFrame, sample_weight: Sequence[float] | None) -> pd.DataFrame:
    """``train`` with a ``_weight`` column (one non-negative weight per row); unchanged without weights.

    Raises ``DataError`` when the weights do not match the rows or are not finite and non-negative
    with a positive sum."""
    if sample_weight is None:
        return train
    w = np.asarray(sample_weight, dtype=np.float64)
    if w.shape != (len(train),) or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise DataError(f"sample_weight must hold {len(train)} finite, non-negative weights (one per "
                        f"training row) with a positive sum. Got shape {w.shape}.")
    return train.assign(_weight=w)


def tag_lists(y: Any) -> bool:
    """Is ``y`` a sequence of string lists (tags, or words: one list per sentence, token classification)?"""
    if y is None or isinstance(y, str | pd.DataFrame | np.ndarray):
        return False
    try:
        first = next(iter(y))
    except (StopIteration, TypeError):
        return False
    return isinstance(first, list | tuple | np.ndarray) and all(isinstance(t, str) for t in list(first)[:5])


def frame_inputs(frame: pd.DataFrame) -> str:
    """The input column of a normalised frame: ``image`` or ``audio`` (media), ``tokens`` (a tag per word)
    or ``text``; task inference reads it."""

    return next((k.column for k in KINDS if k.column in frame.columns), "tokens" if "tokens" in frame.columns
                else PLAIN_INPUTS)
