"""The self-contained HTML report of a run."""

from justfit.report.render import render_report

__all__ = ["render_report"]
