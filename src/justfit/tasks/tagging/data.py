"""Token-classification data: CoNLL files, token/tag lists, character spans, into one frame.

Every source becomes a frame of one row per sentence, indexed by its position in the source:
``tokens`` (a tuple of words), ``label`` (the tags, one per word, joined by single spaces: a
hashable value, so the duplicate and conflict rules of the text cleaning apply to whole
sentences) and ``text`` (the words joined by spaces: what the text rules and the leakage audit
read). Sources:

* CoNLL files (``.conll``, ``.iob``, ``.bio``, ``.bioes``, ``.ner``, ``.txt``): a word and its
  columns per line, a blank (or whitespace-only) line between sentences, ``-DOCSTART-`` lines
  ignored. Fields are split on tabs when a line has one, else on runs of spaces. The columns are
  ``tokens``, ``column_1``, ... and ``tags`` (the last one, the default tag column; another one
  is chosen with ``data.label_column``);
* tables with a column of token lists and a column of tag lists (JSON Lines ``{"tokens": [...],
  "tags": [...]}``, Parquet, ``datasets`` folders, whose ``Sequence(ClassLabel)`` tags are read
  as their names);
* tables with a text column and a column of character spans (``{"text": ..., "entities":
  [{"start", "end", "label"}, ...]}``, or ``[start, end, label]`` triples), split into words by
  the tokenizer-independent splitter of :mod:`justfit.tasks.tagging.tags`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from justfit.data.messages import listing
from justfit.errors import DataError
from justfit.tasks.tagging.tags import detect_scheme

CONLL_SUFFIXES = (".conll", ".iob", ".iob2", ".bio", ".bioes", ".ner", ".txt")
TOKEN_CANDIDATES = ("tokens", "words", "token", "word", "sentence", "text")
TAG_CANDIDATES = ("tags", "ner_tags", "ner", "labels", "label", "tag", "iob_tags", "bio_tags")
SPAN_CANDIDATES = ("entities", "spans", "ents", "label", "labels", "annotations")
_SPAN_KEYS = (("start", "end", "label"), ("start_offset", "end_offset", "label"), ("start", "end", "type"),
              ("start", "end", "entity"), ("begin", "end", "label"))


# ----------------------------------------------------------------------------- CoNLL
def read_conll_text(text: str, name: str) -> pd.DataFrame:
    """Sentences of a CoNLL-style text: columns ``tokens``, ``column_1`` ... and ``tags`` (lists).

    Raises ``DataError`` naming the line when a line has fewer fields than the file's others (a
    missing tag), or when the text holds no sentence."""
    sentences: list[list[list[str]]] = []
    lines: list[int] = []  # first line number of each sentence
    current: list[list[str]] = []
    width = None
    widths: dict[int, int] = {}
    rows: list[tuple[int, list[str]]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            rows.append((number, []))
            continue
        fields = [f.strip() for f in line.split("\t")] if "\t" in line else line.split()
        fields = [f for f in fields if f != ""]
        if fields[0] == "-DOCSTART-":
            rows.append((number, []))
            continue
        rows.append((number, fields))
        widths[len(fields)] = widths.get(len(fields), 0) + 1
    if not widths:
        raise DataError(f"'{name}' holds no sentence: a CoNLL file has a word and its tag per line, a blank line "
                        "between sentences.")
    width = max(widths, key=lambda w: (widths[w], w))
    if width < 2:
        raise DataError(f"'{name}' has one field per line: no tag column. A CoNLL file has a word and its tag per "
                        "line (separated by a tab or spaces), a blank line between sentences.")
    for number, fields in rows:
        if not fields:
            if current:
                sentences.append(current)
                current = []
            continue
        if len(fields) != width:
            if len(fields) > width and "\t" not in text.splitlines()[number - 1]:
                # A word holding spaces in a space-separated file cannot be told apart from extra columns.
                raise DataError(f"Line {number} of '{name}' has {len(fields)} fields where the file's lines have "
                                f"{width} ({' | '.join(fields[:6])[:80]}): separate the columns with tabs if a word "
                                "holds spaces, or fix the line.")
            raise DataError(f"Line {number} of '{name}' has {len(fields)} field(s) where the file's lines have "
                            f"{width} ({' | '.join(fields)[:80]!s}): a missing tag? Give every word its tag, or "
                            "remove the line.")
        if not current:
            lines.append(number)
        current.append(fields)
    if current:
        sentences.append(current)
    names = ["tokens"] + [f"column_{i}" for i in range(1, width - 1)] + ["tags"]
    columns = {n: [[w[i] for w in s] for s in sentences] for i, n in enumerate(names)}
    frame = pd.DataFrame(columns)
    frame.attrs["line"] = lines
    return frame


# ----------------------------------------------------------------------------- layout of a table
def _lists(col: pd.Series) -> bool:
    """Does the column hold sequences (lists, tuples, arrays) in its first non-missing cells?"""
    values = col.dropna().iloc[:200]
    return bool(len(values)) and all(isinstance(v, list | tuple | np.ndarray) for v in values)


def _spans(col: pd.Series) -> bool:
    """Does the column hold lists of character spans (dicts with start/end, or [start, end, label])?"""
    values = col.dropna().iloc[:200]
    if not len(values) or not all(isinstance(v, list | tuple | np.ndarray) for v in values):
        return False
    items = [x for v in values for x in list(v)[:3]]
    if not items:
        return False
    return all(_span_of(x) is not None for x in items)


def _span_of(x: Any) -> tuple[int, int, str] | None:
    if isinstance(x, dict):
        for a, b, c in _SPAN_KEYS:
            if a in x and b in x and c in x:
                try:
                    return int(x[a]), int(x[b]), str(x[c])
                except (TypeError, ValueError):
                    return None
        return None
    if isinstance(x, list | tuple | np.ndarray) and len(x) == 3:
        try:
            return int(x[0]), int(x[1]), str(x[2])
        except (TypeError, ValueError):
            return None
    return None


def token_layout(df: pd.DataFrame, text_column: str | None = None,
                 label_column: str | None = None) -> tuple[str, str, str] | None:
    """``("tags", tokens_column, tags_column)`` for a table of token and tag lists,
    ``("spans", text_column, spans_column)`` for texts with character spans, or ``None`` when the
    table has one label per row. Named columns win over the well-known names."""
    cols = [str(c) for c in df.columns]
    lower = {c.lower(): c for c in cols}

    def pick(given: str | None, names: Sequence[str], test: Any, exclude: str | None = None) -> str | None:
        if given is not None:
            return given if given in cols and test(df[given]) else None
        for n in names:
            c = lower.get(n)
            if c is not None and c != exclude and test(df[c]):
                return c
        return None

    tokens = pick(text_column, TOKEN_CANDIDATES, _lists)
    if tokens is not None:
        tags = pick(label_column, TAG_CANDIDATES, _lists, exclude=tokens)
        if tags is None and label_column is None:
            others = [c for c in cols if c != tokens and _lists(df[c])]
            tags = others[-1] if others else None
        if tags is not None:
            return ("tags", tokens, tags)
    spans = pick(label_column, SPAN_CANDIDATES, _spans)
    if spans is not None:
        text = text_column or next((lower[n] for n in ("text", "sentence", "content", "document") if n in lower), None)
        if text is not None and text in cols and not _lists(df[text]):
            return ("spans", text, spans)
    return None


def _words(v: Any) -> list[str]:
    return [str(x) for x in (v.tolist() if isinstance(v, np.ndarray) else list(v))]


def token_frame(df: pd.DataFrame, layout: tuple[str, str, str], where: str, *, allow_missing: bool = False,
                tag_names: Sequence[str] | None = None) -> pd.DataFrame:
    """The ``tokens``/``label``/``text`` frame of a token table (see the module docstring).

    ``tag_names`` reads integer tags as names (a ``Sequence(ClassLabel)`` feature). Raises
    ``DataError`` for a sentence whose word and tag counts differ, a tag holding spaces, integer tags
    without names, and (unless ``allow_missing``: the cleaning stage drops them) missing sentences."""
    kind, a, b = layout
    n = len(df)
    if n == 0:
        raise DataError(f"{where[0].upper() + where[1:]} has no rows. Give a file with tagged sentences.")
    tokens: list[tuple[str, ...]] = []
    labels: list[str | None] = []
    lines = df.attrs.get("line")
    notes: list[str] = []

    def at(i: int) -> str:
        return f"line {lines[i]}" if lines else f"row {i}"

    for i, (x, y) in enumerate(zip(df[a].tolist(), df[b].tolist(), strict=True)):
        missing_x = x is None or (isinstance(x, float) and np.isnan(x))
        missing_y = y is None or (isinstance(y, float) and np.isnan(y))
        if kind == "spans":
            if missing_x:
                tokens.append(())
                labels.append(None if missing_y else "")
                continue
            spans = [] if missing_y else [_span_of(s) for s in list(y)]
            if any(s is None for s in spans):
                raise DataError(f"Row {i} of {where} has a span that is not {{'start', 'end', 'label'}} or "
                                f"[start, end, label] in column '{b}'. Fix it.")
            from justfit.tasks.tagging.tags import spans_to_tags

            words, tags, problems = spans_to_tags(str(x), spans)  # type: ignore[arg-type]
            if problems:
                p = problems[0]
                more = f" (and {len(problems) - 1} more in this row)" if len(problems) > 1 else ""
                raise DataError(f"Row {i} of {where} has the span {list(p.span)} in column '{b}' that is {p.reason}"
                                f"{more}. Fix the offsets (start < end <= the text's length, no overlaps).")
            tokens.append(tuple(words))
            labels.append(" ".join(tags))
            continue
        if missing_x:
            tokens.append(())
            labels.append(None)
            continue
        words = _words(x)
        if missing_y:
            tokens.append(tuple(words))
            labels.append(None)
            continue
        tags = list(y.tolist() if isinstance(y, np.ndarray) else y)
        if tags and all(isinstance(t, int | np.integer) and not isinstance(t, bool) for t in tags):
            if not tag_names:
                raise DataError(f"The tags in column '{b}' of {where} are numbers without names: give tag names "
                                "(B-PER, I-PER, O, ...), or save the data with a Sequence(ClassLabel) feature.")
            bad = [int(t) for t in tags if not 0 <= int(t) < len(tag_names)]
            if bad:
                raise DataError(f"{at(i).capitalize()} of {where} has tag code {bad[0]}, outside the "
                                f"{len(tag_names)} tag names. Fix it.")
            tags = [tag_names[int(t)] for t in tags]
        if any(t is None or (isinstance(t, float) and np.isnan(t)) for t in tags):
            raise DataError(f"{at(i).capitalize()} of {where} has a missing tag (null) in column '{b}': give every "
                            "word its tag (O outside entities).")
        tags = [str(t).strip() for t in tags]
        if len(tags) != len(words):
            raise DataError(f"{at(i).capitalize()} of {where} has {len(words)} words but {len(tags)} tags: give "
                            "one tag per word.")
        spaced = next((t for t in tags if not t or any(c.isspace() for c in t)), None)
        if spaced is not None:
            raise DataError(f"{at(i).capitalize()} of {where} has the tag {spaced!r}: tags are single words "
                            "(O, B-PER, I-PER, ...). Fix it.")
        tokens.append(tuple(words))
        labels.append(" ".join(tags))
    out = pd.DataFrame(index=pd.RangeIndex(n, name="row"))
    out["tokens"] = pd.Series(tokens, dtype=object).to_numpy()
    out["label"] = pd.Series(labels, dtype=object).to_numpy()
    out["text"] = [" ".join(t) for t in tokens]
    missing = out["label"].isna().to_numpy()
    if missing.any() and not allow_missing:
        rows = [int(r) for r in np.flatnonzero(missing)[:5]]
        raise DataError(f"{int(missing.sum())} sentence(s) of {where} have no tags in column '{b}' (rows {rows}). "
                        "Tag or remove them, or let the cleaning stage drop them (quality.rules: missing_label).")
    if kind == "tags":
        check_scheme(out["label"], where, lines)
    out.attrs["label_column"] = b
    out.attrs["token_notes"] = notes
    if lines:
        out.attrs["line"] = lines
    return out


def check_scheme(labels: pd.Series, where: str, lines: Sequence[int] | None = None) -> str:
    """The tag scheme of one file's sentences (``labels``: tags joined by spaces, ``None`` for missing),
    by :func:`justfit.tasks.tagging.tags.detect_scheme`. Raises ``DataError`` naming the line (CoNLL: the
    sentence's first line plus the word) or the row and word of the first tag with an unknown prefix
    or one that mixes schemes."""

    rows = [i for i, lab in enumerate(labels) if isinstance(lab, str)]

    def locate(k: int, j: int) -> str:
        i = rows[k]
        return f"line {lines[i] + j}" if lines else f"row {i}, word {j + 1}"

    return detect_scheme((labels.iloc[i].split() for i in rows), where, locate)


def decode_json_lists(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with each column whose cells are all JSON lists written as text (``["Ann", "saw"]``: how a
    CSV holds token and tag lists, and how justfit writes them) read back as lists."""
    import json

    for col in frame.columns:
        values = frame[col].dropna()
        if not len(values) or not (values.dtype == object or pd.api.types.is_string_dtype(values)):
            continue
        sample = values.iloc[:200]
        if not all(isinstance(v, str) and v.startswith("[") and v.endswith("]") for v in sample):
            continue
        try:
            parsed = [json.loads(v) if isinstance(v, str) else v for v in frame[col]]
        except ValueError:
            continue
        if all(isinstance(v, list) for v in parsed if v is not None):
            frame[col] = pd.Series(parsed, index=frame.index, dtype=object)
    return frame


def write_conll(frame: pd.DataFrame, tokens: str, tags: str) -> str:
    """CoNLL text of a table of token and tag lists: a word and its tag per line (tab-separated), a blank
    line after each sentence."""
    lines: list[str] = []
    for words, labels in zip(frame[tokens], frame[tags], strict=True):
        lines += [f"{w}\t{t}" for w, t in zip(list(words), list(labels), strict=True)] + [""]
    return "\n".join(lines)


def tags_of(label: Any) -> list[str]:
    """The tag list of a frame's ``label`` value (tags joined by spaces)."""
    return str(label).split() if isinstance(label, str) else list(label)


def refuse_untagged(frame: pd.DataFrame, column: str, where: str) -> None:
    """One line for a token task given one label per row (a text-classification table)."""
    raise DataError(f"Token classification needs a tag per word, but {where} has one label per row (column "
                    f"'{column}'). Give a CoNLL file, JSON Lines with 'tokens' and 'tags' lists, or texts with "
                    "character 'entities' spans; or use task=classification for one label per text.")


def describe_columns(df: pd.DataFrame) -> str:
    return listing([str(c) for c in df.columns], quote=False)
