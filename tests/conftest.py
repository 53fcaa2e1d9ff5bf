"""Shared fixtures: a tiny random-weight BERT saved to disk, and small planted data sets."""

from __future__ import annotations

import os
import random
import string
import tempfile
from pathlib import Path

import pandas as pd
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# The feature cache of the label audit goes to a throwaway folder, never the user's ~/.cache.
os.environ["JUSTFIT_CACHE_DIR"] = tempfile.mkdtemp(prefix="justfit-test-cache-")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> str:
    """A 2-layer, 32-wide random BERT with a character-level tokenizer, loaded like any checkpoint."""
    from justfit.models.factory import build_tiny_random

    return str(build_tiny_random(tmp_path_factory.mktemp("tiny-bert")))


def planted_texts(n: int = 120, seed: int = 0, labels=("pos", "neg")) -> pd.DataFrame:
    """An easy planted task: the label is spelled out by the words used, among random filler
    words that make every text distinct (so the cleaning stage keeps them all)."""
    rng = random.Random(seed)
    words = {"pos": ["good", "great", "nice", "fine"], "neg": ["bad", "awful", "poor", "ugly"],
             "neu": ["table", "chair", "door", "wall"]}
    filler = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(4, 8))) for _ in range(400)]
    rows = []
    for i in range(n):
        lab = labels[i % len(labels)]
        tokens = [rng.choice(words[lab]) for _ in range(rng.randint(2, 4))] + rng.sample(filler, 4)
        rng.shuffle(tokens)
        rows.append({"text": " ".join(tokens), "label": lab})
    return pd.DataFrame(rows)


@pytest.fixture
def planted() -> pd.DataFrame:
    return planted_texts()


@pytest.fixture
def planted_csv(tmp_path, planted) -> str:
    p = tmp_path / "data.csv"
    planted.to_csv(p, index=False)
    return str(p)


FAST = {"training": {"epochs": 2, "batch_size": 16, "lr": 1e-3, "train_eval_samples": 32, "bf16": False}}


@pytest.fixture
def fast_config(tiny_model, tmp_path) -> dict:
    return {
        "model": {"name": tiny_model},
        "training": dict(FAST["training"]),
        "output": {"dir": str(tmp_path / "runs"), "name": "r"},
    }


# --- token classification: an easy planted NER set ---------------------------------------------------------------
NAMES = ["Ann", "Bob", "Carla", "Dmitri", "Eve", "Farid", "Gita", "Hugo", "Ines", "Jun"]
CITIES = ["Paris", "Oslo", "Lima", "Quito", "Cairo", "Delhi", "Tokyo", "Rome"]
FILLER = ["went", "to", "today", "and", "then", "saw", "a", "very", "big", "house", "near", "the", "river"]


def ner_sentences(n: int = 160, seed: int = 0) -> list[tuple[list[str], list[str]]]:
    """An easy planted NER set: names (PER, one or two words) and cities (LOC) among filler words."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        words, tags = [], []
        for _ in range(rng.randint(1, 3)):
            words += rng.sample(FILLER, rng.randint(1, 3))
            tags += ["O"] * (len(words) - len(tags))
            if rng.random() < 0.5:
                first, last = rng.sample(NAMES, 2)
                words += [first, last] if rng.random() < 0.5 else [first]
                tags += ["B-PER", "I-PER"] if len(words) - len(tags) == 2 else ["B-PER"]
            else:
                words.append(rng.choice(CITIES))
                tags.append("B-LOC")
        words.append(f"w{rng.randint(0, 10**6)}")  # every sentence distinct
        tags.append("O")
        out.append((words, tags))
    return out


def write_conll(path: Path, sentences, sep: str = "\t", docstart: bool = True) -> Path:
    lines = ["-DOCSTART- O", ""] if docstart else []
    for words, tags in sentences:
        lines += [f"{w}{sep}{t}" for w, t in zip(words, tags, strict=True)] + [""]
    path.write_text("\n".join(lines))
    return path
