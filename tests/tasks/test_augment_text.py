"""Text augmentation: each operation's effect, determinism per (seed, epoch, index), embedding neighbours, config."""

from __future__ import annotations

import pickle
from collections import Counter

import numpy as np
import pytest

from justfit.config import AugmentConfig, JustfitConfig, RawValue
from justfit.errors import ConfigError
from justfit.tasks.text.augment import (
    _KEYBOARD,
    AUGMENTATIONS,
    _whole_words,
    build_text_augmenter,
    neighbour_index,
)

TEXT = "the quick brown fox jumps over a lazy dog near our old barn"  # 13 distinct words
WORDS = TEXT.split()
TEXTS = [TEXT, "alpha beta gamma delta epsilon zeta eta theta", "one two three four five six seven eight nine ten"]
OPS = ["swap", "delete", "insert", "typo"]


def aug(ops, *, model=None, tokenizer=None, **kw):
    return build_text_augmenter(AugmentConfig(ops=ops, **kw), model=model, tokenizer=tokenizer)


def call(a, text, seed=0, epoch=0, index=0):
    return a(text, seed=seed, epoch=epoch, index=index)


@pytest.fixture(scope="module")
def word_bert():
    """A tiny BERT over a whole-word vocabulary in which 'good' and 'great' have the same embedding."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    words = ["good", "great", "movie", "film", "bad", "the", "plot", "was", "actors", "music", "long", "slow"]
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words, "##s", "##ly"]
    tok = BertTokenizer(vocab={t: i for i, t in enumerate(vocab)}, do_lower_case=True)
    torch.manual_seed(0)
    model = BertModel(BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1,
                                 num_attention_heads=2, intermediate_size=16))
    emb = model.get_input_embeddings().weight
    with torch.no_grad():
        emb[vocab.index("great")] = emb[vocab.index("good")]
    return model, tok


# ------------------------------------------------------------------ off / registry / config
def test_no_ops_is_no_augmenter():
    assert build_text_augmenter(AugmentConfig()) is None
    assert aug(["swap", "typo"], p=0.0) is None
    assert JustfitConfig().augment.ops == []


def test_registry_lists_every_op_with_help():
    assert AUGMENTATIONS.names() == ["delete", "insert", "swap", "synonym", "typo"]
    assert all(AUGMENTATIONS.describe().values())


def test_unknown_op_is_a_config_error_listing_the_valid_names():
    with pytest.raises(ConfigError) as e:
        JustfitConfig.from_dict({"augment": {"ops": ["swap", "swpa"]}})
    msg = str(e.value)
    assert "swpa" in msg and all(n in msg for n in AUGMENTATIONS.names()) and "Did you mean 'swap'" in msg
    with pytest.raises(ConfigError, match="Valid choices: delete, insert, swap, synonym, typo"):
        AUGMENTATIONS.get("shuffle")


@pytest.mark.parametrize("bad", [
    {"p": 1.5}, {"p": -0.1}, {"strength": 0}, {"strength": 1.2}, {"neighbours": 0},
    {"ops": "swap,swap"}, {"ops": ["typo"], "op_p": {"swap": 0.5}}, {"ops": ["typo"], "op_p": {"typo": 2}},
    {"ops": ["typo"], "op_strength": {"typo": 0}}, {"ops": ["typo"], "op_p": {"tpyo": 0.5}}, {"bogus": 1},
])
def test_bad_values_are_config_errors(bad):
    with pytest.raises(ConfigError):
        JustfitConfig.from_dict({"augment": bad})


def test_config_round_trip():
    raw = {"ops": "Swap, typo,synonym", "p": 0.3, "strength": 0.2, "neighbours": 3,
           "op_p": {"Typo": 0.1}, "op_strength": {"swap": 0.5}}
    cfg = JustfitConfig.from_dict({"augment": raw})
    a = cfg.augment
    assert a.ops == ["swap", "typo", "synonym"] and (a.p, a.strength, a.neighbours) == (0.3, 0.2, 3)
    assert a.op_p == {"typo": 0.1} and a.op_strength == {"swap": 0.5}
    import yaml

    again = JustfitConfig.from_dict(yaml.safe_load(cfg.to_yaml()))
    assert again.augment == a
    over = JustfitConfig().updated({"augment.ops": RawValue("delete,insert"), "augment.op_p": RawValue("{insert: 1}")})
    assert over.augment.ops == ["delete", "insert"] and over.augment.op_p == {"insert": 1.0}


def test_per_op_overrides_apply():
    a = aug(["swap", "typo"], p=1.0, op_p={"typo": 0.0}, op_strength={"swap": 0.5})
    assert a.ops == ["swap"] and a.steps[0].strength == 0.5
    for i in range(20):
        out = call(a, TEXT, index=i)
        assert Counter(out.split()) == Counter(WORDS)  # swaps only: no typo ever


# ------------------------------------------------------------------ determinism
@pytest.mark.parametrize("ops", [OPS, ["synonym", "insert"]])
def test_deterministic_per_seed_epoch_index(ops, word_bert):
    model, tok = word_bert if "synonym" in ops else (None, None)
    a = aug(ops, p=0.8, strength=0.3, model=model, tokenizer=tok)
    b = aug(ops, p=0.8, strength=0.3, model=model, tokenizer=tok)
    texts = TEXTS if model is None else ["the good movie was long and the plot slow", "great music bad actors"]
    for t in texts:
        for seed, epoch, index in [(0, 0, 0), (42, 3, 17), (-1, 1, 2**40)]:
            assert call(a, t, seed, epoch, index) == call(a, t, seed, epoch, index) == call(b, t, seed, epoch, index)
    assert pickle.loads(pickle.dumps(a))(TEXT, seed=1, epoch=2, index=3) == call(a, TEXT, 1, 2, 3)


def test_epochs_indices_and_seeds_give_different_variants():
    a = aug(OPS, p=1.0, strength=0.3)
    by_epoch = {call(a, TEXT, epoch=e) for e in range(10)}
    by_index = {call(a, TEXT, index=i) for i in range(10)}
    by_seed = {call(a, TEXT, seed=s) for s in range(10)}
    assert min(len(by_epoch), len(by_index), len(by_seed)) >= 9


def test_enabling_another_op_does_not_change_an_ops_draws():
    # Each op has its own stream: with typo at p=0 added, swap's output is identical.
    swap_only = aug(["swap"], p=1.0)
    both = aug(["swap", "typo"], p=1.0, op_p={"typo": 0.0})
    assert all(call(swap_only, TEXT, index=i) == call(both, TEXT, index=i) for i in range(10))


# ------------------------------------------------------------------ each op
@pytest.mark.parametrize("op", OPS)
def test_every_op_changes_texts_at_p1(op):
    a = aug([op], p=1.0)
    for t in TEXTS:
        for i in range(10):
            assert call(a, t, index=i) != t


@pytest.mark.parametrize("op", OPS)
def test_p_is_the_share_of_texts_changed(op):
    a = aug([op], p=0.3)
    changed = np.mean([call(a, TEXT, index=i) != TEXT for i in range(400)])
    assert 0.22 < changed < 0.38


def test_swap_keeps_the_multiset_of_words_and_the_whitespace():
    a = aug(["swap"], p=1.0, strength=0.3)
    for i in range(20):
        out = call(a, TEXT, index=i)
        assert Counter(out.split()) == Counter(WORDS) and out.split() != WORDS
    odd = "first line\nsecond  line\tend "
    out = call(a, odd)
    assert [c for c in out if c.isspace()] == [c for c in odd if c.isspace()]


@pytest.mark.parametrize(("strength", "removed"), [(0.1, 1), (0.3, 4), (0.5, 7), (1.0, 12)])
def test_delete_removes_a_strength_fraction_but_never_every_word(strength, removed):
    a = aug(["delete"], p=1.0, strength=strength)
    for i in range(10):
        out = call(a, TEXT, index=i).split()
        assert len(out) == len(WORDS) - removed >= 1
        assert all(w in WORDS for w in out) and out == [w for w in WORDS if w in out]  # order kept
    assert len(call(aug(["delete"], p=1.0, strength=1.0), "two words").split()) == 1


def test_insert_adds_words_from_the_text():
    a = aug(["insert"], p=1.0, strength=0.2)
    for i in range(10):
        out = call(a, TEXT, index=i).split()
        assert len(out) == len(WORDS) + 3 and set(out) <= set(WORDS)
        assert not Counter(WORDS) - Counter(out)  # the original words are all still there


def test_typo_keeps_the_word_count_and_edits_one_character_per_word():
    a = aug(["typo"], p=1.0, strength=0.3)
    for t in TEXTS:
        src = t.split()
        for i in range(20):
            out = call(a, t, index=i).split()
            assert len(out) == len(src)
            diff = [(s, o) for s, o in zip(src, out, strict=True) if s != o]
            assert 1 <= len(diff) <= round(0.3 * len(src))
            for s, o in diff:
                assert abs(len(s) - len(o)) <= 1 and o
                if len(s) == len(o):  # a replacement by a keyboard neighbour, or two adjacent characters swapped
                    pos = [k for k in range(len(s)) if s[k] != o[k]]
                    assert (len(pos) == 1 and o[pos[0]] in _KEYBOARD[s[pos[0]]]) or (
                        len(pos) == 2 and pos[1] == pos[0] + 1 and s[pos[0]] == o[pos[1]])


def test_typo_keeps_case_and_punctuation():
    a = aug(["typo"], p=1.0, strength=1.0)
    for i in range(20):
        out = call(a, "HELLO, World!", index=i)
        assert out.count(",") == 1 and out.endswith("!") and out.split()[0].rstrip(",").isupper()


@pytest.mark.parametrize("op", [*OPS, "synonym"])
def test_empty_and_one_word_texts(op, word_bert):
    model, tok = word_bert
    a = aug([op], p=1.0, strength=1.0, model=model, tokenizer=tok)
    for t in ["", "   ", "\n"]:
        assert call(a, t) == t
    if op in ("swap", "delete", "insert"):
        for t in ["word", "  movie. "]:
            assert all(call(a, t, index=i) == t for i in range(10))
    assert call(aug(["swap"], p=1.0), "same same same") == "same same same"  # no swap changes anything


# ------------------------------------------------------------------ embedding neighbours
def test_synonym_replaces_a_word_by_its_embedding_twin(word_bert):
    model, tok = word_bert
    a = aug(["synonym"], p=1.0, strength=1.0, neighbours=1, model=model, tokenizer=tok)
    for i in range(5):
        assert call(a, "good", index=i) == "great"
        assert call(a, "great", index=i) == "good"
        assert call(a, "Good!", index=i) == "Great!"
        assert call(a, "GREAT", index=i) == "GOOD"
    assert neighbour_index(model, tok, k=1).of("good") == ("great",)
    # Words that are no whole-word token are left as they are.
    assert call(a, "zebra", index=0) == "zebra"


def test_synonym_without_a_model_is_a_config_error(word_bert):
    with pytest.raises(ConfigError, match="model"):
        aug(["synonym"])
    with pytest.raises(ConfigError, match="tokenizer"):
        aug(["insert"], model=word_bert[0])
    assert aug(["insert"]) is not None  # insert draws from the text itself without a model


def test_insert_draws_embedding_neighbours_with_a_model(word_bert):
    model, tok = word_bert
    a = aug(["insert"], p=1.0, strength=0.5, neighbours=1, model=model, tokenizer=tok)
    out = call(a, "good zebra").split()
    assert len(out) == 3 and Counter(out) - Counter(["good", "zebra"]) in (Counter(["great"]), Counter(["zebra"]))
    assert any("great" in call(a, "good zebra", index=i) for i in range(10))


def test_neighbours_come_from_the_input_embedding_matrix(tiny_model):
    from transformers import AutoModel, AutoTokenizer

    model, tok = AutoModel.from_pretrained(tiny_model), AutoTokenizer.from_pretrained(tiny_model)
    index = neighbour_index(model, tok, k=4)
    weight = model.get_input_embeddings().weight.detach().numpy()
    ids, words = _whole_words(tok)
    assert all(w.isalpha() and not w.startswith("#") for w in words)  # letters only, no continuations
    assert set(words) == set("abcdefghijklmnopqrstuvwxyz")  # the tokenizer lower-cases: 'A' is unreachable
    unit = weight[ids] / np.linalg.norm(weight[ids], axis=1, keepdims=True)
    r = words.index("q")
    sims = np.round(unit @ unit[r], 5)  # ranked at 5 decimals, ties by vocabulary order
    expected = [words[j] for j in np.argsort(-sims, kind="stable") if words[j].lower() != "q"][:4]
    assert list(index.of("q")) == expected
    a = aug(["synonym"], p=1.0, strength=1.0, neighbours=4, model=model, tokenizer=tok)
    for i in range(10):
        for src, out in zip(["q", "z", "m"], call(a, "q z m", index=i).split(), strict=True):
            assert out in index.of(src)


def test_neighbour_snapshot_is_cached_and_ignores_later_training(word_bert):
    import torch

    model, tok = word_bert
    first = neighbour_index(model, tok, k=1)
    assert neighbour_index(model, tok, k=3).unit is first.unit  # one snapshot per (model, tokenizer)
    emb = model.get_input_embeddings().weight
    saved = emb.detach().clone()
    with torch.no_grad():
        emb.mul_(0).add_(torch.randn_like(emb))
    try:
        assert neighbour_index(model, tok, k=1).of("good") == ("great",)
    finally:
        with torch.no_grad():
            emb.copy_(saved)


class _FakeTok:
    def __init__(self, vocab):
        self.vocab, self.all_special_ids = vocab, [0]

    def get_vocab(self):
        return self.vocab

    def get_added_vocab(self):
        return {}

    def tokenize(self, text):
        return text.split()

    def convert_tokens_to_string(self, tokens):
        return "".join(tokens).replace("\u0120", " ")


@pytest.mark.parametrize(("marker", "extra"), [("\u2581", ["ing", "s"]), ("\u0120", ["ing", "s"])])
def test_whole_words_of_sentencepiece_and_byte_bpe_vocabularies(marker, extra):
    vocab = ["<pad>", *[marker + w for w in ["good", "great", "film", "42"]], marker, *extra]
    ids, words = _whole_words(_FakeTok({t: i for i, t in enumerate(vocab)}))
    assert words == ["good", "great", "film"] and ids == [1, 2, 3]


def test_prepare_computes_neighbours_in_batches_with_the_same_results(tiny_model):
    from transformers import AutoModel, AutoTokenizer

    model, tok = AutoModel.from_pretrained(tiny_model), AutoTokenizer.from_pretrained(tiny_model)
    texts = ["a b c d", "x y z", "Q, r! s"]
    lazy = aug(["synonym", "insert"], p=1.0, strength=0.5, model=model, tokenizer=tok, neighbours=3)
    expected = [call(lazy, t, index=i) for i, t in enumerate(texts)]
    from justfit.tasks.text.augment import NeighbourIndex

    ready = neighbour_index(model, tok, k=3)
    fresh = NeighbourIndex(ready.surfaces, ready.unit, 3, ready.lowercase)  # the snapshot, an empty cache
    prepared = type(lazy)(lazy.steps, fresh)
    prepared.prepare(texts)
    assert {fresh.surfaces[r] for r, _ in fresh._cache} == set("abcdxyzqrs")
    assert [call(prepared, t, index=i) for i, t in enumerate(texts)] == expected
