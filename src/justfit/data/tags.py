"""Tag sequences of token classification: schemes, repairs, entities, and character spans.

A tag is ``O`` (outside), ``<prefix>-<type>`` with a prefix of ``B`` (begin), ``I`` (inside),
``E`` (end) or ``S`` (single), or a bare type (``PER``, the IO scheme without prefixes).
The scheme of a data set is detected from the prefixes it uses: ``BIOES`` (some ``E-``/``S-``),
``BIO`` (some ``B-``), or ``IO`` (only ``I-``/bare types). Entities are read from tags by
``seqeval`` (``get_entities``, the conlleval reading), after the tags are made *canonical*:
bare types become ``I-<type>`` and a sequence that breaks its scheme is repaired the way
conlleval reads it (an ``I-X`` that does not continue an ``X`` entity begins one). The word
splitter is tokenizer-independent (words, numbers and single punctuation marks), so character
spans convert to the same tags whichever model is fine-tuned.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

OUTSIDE = "O"
PREFIXES = ("B", "I", "E", "S")
_TAG = re.compile(r"^([BIESbies])[-_](.+)$")
# Words (letters and digits, with inner apostrophes or hyphens), URLs, @mentions and #hashtags, or
# any other single non-space character.
_WORD = re.compile(r"(?:https?://|www\.)\S+|[@#]?[^\W_]+(?:['’\-][^\W_]+)*|\S")


def split_tag(tag: str) -> tuple[str, str]:
    """``(prefix, type)`` of a tag: ``("O", "")`` for outside, ``("I", type)`` for a bare type."""
    if tag in (OUTSIDE, "o"):
        return OUTSIDE, ""
    m = _TAG.match(tag)
    if m:  # b-per is B-per: the prefix in any case (the type as given)
        return m.group(1).upper(), m.group(2)
    return "I", tag


def entity_types(tags: Iterable[str]) -> list[str]:
    """The sorted entity types named by ``tags``."""
    return sorted({split_tag(t)[1] for t in tags if t != OUTSIDE})


def detect_scheme(sequences: Iterable[Sequence[str]]) -> str:
    """``"BIOES"``, ``"BIO"`` or ``"IO"``: the richest scheme whose prefixes the tags use."""
    prefixes = {split_tag(t)[0] for seq in sequences for t in seq}
    if prefixes & {"E", "S"}:
        return "BIOES"
    if "B" in prefixes:
        return "BIO"
    return "IO"


@dataclass
class Repair:
    """One change that made a sequence valid: the word position, the tag given and the tag used."""

    position: int
    given: str
    fixed: str

    def describe(self) -> str:
        return f"word {self.position + 1}: {self.given} -> {self.fixed}"


def canonical(tags: Sequence[str], scheme: str = "BIO") -> tuple[list[str], list[Repair]]:
    """The tags with bare types written ``I-<type>`` and broken sequences repaired, and the repairs.

    BIO/IO: an ``I-X`` after ``O`` or after another type begins an entity (``B-X``), as conlleval
    reads it. BIOES: the same for ``I-``/``E-`` that do not continue an ``X`` entity (``B-``/``S-``),
    and an entity left open (``B-``/``I-`` not followed by ``I-``/``E-`` of its type) is closed
    (``B-`` -> ``S-``, ``I-`` -> ``E-``). IO data is written as BIO (each run of a type one entity).
    Writing bare types with a prefix is not counted as a repair."""
    out: list[str] = []
    repairs: list[Repair] = []
    for i, tag in enumerate(tags):
        prefix, kind = split_tag(tag)
        written = OUTSIDE if prefix == OUTSIDE else f"{prefix}-{kind}"
        if prefix in ("I", "E"):
            prev_prefix, prev_kind = split_tag(out[-1]) if out else (OUTSIDE, "")
            continues = prev_kind == kind and prev_prefix in ("B", "I")
            if not continues:
                new = f"{'S' if prefix == 'E' else 'B'}-{kind}"
                if scheme != "IO":  # in IO data every run of a type begins with an I-
                    repairs.append(Repair(i, tag, new))
                written = new
        out.append(written)
    if scheme == "BIOES":
        for i, tag in enumerate(out):
            prefix, kind = split_tag(tag)
            if prefix in ("B", "I"):
                nxt = split_tag(out[i + 1]) if i + 1 < len(out) else (OUTSIDE, "")
                if not (nxt[1] == kind and nxt[0] in ("I", "E")):
                    new = f"{'S' if prefix == 'B' else 'E'}-{kind}"
                    repairs.append(Repair(i, tags[i], new))
                    out[i] = new
    return out, repairs


@dataclass(frozen=True)
class Entity:
    """An entity over words ``start`` to ``end`` (exclusive) of one sentence."""

    type: str
    start: int
    end: int

    def as_dict(self, words: Sequence[str] | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "start": self.start, "end": self.end}
        if words is not None:
            out["text"] = " ".join(words[self.start:self.end])
        return out


def entities(tags: Sequence[str]) -> list[Entity]:
    """The entities of one tag sequence (any scheme), by seqeval's ``get_entities`` on the canonical tags."""
    from seqeval.metrics.sequence_labeling import get_entities

    fixed, _ = canonical(list(tags), "BIOES" if any(split_tag(t)[0] in ("E", "S") for t in tags) else "BIO")
    return [Entity(kind, start, end + 1) for kind, start, end in get_entities(fixed)]


def to_scheme(spans: Sequence[Entity], n: int, scheme: str = "BIO") -> list[str]:
    """Tags for ``n`` words with the entities ``spans`` (non-overlapping), in ``scheme``."""
    tags = [OUTSIDE] * n
    for e in spans:
        for i in range(e.start, e.end):
            if scheme == "IO":
                tags[i] = f"I-{e.type}"
            elif scheme == "BIOES" and e.end - e.start == 1:
                tags[i] = f"S-{e.type}"
            elif i == e.start:
                tags[i] = f"B-{e.type}"
            elif scheme == "BIOES" and i == e.end - 1:
                tags[i] = f"E-{e.type}"
            else:
                tags[i] = f"I-{e.type}"
    return tags


def in_scheme(tags: Sequence[str], scheme: str = "BIO") -> list[str]:
    """``tags`` rewritten in ``scheme``: the entities they hold (conlleval's reading) tagged BIO or BIOES, so
    sequences in different schemes compare entity for entity."""
    return to_scheme(entities(list(tags)), len(tags), scheme)


# ----------------------------------------------------------------------------- words and character spans
def split_words(text: str, cuts: Iterable[int] = ()) -> list[tuple[int, int]]:
    """Character ``(start, end)`` of each word of ``text``: words, numbers, URLs, @mentions and
    #hashtags, and single punctuation marks; a word is also cut at each offset in ``cuts`` (entity
    boundaries), so entity spans always fall on word boundaries."""
    cut = sorted({int(c) for c in cuts})
    out: list[tuple[int, int]] = []
    for m in _WORD.finditer(text):
        start, end = m.start(), m.end()
        inner = [c for c in cut if start < c < end]
        for a, b in zip([start, *inner], [*inner, end], strict=True):
            if text[a:b].strip():
                out.append((a, b))
    return out


@dataclass
class SpanProblem:
    """A character span that could not be used as given."""

    span: tuple[int, int, str]
    reason: str


def spans_to_tags(text: str, spans: Sequence[tuple[int, int, str]],
                  scheme: str = "BIO") -> tuple[list[str], list[str], list[SpanProblem]]:
    """Words, tags and problems for ``text`` with entity ``spans`` (character ``(start, end, type)``,
    end exclusive, as spaCy and Label Studio give them).

    Words are :func:`split_words` cut at the span boundaries. A span outside the text, empty, or
    covering only spaces is skipped; a span overlapping an earlier (longer-first) one is skipped;
    both are returned as problems."""
    problems: list[SpanProblem] = []
    good: list[tuple[int, int, str]] = []
    for start, end, kind in sorted(spans, key=lambda s: (s[0], -(s[1] - s[0]))):
        if not (0 <= start < end <= len(text)) or not text[start:end].strip():
            problems.append(SpanProblem((start, end, kind), f"outside the text (length {len(text)}) or empty"))
            continue
        if good and start < good[-1][1]:
            problems.append(SpanProblem((start, end, kind), f"overlapping the span {list(good[-1][:2])} ({good[-1][2]})"))
            continue
        good.append((start, end, str(kind)))
    offsets = split_words(text, [c for s in good for c in s[:2]])
    words = [text[a:b] for a, b in offsets]
    found: list[Entity] = []
    for start, end, kind in good:
        inside = [i for i, (a, b) in enumerate(offsets) if a >= start and b <= end]
        if inside:
            found.append(Entity(kind, inside[0], inside[-1] + 1))
    return words, to_scheme(found, len(words), scheme), problems
