"""Experiment tracking through accelerate's trackers: TensorBoard and MLflow, off unless asked for.

A run logs its resolved config (flattened to ``section.key``), every epoch's record (step = the
epoch, counted across a recipe's stages) and its final test metrics (``test_<name>``). Trainings
inside a run go to child runs: a ``justfit tune`` trial each, and each seed or auto-fit round of a
run that trains several. MLflow children are nested runs under the run's; TensorBoard children are
subfolders of its log folder. Only the main process of a multi-process launch logs.

MLflow writes to ``output.tracking_uri``, by default a local SQLite file beside the runs
(``<output.dir>/mlflow.db``: MLflow 3 keeps its plain-file store in maintenance mode and refuses it
unless ``MLFLOW_ALLOW_FILE_STORE=true``; ``file:./mlruns`` works with that set). TensorBoard writes
into the run directory (``tensorboard/``).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from justfit._files import read_json, write_json
from justfit.config import TRACKERS
from justfit.errors import ConfigError, unknown_name
from justfit.resume import CHECKPOINTS, REQUEST
from justfit.training.callbacks.base import Callback

EXPERIMENT = "justfit"


def _flat(config: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for section, values in config.items():
        if isinstance(values, dict):
            for k, v in values.items():
                out[f"{section}.{k}"] = v if isinstance(v, int | float | str | bool) else str(v)
        else:
            out[section] = values if isinstance(values, int | float | str | bool) else str(values)
    return out


def _numbers(values: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in values.items() if isinstance(v, int | float) and not isinstance(v, bool)
            and math.isfinite(float(v)) and k != "epoch"}


def check_trackers(kinds: list[str]) -> None:
    """Refuse an unknown tracker, and one whose package is not installed (``ConfigError``, one line)."""
    import importlib.util

    for kind in kinds:
        if kind not in TRACKERS:
            raise unknown_name("tracker", kind, TRACKERS)
        module = {"tensorboard": "tensorboard", "mlflow": "mlflow"}[kind]
        if importlib.util.find_spec(module) is None and not (kind == "tensorboard"
                                                             and importlib.util.find_spec("tensorboardX")):
            raise ConfigError(f"--track {kind} needs the {module} package: pip install 'justfit[track]'.")


class RunTracker:
    """The trackers of one run (or of one child run). ``kinds`` from ``output.track``; ``log_dir`` is the
    run's TensorBoard folder; ``uri`` the MLflow tracking URI."""

    def __init__(self, kinds: list[str], name: str, log_dir: Path, uri: str, *, nested: bool = False,
                 tags: dict[str, str] | None = None, run_id: str | None = None) -> None:
        from accelerate.tracking import MLflowTracker, TensorBoardTracker

        check_trackers(kinds)
        self.kinds, self.name, self.log_dir, self.uri = list(kinds), name, Path(log_dir), uri
        self.trackers: list[Any] = []
        self._children = 0
        if "tensorboard" in kinds:
            tb = TensorBoardTracker(name, str(self.log_dir))
            if hasattr(tb, "start"):
                tb.start()
            self.trackers.append(tb)
        if "mlflow" in kinds:
            import mlflow

            logging.getLogger("mlflow").setLevel(logging.WARNING)  # not its table-creation notes
            logging.getLogger("alembic").setLevel(logging.WARNING)
            mlflow.set_tracking_uri(uri)
            ml = MLflowTracker(experiment_name=EXPERIMENT, run_name=name, nested_run=nested, tags=tags, run_id=run_id)
            try:
                ml.start()
            except Exception as exc:  # an unreachable server, a refused store
                first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
                raise ConfigError(f"Cannot log to MLflow at {uri} ({first}). Pass another --tracking-uri.") from None
            self.trackers.append(ml)

    @property
    def mlflow_run_id(self) -> str | None:
        """The MLflow run's id (a resumed run logs on into it), or None without MLflow."""
        run = next((t.tracker for t in self.trackers if t.name == "mlflow"), None)
        return None if run is None else run.info.run_id

    def config(self, config: dict[str, Any]) -> None:
        """The resolved config as the run's parameters (``section.key``)."""
        for t in self.trackers:
            t.store_init_configuration(_flat(config))

    def log(self, values: dict[str, Any], step: int | None = None) -> None:
        """The numeric ``values`` (others are skipped) at ``step``."""
        numbers = _numbers(values)
        if numbers:
            for t in self.trackers:
                t.log(numbers, step=step)

    def child(self, name: str) -> RunTracker:
        """A child run (a trial, a seed): a nested MLflow run, a TensorBoard subfolder."""
        self._children += 1
        return RunTracker(self.kinds, name, self.log_dir / self.name, self.uri, nested=True,
                          tags={"justfit.parent": self.name})

    def finish(self) -> None:
        for t in self.trackers:
            t.finish()
        self.trackers = []


class TrackingCallback(Callback):
    """Log each epoch's record to ``tracker`` (step = the epoch across a recipe's stages: the trainer's
    ``epoch_offset`` plus the record's epoch), each name after ``prefix`` (``seed43/`` for one seed of
    several). Stateless: a resumed run may add or drop it."""

    def __init__(self, tracker: RunTracker, prefix: str = "") -> None:
        self.tracker = tracker
        self.prefix = prefix

    def for_seed(self, seed: int) -> TrackingCallback:
        """The callback of one seed's training among several: its values named ``seed<seed>/...``."""
        return TrackingCallback(self.tracker, f"{self.prefix}seed{seed}/")

    def on_epoch_end(self, trainer: Any, record: dict[str, Any]) -> None:
        if getattr(trainer.accelerator, "is_main_process", True):
            values = {f"{self.prefix}{k}": v for k, v in record.items()}
            self.tracker.log(values, step=int(getattr(trainer, "epoch_offset", 0)) + int(record["epoch"]))


def log_test_metrics(tracker: RunTracker, metrics: dict[str, Any]) -> None:
    """The final test metrics as ``test_<name>`` (and, with several seeds, ``test_<name>_mean``/``_std``)."""
    values = {f"test_{k}": v for k, v in metrics.items()}
    for name, m in ((metrics.get("seed_spread") or {}).get("metrics") or {}).items():
        values[f"test_{name}_mean"], values[f"test_{name}_std"] = m["mean"], m["std"]
    tracker.log(values)


def run_tracker(cfg: Any, run_dir: Path, name: str) -> RunTracker | None:
    """The trackers ``cfg.output.track`` asks for (None when none), logging to the run ``name`` whose
    folder is ``run_dir`` (TensorBoard writes in ``run_dir/tensorboard``). A resumed run logs on into
    the MLflow run it started (its id is kept in the run's request, ``checkpoints/run.json``)."""

    kinds = list(cfg.output.track or [])
    if not kinds:
        return None
    uri = cfg.output.tracking_uri or f"sqlite:///{(Path(cfg.output.dir) / 'mlflow.db').resolve()}"
    request = run_dir / CHECKPOINTS / REQUEST
    saved = read_json(request) if request.is_file() else {}
    tracker = RunTracker(kinds, name, run_dir / "tensorboard", uri, run_id=saved.get("mlflow_run_id"))
    if request.is_file() and tracker.mlflow_run_id and saved.get("mlflow_run_id") != tracker.mlflow_run_id:
        write_json(request, {**saved, "mlflow_run_id": tracker.mlflow_run_id})
    return tracker
