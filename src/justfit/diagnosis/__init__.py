"""Fit diagnosis: findings with evidence, a verdict, and remedies, from plain run data."""

from justfit.diagnosis.diagnose import Diagnosis, diagnose, diagnose_run
from justfit.diagnosis.history_io import load_history
from justfit.diagnosis.rules import RULES, Context, Finding

__all__ = ["RULES", "Context", "Diagnosis", "Finding", "diagnose", "diagnose_run", "load_history"]
