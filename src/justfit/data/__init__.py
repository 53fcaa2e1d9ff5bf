"""Data stage: loading tables, choosing columns, cleaning, splitting, leakage and label audits."""

from justfit.data.cleaning import RULES, CleaningReport, clean
from justfit.data.io import ColumnSpec, LoadedData, load_data, load_table
from justfit.data.label_audit import LabelReport, find_label_issues
from justfit.data.leakage import LeakageReport, audit_leakage
from justfit.data.splitting import Splits, split
from justfit.data.stage import DataReport, prepare_data

__all__ = ["RULES", "CleaningReport", "ColumnSpec", "DataReport", "LabelReport", "LeakageReport", "LoadedData",
           "Splits", "audit_leakage", "clean", "find_label_issues", "load_data", "load_table", "prepare_data",
           "split"]
