"""A pretrained checkpoint with a new classification head, for tasks whose models come from a
transformers Auto class and a preprocessor Auto class (images: ``AutoModelForImageClassification``
and ``AutoImageProcessor``; audio: ``AutoModelForAudioClassification`` and
``AutoFeatureExtractor``). Text models load through ``models.factory`` (tokenizers, LoRA targets)."""

from __future__ import annotations

from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

from justfit.errors import ModelError
from justfit.models.factory import (
    model_config,
    quiet_transformers,
    resolve_model_name,
    set_dropout,
    weights_error,
)


def load_with_new_head(name: str | None, labels: list[Any], *, model_cls: Any, processor_cls: Any, noun: str,
                       examples: str, dropout: float | None = None, config_updates: dict[str, Any] | None = None,
                       before: Callable[[], None] | None = None) -> tuple[Any, Any, str]:
    """Return ``(model, processor, source)``: ``name`` (a preset, folder or hub id) as ``model_cls``
    with a fresh head of ``len(labels)`` outputs named by ``labels`` (``id2label``), its config
    updated with ``config_updates``, and its ``processor_cls`` preprocessor. ``noun`` names the
    inputs in messages ("image", "audio"), ``examples`` the architectures that fit.

    Raises ``ModelError`` (one line) when no model is named, or it cannot be loaded, or it has no
    preprocessor, or it is not a model of this kind."""
    from transformers import AutoConfig

    if name is None:
        raise ModelError(f"{noun.capitalize()} tasks need a model: pass --model ({_a(noun)} classification "
                         "checkpoint: a folder or a hub id) or a preset (justfit presets).")
    source = resolve_model_name(name)
    id2label = {i: str(lab) for i, lab in enumerate(labels)}
    quiet_transformers()
    if before is not None:
        before()
    try:
        config = AutoConfig.from_pretrained(source, num_labels=len(labels), id2label=id2label,
                                            label2id={v: k for k, v in id2label.items()})
        processor = processor_cls.from_pretrained(source)
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"Could not load {noun} model '{source}' ({first[:200]}). Pass a folder with config.json, "
                         "weights and preprocessor_config.json, a reachable hub id, or a preset.") from None
    config.problem_type = "single_label_classification"
    for key, value in (config_updates or {}).items():
        setattr(config, key, value)
    if dropout is not None:
        set_dropout(config, dropout)
    try:
        model = model_cls.from_pretrained(source, config=config, ignore_mismatched_sizes=True)
    except ValueError as exc:
        raise ModelError(f"'{source}' is not {_a(noun)} classification model ({str(exc).splitlines()[0][:160]}). "
                         f"Pass a {model_cls.__name__} checkpoint ({examples}).") from None
    except Exception as exc:  # damaged or missing weights: one line
        raise weights_error(exc, source) from None
    return model, processor, source


def check_model_kind(name: str | None, *, kinds: Collection[str], noun: str, inputs: str, examples: str,
                     before: Callable[[], None] | None = None) -> str:
    """Resolve ``name`` and check, from its config alone, that its ``model_type`` is one of ``kinds``
    (the architectures with a head for this task); returns the source. ``noun`` names the task's
    kind ("image"), ``inputs`` what it classifies ("images").

    Raises ``ModelError`` (one line) for no model, one that cannot be read, or another architecture."""

    if name is None:
        raise ModelError(f"{noun.capitalize()} tasks need a model: pass --model ({_a(noun)} classification "
                         f"checkpoint: a folder or a hub id) or a preset ({examples}; justfit presets).")
    source = resolve_model_name(name)
    if before is not None:
        before()
    kind = getattr(model_config(source), "model_type", "?")
    if kind not in kinds:
        raise ModelError(f"Model '{source}' (a '{kind}' model) cannot classify {inputs}. Choose {_a(noun)} "
                         f"classification checkpoint ({examples}).")
    return source


def load_saved(path: str | Path, *, model_cls: Any, processor_cls: Any, noun: str,
               before: Callable[[], None] | None = None) -> tuple[Any, Any]:
    """A saved model folder: ``(model_cls model, processor_cls preprocessor)``. Raises ``ModelError``
    for unreadable weights and ``RunDirError`` when the preprocessor is missing."""
    quiet_transformers()
    if before is not None:
        before()
    try:
        model = model_cls.from_pretrained(path)
    except Exception as exc:
        raise weights_error(exc, str(path)) from None
    try:
        processor = processor_cls.from_pretrained(path)
    except (OSError, ValueError) as exc:
        from justfit.errors import RunDirError

        raise RunDirError(f"'{path}' holds {_a(noun)} model but no usable preprocessor "
                          f"({str(exc).splitlines()[0][:150]}). Save it beside the model "
                          "(processor.save_pretrained).") from None
    return model, processor


def _a(noun: str) -> str:
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun
