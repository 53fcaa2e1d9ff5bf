"""Table plumbing: reading tables, cleaning, splitting, the leakage and label audits.

Importing the package is cheap and imports none of its modules: each name below loads its module on first
use (PEP 562), so the config can read the augmentation registry without the whole data stage."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

_LAZY = {
    "RULES": "justfit.data.cleaning", "CleaningReport": "justfit.data.cleaning", "clean": "justfit.data.cleaning",
    "ColumnSpec": "justfit.data.io", "LoadedData": "justfit.data.io", "load_data": "justfit.data.io",
    "load_table": "justfit.data.io", "LabelReport": "justfit.data.label_audit",
    "find_label_issues": "justfit.data.label_audit", "LeakageReport": "justfit.data.leakage",
    "audit_leakage": "justfit.data.leakage", "Splits": "justfit.data.splitting", "split": "justfit.data.splitting",
}

__all__ = ["RULES", "CleaningReport", "ColumnSpec", "LabelReport", "LeakageReport", "LoadedData", "Splits",
           "audit_leakage", "clean", "find_label_issues", "load_data", "load_table", "split"]

if TYPE_CHECKING:
    from justfit.data.cleaning import RULES, CleaningReport, clean
    from justfit.data.io import ColumnSpec, LoadedData, load_data, load_table
    from justfit.data.label_audit import LabelReport, find_label_issues
    from justfit.data.leakage import LeakageReport, audit_leakage
    from justfit.data.splitting import Splits, split


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'justfit.data' has no attribute '{name}'")
