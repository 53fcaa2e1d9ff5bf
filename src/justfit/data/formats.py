"""What a data file really is, and reading it into a flat table.

The extension is a first guess; the file's first bytes decide. Magic numbers identify
compressed files (gzip, bz2, xz, zstd, a zip with one member), Parquet, and files that are
not data tables at all (Excel workbooks, PDFs, SQLite databases, binary garbage); those are
refused with one line saying what the file is and what to do. Text is decoded by
:mod:`justfit.data.encoding`. A delimited file's delimiter is found with ``csv.Sniffer``
among ``,`` ``;`` tab and ``|``, whatever the extension says.

Delimited files are read with every cell as the string in the file (``dtype=str``; only an
empty cell is missing), so class codes such as ``007`` and texts such as ``NA`` survive.
JSON keeps its own types (a label ``7`` is the int 7 here; ``normalise`` turns labels into
text). Parquet integer columns with nulls keep their integers (not floats).
"""

from __future__ import annotations

import csv
import io
import json
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from justfit.data.encoding import decode
from justfit.data.textfile import (
    _NOT_TABLES,
    SUFFIXES,
    _decompress,
    _refuse,
    expected_kind,
    sniff_delimiter,
    sniff_magic,
)
from justfit.errors import DataError
from justfit.tasks.tagging.data import decode_json_lists

_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}


@dataclass
class RawTable:
    """A file's table as read, with what was found out about the file."""

    frame: pd.DataFrame
    format: str          # csv, tsv, json, jsonl, parquet
    encoding: str | None  # the text encoding used (None for Parquet)
    delimiter: str | None = None
    compression: str | None = None


def read_file(p: Path, encoding: str | None = None) -> RawTable:
    """Read the file at ``p`` (format from its content, the extension as a hint) into a flat table.

    Raises ``DataError`` (one line) for empty files, files that are not data tables (saying
    what they are and how to convert them), undecodable text (naming ``data.encoding``),
    malformed CSV/JSON (naming the line) and JSON that is not a list of rows.
    """
    kind, _ = expected_kind(p)
    with open(p, "rb") as fh:
        head = fh.read(8)
    if not head:
        raise DataError(f"Data file '{p}' is empty. Give a file with a header and at least a few labelled rows.")
    magic = sniff_magic(head)
    if magic == "parquet":
        return RawTable(_read_parquet(p, p.name), "parquet", None)
    if magic in _NOT_TABLES:
        _refuse(p.name, magic, kind)
    if magic in ("zip", "gzip", "bz2", "xz", "zstd"):
        data, member = _decompress(p, magic)
        inner_kind = SUFFIXES.get(Path(member).suffix.lower()) if member else None
        kind = inner_kind or kind
        inner_magic = sniff_magic(data[:8])
        if inner_magic == "parquet":
            return RawTable(_read_parquet(io.BytesIO(data), p.name), "parquet", None, compression=magic)
        if inner_magic in _NOT_TABLES or inner_magic in ("zip", "gzip", "bz2", "xz", "zstd"):
            _refuse(p.name, inner_magic, kind, inside=magic)
        table = _read_text(data, p.name, kind, encoding)
        table.compression = magic
        return table
    return _read_text(p.read_bytes(), p.name, kind, encoding)


def _read_parquet(source, name: str) -> pd.DataFrame:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(source)
    except Exception as exc:  # pyarrow raises a zoo of types for damaged files
        first = str(exc).strip().splitlines()[0][:150] if str(exc).strip() else type(exc).__name__
        raise DataError(f"Could not read '{name}' as Parquet ({first}): re-create the file.") from None
    # Integer columns with nulls stay integers (objects), so a label 7 does not become 7.0.
    return table.to_pandas(integer_object_nulls=True)


def _read_text(data: bytes, name: str, kind: str | None, encoding: str | None) -> RawTable:
    text, used = decode(data, name, encoding)
    del data
    if not text.strip():
        raise DataError(f"Data file '{name}' is empty. Give a file with a header and at least a few labelled rows.")
    first = text.lstrip()[:1]
    if first == "<" and any(tag in text[:1024].lower() for tag in ("<!doctype html", "<html", "<?xml")):
        what = "an HTML page" if "html" in text[:1024].lower() else "an XML document"
        raise DataError(f"'{name}' is {what}, not a data table (a download that saved the web page?): download the "
                        "raw file, or export the table as CSV, JSON Lines or Parquet.")
    if kind == "conll":
        from justfit.tasks.tagging.data import read_conll_text

        return RawTable(read_conll_text(text, name), "conll", used)
    if kind in ("json", "jsonl") or (first in "{[" and kind is None):
        return RawTable(read_json_text(text, name, lines=kind == "jsonl" or None), kind or "json", used)
    if first in "{[" and kind in ("csv", "tsv"):
        # A JSON file with a table's extension: read it as JSON if it parses as such.
        try:
            return RawTable(read_json_text(text, name), "json", used)
        except DataError:
            pass
    frame, sep = read_delimited_text(text, name, "\t" if kind == "tsv" else ",")

    return RawTable(decode_json_lists(frame), "tsv" if sep == "\t" else "csv", used, delimiter=sep)


def read_delimited_text(text: str, name: str, default: str = ",") -> tuple[pd.DataFrame, str]:
    """Read delimited text into a frame of strings (only empty cells are missing); return it and the delimiter.

    Raises ``DataError`` naming the delimiter used and the first bad line when rows and header
    disagree in their number of fields.
    """
    sep = sniff_delimiter(text, default)
    how = f"{_DELIMITER_NAMES[sep]}-separated"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", pd.errors.ParserWarning)
        try:
            frame = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, na_values=[""],
                                index_col=False)
        except pd.errors.EmptyDataError:
            raise DataError(f"Data file '{name}' is empty. Give a file with a header and at least a few labelled "
                            "rows.") from None
        except pd.errors.ParserError as exc:
            m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
            detail = (f"line {m.group(2)} has {m.group(3)} fields where the header has {m.group(1)}" if m
                      else str(exc).strip().splitlines()[0][:120])
            raise DataError(f"Could not read '{name}' as {how} text: {detail}. Quote texts that contain "
                            f"{_DELIMITER_NAMES[sep]}s or line breaks, or re-export the file as CSV UTF-8.") from None
    # pandas renames a repeated header name ("text", "text.1"); the user's file has two columns of one name.
    header = next(csv.reader(io.StringIO(text.split("\n", 1)[0]), delimiter=sep), [])
    dupes = sorted({h.strip() for h in header if [x.strip() for x in header].count(h.strip()) > 1})
    if dupes:
        raise DataError(f"'{name}' has duplicate column names ({', '.join(repr(d) for d in dupes[:5])}). Rename them "
                        "so each column has its own name.")
    if any(issubclass(w.category, pd.errors.ParserWarning) and "Length of header" in str(w.message)
           for w in caught):
        raise DataError(f"Could not read '{name}' as {how} text: some rows have more fields than the header. "
                        f"Quote texts that contain {_DELIMITER_NAMES[sep]}s, or re-export the file as CSV UTF-8.")
    return frame, sep


# ----------------------------------------------------------------------------- JSON
def read_json_text(text: str, name: str, *, lines: bool | None = None) -> pd.DataFrame:
    """Rows from JSON text: a list of objects, JSON Lines (one object per line), pandas' column/split
    layouts, or an object wrapping exactly one list of objects (``{"data": [...]}``).

    ``lines`` True reads JSON Lines, False one JSON document, None tries the document first.
    Values keep their JSON types (object columns). Raises ``DataError`` naming the line of
    invalid JSON, or saying why a structure is not a table of rows.
    """
    if lines is not True or text.lstrip()[:1] == "[":
        try:
            return json_to_frame(json.loads(text), name)
        except json.JSONDecodeError as exc:
            if lines is not True and (lines is False or exc.msg != "Extra data"):
                raise DataError(f"'{name}' is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}). "
                                "Fix the file, or save it as JSON Lines (one object per line).") from None
    records = []
    for number, line in enumerate(text.split("\n"), 1):
        line = line.strip()
        if not line:
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"Line {number} of '{name}' is not valid JSON ({exc.msg}, column {exc.colno}). "
                            "JSON Lines needs one complete object per line.") from None
        if not isinstance(obj, dict):
            raise DataError(f"Line {number} of '{name}' holds a JSON {_json_kind(obj)}, not an object: JSON Lines "
                            "needs one object per line, such as {\"text\": \"...\", \"label\": \"...\"}.")
        records.append(obj)
    return pd.DataFrame(records, dtype=object)


def _json_kind(obj: object) -> str:
    return {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}.get(
        type(obj), "number")


def json_to_frame(obj: object, name: str) -> pd.DataFrame:
    """A parsed JSON document as a table of rows (see :func:`read_json_text`)."""
    if isinstance(obj, list):
        odd = next((x for x in obj if not isinstance(x, dict)), None)
        if odd is not None or (obj and not all(isinstance(x, dict) for x in obj)):
            raise DataError(f"'{name}' is a JSON list of {_json_kind(odd)}s, not of objects: give one object per row, "
                            "such as [{\"text\": \"...\", \"label\": \"...\"}, ...].")
        return pd.DataFrame(obj, dtype=object)
    if not isinstance(obj, dict):
        raise DataError(f"'{name}' holds a single JSON {_json_kind(obj)}, not rows: give a list of objects, or JSON "
                        "Lines with one object per line.")
    keys = list(obj)
    shown = ", ".join(map(str, keys[:8])) + (f" and {len(keys) - 8} more" if len(keys) > 8 else "")
    if {"columns", "data"} <= set(keys) and isinstance(obj["data"], list):  # pandas orient="split"
        return pd.DataFrame(obj["data"], columns=obj["columns"], dtype=object)
    row_lists = [k for k, v in obj.items() if isinstance(v, list) and v and all(isinstance(x, dict) for x in v)]
    if len(row_lists) == 1:
        return json_to_frame(obj[row_lists[0]], name)
    if len(row_lists) > 1:
        raise DataError(f"'{name}' holds several lists of rows (keys {', '.join(map(str, row_lists[:8]))}): save "
                        "each as its own file and pass them as --train/--validation/--test.")
    nested = [(k, k2) for k, v in obj.items() if isinstance(v, dict) for k2, v2 in v.items()
              if isinstance(v2, list) and v2 and all(isinstance(x, dict) for x in v2)]
    if len(nested) == 1:  # {"meta": ..., "results": {"items": [...]}}
        k, k2 = nested[0]
        return json_to_frame(obj[k][k2], name)
    if keys and all(isinstance(v, dict) for v in obj.values()):
        inner = [set(v) for v in obj.values()]
        same = all(k == inner[0] for k in inner)
        from justfit.data.io import LABEL_CANDIDATES, TEXT_CANDIDATES

        named = {str(k).lower() for k in inner[0]} & (set(TEXT_CANDIDATES) | set(LABEL_CANDIDATES))
        if same and inner[0] and (named or len(obj) > len(inner[0])):
            # One object per row, keyed by a row id (pandas orient="index", an "id -> record" export).
            return pd.DataFrame(list(obj.values()), dtype=object)
        # One object per column, keyed by row (pandas orient="columns", to_json's default).
        frame = pd.DataFrame({k: pd.Series(v, dtype=object) for k, v in obj.items()}, dtype=object)
        return frame.reset_index(drop=True)
    if keys and all(isinstance(v, list) for v in obj.values()) and len({len(v) for v in obj.values()}) == 1:
        return pd.DataFrame(obj, dtype=object)  # one list of values per column
    raise DataError(f"'{name}' is a JSON object (keys: {shown}) with no list of rows in it: give a list of objects, "
                    "or JSON Lines with one object per line.")
