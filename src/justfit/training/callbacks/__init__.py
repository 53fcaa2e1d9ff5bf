from justfit.training.callbacks.base import Callback, agree
from justfit.training.callbacks.early_stopping import EarlyStopping
from justfit.training.callbacks.progress import ProgressBar
from justfit.training.callbacks.time_budget import TimeBudgetCallback

__all__ = ["Callback", "EarlyStopping", "ProgressBar", "TimeBudgetCallback", "agree"]
