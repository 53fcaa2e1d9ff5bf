from justfit.training.callbacks.base import Callback
from justfit.training.callbacks.early_stopping import EarlyStopping
from justfit.training.callbacks.progress import ProgressBar

__all__ = ["Callback", "EarlyStopping", "ProgressBar"]
