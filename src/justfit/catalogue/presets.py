"""The model presets justfit builds or converts: tiny random-weight models for tests and smoke runs
(BERT, ViT, wav2vec2, Whisper) and ImageNet-pretrained image models that ship in pip packages
(MobileNetV2, EfficientNet-Lite0). Each builds once into the justfit cache (``models.factory.build_preset``).
The packaged text default (``minilm``) is ``models.factory``'s own; ``whisper-tiny-en`` is in
:mod:`justfit.catalogue.whisper_ct2`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from justfit.catalogue import mobilenet_v2
from justfit.models.factory import PRESETS, build_preset, build_tiny_random
from justfit.tasks.audio.models import SAMPLING_RATE
from justfit.tasks.image.models import vit_processor


def _tiny_preset() -> str:
    return build_preset("tiny-bert-random", build_tiny_random)


PRESETS.register("tiny-bert-random", _tiny_preset, help="a 2-layer random-weight BERT for tests and smoke runs")


def build_tiny_vit(path: str | Path, *, image_size: int = 32, hidden_size: int = 32, layers: int = 2,
                   seed: int = 0) -> Path:
    """Save a random-weight ViT (``image_size`` pixels square, patches of 8) and its image processor
    (resize to ``image_size``, scale to [0, 1], normalise by mean 0.5 / std 0.5) into ``path``."""
    import torch
    from transformers import ViTConfig, ViTForImageClassification

    path = Path(path)
    torch.manual_seed(seed)
    config = ViTConfig(image_size=image_size, patch_size=8, num_channels=3, hidden_size=hidden_size,
                       num_hidden_layers=layers, num_attention_heads=2, intermediate_size=37)
    ViTForImageClassification(config).save_pretrained(path)
    vit_processor(image_size).save_pretrained(path)
    return path


def _tiny_vit_preset() -> str:
    return build_preset("tiny-vit-random", build_tiny_vit, marker="preprocessor_config.json")


PRESETS.register("tiny-vit-random", _tiny_vit_preset,
                 help="a 2-layer random-weight ViT on 32x32 images, for tests and smoke runs")


def _efficientnet_lite0_preset() -> str:
    from justfit.tasks.image import (
        efficientnet_lite,  # torch and transformers: loaded when the preset is used
    )

    return build_preset("efficientnet-lite0", efficientnet_lite.build_pretrained_folder,
                        marker="preprocessor_config.json")


PRESETS.register("efficientnet-lite0", _efficientnet_lite0_preset,
                 help="EfficientNet-Lite0, ImageNet-pretrained (4.65M params), packaged with pip: images, offline "
                      "(saved runs load with justfit)")


def _mobilenet_v2_preset() -> str:
    return build_preset("mobilenet-v2", mobilenet_v2.build_pretrained_folder, marker="preprocessor_config.json")


PRESETS.register("mobilenet-v2", _mobilenet_v2_preset,
                 help="MobileNetV2, ImageNet-pretrained (3.5M params, torchvision's weights), packaged with pip: "
                      "images, offline; saved runs load in plain transformers")


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
    return build_preset(name, build, marker="preprocessor_config.json")  # in the justfit cache, whole or not at all


PRESETS.register("tiny-wav2vec2-random", lambda: _preset("tiny-wav2vec2-random", _tiny_wav2vec2),
                 help="a 2-layer random-weight wav2vec2 on 16 kHz audio, for tests and smoke runs")
PRESETS.register("tiny-whisper-random", lambda: _preset("tiny-whisper-random", _tiny_whisper),
                 help="a 2-layer random-weight Whisper encoder on 16 kHz audio, for tests and smoke runs")
