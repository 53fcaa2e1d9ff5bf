"""justfit.tasks.audio.task."""
