"""What bytes a file holds, and its text: magic numbers, compression, encodings and delimiters.

The part of reading a file that needs no table: the diagnosis reads other tools' logs with it, and
:mod:`justfit.data.formats` builds tables on it. Compressed files (gzip, bz2, xz, zstd, a zip with one
member) are opened; files that are not text (a workbook, a PDF, a database, an image) are refused in one
line saying what they are. Text is decoded by :mod:`justfit.data.encoding`."""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import lzma
import zipfile
from pathlib import Path

from justfit.data.encoding import decode
from justfit.errors import DataError

SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
            ".json": "json", ".parquet": "parquet", ".pq": "parquet",
            # CoNLL-style token/tag files (token classification: justfit.tasks.tagging.data)
            ".conll": "conll", ".iob": "conll", ".iob2": "conll", ".bio": "conll", ".bioes": "conll", ".ner": "conll",
            ".txt": "conll"}

COMPRESSED = {".gz": "gzip", ".gzip": "gzip", ".bz2": "bz2", ".xz": "xz", ".zst": "zstd", ".zstd": "zstd",
              ".zip": "zip"}

DELIMITERS = ",;\t|"

MAGIC = (
    (b"PK\x03\x04", "zip"), (b"PK\x05\x06", "zip"),
    (b"\x1f\x8b", "gzip"), (b"BZh", "bz2"), (b"\xfd7zXZ\x00", "xz"), (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"PAR1", "parquet"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "ole"), (b"%PDF", "pdf"), (b"SQLite format 3\x00", "sqlite"),
    (b"ARROW1", "arrow"), (b"\x89PNG", "png"), (b"\xff\xd8\xff", "jpeg"), (b"{\\rtf", "rtf"),
)

_NOT_TABLES = {
    "xlsx": "an Excel workbook (xlsx)", "ole": "an old-style Office file (Excel xls or Word doc)",
    "ods": "an OpenDocument spreadsheet (ods)", "docx": "a Word document (docx)", "pdf": "a PDF document",
    "sqlite": "an SQLite database", "arrow": "an Arrow/Feather file", "png": "a PNG image", "jpeg": "a JPEG image",
    "rtf": "an RTF document",
}


def expected_kind(p: Path) -> tuple[str | None, str | None]:
    """(table format the name suggests, compression the name suggests), e.g. ``x.csv.gz`` -> (csv, gzip)."""
    suffixes = [s.lower() for s in p.suffixes]
    comp = COMPRESSED.get(suffixes[-1]) if suffixes else None
    inner = suffixes[-2] if comp and len(suffixes) > 1 else (suffixes[-1] if suffixes and not comp else None)
    return SUFFIXES.get(inner or ""), comp


def sniff_magic(head: bytes) -> str | None:
    """The container or file type the first bytes announce (``zip``, ``gzip``, ``parquet``, ``pdf``, ...)."""
    return next((kind for magic, kind in MAGIC if head.startswith(magic)), None)


def read_text_file(p: Path, encoding: str | None = None) -> str:
    """The decoded text of ``p`` (a log, a JSON or CSV file read as text): byte-order marks, UTF-8 or the
    detected encoding (:mod:`justfit.data.encoding`), compressed files opened. Raises ``DataError`` (one
    line) for files that are not text (an archive, a PDF, a workbook, binary data)."""

    raw = p.read_bytes()
    magic = sniff_magic(raw[:8])
    if magic in ("gzip", "bz2", "xz", "zstd", "zip"):
        raw, _ = _decompress(p, magic)
        magic = sniff_magic(raw[:8])
    if magic == "parquet" or magic in _NOT_TABLES or magic in ("zip", "gzip", "bz2", "xz", "zstd"):
        _refuse(p.name, magic, None)
    return decode(raw, p.name, encoding)[0]


def _refuse(name: str, magic: str, kind: str | None, inside: str | None = None) -> None:
    what = _NOT_TABLES.get(magic, f"{magic}-compressed")
    as_what = {"csv": "CSV", "tsv": "TSV", "json": "JSON", "jsonl": "JSON Lines", "parquet": "Parquet"}.get(kind or "")
    where = f"'{name}' holds {what} inside {inside} compression" if inside else f"'{name}' is {what}"
    todo = {"xlsx": "save it as CSV UTF-8, or convert with pandas.read_excel",
            "ole": "save it as CSV UTF-8, or convert with pandas.read_excel",
            "ods": "save it as CSV UTF-8, or convert with pandas.read_excel",
            "arrow": "convert it with pandas.read_feather(...).to_parquet(...)"}.get(
        magic, "export the labelled table as CSV, JSON Lines or Parquet")
    raise DataError(f"{where}{', not ' + as_what if as_what else ''}: {todo}.")


def _decompress(p: Path, magic: str) -> tuple[bytes, str | None]:
    """The decompressed bytes and, for a zip, the member's name. Refuses archives that are not one data file."""
    if magic == "zip":
        try:
            zf = zipfile.ZipFile(p)
        except zipfile.BadZipFile:
            raise DataError(f"'{p.name}' starts like a zip archive but is damaged: re-create or re-download it.") \
                from None
        with zf:
            names = zf.namelist()
            if "xl/workbook.xml" in names:
                _refuse(p.name, "xlsx", expected_kind(p)[0])
            if "word/document.xml" in names:
                _refuse(p.name, "docx", expected_kind(p)[0])
            if "content.xml" in names and "mimetype" in names:
                _refuse(p.name, "ods", expected_kind(p)[0])
            members = [n for n in names if not n.endswith("/") and not n.startswith("__MACOSX/")
                       and not Path(n).name.startswith(".")]
            if len(members) != 1:
                shown = ", ".join(members[:5]) + (f" and {len(members) - 5} more" if len(members) > 5 else "")
                raise DataError(f"'{p.name}' is a zip archive with {len(members)} files ({shown or 'none'}); justfit "
                                "reads a zip holding exactly one data file: extract the one you mean and pass it.")
            return zf.read(members[0]), members[0]
    if magic == "zstd":
        try:
            import zstandard
        except ImportError:
            raise DataError(f"'{p.name}' is zstd-compressed and the package 'zstandard' is not installed: "
                            "pip install zstandard, or decompress it (unzstd) first.") from None
        with open(p, "rb") as fh:
            return zstandard.ZstdDecompressor().stream_reader(fh).read(), None
    opener = {"gzip": gzip.open, "bz2": bz2.open, "xz": lzma.open}[magic]
    try:
        with opener(p, "rb") as fh:
            return fh.read(), None
    except (OSError, EOFError, lzma.LZMAError) as exc:
        raise DataError(f"'{p.name}' is {magic}-compressed but cannot be decompressed ({exc}): it is damaged or "
                        "truncated; re-create it.") from None

# ----------------------------------------------------------------------------- delimited text


def sniff_delimiter(text: str, default: str = ",") -> str:
    """The delimiter of a delimited text, among ``, ; tab |``: ``csv.Sniffer`` on the first lines, checked
    against the header (a delimiter the header does not contain is not the file's). ``default`` when
    nothing is clear (e.g. a one-column file)."""
    sample = text[:64 * 1024]
    if len(text) > len(sample) and "\n" in sample:
        sample = sample[:sample.rindex("\n")]

    def header_fields(sep: str) -> int:
        try:
            return len(next(csv.reader(io.StringIO(sample), delimiter=sep)))
        except (csv.Error, StopIteration):
            return 0

    try:
        sniffed = csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        sniffed = None
    if sniffed is not None and (sniffed == default or header_fields(sniffed) >= 2):
        return sniffed
    # The sniffer found no consistent delimiter: take the one that splits the header, if one does.
    counts = {sep: header_fields(sep) for sep in DELIMITERS}
    best = max(DELIMITERS, key=lambda sep: (counts[sep], sep == default))
    return best if counts[best] >= 2 and counts[default] < 2 else default
