"""Audio classification models: any ``AutoModelForAudioClassification`` checkpoint (wav2vec2,
HuBERT, AST, Whisper, ...) with its ``AutoFeatureExtractor``, a new head for the user's labels.

Presets: ``tiny-wav2vec2-random`` and ``tiny-whisper-random`` (random weights, a few hundred
thousand parameters, 16 kHz; for tests and smoke runs, built locally like any checkpoint so tests
use the users' loading path) and ``whisper-tiny-en`` (the real pretrained Whisper tiny.en encoder,
converted from packaged weights: ``models.whisper_ct2``).

A Whisper encoder reads 30 s of audio (3,000 feature frames) however short the clip; for clips of
``data.max_seconds`` the loader keeps the first ``50 * max_seconds`` encoder positions and makes the
feature extractor pad to the same length (``whisper_ct2.shorten_whisper``), so a 2 s keyword costs
2 s of compute, not 30.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from justfit.errors import ModelError
from justfit.models.heads import check_model_kind, load_saved, load_with_new_head

EXAMPLES = "wav2vec2, HuBERT, WavLM, AST, Whisper, ..., or the whisper-tiny-en preset"
SAMPLING_RATE = 16_000
POSITIONS_PER_SECOND = 50  # Whisper encoder positions per second: conv2 has stride 2 over 100 frames/s


def _fit_length(model: Any, processor: Any, max_seconds: float | None) -> tuple[Any, Any]:
    """A Whisper model and extractor cut to ``max_seconds`` (``shorten_whisper``); others as they are."""
    if max_seconds and getattr(model.config, "model_type", "") == "whisper":
        current = getattr(processor, "chunk_length", 30)
        if math.ceil(max_seconds) < current:
            return shorten_whisper(model, processor, max_seconds)
    return model, processor


def load_audio_model(name: str | None, labels: list[Any], *, dropout: float | None = None,
                     max_seconds: float | None = None,
                     config_updates: dict[str, Any] | None = None) -> tuple[Any, Any, str]:
    """Return ``(model, feature_extractor, source)``: ``name`` (a preset, folder or hub id) as an
    ``AutoModelForAudioClassification`` with a fresh head of ``len(labels)`` outputs named by
    ``labels`` (``id2label``), its config updated with ``config_updates`` (SpecAugment's
    ``mask_time_prob`` ...), and its ``AutoFeatureExtractor``; a Whisper encoder cut to
    ``max_seconds`` (seconds) of input.

    Raises ``ModelError`` (one line) when no model is named, or it cannot be loaded, or it has no
    feature extractor, or it is not an audio classification model."""
    from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

    model, processor, source = load_with_new_head(
        name, labels, model_cls=AutoModelForAudioClassification, processor_cls=AutoFeatureExtractor, noun="audio",
        examples=EXAMPLES, dropout=dropout, config_updates=config_updates)
    model, processor = _fit_length(model, processor, max_seconds)
    return model, processor, source


def check_audio_model(name: str | None) -> str:
    """Resolve ``name`` and check, from its config alone, that it can classify audio; returns the source.

    Raises ``ModelError`` (one line) for no model, one that cannot be read, or an architecture with
    no audio-classification head in transformers (a text or image checkpoint)."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_AUDIO_CLASSIFICATION_MAPPING_NAMES

    return check_model_kind(name, kinds=set(MODEL_FOR_AUDIO_CLASSIFICATION_MAPPING_NAMES), noun="audio",
                            inputs="audio", examples=EXAMPLES)


def load_saved_audio_model(path: str | Path) -> tuple[Any, Any]:
    """A saved audio model folder: ``(AutoModelForAudioClassification, AutoFeatureExtractor)``."""
    from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

    return load_saved(path, model_cls=AutoModelForAudioClassification, processor_cls=AutoFeatureExtractor,
                      noun="audio")


def sampling_rate_of(processor: Any) -> int:
    """The rate (Hz) the model's feature extractor expects (16 kHz when it does not say)."""
    return int(getattr(processor, "sampling_rate", SAMPLING_RATE) or SAMPLING_RATE)


def encoder_of(model: Any) -> Any:
    if hasattr(model, "embed_positions") and hasattr(model, "conv2"):
        return model
    for get in (lambda m: m.encoder, lambda m: m.get_encoder(), lambda m: m.model.encoder):
        try:
            return get(model)
        except AttributeError:
            continue
    raise ModelError(f"{type(model).__name__} has no Whisper encoder. Pass a WhisperForAudioClassification, "
                     "WhisperModel or WhisperEncoder.")


def shorten_whisper(model: Any, feature_extractor: Any, seconds: float) -> tuple[Any, Any]:
    """Cut a Whisper encoder and its feature extractor from 30 s windows down to short clips, in place.

    Whisper's encoder is trained on 30 s windows (3000 feature frames, 1500 positions after the
    stride-2 convolution) and transformers insists on exactly that length, so a 1 s keyword would be
    padded with 29 s of silence: 30 times the compute per clip (more in attention, which is
    quadratic), spent on silence. The usual practice when
    fine-tuning a Whisper encoder on short clips (keyword spotting, audio classification) is to keep
    only the first positions of the (sinusoidal) position table and feed windows of the clips'
    length; CTranslate2 does the same for inputs shorter than 30 s. The encoder sees its first
    positions exactly as in pre-training; only the long silent tail is gone.

    Keeps the first ``50 * ceil(seconds)`` rows of ``encoder.embed_positions`` and sets
    ``config.max_source_positions`` to that; sets the feature extractor's ``chunk_length``
    (``ceil(seconds)``), ``n_samples`` and ``nb_max_frames`` so it pads or truncates every clip to
    the same length. ``seconds`` is rounded up to whole seconds because a saved
    ``WhisperFeatureExtractor`` recomputes its padding length from ``chunk_length`` when loaded,
    and a fractional one breaks its padding; so a saved folder loads and runs with plain
    ``transformers.pipeline("audio-classification", model=folder)``.

    Returns ``(model, feature_extractor)``. Raises ``ModelError`` (nothing changed) when ``seconds`` is
    not positive, asks for more positions than the encoder has, or the extractor is not Whisper's
    (16 kHz, hop 160)."""
    import torch

    if not (isinstance(seconds, (int, float)) and math.isfinite(seconds) and seconds > 0):
        raise ModelError(f"shorten_whisper needs a positive clip length in seconds, got {seconds!r}. Pass the "
                         "longest clip's duration, e.g. 1.0.")
    whole = math.ceil(round(float(seconds), 6))
    positions = POSITIONS_PER_SECOND * whole
    encoder = encoder_of(model)
    table = encoder.embed_positions
    if positions > table.num_embeddings:
        raise ModelError(f"The encoder has {table.num_embeddings} positions ({table.num_embeddings // 50} s); "
                         f"{whole} s needs {positions}. Pass seconds <= {table.num_embeddings // 50}.")
    frames = positions * encoder.conv1.stride[0] * encoder.conv2.stride[0]
    n_samples = whole * feature_extractor.sampling_rate
    if n_samples // feature_extractor.hop_length != frames:
        raise ModelError(f"The feature extractor would make {n_samples // feature_extractor.hop_length} frames per "
                         f"clip but the encoder needs {frames}. Use Whisper's extractor (16 kHz, hop 160).")
    if positions < table.num_embeddings:
        new = torch.nn.Embedding(positions, table.embedding_dim, device=table.weight.device, dtype=table.weight.dtype)
        with torch.no_grad():
            new.weight.copy_(table.weight[:positions])
        new.requires_grad_(table.weight.requires_grad)
        encoder.embed_positions = new
    encoder.max_source_positions = positions
    for config in {id(c): c for c in (getattr(model, "config", None), getattr(encoder, "config", None))
                   if c is not None}.values():
        config.max_source_positions = positions
    feature_extractor.chunk_length = whole
    feature_extractor.n_samples = n_samples
    feature_extractor.nb_max_frames = frames
    return model, feature_extractor
