"""Tuning: searches over training settings. ``autofit`` diagnoses a run, applies the top remedy and trains again."""
