"""Decoding the bytes of a text data file: a byte-order mark, strict UTF-8, else charset-normalizer.

Order of trust:

1. an explicit encoding (``data.encoding``): used as given, strictly;
2. a byte-order mark (UTF-8, UTF-16 LE/BE, UTF-32 LE/BE);
3. strict UTF-8, the encoding of nearly every file written today;
4. charset-normalizer's detection. Among single-byte Latin encodings, short samples are
   ambiguous (cp775 and cp1250 read most Western text as well as cp1252 does), so Windows-1252
   is preferred whenever it decodes the file and reads it about as cleanly as the detector's
   pick: it is what Excel writes on Western Windows, and unlike Latin-1 it maps 0x80-0x9F to
   printable characters (quotes, dashes, the euro sign) instead of C1 control characters.

A file that none of these decode, or that decodes to text holding NUL characters, is refused
with a one-line :class:`~justfit.errors.DataError` naming the ``data.encoding`` option.
"""

from __future__ import annotations

import codecs

from justfit.errors import DataError, DataQualityWarning

BOMS = (  # longest first: the UTF-32 LE mark starts with the UTF-16 LE one
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Single-byte encodings of Latin script, where the detector's choice on a short sample is a guess.
_LATIN = {"latin_1", "iso8859_15", "cp1252", "cp1250", "cp1257", "cp775", "cp850", "cp852", "cp437", "cp858",
          "iso8859_2", "iso8859_3", "iso8859_4", "iso8859_9", "iso8859_10", "iso8859_13", "iso8859_14",
          "iso8859_16", "mac_roman", "mac_latin2", "mac_iceland", "mac_turkish", "cp1254", "cp865", "cp860",
          "cp863", "cp861", "hp_roman8", "cp500", "cp1140", "cp037", "cp273", "cp1026"}
_CLEAN_ENOUGH = 0.1  # how much messier than the detector's pick cp1252 may read and still be chosen
HINT = "set the file's encoding with data.encoding (e.g. --set data.encoding=cp1252)"


def check_codec(name: str) -> str:
    """Return ``name`` if Python knows it as a text codec; raise ``ValueError`` (for config validation) otherwise."""
    try:
        info = codecs.lookup(name)
    except LookupError:
        raise ValueError(f"unknown encoding '{name}'; use a Python codec name such as utf-8, cp1252, latin-1 or "
                         "utf-16, or leave it unset to detect it") from None
    if not getattr(info, "_is_text_encoding", True):
        raise ValueError(f"'{name}' is not a text encoding; use one such as utf-8, cp1252, latin-1 or utf-16")
    return name


def bom_encoding(raw: bytes) -> str | None:
    """The encoding a byte-order mark at the start of ``raw`` announces, or ``None``."""
    return next((enc for bom, enc in BOMS if raw.startswith(bom)), None)


def _after_bom(raw: bytes, bom: str) -> tuple[bytes, str]:
    """The bytes after the mark, and the codec that decodes them."""
    mark = next(b for b, enc in BOMS if enc == bom)
    return raw[len(mark):], "utf-8" if bom == "utf-8-sig" else bom


def _family(enc: str) -> str:
    return "-".join(codecs.lookup(enc).name.split("-")[:2])


def decode(raw: bytes, name: str, encoding: str | None = None) -> tuple[str, str]:
    """Decode a whole file's bytes; return ``(text, encoding used)``. A byte-order mark is dropped.

    ``name`` is the file's name, for messages. Raises ``DataError`` (one line, naming
    ``data.encoding``) when the given encoding does not decode the bytes, when no encoding
    does, or when the text holds NUL characters (binary data, not text).
    """
    bom = bom_encoding(raw)
    if encoding:
        body, enc = raw, encoding
        if bom and _family(bom) == _family(encoding):
            body, enc = _after_bom(raw, bom)  # utf-8 given, a UTF-8 mark found: drop it, keep no U+FEFF
        try:
            text = body.decode(enc)
        except UnicodeDecodeError as exc:
            raise DataError(
                f"'{name}' is not valid {encoding} text (byte 0x{body[exc.start]:02x} at offset {exc.start}): "
                f"set the right encoding with data.encoding (e.g. --set data.encoding=cp1252), or unset "
                "data.encoding to detect it."
            ) from None
        return _no_nul(text, name, encoding), encoding
    if bom:
        body, enc = _after_bom(raw, bom)
        try:
            return _no_nul(body.decode(enc), name, bom), bom
        except UnicodeDecodeError:
            pass  # a mark by accident: let the detector decide
    if b"\x00" not in raw:
        try:
            return raw.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            mixed = _mostly_utf8(raw, name)
            if mixed is not None:
                return mixed
    return _detect(raw, name)


MIXED_SHARE = 0.05  # at most this share of lines may be in another encoding for a file to count as UTF-8


def _mostly_utf8(raw: bytes, name: str) -> tuple[str, str] | None:
    """A UTF-8 file with a few lines pasted in from a Windows-1252 source (one export appended to
    another): the UTF-8 lines as they are, the others as cp1252 (Latin-1 where cp1252 has no
    character), and a ``DataQualityWarning`` naming them. ``None`` when the file is not mostly UTF-8:
    more than ``MIXED_SHARE`` of its lines fail, or none of the lines that decode holds a multi-byte
    character (nothing then says UTF-8 rather than a single-byte code page)."""
    import warnings

    lines = raw.split(b"\n")
    out, bad, multibyte = [], [], False
    for i, line in enumerate(lines, start=1):
        try:
            text = line.decode("utf-8")
            multibyte = multibyte or any(b >= 0x80 for b in line)
        except UnicodeDecodeError:
            bad.append(i)
            try:
                text = line.decode("cp1252")
            except UnicodeDecodeError:
                text = line.decode("latin-1")
        out.append(text)
    if not multibyte:
        return None
    if len(bad) > max(1, MIXED_SHARE * len(lines)):
        # Valid UTF-8 multi-byte characters on some lines, invalid bytes on many others: two encodings in one
        # file, which no single data.encoding reads.
        raise DataError(f"'{name}' mixes UTF-8 with another encoding: {len(bad)} of {len(lines)} lines are not valid "
                        f"UTF-8 (first: line {bad[0]}) while others hold UTF-8 characters. Re-save the file as UTF-8 "
                        "from its source, or fix those lines.")
    shown = ", ".join(map(str, bad[:5])) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
    warnings.warn(f"'{name}' is UTF-8 except {len(bad)} line(s) ({shown}), which are not valid UTF-8 and were read as "
                  "Windows-1252; check those rows, or set data.encoding.", DataQualityWarning, stacklevel=4)
    return "\n".join(out), "utf-8 (with cp1252 lines)"


def _detect(raw: bytes, name: str) -> tuple[str, str]:
    from charset_normalizer import from_bytes

    matches = list(from_bytes(raw))
    candidates = [m.encoding for m in matches]
    if matches and matches[0].encoding in _LATIN and "cp1252" not in candidates[:1]:
        from charset_normalizer.md import mess_ratio

        try:
            as_1252 = raw.decode("cp1252")
        except UnicodeDecodeError:
            as_1252 = None
        if as_1252 is not None and mess_ratio(as_1252, 1.0) <= matches[0].chaos + _CLEAN_ENOUGH:
            candidates.insert(0, "cp1252")
    for enc in dict.fromkeys(candidates):
        if enc == "latin_1" and "cp1252" not in candidates:
            # cp1252 is a superset of Latin-1's printable range; it only fails on its five unused bytes.
            try:
                text, used = raw.decode("cp1252"), "cp1252"
            except UnicodeDecodeError:
                text, used = raw.decode("latin-1"), "latin-1"
        else:
            try:
                text, used = raw.decode(enc), codecs.lookup(enc).name
            except (UnicodeDecodeError, LookupError):
                continue
        if "\x00" in text:
            continue
        return text, used
    head = raw[:65536]
    controls = sum(head.count(bytes([c])) for c in range(32) if c not in (9, 10, 12, 13))
    if b"\x00" in head or controls > len(head) // 20:
        raise DataError(f"'{name}' holds binary data (NUL or control bytes), not text: give a CSV/TSV/JSON Lines/Parquet file, "
                        f"or if it is text in an unusual encoding, {HINT}.")
    raise DataError(f"Cannot tell the text encoding of '{name}' (not UTF-8, and no encoding decodes it cleanly): "
                    f"{HINT}.")


def _no_nul(text: str, name: str, enc: str) -> str:
    if "\x00" in text:
        raise DataError(f"'{name}' decoded as {enc} holds NUL characters, so it is binary data or another encoding: "
                        f"{HINT}, or give a CSV/TSV/JSON Lines/Parquet file.")
    return text
