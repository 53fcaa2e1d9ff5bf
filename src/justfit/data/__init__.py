"""Data stage: loading tables, choosing columns, splitting."""

from justfit.data.io import ColumnSpec, LoadedData, load_data, load_table
from justfit.data.splitting import Splits, split

__all__ = ["ColumnSpec", "LoadedData", "Splits", "load_data", "load_table", "split"]
