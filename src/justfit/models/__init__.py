"""Model loading, presets and freezing."""

from justfit.models import audio as _audio  # noqa: F401  (registers the audio presets)
from justfit.models import vision as _vision  # noqa: F401  (registers the image presets)
from justfit.models import whisper_ct2 as _whisper_ct2  # noqa: F401  (registers the whisper-tiny-en preset)
from justfit.models.factory import PRESETS, build_tiny_random, default_model_path, list_presets, load_model
from justfit.models.freezing import apply_freeze

__all__ = ["PRESETS", "apply_freeze", "build_tiny_random", "default_model_path", "list_presets", "load_model"]
