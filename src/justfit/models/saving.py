"""A fitted model's folder: what plain ``transformers`` loads (``config.json``, weights, tokenizer) plus
``justfit.json`` (the task's part, the max length, the text normalisation, the resolved config).

``save_folder`` writes it atomically (a temporary folder renamed into place, so an interrupted save
leaves the old folder or none); ``load_folder`` reads it back, or a plain transformers checkpoint,
or LoRA adapters saved without merging.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from justfit.errors import RunDirError
from justfit.models.factory import quiet_transformers, weights_error
from justfit.models.lora import ADAPTER_CONFIG, load_adapter_model
from justfit.tasks.base import get_task
from justfit.training.fit import plain_model

META_FILE = "justfit.json"


def save_folder(path: str | Path, model: Any, tokenizer: Any, max_length: int, meta: dict[str, Any]) -> Path:
    """Write ``model`` and ``tokenizer`` (truncating at ``max_length`` tokens, as justfit did) and
    ``meta`` as ``justfit.json`` to the folder ``path``, replacing an earlier justfit model there.

    Raises ``RunDirError`` when ``path`` is a file, or a non-empty folder that is not a justfit model."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise RunDirError(f"'{path}' is a file; save needs a folder path.")
    if path.exists() and any(path.iterdir()) and not (path / META_FILE).exists():
        raise RunDirError(f"'{path}' exists and is not a justfit model folder; choose an empty or new folder.")
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent if path.parent.exists() else None))
    try:
        loaded_from = _loaded_from(model)
        model.save_pretrained(tmp)
        if max_length and hasattr(tokenizer, "model_max_length"):
            # pipeline(..., truncation=True) then truncates exactly as justfit does.
            tokenizer.model_max_length = max_length
        tokenizer.save_pretrained(tmp)
        if meta.get("base_model"):
            _name_base(tmp, loaded_from, str(meta["base_model"]))
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2))
        _public(tmp)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            shutil.rmtree(path)
        tmp.replace(path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


@dataclass
class LoadedModel:
    """A model folder read back: the model (eval mode), its tokenizer, the fitted task, its
    batch-level step, the task name and ``justfit.json`` (empty for a plain checkpoint)."""

    model: Any
    tokenizer: Any
    task: Any
    step: Any
    name: str
    meta: dict[str, Any]


def load_folder(path: str | Path, default_max_length: int) -> tuple[Path, LoadedModel]:
    """Read the model folder ``path`` (or the ``model/`` folder of a run directory).

    Returns the folder actually read and what it holds. Raises ``RunDirError`` (one line) for a
    folder without a model, damaged weights, a missing tokenizer, or adapters without labels."""

    path = Path(path)
    if any((path / "model" / f).exists() for f in ("config.json", ADAPTER_CONFIG)):
        path = path / "model"
    adapters = (path / ADAPTER_CONFIG).exists()
    if not (path / "config.json").exists() and not adapters:
        raise RunDirError(f"'{path}' holds no saved model (no config.json). Pass a run directory or its model/ folder.")
    quiet_transformers()
    meta = json.loads((path / META_FILE).read_text()) if (path / META_FILE).exists() else {}
    name = meta.get("task") or _plain_task(path)
    own = type(get_task(_renamed(name))).load_pretrained(path)  # images: AutoModelForImageClassification
    if own is not None:
        model, tokenizer = own
    else:
        model, tokenizer = _load_text_model(path, meta, adapters)
    if not meta.get("task") and model.config.problem_type == "regression":
        name = "regression"  # a plain checkpoint says it is a regression through its problem_type
    name = _renamed(name)
    config = plain_model(model).config
    task = type(get_task(name)).from_meta(meta, config)
    step = task.step_from_meta(tokenizer, meta.get("max_length", default_max_length), config)
    return path, LoadedModel(model.eval(), tokenizer, task, step, name, meta)


def _load_text_model(path: Path, meta: dict[str, Any], adapters: bool) -> tuple[Any, Any]:
    """A text model folder: ``AutoModelForSequenceClassification`` (or LoRA adapters on its base) and its tokenizer."""
    from transformers import AutoModelForSequenceClassification

    if adapters:
        # LoRA adapters saved without merging: the base model, a head for the labels, then the adapters.
        from justfit.models.factory import local_base_folder

        base = meta.get("base_model") or json.loads((path / ADAPTER_CONFIG).read_text())["base_model_name_or_path"]
        base = local_base_folder(base, meta.get("base_model_fingerprint"))  # local:<name> saved on this machine
        if not meta.get("labels"):
            raise RunDirError(f"'{path}' holds LoRA adapters but no {META_FILE} naming the labels; save it with "
                              "justfit, or load it with peft.")
        return load_adapter_model(path, base, meta["labels"]), load_tokenizer(path)
    return load_text_folder(path, AutoModelForSequenceClassification)


def load_text_folder(path: Path, auto_class: Any) -> tuple[Any, Any]:
    """The model of a saved text folder through ``auto_class`` (``AutoModelForSequenceClassification``,
    ``AutoModelForTokenClassification``) and its tokenizer. Raises ``RunDirError``/``ModelError`` (one line)
    for damaged or missing weights or no usable tokenizer."""

    try:
        model = auto_class.from_pretrained(path)
    except Exception as exc:  # damaged or missing weights: one line, not a traceback
        raise weights_error(exc, str(path)) from None
    return model, load_tokenizer(path)


def load_tokenizer(path: Path) -> Any:
    """The tokenizer saved in ``path``; ``RunDirError`` (one line) when there is none that loads."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as exc:
        raise RunDirError(f"'{path}' holds a model but no usable tokenizer ({str(exc).splitlines()[0][:150]}). "
                          "Save the tokenizer beside it (tokenizer.save_pretrained).") from None


def _renamed(name: str) -> str:
    """Models saved before tasks were named by kind say ``text-classification``/``text-regression``."""
    return {"text-classification": "classification", "text-regression": "regression"}.get(name, name)


def _plain_task(path: Path) -> str:
    """The task of a plain transformers checkpoint (no justfit.json), from its architecture's name."""
    try:
        archs = json.loads((path / "config.json").read_text()).get("architectures") or []
    except (OSError, ValueError):
        archs = []
    if any("TokenClassification" in a for a in archs):
        return "token-classification"
    return "image-classification" if any("ImageClassification" in a for a in archs) else "classification"


def _loaded_from(model: Any) -> set[str]:
    """Where ``model`` says it was loaded from: its config's ``_name_or_path`` and each peft adapter's
    ``base_model_name_or_path`` (a folder of this machine for a preset or a local model)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    names = {getattr(c, "_name_or_path", "") for c in (getattr(model, "config", None), getattr(base, "config", None))}
    names |= {getattr(c, "base_model_name_or_path", "") for c in (getattr(model, "peft_config", None) or {}).values()}
    return {str(n) for n in names if n}


# Where transformers and peft write the folder or hub id a model was loaded from: file -> key.
NAME_KEYS = {"config.json": "_name_or_path", "tokenizer_config.json": "name_or_path",
             "adapter_config.json": "base_model_name_or_path"}


def _name_base(folder: Path, loaded_from: set[str], name: str) -> None:
    """Write ``name`` (the portable base model: a preset, a hub id, ``local:<folder>``) where the files
    transformers and peft wrote name the place the model was loaded from (``loaded_from``): the keys of
    ``NAME_KEYS``, and the ``base_model`` lines of peft's model card ``README.md``. Changed after saving,
    not on the model: peft reads the real folder while it saves."""
    import re

    for file, key in NAME_KEYS.items():
        path = folder / file
        if path.is_file():
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, dict) and data.get(key) in loaded_from:
                data[key] = name
                path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    card = folder / "README.md"
    if card.is_file() and loaded_from:
        olds = "|".join(re.escape(n) for n in sorted(loaded_from, key=len, reverse=True))
        text = card.read_text(encoding="utf-8")
        # The card's front matter: "base_model: <where>" and the tag "- base_model:adapter:<where>".
        new = re.sub(rf"^(\s*-?\s*base_model(?::adapter)?:\s*)(?:{olds})\s*$", lambda m: m.group(1) + name, text,
                     flags=re.M)
        if new != text:
            card.write_text(new, encoding="utf-8")


def _public(folder: Path) -> None:
    """Give a folder made by ``mkdtemp`` (mode 0700; some writers make 0600 files) the modes of any
    other saved file: ``0777``/``0666`` less the process's umask."""
    import os

    umask = os.umask(0)
    os.umask(umask)
    folder.chmod(0o777 & ~umask)
    for p in folder.rglob("*"):
        p.chmod((0o777 if p.is_dir() else 0o666) & ~umask)
