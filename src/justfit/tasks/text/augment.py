"""Text augmentation for the training split: word swap, deletion, insertion, embedding synonyms, typos.

An augmenter rewrites one training text at a time, on the fly, every epoch: the training loop
calls it with the text, the run's seed, the epoch and the row's index, so each epoch sees a
different variant of each row and a rerun sees the same ones. It only ever sees texts, never
labels, so an augmented row keeps its label by construction. It is meant for the training split
only: validation, test, the training-metrics probe and the label audit must see the texts as they
are (the caller wires that; nothing here knows about splits).

Operations (``augment.ops``), each applied to a text with probability ``p`` and touching a
fraction ``strength`` of its words (at least one word, rounded to the nearest whole word):

``swap``
    Exchange two different words, ``round(strength * n)`` times (EDA's random swap). The text's
    words stay the same multiset.
``delete``
    Drop ``round(strength * n)`` words, but never all of them: at least one word is kept.
``insert``
    Insert ``round(strength * n)`` words at random positions, each drawn from the text itself,
    or, when a model is given, an embedding neighbour of a random word of the text (EDA's
    random insertion), falling back to a copy of that word when it has no neighbour.
``synonym``
    Replace words by one of their ``neighbours`` nearest neighbours in the model's own
    input-embedding space (cosine similarity of ``model.get_input_embeddings().weight``). A word
    qualifies when it is one whole-word token of the tokenizer's vocabulary (``good`` in BERT's,
    ``▁good`` in a SentencePiece one, ``Ġgood`` in a byte-level BPE one); its neighbours are the
    other whole-word, letters-only tokens. Needs no network and works for any checkpoint. The
    embeddings are snapshotted when the augmenter is built (so fine-tuning does not move the
    neighbours under a running epoch), neighbours are computed lazily for the words seen, and the
    snapshot is cached per (model, tokenizer) pair.
``typo``
    One character-level edit in each touched word: swap two adjacent characters, drop one,
    insert a QWERTY-keyboard neighbour of one, or replace one by a keyboard neighbour. Words
    are never emptied or split, so the word count stays the same.

``swap``, ``delete`` and ``insert`` need two words: a text of fewer words comes back
unchanged. ``typo`` and ``synonym`` apply to a single word where they can; an empty text is
always returned unchanged. Words are whitespace-separated runs; punctuation stays attached
(``synonym`` and ``insert`` strip it off the word they look up and keep it in place). A text
whose word count an operation changes has its words rejoined by single spaces; otherwise the
original whitespace is kept.

Determinism: ``augmenter(text, seed=s, epoch=e, index=i)`` is a pure function of its arguments.
The random stream of each operation is ``numpy.random.SeedSequence([s, e, i], spawn_key=(k,))``
with ``k`` a fixed code of the operation's name, so enabling another operation does not change
the draws of the others. Negative numbers are taken modulo 2**64.

Why not nlpaug: it installs and its random-word and keyboard augmenters run offline, but it is
unmaintained (last release 2022), imports ``gdown`` and ``requests`` at import time, and can only
be made deterministic through the process-global ``random``/``numpy.random`` state (its
``Randomness.seed`` also reseeds torch), which would disturb the training loop's own randomness
and is unsafe across threads. Its word splitting also moves punctuation and changes case. The
operations here are small and use one ``numpy.random.Generator`` per call instead.
"""

from __future__ import annotations

import contextlib
import re
import weakref
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from justfit._registry import Registry
from justfit.errors import ConfigError

if TYPE_CHECKING:
    from justfit.config import AugmentConfig

__all__ = ["AUGMENTATIONS", "AugmentOp", "NeighbourIndex", "TextAugmenter", "build_text_augmenter",
           "neighbour_index"]


class AugmentOp(Protocol):
    """One word-list operation: returns the new words (the input list is left as it is)."""

    def __call__(self, words: list[str], rng: np.random.Generator, *, strength: float,
                 neighbours: NeighbourIndex | None) -> list[str]: ...


AUGMENTATIONS: Registry[AugmentOp] = Registry("augmentation")

# Operations that reorder, drop or add whole words need at least this many words.
_MIN_WORDS = 2
_CORE_RE = re.compile(r"^(\W*)(.*?)(\W*)$", re.S)
_LETTERS_RE = re.compile(r"^[^\W\d_]+$")
_SIM_DECIMALS = 5


def _count(strength: float, n: int) -> int:
    """Words to touch: ``strength`` of ``n``, rounded half up, at least one."""
    return max(1, int(strength * n + 0.5))


def _split_core(word: str) -> tuple[str, str, str]:
    """``'(good!)'`` -> ``('(', 'good', '!)')``."""
    m = _CORE_RE.match(word)
    if m is None:  # the pattern matches every string; kept whole if it ever did not
        return "", word, ""
    return m.group(1), m.group(2), m.group(3)


def _match_case(new: str, like: str) -> str:
    if len(like) > 1 and like.isupper():
        return new.upper()
    if like[:1].isupper():
        return new[:1].upper() + new[1:]
    return new


# ------------------------------------------------------------------ word operations
@AUGMENTATIONS.register("swap", help="Exchange two different words, strength x words times (random swap).")
def swap_words(words: list[str], rng: np.random.Generator, *, strength: float,
               neighbours: NeighbourIndex | None = None) -> list[str]:
    """Exchange two different words, ``round(strength * n)`` times."""
    out = list(words)
    if len(out) < _MIN_WORDS:
        return out
    for _ in range(_count(strength, len(out))):
        i = int(rng.integers(len(out)))
        others = [j for j, w in enumerate(out) if w != out[i]]
        if not others:
            break  # every word is the same word: no swap changes anything
        j = others[int(rng.integers(len(others)))]
        out[i], out[j] = out[j], out[i]
    return out


@AUGMENTATIONS.register("delete", help="Drop a strength fraction of the words, never all of them.")
def delete_words(words: list[str], rng: np.random.Generator, *, strength: float,
                 neighbours: NeighbourIndex | None = None) -> list[str]:
    """Drop ``round(strength * n)`` words, keeping at least one."""
    n = len(words)
    if n < _MIN_WORDS:
        return list(words)
    k = min(n - 1, _count(strength, n))
    drop = set(rng.choice(n, size=k, replace=False).tolist())
    return [w for i, w in enumerate(words) if i not in drop]


@AUGMENTATIONS.register("insert", help="Insert strength x words words from the text (or their embedding neighbours).")
def insert_words(words: list[str], rng: np.random.Generator, *, strength: float,
                 neighbours: NeighbourIndex | None = None) -> list[str]:
    """Insert ``round(strength * n)`` words drawn from the text, or their embedding neighbours."""
    n = len(words)
    if n < _MIN_WORDS:
        return list(words)
    out = list(words)
    for _ in range(_count(strength, n)):
        source = words[int(rng.integers(n))]
        core = _split_core(source)[1] or source
        near = neighbours.of(core) if neighbours is not None else ()
        new = near[int(rng.integers(len(near)))] if near else core
        out.insert(int(rng.integers(len(out) + 1)), new)
    return out


@AUGMENTATIONS.register("synonym", help="Replace words by nearest neighbours in the model's input-embedding space.")
def synonym_words(words: list[str], rng: np.random.Generator, *, strength: float,
                  neighbours: NeighbourIndex | None = None) -> list[str]:
    """Replace ``round(strength * n)`` words (of those that have neighbours) by an embedding neighbour."""
    if neighbours is None:
        raise ConfigError("The augmentation 'synonym' needs the model and its tokenizer (pass model= and tokenizer=).")
    out = list(words)
    parts = [_split_core(w) for w in words]
    # Neighbours are computed only for the words picked, not for every word in the vocabulary.
    options = [i for i, (_, core, _) in enumerate(parts) if core and neighbours.row_of(core) is not None]
    if not options:
        return out
    k = min(len(options), _count(strength, len(words)))
    picks = rng.choice(len(options), size=k, replace=False).tolist()
    neighbours.prefetch(parts[options[j]][1] for j in picks)
    for pick in picks:
        lead, core, trail = parts[options[pick]]
        near = neighbours.of(core)
        if near:
            out[options[pick]] = lead + _match_case(near[int(rng.integers(len(near)))], core) + trail
    return out


# ------------------------------------------------------------------ typos
_KEY_ROWS = ("1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm")


def _keyboard() -> dict[str, str]:
    """Each key's neighbours on a QWERTY keyboard (rows staggered by half a key)."""
    pos = {c: (r, i) for r, row in enumerate(_KEY_ROWS) for i, c in enumerate(row)}
    at = {v: k for k, v in pos.items()}
    near: dict[str, str] = {}
    for c, (r, i) in pos.items():
        cells = [(r, i - 1), (r, i + 1), (r - 1, i), (r - 1, i + 1), (r + 1, i - 1), (r + 1, i)]
        near[c] = "".join(at[x] for x in cells if x in at)
    return near


_KEYBOARD = _keyboard()


def _key_neighbour(c: str, rng: np.random.Generator) -> str:
    near = _KEYBOARD[c.lower()]
    new = near[int(rng.integers(len(near)))]
    return new.upper() if c.isupper() else new


def _typo_edits(word: str) -> list[tuple[str, int]]:
    """Every edit that changes ``word`` and keeps it one non-empty word: (kind, position)."""
    edits: list[tuple[str, int]] = []
    for i, c in enumerate(word):
        if not c.isalnum():
            continue
        if c.lower() in _KEYBOARD:
            edits += [("replace", i), ("insert", i)]
        if len(word) > 1:
            edits.append(("drop", i))
        if i + 1 < len(word) and word[i + 1].isalnum() and word[i + 1] != c:
            edits.append(("swap", i))
    return edits


@AUGMENTATIONS.register("typo", help="One keyboard typo (swap/drop/insert/replace a character) in a strength fraction of the words.")
def typo_words(words: list[str], rng: np.random.Generator, *, strength: float,
               neighbours: NeighbourIndex | None = None) -> list[str]:
    """One character edit in each of ``round(strength * n)`` words; the word count stays the same."""
    out = list(words)
    options = [(i, edits) for i, w in enumerate(words) if (edits := _typo_edits(w))]
    if not options:
        return out
    k = min(len(options), _count(strength, len(words)))
    for pick in rng.choice(len(options), size=k, replace=False).tolist():
        i, edits = options[pick]
        w = out[i]
        kind, j = edits[int(rng.integers(len(edits)))]
        if kind == "replace":
            w = w[:j] + _key_neighbour(w[j], rng) + w[j + 1:]
        elif kind == "insert":
            j_at = j + int(rng.integers(2))  # before or after the key it neighbours
            w = w[:j_at] + _key_neighbour(w[j], rng) + w[j_at:]
        elif kind == "drop":
            w = w[:j] + w[j + 1:]
        else:
            w = w[:j] + w[j + 1] + w[j] + w[j + 2:]
        out[i] = w
    return out


# ------------------------------------------------------------------ embedding neighbours
@dataclass
class NeighbourIndex:
    """Nearest whole-word vocabulary tokens by cosine similarity of a snapshot of input embeddings.

    ``surfaces[r]`` is the word of candidate row ``r`` and ``unit[r]`` its unit-length embedding.
    ``of(word)`` looks the word up as it is, then lower-cased (only lower-cased with ``lowercase``,
    the index of a tokenizer that lower-cases its input), and returns the ``k`` nearest other
    words (case variants of the word itself excluded), most similar first; ``()`` when the word is
    not one whole-word token. Results are cached per word.
    """

    surfaces: list[str]
    unit: np.ndarray
    k: int = 5
    lowercase: bool = False
    _row: dict[str, int] = field(default_factory=dict, repr=False)
    _cache: dict[tuple[int, int], tuple[str, ...]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not self._row:
            for r, s in enumerate(self.surfaces):
                self._row.setdefault(s, r)

    def with_k(self, k: int) -> NeighbourIndex:
        """The same snapshot (shared, not copied) answering with ``k`` neighbours."""
        return NeighbourIndex(self.surfaces, self.unit, k, self.lowercase, self._row, self._cache)

    def row_of(self, word: str) -> int | None:
        r = None if self.lowercase else self._row.get(word)
        return self._row.get(word.lower()) if r is None else r

    def of(self, word: str) -> tuple[str, ...]:
        r = self.row_of(word)
        if r is None:
            return ()
        hit = self._cache.get((r, self.k))
        if hit is None:
            self._fill([r])
            hit = self._cache[(r, self.k)]
        return hit

    def prefetch(self, words: Iterable[str]) -> None:
        """Compute the neighbours of many words at once (one pass over the matrix per block of words)."""
        rows = {r for w in words if (r := self.row_of(w)) is not None and (r, self.k) not in self._cache}
        self._fill(sorted(rows))

    def _fill(self, rows: list[int]) -> None:
        block = max(1, (1 << 23) // max(1, len(self.surfaces)))  # at most ~32 MB of similarities at a time
        for start in range(0, len(rows), block):
            part = rows[start:start + block]
            sims = self.unit[part] @ self.unit.T
            for r, row in zip(part, sims, strict=True):
                self._cache[(r, self.k)] = self._rank(r, row)

    def _rank(self, r: int, sims: np.ndarray) -> tuple[str, ...]:
        # Rounded, so that a batched and a single product (which may differ in the last bits) rank alike;
        # ties go by vocabulary order.
        sims = np.round(sims, _SIM_DECIMALS)
        own = self.surfaces[r].lower()
        take = min(len(sims), self.k + 8)
        while True:
            top = np.argpartition(-sims, take - 1)[:take] if take < len(sims) else np.arange(len(sims))
            top = top[np.lexsort((top, -sims[top]))]  # most similar first
            out = [self.surfaces[i] for i in top.tolist() if self.surfaces[i].lower() != own]
            out = list(dict.fromkeys(out))[: self.k]
            if len(out) >= self.k or take >= len(sims):
                return tuple(out)
            take = min(len(sims), take * 4)


def _whole_words(tokenizer: Any) -> tuple[list[int], list[str]]:
    """Vocabulary ids that are whole-word tokens, and the word each spells."""
    vocab: dict[str, int] = tokenizer.get_vocab()
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    with contextlib.suppress(AttributeError, NotImplementedError):
        special |= set(tokenizer.get_added_vocab().values())
    counts = {m: sum(t.startswith(m) for t in vocab) for m in ("##", "\u2581", "\u0120")}
    marker = max(counts, key=lambda m: counts[m])
    if counts[marker] < 0.05 * max(1, len(vocab)):
        marker = ""  # no subword convention: every token is a word
    lower = _lowercases(tokenizer)
    ids: list[int] = []
    words: list[str] = []
    for tok, i in sorted(vocab.items(), key=lambda kv: kv[1]):
        if i in special:
            continue
        if marker == "##":
            if tok.startswith("##"):
                continue
            word = tok
        elif marker:
            if not tok.startswith(marker):
                continue
            word = tok[len(marker):]
            if marker == "\u0120":  # byte-level BPE: map the byte alphabet back to text
                # (a tokenizer that cannot decode one token keeps the raw form)
                with contextlib.suppress(Exception):
                    word = tokenizer.convert_tokens_to_string([tok]).strip()
        else:
            word = tok
        if _LETTERS_RE.match(word) and not (lower and word != word.lower()):  # unreachable when lower-cased
            ids.append(i)
            words.append(word)
    return ids, words


def _lowercases(tokenizer: Any) -> bool:
    """Whether the tokenizer lower-cases its input (an uncased model)."""
    try:
        return bool(tokenizer.tokenize("HELLO World") == tokenizer.tokenize("hello world"))
    except Exception:  # a tokenizer that cannot tokenize a probe: assume cased
        return False


_INDEX_CACHE: weakref.WeakKeyDictionary[Any, list[tuple[Any, NeighbourIndex]]] = weakref.WeakKeyDictionary()


def neighbour_index(model: Any, tokenizer: Any, *, k: int = 5) -> NeighbourIndex:
    """The embedding-neighbour index of ``model``'s input embeddings over ``tokenizer``'s whole words.

    The embeddings are copied (float32, CPU) on the first call for a (model, tokenizer) pair and
    reused afterwards, so later fine-tuning does not change the neighbours.
    """
    try:
        entries = _INDEX_CACHE.setdefault(model, [])
    except TypeError:  # not weak-referenceable: no cache
        entries = []
    for ref, index in entries:
        if ref() is tokenizer:
            return index.with_k(k)
    emb = model.get_input_embeddings()
    if emb is None or getattr(emb, "weight", None) is None:
        raise ConfigError("The augmentation 'synonym' needs a model with input embeddings "
                          "(model.get_input_embeddings() returned none).")
    weight = emb.weight.detach().float().cpu().numpy()
    ids, words = _whole_words(tokenizer)
    keep = [j for j, i in enumerate(ids) if i < weight.shape[0]]
    rows = weight[[ids[j] for j in keep]] if keep else np.zeros((0, weight.shape[1]), np.float32)
    unit = rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)
    index = NeighbourIndex([words[j] for j in keep], np.ascontiguousarray(unit, dtype=np.float32), k,
                           _lowercases(tokenizer))
    with contextlib.suppress(TypeError):  # a tokenizer that cannot be weak-referenced is not cached
        entries.append((weakref.ref(tokenizer), index))
    return index


# ------------------------------------------------------------------ the augmenter
def _op_key(name: str) -> int:
    return zlib.crc32(name.encode())


def _u64(x: int) -> int:
    return int(x) % (1 << 64)


@dataclass(frozen=True)
class _Step:
    name: str
    fn: AugmentOp
    p: float
    strength: float


class TextAugmenter:
    """Rewrites training texts with the configured operations, deterministically per (seed, epoch, index).

    ``augmenter(text, seed=..., epoch=..., index=...)`` applies each operation, in the order of
    ``augment.ops``, with its probability ``p``; ``p`` and ``strength`` are fractions in [0, 1]. It
    takes and returns a text only (labels are never seen). Call it on training texts only, never on
    validation, test, the training-metrics probe or the label audit. Picklable, for data-loader workers;
    ``prepare(train_texts)`` optionally computes the embedding neighbours in batches before training.
    """

    def __init__(self, steps: Sequence[_Step], neighbours: NeighbourIndex | None = None) -> None:
        self.steps = tuple(steps)
        self.neighbours = neighbours

    @property
    def ops(self) -> list[str]:
        return [s.name for s in self.steps]

    def __repr__(self) -> str:
        inner = ", ".join(f"{s.name}(p={s.p:g}, strength={s.strength:g})" for s in self.steps)
        return f"TextAugmenter({inner})"

    def prepare(self, texts: Iterable[str]) -> None:
        """Optionally compute the embedding neighbours of every word in ``texts`` up front, in batches.

        Without it they are computed lazily, for the words picked in each text as it is seen; the
        results are the same either way.
        """
        if self.neighbours is not None:
            self.neighbours.prefetch(_split_core(w)[1] for t in texts if isinstance(t, str) for w in t.split())

    def __call__(self, text: str, *, seed: int, epoch: int, index: int) -> str:
        if not isinstance(text, str) or not text.strip():
            return text
        entropy = [_u64(seed), _u64(epoch), _u64(index)]
        lead = text[: len(text) - len(text.lstrip())]
        trail = text[len(text.rstrip()):]
        pieces = re.split(r"(\s+)", text.strip())
        words, seps = pieces[0::2], pieces[1::2]
        changed = False
        for step in self.steps:
            rng = np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=(_op_key(step.name),)))
            if step.p <= 0 or rng.random() >= step.p:
                continue
            new = step.fn(words, rng, strength=step.strength, neighbours=self.neighbours)
            if new != words:
                changed = True
                if len(new) != len(words):
                    seps = [" "] * (len(new) - 1)
                words = new
        if not changed:
            return text
        return lead + "".join(w + s for w, s in zip(words, [*seps, ""], strict=True)) + trail


def build_text_augmenter(cfg: AugmentConfig, *, model: Any = None, tokenizer: Any = None) -> TextAugmenter | None:
    """The augmenter ``cfg`` describes, or ``None`` when no operation is enabled.

    ``model`` and ``tokenizer`` (both or neither) give ``synonym`` its embedding neighbours and
    let ``insert`` draw neighbours too; ``synonym`` without them is a :class:`ConfigError`.
    Apply the result to the training split only, on the fly, once per epoch.
    """
    if not cfg.ops:
        return None
    if (model is None) != (tokenizer is None):
        raise ConfigError("Text augmentation with a model needs its tokenizer too (pass both model= and tokenizer=, "
                          "or neither).")
    steps = [_Step(name, AUGMENTATIONS.get(name), cfg.op_p.get(name, cfg.p), cfg.op_strength.get(name, cfg.strength))
             for name in cfg.ops]
    steps = [s for s in steps if s.p > 0]
    if not steps:
        return None
    neighbours = None
    wants = {s.name for s in steps} & {"synonym", "insert"}
    if model is not None and wants:
        neighbours = neighbour_index(model, tokenizer, k=cfg.neighbours)
    elif "synonym" in wants:
        raise ConfigError("The augmentation 'synonym' replaces words by their neighbours in the model's input "
                          "embeddings: pass model= and tokenizer=, or remove 'synonym' from augment.ops.")
    return TextAugmenter(steps, neighbours)
