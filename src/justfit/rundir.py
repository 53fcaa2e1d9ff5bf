"""The one writer of a finished run's files.

``write_run`` writes every file of ``runs/<name>/`` (config, data report, removed rows, history, metrics,
predictions, diagnosis, report, model) into the run's ``.partial`` folder and renames it when all are
written, so a run folder is either complete or absent. ``justfit train`` and ``justfit tune`` end here.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from justfit._files import write_csv, write_json
from justfit._portable import PathScrubber, shareable_config, shareable_result
from justfit.checks import recorded
from justfit.config import JustfitConfig
from justfit.diagnosis import diagnose
from justfit.models.factory import model_package, portable_model_name
from justfit.report import render_report
from justfit.results import RunResult
from justfit.resume import CHECKPOINTS, LOCK, run_dir_for

__all__ = ["run_dir_for", "write_run"]  # run_dir_for: the folder a run takes (justfit.resume)


def write_run(final: Path, partial: Path, cfg: JustfitConfig, columns: Any, est: Any, splits: Any, report: Any,
               metrics: dict[str, Any], test_logits: np.ndarray, autofit: Any, t0: float, *,
               keep_checkpoints: bool = False, extra: dict[str, Any] | None = None,
               baseline: dict[str, Any] | None = None, saved: Any = None) -> RunResult:
    """Write every file of the run into ``partial``, then rename it to ``final`` (replacing an older run).
    The checkpoints are deleted first, unless ``keep_checkpoints``. ``extra`` joins ``result.data``
    (a search's summary); ``baseline`` is the cheap baseline beside the model (``cheap_baseline``).
    ``saved``: the fitted estimator whose model is saved and whose ``test_logits`` these are, when it is not
    ``est`` (a model refitted on train+validation); the history, the curves and the diagnosis stay ``est``'s."""
    import yaml

    task = est.task_
    scrub = PathScrubber(splits.sources)  # media files named from their data root, not this machine's folders

    cfg_json = cfg.model_dump(mode="json")
    # The resolved config names the columns actually used, so the run is reproducible as written.
    cfg_json["data"]["text_column"] = cfg_json["data"]["text_column"] or columns.text
    cfg_json["data"]["label_column"] = cfg_json["data"]["label_column"] or columns.label
    resolved = JustfitConfig.from_dict(cfg_json)
    # What is shared names no path of this machine (justfit._portable).
    (partial / "config.yaml").write_text(yaml.safe_dump(shareable_config(resolved.model_dump(mode="json")),
                                                        sort_keys=False))
    est.history_.to_jsonl(partial / "history.jsonl")
    write_json(partial / "metrics.json", metrics)
    splits.to_json(partial / "splits.json")
    analysis = task.analysis(splits.test, test_logits)
    write_csv(scrub.frame(analysis), partial / "predictions.csv")
    model_est = saved if saved is not None else est
    assets = task.report_assets(splits.test, analysis, splits.train, model_est.step_)
    if assets:
        write_json(partial / "report_assets.json", scrub.data(assets))
    write_json(partial / "data_report.json", scrub.data(report.to_dict(cfg.quality.label_noise_top)))
    if autofit is not None:
        write_json(partial / "autofit.json", autofit.to_dict())
    if getattr(est, "lr_find_", None):
        write_json(partial / "lr_find.json", est.lr_find_)
    write_csv(scrub.frame(report.removed), partial / "removed.csv")
    write_csv(scrub.frame(report.flagged), partial / "flagged.csv")
    model_est.save(partial / "model")
    result = RunResult(
        run_dir=str(final),
        labels=task.labels,
        metrics={k: v for k, v in metrics.items() if not isinstance(v, dict)},
        history=est.history_.records,
        best_epoch=est.best_epoch_,
        stop_reason=est.stop_reason_,
        data={
            "sources": splits.sources,
            "columns": {"text": columns.text, "label": columns.label},
            "sizes": splits.sizes(),
            "task": task.name,
            "class_counts": {name: task.class_counts(getattr(splits, name)["label"])
                             for name in ("train", "validation", "test")},
            "model": portable_model_name(est.model_source_),
            "model_package": model_package(portable_model_name(est.model_source_)),
            "params": est.params_,
            "bf16": est.bf16_,
            **({"feature_cache": est.feature_cache_} if getattr(est, "feature_cache_", None) else {}),
            **({"lr_find": {k: est.lr_find_[k] for k in ("suggestion", "rule", "reason")}}
               if getattr(est, "lr_find_", None) else {}),
            "quality": report.summary(),
            "metric_directions": recorded(resolved, task.name),
            "task_facts": task.diagnosis_facts(),
            **({"autofit": autofit.to_dict()} if autofit is not None else {}),
            **({"seed_spread": metrics["seed_spread"]} if "seed_spread" in metrics else {}),
            **({"baseline": baseline} if baseline else {}),
            **(extra or {}),
        },
        seconds=time.perf_counter() - t0,
        config=resolved.model_dump(mode="json"),
    )

    fit_context = task.diagnosis_context(splits.train["label"], splits.validation["label"])
    # The units a validation score averages over (rows; words for tagging): `justfit doctor` reads the noise from it.
    result.data["validation_units"] = fit_context.get("n_val")
    result.diagnosis = diagnose(result.history, data=result.data.get("quality"), metrics=metrics,
                                config=result.config, n_train=splits.sizes()["train"],
                                n_params=est.params_.get("trainable_params"),
                                n_classes=fit_context["n_classes"], n_val=fit_context.get("n_val"),
                                source="justfit run", monitor=resolved.early_stopping.monitor,
                                directions=result.data["metric_directions"], baseline=baseline,
                                task_facts=result.data["task_facts"],
                                model_type=(result.data.get("defaults") or {}).get("model_type"))
    result.verdict = result.diagnosis.verdict
    write_json(partial / "diagnosis.json", scrub.data(result.diagnosis.to_dict()))
    shared = shareable_result(result.to_dict())
    write_json(partial / "result.json", {**shared, "data": scrub.data(shared["data"])})

    try:
        render_report(partial, name=final.name)
    except Exception as exc:  # the run is complete without its report; `justfit report` can retry
        import warnings

        warnings.warn(f"Could not render report.html ({type(exc).__name__}: {exc}); the run is saved. "
                      "Retry with: justfit report RUN_DIR", RuntimeWarning, stacklevel=2)

    if not keep_checkpoints:
        shutil.rmtree(partial / CHECKPOINTS, ignore_errors=True)
    (partial / LOCK).unlink(missing_ok=True)  # the lock stays held (on the open file) until the caller releases it
    if final.exists():  # --overwrite: move the old run aside first, so '<name>' is never half-deleted
        old = final.with_name(final.name + ".old.partial")
        shutil.rmtree(old, ignore_errors=True)
        final.rename(old)
        partial.rename(final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        partial.rename(final)
    return result
