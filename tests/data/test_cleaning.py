import random
import string

import numpy as np
import pandas as pd
import pytest

from justfit.data.cleaning import RULES, clean
from justfit.errors import ConfigError, DataError
from justfit.tasks.text.minhash import exact_jaccard, find_near_duplicates, signatures


def frame(rows):
    return pd.DataFrame(rows, columns=["text", "label"])


def random_texts(n, seed=0, words=(8, 16)):
    rng = random.Random(seed)
    vocab = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 9))) for _ in range(3000)]
    return [" ".join(rng.choices(vocab, k=rng.randint(*words))) for _ in range(n)], rng


def small_edit(text, rng, edits):
    chars = list(text)
    for _ in range(edits):
        chars[rng.randrange(len(chars))] = rng.choice(string.ascii_lowercase)
    return "".join(chars)


def test_normalises_and_drops_exact_duplicates_keeping_first():
    df = frame([("Caf\u00e9  ok", "a"), ("  cafe\u0301 ok", "a"), ("other", "b"), ("CAFÉ OK", "a")])
    rep = clean(df)
    out = rep.data
    assert out.index.tolist() == [0, 2] and out.at[0, "text"] == "Café ok"
    rem = rep.removed.set_index("row")
    assert rem.loc[1, "rule"] == "exact_duplicate" and rem.loc[1, "duplicate_of"] == 0
    assert rem.loc[1, "text"] == "  cafe\u0301 ok"  # the original text, as the user wrote it
    assert rep.counts["exact_duplicate"] == 2 and rep.rows_out == 2 and rep.rows_in == 4


def test_empty_texts_and_missing_labels_removed_with_reason(tmp_path):
    p = tmp_path / "d.csv"
    pd.DataFrame({"text": ["alpha beta", None, "  ", "gamma delta", "epsilon zeta", "eta theta"],
                  "label": [1, 0, 1, None, 0, 1]}).to_csv(p, index=False)
    rep = clean(str(p))
    assert rep.data.index.tolist() == [0, 4, 5]
    # A file's labels are its text: pandas wrote this column as floats (it held NaN), so the classes are '1.0', '0.0'.
    assert rep.data["label"].tolist() == ["1.0", "0.0", "1.0"]
    rules = rep.removed.set_index("row")["rule"].to_dict()
    assert rules == {1: "empty_text", 2: "empty_text", 3: "missing_label"}


def test_missing_labels_refused_when_the_rule_is_off():
    df = frame([("a b", "x"), ("c d", None), ("e f", "y")])
    with pytest.raises(DataError, match="no label.*missing_label"):
        clean(df, rules=["normalize"])


def test_conflicting_duplicates_drop_or_majority():
    rows = [("same", "a"), ("same", "b"), ("same", "a"), ("x", "b"), ("y", "a")]
    rep = clean(frame(rows))
    assert rep.data.index.tolist() == [3, 4] and rep.counts["conflicting_duplicate"] == 3
    rep = clean(frame(rows), conflicts="majority")
    assert rep.data.index.tolist() == [0, 3, 4]
    rem = rep.removed.set_index("row")
    assert rem.loc[1, "rule"] == "conflicting_duplicate" and rem.loc[1, "duplicate_of"] == 0
    assert rem.loc[2, "rule"] == "exact_duplicate"
    # A tie has no majority: every copy goes.
    tie = clean(frame([("same", "a"), ("same", "b"), ("x", "a"), ("y", "b")]), conflicts="majority")
    assert tie.data.index.tolist() == [2, 3]


def test_rules_and_options_are_checked_by_name():
    df = frame([("a", "x"), ("a", "x"), ("b", "y")])
    assert len(clean(df, rules=["normalize"]).data) == 3
    with pytest.raises(ConfigError, match="Valid choices: .*exact_duplicate"):
        clean(df, rules=["exact_dup"])
    with pytest.raises(ConfigError, match="Unknown cleaning option 'near_treshold'.*near_threshold"):
        clean(df, near_treshold=0.5)
    with pytest.raises(ConfigError, match="conflicts"):
        clean(frame([("a", "x"), ("a", "y"), ("b", "y")]), conflicts="vote")
    assert "near_duplicate" in RULES and RULES.describe()["near_duplicate"]


def test_cleaning_that_leaves_one_class_names_rules():
    df = frame([("a", "x"), ("b", "x"), ("  ", "y")])
    with pytest.raises(DataError, match=r"single class.*empty_text \(1 rows\)"):
        clean(df)
    with pytest.raises(DataError, match=r"removed every row.*empty_text \(2 rows\)"):
        clean(frame([(" ", "x"), ("", "y")]))


def test_signatures_are_datasketch_minhashes():
    from datasketch import MinHash

    texts = ["the quick brown fox", "jumps over the lazy dog"]
    sig = signatures(texts, num_perm=64, ngram=5)
    for text, row in zip(texts, sig, strict=True):
        m = MinHash(num_perm=64, seed=1)
        m.update_batch([text[i:i + 5].encode() for i in range(len(text) - 4)])
        assert np.array_equal(m.hashvalues.astype(np.uint32), row)


def test_near_duplicates_found_with_high_recall_and_no_false_drops():
    texts, rng = random_texts(3000, seed=1)
    planted = []
    for _ in range(300):
        src = rng.randrange(3000)
        texts.append(small_edit(texts[src], rng, rng.randint(1, 2)))
        planted.append((src, len(texts) - 1))
    nd = find_near_duplicates(texts, threshold=0.8)
    found = set(map(tuple, nd.pairs.tolist()))
    true = [(a, b) for a, b in planted if exact_jaccard(texts[a], texts[b]) >= 0.8]
    assert len(true) > 150
    recall = np.mean([p in found for p in true])
    assert recall >= 0.9, recall
    assert all(exact_jaccard(texts[a], texts[b]) >= 0.8 for a, b in found)  # verified, not estimated

    rep = clean(frame([(t, "x" if i % 2 else "y") for i, t in enumerate(texts)]), rules=["near_duplicate"])
    removed = rep.removed
    assert (removed["rule"] == "near_duplicate").all() and len(removed)
    for row, dup in zip(removed["row"], removed["duplicate_of"], strict=True):
        assert exact_jaccard(texts[row], texts[int(dup)]) >= 0.8
        assert int(dup) < row  # the first copy is kept
    assert removed["detail"].str.startswith("near duplicate (Jaccard").all()


def test_near_duplicates_with_different_labels_are_reported_not_dropped():
    base = "the flight was delayed for three hours and nobody told us anything"
    df = frame([(base, "negative"), (base + "!", "neutral"), ("completely different words here", "neutral"),
                ("another unrelated sentence about food", "negative")])
    rep = clean(df)
    assert len(rep.data) == 4
    assert rep.flagged_counts["near_duplicate"] == 2
    assert rep.flagged["detail"].str.contains("different labels").all()


def test_non_text_rule():
    df = frame([
        ("http://t.co/abc https://x.y/z", "a"),            # URLs only
        ("<div><br/></div> &amp; &nbsp;", "b"),            # markup only
        ("12345 !!! ??? 678", "a"),                        # numbers and symbols: reported, kept
        ("... !!! ???", "b"),                              # punctuation only
        ("\ufffd\ufffd\ufffd\u0081\u0082 ok", "b"),        # encoding garbage
        ("great flight, thanks http://t.co/abc", "a"),     # words with a URL: kept
        ("\U0001F600\U0001F600\U0001F44D", "b"),           # emoji only: kept (it carries meaning)
        ("caf\u00e9 cr\u00e8me br\u00fbl\u00e9e", "a"),    # accents: kept
    ])
    rep = clean(df, rules=["non_text"])
    removed = rep.removed.set_index("row")
    assert sorted(removed.index) == [0, 1, 3, 4]
    assert "no words" in removed.loc[0, "detail"] and "encoding garbage" in removed.loc[4, "detail"]
    assert rep.flagged["row"].tolist() == [2] and "numbers or symbols" in rep.flagged["detail"].iloc[0]
    stars = clean(frame([("\u2b50\u2b50\u2b50\u2b50\u2b50", "a"), ("10/10", "b"), ("fine", "a")]), rules=["non_text"])
    assert len(stars.data) == 3


def test_length_outliers_reported_by_default_and_dropped_on_request():
    texts, _ = random_texts(200, seed=3, words=(10, 14))
    texts.append(" ".join(["word"] * 400))
    df = frame([(t, "ab"[i % 2]) for i, t in enumerate(texts)])
    rep = clean(df, rules=["length_outlier"])
    assert len(rep.data) == 201 and rep.flagged_counts["length_outlier"] >= 1
    assert 200 in set(rep.flagged["row"]) and "400 tokens (long" in rep.flagged.set_index("row").loc[200, "detail"]
    rep = clean(df, rules=["length_outlier"], report_only=[])
    assert 200 not in rep.data.index and rep.counts["length_outlier"] >= 1
