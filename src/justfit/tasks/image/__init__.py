"""justfit.tasks.image.task."""
