"""justfit.tasks.text.task."""
