"""``report.html``: one self-contained page per run, rendered from the run directory's plain files.

No network is needed to view it: plots are inline SVG, styles are inline, there is no script.
It reads only the run directory (never a model), so ``justfit report RUN_DIR`` re-renders any
finished run, and the diagnosis is recomputed from the history when ``diagnosis.json`` is missing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from justfit._files import atomic_write_text
from justfit.diagnosis import diagnose_run
from justfit.errors import RunDirError
from justfit.history import History
from justfit.report import plots
from justfit.report.html import escape, number, table

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:1100px;padding:24px;
color:#1d232a;background:#fff}
h1{margin-bottom:4px}h2{margin-top:36px;border-bottom:1px solid #ddd;padding-bottom:4px}
.verdict{font-size:22px;font-weight:700;padding:10px 14px;border-radius:8px;display:inline-block;margin:10px 0}
.good{background:#e3f6e8;color:#17692c}.warn{background:#fff4d6;color:#7a5600}.bad{background:#fde4e1;color:#9b1c10}
table{border-collapse:collapse;margin:8px 0;font-size:14px}td,th{border:1px solid #ddd;padding:4px 8px;
text-align:left;vertical-align:top}th{background:#f4f6f8}.num{text-align:right;font-variant-numeric:tabular-nums}
.finding{border-left:4px solid #ccc;padding:6px 12px;margin:10px 0;background:#fafbfc}
.high{border-color:#d93025}.medium{border-color:#f29900}.low{border-color:#7baaf7}.info{border-color:#ccc}
code,pre{background:#f4f6f8;border-radius:4px;padding:1px 4px}pre{padding:10px;overflow:auto;font-size:12px}
.grid{display:flex;flex-wrap:wrap;gap:16px}.grid>div{flex:1 1 480px}svg{max-width:100%;height:auto}
.muted{color:#667}
"""
GOOD, WARN = {"good fit"}, {"not converged", "noisy labels", "not enough evidence"}


_e, _num, _table = escape, number, table


def _read(run: Path, name: str) -> Any:
    p = run / name
    if not p.is_file():
        return None
    if name.endswith(".json"):
        return json.loads(p.read_text(encoding="utf-8"))
    if name.endswith(".yaml"):
        return p.read_text(encoding="utf-8")
    return None


def _lr_find_section(lr_find: dict[str, Any], svg: str | None) -> str:
    """The learning-rate range test: its suggestion and rule, or why it has none, and its curve."""
    suggestion = lr_find.get("suggestion")
    steps, seconds = lr_find.get("steps"), lr_find.get("seconds") or 0.0
    sweep = (f"{steps} steps in {seconds:.0f} s" + (", stopped early when the loss diverged"
                                                    if lr_find.get("stopped_early") else ""))
    if isinstance(suggestion, int | float):
        text = (f"<p>Suggested learning rate: <b>{suggestion:.3g}</b> "
                f"<span class='muted'>(rule: {_e(lr_find.get('rule', ''))})</span></p>")
    else:
        text = f"<p><b>No suggestion:</b> {_e(lr_find.get('reason', ''))}</p>"
    return ("<h2>Learning-rate finder</h2>" + text + f"<p class='muted'>Range test: {_e(sweep)}.</p>"
            + (f"<div>{svg}</div>" if svg else ""))


def curve_metrics(history: list[dict[str, Any]], directions: dict[str, str]) -> list[str]:
    """The metrics to draw learning curves of: the loss first, then each epoch metric the task declares
    (``directions``, its ``metric_directions``) that the history holds for training or validation."""
    declared = ["loss", *(m for m in directions if m != "loss")]
    return [m for m in declared if any(f"train_{m}" in r or f"val_{m}" in r for r in history)]


def _seed_section(spread: dict[str, Any]) -> str:
    """The seed spread: each test metric's mean ± std over the seeds and every seed's value."""
    seeds = spread["seeds"]
    heads = ["metric", "mean ± std"] + [f"seed {s}" + (" (kept)" if s == spread["kept_seed"] else "") for s in seeds]
    rows = []
    val = spread.get("validation")
    if val:
        rows.append([f"validation {val['monitor']} (best)", f"{val['mean']:.4f} ± {val['std']:.4f}",
                     *(round(v, 4) for v in val["values"])])
    rows += [[name, f"{m['mean']:.4f} ± {m['std']:.4f}", *(round(v, 4) for v in m["values"])]
             for name, m in spread.get("metrics", {}).items()]
    return (f"<h2>Seed spread</h2><p>The same configuration trained with {len(seeds)} seeds; the model of the median "
            "seed by validation score is the one saved. A difference between configurations smaller than the "
            "standard deviation here is noise.</p>" + _table(rows, heads))


def tested_model(found: dict[str, Any]) -> str:
    """Which model a search's test metrics are of (``tune.json``): the best configuration, or its refit on
    train+validation (``refit``), with its rows and epochs."""
    refit = found.get("refit")
    if not refit:
        return "the best configuration"
    epochs = refit["epochs"]
    return (f"the best configuration refitted on {refit['on']} ({refit['rows']} rows, {epochs} "
            f"epoch{'s' if epochs != 1 else ''})")


def _tune_section(run: Path, found: dict[str, Any]) -> str:
    """The hyperparameter search: trials by state, the best and the as-given trial, the final seeds, and
    optuna's plots (optimisation history, parameter importances, parallel coordinates) inlined."""
    counts = ", ".join(f"{n} {state}" for state, n in found["trials"].items() if n)

    def params(p: dict[str, Any]) -> str:
        return ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in p.items())

    rows = []
    if found.get("best"):
        rows.append([f"best (trial {found['best']['number']})", round(found["best"]["value"], 4),
                     params(found["best"]["params"])])
    if found.get("baseline"):
        rows.append(["as given (trial 0)", round(found["baseline"]["value"], 4), params(found["baseline"]["params"])])
    val = (found.get("final") or {}).get("validation")
    if val and len(val.get("values", [])) > 1:
        rows.append([f"best, retrained with {len(val['values'])} seeds", f"{val['mean']:.4f} ± {val['std']:.4f}",
                     "the gain over the config as given is within the seed spread: noise"
                     if found.get("gain_is_noise") else ""])
    importances = found.get("importances") or {}
    parts = [f"<h2>Hyperparameter search</h2><p>Study '{_e(found['study_name'])}' ({_e(counts)}), scored by "
             f"{_e(found['monitor'])} ({_e(found['direction'])}); {_e((found.get('worker') or {}).get('stopped', ''))}. "
             f"The test split was evaluated once, on {_e(tested_model(found))}"
             + ("; the curves and the diagnosis are the train-only retraining's" if found.get("refit") else "")
             + ". Every trial is in tune/trials.csv; "
             "tune/best_config.yaml runs the best with <code>justfit train</code>.</p>",
             _table(rows, ["", found["monitor"], "parameters"])]
    if importances:
        parts.append("<h3>parameter importances (fANOVA)</h3>" + _table(
            [[k, round(v, 3)] for k, v in importances.items()], ["parameter", "importance"]))
    svgs = [(name, run / "tune" / name) for name in found.get("plots", [])]
    cells = [f"<div><h3>{_e(name.removesuffix('.svg').replace('_', ' '))}</h3>{path.read_text(encoding='utf-8')}</div>"
             for name, path in svgs if path.is_file()]
    if cells:
        parts.append("<div class='grid'>" + "".join(cells) + "</div>")
    return "".join(parts)


def render_report(run_dir: str | Path, output: str | Path | None = None, *, name: str | None = None) -> Path:
    """Write ``report.html`` into ``run_dir`` (or to ``output``) and return its path. ``name`` titles
    the page (default: the folder's name)."""

    run = Path(run_dir)
    title = name or run.name
    if not (run / "history.jsonl").is_file() or not (run / "result.json").is_file():
        raise RunDirError(f"'{run}' is not a finished justfit run directory (needs history.jsonl and result.json).")
    result = _read(run, "result.json")
    history = History.from_jsonl(run / "history.jsonl").records
    metrics = _read(run, "metrics.json") or {}
    data_report = _read(run, "data_report.json")
    diagnosis = _read(run, "diagnosis.json") or diagnose_run(run).to_dict()
    autofit = _read(run, "autofit.json")
    lr_find = _read(run, "lr_find.json")
    found = _read(run, "tune/tune.json")
    config = _read(run, "config.yaml") or ""
    verdict = diagnosis.get("verdict", "")
    klass = "good" if verdict in GOOD else "warn" if verdict in WARN else "bad"
    data = result.get("data", {})
    sizes = data.get("sizes", {})
    from justfit.tasks.base import get_task

    task = get_task(data.get("task") or "classification")  # runs written before tasks were named are classifiers
    outputs = f"{task.name}, {len(result.get('labels', []))} output(s)"

    package = f" ({data['model_package']})" if data.get("model_package") else ""  # the pip package a preset ships in
    parts = [f"<h1>justfit run: {_e(title)}</h1>",
             f"<div class='muted'>model {_e(data.get('model', ''))}{_e(package)} · train {sizes.get('train')} · validation "
             f"{sizes.get('validation')} · test {sizes.get('test')} rows · {_e(outputs)} · "
             f"{result.get('seconds', 0):.0f} s</div>",
             f"<div class='verdict {klass}'>verdict: {_e(verdict or 'not diagnosed')}</div>"]
    base = data.get("baseline") if isinstance(data.get("baseline"), dict) else {}
    cheap = base.get("test") or {}
    failed = f"<p class='muted'>cheap baseline: could not be fitted ({_e(base['error'])})</p>" if "error" in base else ""
    if cheap:  # the cheap baseline's test metrics beside the fine-tuned model's (evaluation.baseline)
        summary = [[k, metrics[k], cheap.get(k, "")] for k in task.headline if k in metrics]
        if metrics.get("invalid_reason"):
            summary.append(["no metrics", metrics["invalid_reason"], ""])
        summary += [["best epoch", result.get("best_epoch"), ""], ["stop", result.get("stop_reason"), ""]]
        refit = (found or {}).get("refit")  # the tested model is the search's refit
        model = f"fine-tuned, refitted on {refit['on']}" if refit else "fine-tuned"
        parts.append(_table(summary, ["test metric", model, f"cheap baseline: {base.get('name')}"]))
        v = base.get("validation") or {}
        parts.append(f"<p class='muted'>cheap baseline fitted in {base.get('seconds', 0):.1f} s on {base.get('rows')} "
                     f"training rows ({_e(base.get('choice', ''))}); validation {_e(v.get('score', ''))}: fine-tuned "
                     f"{v.get('model', float('nan')):.4f}, baseline {v.get('baseline', float('nan')):.4f}, difference "
                     f"{v.get('difference', float('nan')):+.4f} (beyond the noise above {v.get('needed') or 0:.4f}).</p>")
    else:
        summary = [[k, metrics[k]] for k in task.headline if k in metrics]
        if metrics.get("invalid_reason"):
            summary.append(["no metrics", metrics["invalid_reason"]])
        parts.append(_table(summary + [["best epoch", result.get("best_epoch")], ["stop", result.get("stop_reason")]],
                            ["test metric", "value"]) + failed)
    quality = data.get("quality") or {}
    if quality.get("test_leaks"):
        kept = "kept" in str(quality.get("leakage"))
        parts.append(f"<div class='verdict {'bad' if kept else 'warn'}'>TEST SET LEAKAGE: "
                     f"{_e(quality.get('leakage'))}</div>")

    parts.append("<h2>Diagnosis</h2>")
    findings = diagnosis.get("findings", [])
    if not findings:
        parts.append("<p>No findings: the curves show neither over- nor underfitting.</p>")
    for f in findings:
        rem = "".join(f"<li><code>{_e(' '.join(f'--set {k}={v}' for k, v in r['set'].items()))}</code> "
                      f"<span class='muted'>{_e(r['why'])}</span></li>" for r in f.get("remedies", []))
        # plain text, escaped once below (number() escapes what it does not format)
        ev = ", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
                       for k, v in f.get("evidence", {}).items() if not isinstance(v, list | dict))
        parts.append(f"<div class='finding {_e(f['severity'])}'><b>[{_e(f['severity'])}] {_e(f['title'])}</b>"
                     f"<div>{_e(f['explanation'])}</div><div class='muted'>evidence: {_e(ev)}</div>"
                     + (f"<div>try:<ul>{rem}</ul></div>" if rem else "") + "</div>")

    if autofit:
        parts.append("<h2>Auto-fit rounds</h2>")
        rows = [[r["round"] if r["round"] != autofit["chosen_round"] else f"{r['round']} (chosen)",
                 " ".join(f"{k}={v}" for k, v in r["changes"].items()) or "-", r["why"], "-" if r["score"] is None else r["score"],
                 r["best_epoch"], r["verdict"]] for r in autofit["rounds"]]
        parts.append(_table(rows, ["round", "change", "why", autofit["monitor"], "best epoch", "verdict"]))
        parts.append(f"<p class='muted'>{_e(autofit.get('stopped', ''))}"
                     + (f"; {_e(autofit['outcome'])}" if autofit.get("outcome") else "") + ".</p>")

    if found:
        parts.append(_tune_section(run, found))
    spread = (result.get("data") or {}).get("seed_spread")
    if spread:
        parts.append(_seed_section(spread))

    if lr_find:
        parts.append(_lr_find_section(lr_find, plots.lr_find_plot(lr_find)))

    parts.append("<h2>Learning curves</h2><div class='grid'>")
    for metric in curve_metrics(history, task.metric_directions):
        svg = plots.learning_curves(history, result.get("best_epoch"), metric)
        if svg:
            parts.append(f"<div><h3>{metric}</h3>{svg}</div>")
    svg = plots.lr_schedule(history)
    if svg:
        parts.append(f"<div><h3>learning-rate schedule</h3>{svg}</div>")
    parts.append("</div>")

    parts.append("<h2>Test set</h2><div class='grid'>")
    pred = None
    if (run / "predictions.csv").is_file():
        # Read back as written: labels and texts as strings (pandas would retype '007' or 'NA').
        pred = task.read_analysis(run / "predictions.csv")
    parts.extend(task.report_sections(metrics, pred))
    parts.append("</div>")
    if (run / "report_assets.json").is_file():  # pictures the task kept for the report (image thumbnails)
        parts.extend(task.report_gallery(json.loads((run / "report_assets.json").read_text())))
    own = task.report_examples(pred) if pred is not None and len(pred) else None  # sentences with coloured tags
    if own is not None:
        parts.append(own)
    elif pred is not None and len(pred):
        worst = pred.sort_values("loss", ascending=False).head(15)
        extra = [c for c in ("confidence", "residual") if c in pred.columns]
        parts.append("<h3>highest-loss test examples</h3>" + _table(
            [[r["row"], str(r[task.input_column])[:300], r["label"], r["predicted"], *(float(r[c]) for c in extra),
              float(r["loss"])] for _, r in worst.iterrows()],
            ["row", task.input_column, "true", "predicted", *extra, "loss"]))

    if data_report:
        parts.append("<h2>Data stage</h2>")
        for name, rep in (data_report.get("cleaning") or {}).items():
            rows = [[rule, rep["removed"].get(rule, 0), rep["flagged"].get(rule, 0)] for rule in rep.get("rules", [])]
            parts.append(f"<h3>cleaning ({_e(name)}: {rep['rows_in']} rows in, {rep['rows_out']} out)</h3>"
                         + _table(rows, ["rule", "removed", "flagged"]))
            for rule, examples in (rep.get("examples") or {}).items():
                parts.append(f"<details><summary>{_e(rule)}: examples</summary>" + _table(
                    [[x.get("row"), x.get("duplicate_of"), x.get("detail"),
                      str(x.get(task.input_column, x.get("text")))[:200], x.get("label")]
                     for x in examples], ["row", "duplicate of", "detail", task.input_column, "label"]) + "</details>")
        lk = data_report.get("leakage")
        if lk:
            parts.append(f"<h3>leakage</h3><p>{_e(lk.get('summary'))}</p>")
        ln = data_report.get("label_noise")
        if ln:
            parts.append(f"<h3>label audit</h3><p>{ln['issues']} suspects of {ln['rows']} rows (out-of-fold accuracy "
                         f"{_num(ln.get('out_of_fold_accuracy'), 3)}) {_e(ln.get('skipped') or '')}</p>")
        if ln and ln.get("top"):
            parts.append(_table(
                             [[x["row"], str(x["text"])[:200], x["given_label"], x["suggested_label"],
                               float(x["label_quality"])] for x in ln["top"]],
                             ["row", "text", "given", "suggested", "label quality"]))
        bal = data_report.get("balance") or {}
        if bal.get("train"):
            parts.append("<h3>class balance</h3>" + _table(
                [[k, v, bal.get("validation", {}).get(k, 0), bal.get("test", {}).get(k, 0)]
                 for k, v in bal["train"].items()], ["class", "train", "validation", "test"]))
        for w in data_report.get("warnings", []):
            parts.append(f"<p><b>warning:</b> {_e(w)}</p>")

    parts.append(f"<h2>Configuration</h2><pre>{_e(config)}</pre>")
    page = ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>justfit: "
            f"{_e(title)}</title><style>{CSS}</style></head><body>{''.join(parts)}</body></html>")
    out = Path(output) if output else run / "report.html"
    atomic_write_text(out, page)
    return out
