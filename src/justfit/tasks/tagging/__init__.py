"""justfit.tasks.tagging."""
