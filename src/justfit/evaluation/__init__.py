"""Metrics and inference."""

from justfit.evaluation.metrics import classification_report, epoch_metrics
from justfit.evaluation.predict import predict_logits

__all__ = ["classification_report", "epoch_metrics", "predict_logits"]
