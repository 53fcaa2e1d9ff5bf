"""Tag sequences of token classification: schemes, repairs, entities, and character spans.

A tag is ``O`` (outside), ``<prefix>-<type>`` (``_`` also separates, as seqeval's ``delimiter``
allows), a bare prefix (``B``, ``I``, ...: chunks without a type, as in chunking or keyphrase
data, which seqeval names ``_``), or a bare type (``PER``: the IO scheme without prefixes). The
prefix is the part before the first separator, and only when it is a scheme's letter (``B``,
``I``, ``E``, ``S``, ``L``, ``U``): ``B-creative-work`` is a ``B`` of the type ``creative-work``.

The scheme of a file is detected from its tags, named as seqeval's ``seqeval.scheme`` names them
(and Ramshaw & Marcus / Tjong Kim Sang & Veenstra 1999 define them): ``IOB1`` (``I-`` begins a
chunk, ``B-`` only between adjacent chunks of one type), ``IOB2`` (every chunk begins with
``B-``), ``IOE1``/``IOE2`` (the same with ``E-`` at the end), ``IOBES`` (``S-`` single, ``E-``
end) and ``BILOU`` (spaCy's ``U-``/``L-``), plus ``IO`` (only ``I-`` or bare types). A file whose
tags mix schemes (``S-`` with ``U-``, typed with untyped chunks, bare types with prefixed ones), or
that uses another prefix letter, is refused with its first offending tag.

Entities are read from tags by seqeval's ``get_entities`` (the conlleval reading, which reads
IOB1, IOB2, IOE1, IOE2 and IOBES alike; BILOU's ``L``/``U`` are its ``E``/``S``). A model is
trained on tags written in one scheme per family (:data:`MODEL_SCHEME`: IOB data as IOB2, IOE
as IOE2, IOBES and BILOU as given); a sequence that breaks its file's scheme is repaired the
way conlleval reads it (an ``I-X`` that does not continue an ``X`` entity begins one). The word
splitter is tokenizer-independent (words, numbers and single punctuation marks), so character
spans convert to the same tags whichever model is fine-tuned.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from justfit.errors import DataError

OUTSIDE = "O"
UNTYPED = "_"  # seqeval's type of a chunk tag without one (scheme.Token, get_entities: a bare "B" is "_")
PREFIXES = ("B", "I", "E", "S", "L", "U")
SCHEMES = ("IO", "IOB1", "IOB2", "IOE1", "IOE2", "IOBES", "BILOU")
# The scheme a model is trained, predicts and is scored in, for data in each scheme: one per family,
# the one whose every chunk is marked (IOB1 and IO data hold the same chunks written as IOB2).
MODEL_SCHEME = {"IO": "IOB2", "IOB1": "IOB2", "IOB2": "IOB2", "IOE1": "IOE2", "IOE2": "IOE2", "IOBES": "IOBES",
                "BILOU": "BILOU"}
# Other spellings of the names (justfit's earlier BIO/BIOES, spaCy's BILUO, flair's BIOES).
_ALIASES = {"BIO": "IOB2", "IOB": "IOB2", "BIOES": "IOBES", "BILUO": "BILOU", "BIOUL": "BILOU"}
_PREFIXED = re.compile(r"^([A-Za-z])[-_](.*)$")
_CONLLEVAL = {"L": "E", "U": "S"}  # BILOU's letters as conlleval (and seqeval's default mode) reads them
# Words (letters and digits, with inner apostrophes or hyphens), URLs, @mentions and #hashtags, or
# any other single non-space character.
_WORD = re.compile(r"(?:https?://|www\.)\S+|[@#]?[^\W_]+(?:['’\-][^\W_]+)*|\S")


def scheme_name(scheme: str) -> str:
    """The seqeval name of ``scheme`` (``BIO`` is ``IOB2``, ``BIOES`` is ``IOBES``, ``BILUO`` is ``BILOU``).

    Raises ``ValueError`` for a name that is no scheme (a programming error: schemes come from
    :func:`detect_scheme`)."""
    name = _ALIASES.get(str(scheme).upper(), str(scheme).upper())
    if name not in SCHEMES:
        raise ValueError(f"unknown tag scheme {scheme!r}; the schemes are {', '.join(SCHEMES)}")
    return name


def tag_form(tag: str) -> str:
    """What a tag is: ``outside``, ``typed`` (``B-PER``), ``untyped`` (``B``), ``bare`` (a type without a
    prefix, ``PER``) or ``unknown`` (a single letter before a separator that is no scheme's prefix)."""
    if tag in (OUTSIDE, "o"):
        return "outside"
    if len(tag) == 1 and tag.upper() in PREFIXES:
        return "untyped"
    m = _PREFIXED.match(tag)
    if m:
        if m.group(1).upper() not in PREFIXES:
            return "unknown"
        return "typed" if m.group(2) else "untyped"
    return "bare"


def split_tag(tag: str) -> tuple[str, str]:
    """``(prefix, type)`` of a tag: ``("O", "")`` for outside, ``(prefix, "_")`` for a bare prefix (an
    untyped chunk, seqeval's ``_``), ``("I", tag)`` for a bare type. The prefix is read in any case
    (``b-per`` is ``B`` of ``per``), only before the first ``-`` or ``_``, and only when it is one of
    :data:`PREFIXES`: ``B-creative-work`` is ``("B", "creative-work")``."""
    form = tag_form(tag)
    if form == "outside":
        return OUTSIDE, ""
    if form == "untyped":
        return tag[0].upper(), UNTYPED
    if form == "typed":
        return tag[0].upper(), tag[2:]  # one letter, one separator, the type
    return "I", tag


def tag_name(prefix: str, kind: str) -> str:
    """The tag of ``prefix`` and ``kind`` as justfit writes it: ``O``, ``B`` for an untyped chunk, ``B-PER``."""
    if prefix == OUTSIDE:
        return OUTSIDE
    return prefix if kind == UNTYPED else f"{prefix}-{kind}"


def normal_tag(tag: str) -> str:
    """``tag`` written as justfit writes it (prefix upper case, ``-`` separator, ``I-`` before a bare type)."""
    return tag_name(*split_tag(tag))


def entity_types(tags: Iterable[str]) -> list[str]:
    """The sorted entity types named by ``tags`` (``_`` for untyped chunks)."""
    return sorted({split_tag(t)[1] for t in tags if split_tag(t)[0] != OUTSIDE})


# ----------------------------------------------------------------------------- scheme detection
def _at(i: int, j: int) -> str:
    return f"sentence {i + 1}, word {j + 1}"


_FORM_WORDS = {"typed": "a typed chunk tag", "untyped": "a chunk tag without a type",
               "bare": "a type without a prefix (IO)"}


def _check_forms(sequences: list[list[str]], where: str, locate: Callable[[int, int], str]) -> set[str]:
    """The prefix letters the tags use; ``DataError`` at the first tag with an unknown prefix, or that
    mixes typed, untyped and unprefixed tags, or IOBES's ``E``/``S`` with BILOU's ``L``/``U``."""
    first_form: dict[str, tuple[str, int, int]] = {}
    first_family: dict[str, tuple[str, int, int]] = {}
    letters: set[str] = set()
    for i, seq in enumerate(sequences):
        for j, tag in enumerate(seq):
            form = tag_form(tag)
            if form == "outside":
                continue
            here = locate(i, j)
            if form == "unknown":
                raise DataError(f"{here[0].upper() + here[1:]} of {where} has the tag {tag!r}, whose prefix "
                                f"'{tag[0]}' is no tag scheme's (B, I, E, S, L, U with O: IOB1, IOB2, IOE1, IOE2, "
                                "IOBES, BILOU). Fix the tag, or give types without prefixes (PER, LOC) throughout.")
            other = next((f for f in first_form if f != form), None)
            if other is not None:
                t0, i0, j0 = first_form[other]
                raise DataError(f"{here[0].upper() + here[1:]} of {where} has {tag!r}, {_FORM_WORDS[form]}, but "
                                f"{locate(i0, j0)} has {t0!r}, {_FORM_WORDS[other]}: one file takes one tag scheme. "
                                "Write every tag one way (B-PER, I-PER, O; or B, I, O for chunks without types).")
            first_form.setdefault(form, (tag, i, j))
            prefix = split_tag(tag)[0]
            letters.add(prefix)
            family = "BILOU" if prefix in ("L", "U") else "IOBES" if prefix in ("E", "S") else ""
            if family:
                clash = "IOBES" if family == "BILOU" else "BILOU"
                if clash in first_family:
                    t0, i0, j0 = first_family[clash]
                    raise DataError(f"{here[0].upper() + here[1:]} of {where} has {tag!r} ({family}'s "
                                    f"{'L-/U-' if family == 'BILOU' else 'E-/S-'}), but {locate(i0, j0)} has "
                                    f"{t0!r} ({clash}'s): one file takes one tag scheme. Write its tags in one "
                                    "scheme (IOBES: S- single, E- end; or BILOU: U- single, L- last).")
                first_family.setdefault(family, (tag, i, j))
    return letters


def _marks_between_only(sequences: list[list[str]], mark: str, forward: bool) -> tuple[bool, bool]:
    """For IOB (``mark`` ``B``, ``forward``) or IOE (``E``, backward): ``(plain_edges, fresh_marks)``: does
    some chunk begin (end) with a plain ``I`` rather than the mark, and does some mark stand at a chunk
    edge that no chunk of its type touches (where IOB1/IOE1 would not write it)?"""
    plain_edge = fresh = False
    for seq in sequences:
        tags = [split_tag(t) for t in (seq if forward else reversed(seq))]
        prev = (OUTSIDE, "")
        for prefix, kind in tags:
            joined = prev[0] in ("I", mark) and prev[1] == kind
            if prefix == "I" and not joined:
                plain_edge = True
            if prefix == mark and not joined:
                fresh = True
            prev = (prefix, kind)
    return plain_edge, fresh


def detect_scheme(sequences: Iterable[Sequence[str]], where: str = "the data",
                  locate: Callable[[int, int], str] = _at) -> str:
    """The tag scheme of ``sequences`` (one list of tags per sentence), by seqeval's names: ``IOB1``,
    ``IOB2``, ``IOE1``, ``IOE2``, ``IOBES``, ``BILOU``, or ``IO`` (only ``I-`` or bare types, or no entity).

    ``L``/``U`` make BILOU, ``S`` (or ``B`` with ``E``) IOBES, ``E`` IOE, ``B`` IOB. IOB1 is told from
    IOB2 by where ``B`` stands: IOB1 when some chunk begins with ``I`` and every ``B`` follows a chunk of
    its own type; data where both ``I``-begun chunks and ``B`` at fresh chunks occur is IOB2 with broken
    sequences (repaired by :func:`canonical`). IOE1/IOE2 the same way, reading backwards.

    Raises ``DataError`` (naming ``locate(sentence, word)`` of the first offending tag) for a prefix
    letter no scheme has, or tags that mix schemes (typed with untyped chunks, prefixed with bare
    types, IOBES's ``E``/``S`` with BILOU's ``L``/``U``)."""
    seqs = [list(s) for s in sequences]
    letters = _check_forms(seqs, where, locate)
    if letters & {"L", "U"}:
        return "BILOU"
    if "S" in letters or {"B", "E"} <= letters:
        return "IOBES"
    for mark, forward in (("E", False), ("B", True)):
        if mark in letters:
            plain_edge, fresh = _marks_between_only(seqs, mark, forward)
            return f"IO{mark}1" if plain_edge and not fresh else f"IO{mark}2"
    return "IO"


@dataclass
class Repair:
    """One change that made a sequence valid: the word position, the tag given and the tag used."""

    position: int
    given: str
    fixed: str

    def describe(self) -> str:
        return f"word {self.position + 1}: {self.given} -> {self.fixed}"


def canonical(tags: Sequence[str], scheme: str = "IOB2") -> tuple[list[str], list[Repair]]:
    """``tags`` (of data in ``scheme``) written in the model's scheme (:data:`MODEL_SCHEME`), and the
    repairs: the words whose tag breaks ``scheme`` itself.

    The entities are read as conlleval reads them (:func:`entities`: an ``I-X`` or ``E-X`` that does not
    continue an ``X`` entity begins one; ``B-X`` not followed by its ``I-``/``E-`` is a one-word entity
    in IOBES), then written back in ``scheme``: each word whose tag differs from that is a repair.
    Writing IO or IOB1 data as IOB2 (IOE1 as IOE2), bare types with ``I-``, a lower-case prefix or a
    ``_`` separator is not a repair."""
    scheme = scheme_name(scheme)
    found = entities(tags)
    own = to_scheme(found, len(tags), scheme)
    repairs = [Repair(i, t, o) for i, (t, o) in enumerate(zip(tags, own, strict=True)) if normal_tag(t) != o]
    model = MODEL_SCHEME[scheme]
    return (own if model == scheme else to_scheme(found, len(tags), model)), repairs


@dataclass(frozen=True)
class Entity:
    """An entity over words ``start`` to ``end`` (exclusive) of one sentence (``type`` ``_`` when untyped)."""

    type: str
    start: int
    end: int

    def as_dict(self, words: Sequence[str] | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "start": self.start, "end": self.end}
        if words is not None:
            out["text"] = " ".join(words[self.start:self.end])
        return out


def entities(tags: Sequence[str]) -> list[Entity]:
    """The entities of one tag sequence (any scheme): seqeval's ``get_entities`` (the conlleval reading)
    on the tags as justfit writes them, BILOU's ``L``/``U`` read as ``E``/``S``."""
    from seqeval.metrics.sequence_labeling import get_entities

    lenient = []
    for tag in tags:
        prefix, kind = split_tag(tag)
        lenient.append(tag_name(_CONLLEVAL.get(prefix, prefix), kind))
    return [Entity(kind, start, end + 1) for kind, start, end in get_entities(lenient)]


def _prefixes(scheme: str, length: int, after_same: bool, before_same: bool) -> list[str]:
    """The prefixes of an entity of ``length`` words in ``scheme``; ``after_same``/``before_same``: an
    entity of its type ends right before it / begins right after it (what IOB1/IOE1 mark)."""
    inner = ["I"] * length
    if scheme in ("IOBES", "BILOU"):
        single, last = ("S", "E") if scheme == "IOBES" else ("U", "L")
        return [single] if length == 1 else ["B", *inner[1:-1], last]
    if scheme == "IOB2" or (scheme == "IOB1" and after_same):
        return ["B", *inner[1:]]
    if scheme == "IOE2" or (scheme == "IOE1" and before_same):
        return [*inner[:-1], "E"]
    return inner  # IO, and IOB1/IOE1 chunks no chunk of their type touches


def to_scheme(spans: Sequence[Entity], n: int, scheme: str = "IOB2") -> list[str]:
    """Tags for ``n`` words with the entities ``spans`` (non-overlapping), in ``scheme`` (any of
    :data:`SCHEMES`; untyped entities, type ``_``, get bare prefixes)."""
    scheme = scheme_name(scheme)
    tags = [OUTSIDE] * n
    ends = {(e.end, e.type) for e in spans}
    starts = {(e.start, e.type) for e in spans}
    for e in spans:
        marks = _prefixes(scheme, e.end - e.start, (e.start, e.type) in ends, (e.end, e.type) in starts)
        for i, prefix in zip(range(e.start, e.end), marks, strict=True):
            tags[i] = tag_name(prefix, e.type)
    return tags


def in_scheme(tags: Sequence[str], scheme: str = "IOB2") -> list[str]:
    """``tags`` (any scheme) rewritten in ``scheme``: the entities they hold (conlleval's reading) tagged
    anew, so sequences in different schemes compare entity for entity."""
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
                  scheme: str = "IOB2") -> tuple[list[str], list[str], list[SpanProblem]]:
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
