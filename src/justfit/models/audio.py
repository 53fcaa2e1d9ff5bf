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

from justfit.models.factory import PRESETS
from justfit.models.heads import check_model_kind, load_saved, load_with_new_head

EXAMPLES = "wav2vec2, HuBERT, WavLM, AST, Whisper, ..., or the whisper-tiny-en preset"
SAMPLING_RATE = 16_000


def _tiny_wav2vec2(path: Path, seed: int = 0) -> None:
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2ForSequenceClassification

    torch.manual_seed(seed)
    config = Wav2Vec2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
                            conv_dim=(32, 32, 32), conv_stride=(5, 4, 4), conv_kernel=(10, 8, 8),
                            num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2, feat_extract_norm="layer",
                            do_stable_layer_norm=True, classifier_proj_size=16, vocab_size=8)
    Wav2Vec2ForSequenceClassification(config).save_pretrained(path)
    Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=SAMPLING_RATE, padding_value=0.0, do_normalize=True,
                             return_attention_mask=True).save_pretrained(path)


def _tiny_whisper(path: Path, seed: int = 0) -> None:
    import torch
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperForAudioClassification

    torch.manual_seed(seed)
    config = WhisperConfig(d_model=32, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=37,
                           decoder_layers=1, decoder_attention_heads=2, decoder_ffn_dim=37, num_mel_bins=80,
                           max_source_positions=1500, classifier_proj_size=16, vocab_size=64)
    WhisperForAudioClassification(config).save_pretrained(path)
    WhisperFeatureExtractor(feature_size=80, sampling_rate=SAMPLING_RATE).save_pretrained(path)


def _preset(name: str, build: Any) -> str:
    from justfit.models.factory import build_preset

    return build_preset(name, build, marker="preprocessor_config.json")  # in the justfit cache, whole or not at all


PRESETS.register("tiny-wav2vec2-random", lambda: _preset("tiny-wav2vec2-random", _tiny_wav2vec2),
                 help="a 2-layer random-weight wav2vec2 on 16 kHz audio, for tests and smoke runs")
PRESETS.register("tiny-whisper-random", lambda: _preset("tiny-whisper-random", _tiny_whisper),
                 help="a 2-layer random-weight Whisper encoder on 16 kHz audio, for tests and smoke runs")


def _fit_length(model: Any, processor: Any, max_seconds: float | None) -> tuple[Any, Any]:
    """A Whisper model and extractor cut to ``max_seconds`` (``shorten_whisper``); others as they are."""
    if max_seconds and getattr(model.config, "model_type", "") == "whisper":
        from justfit.models.whisper_ct2 import shorten_whisper

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
