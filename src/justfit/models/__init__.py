"""Model loading, presets and freezing."""

from justfit.models.factory import PRESETS, build_tiny_random, default_model_path, list_presets, load_model
from justfit.models.freezing import apply_freeze

__all__ = ["PRESETS", "apply_freeze", "build_tiny_random", "default_model_path", "list_presets", "load_model"]
