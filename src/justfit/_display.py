"""Rich renderings of plain report objects, shared by ``finetune(progress=True)`` and the CLI."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from justfit.diagnosis.tool_terms import advice


def data_report_table(report: Any, title: str = "data stage") -> Table:
    """One row per step that removed or flagged rows: (step, removed, flagged)."""
    table = Table(title=title, title_justify="left")
    table.add_column("step")
    table.add_column("removed", justify="right")
    table.add_column("flagged", justify="right")
    for step, n_removed, n_flagged in report.table():
        if n_removed or n_flagged:
            table.add_row(step, str(n_removed), str(n_flagged))
    if not table.row_count:
        table.add_row("(nothing removed or flagged)", "0", "0")
    return table


def print_data_stage(report: Any, console: Any) -> None:
    if not report.enabled:
        console.print("data stage: off (quality.enabled=false)")
    else:
        console.print(data_report_table(report))
    print_warnings(report.warnings, console)


def print_warnings(warnings: list[str], console: Any) -> None:
    for w in warnings:
        style = "bold red" if w.startswith("TEST SET LEAKAGE") else "yellow"
        console.print(f"[{style}]warning:[/{style}] {w}")


VERDICT_STYLE = {"good fit": "bold green", "not converged": "bold yellow", "overfitting": "bold red",
                 "underfitting": "bold red", "unstable": "bold red", "leaked test set": "bold red",
                 "noisy labels": "bold yellow", "model cannot read data": "bold red",
                 "not enough evidence": "bold yellow", "no better than a cheap baseline": "bold red"}


def print_diagnosis(diagnosis: Any, console: Any, *, limit: int = 5) -> None:
    """The verdict, then the findings with their evidence and the remedies: as --set flags, or in the terms of
    the tool that wrote the history with the flags beside them (``diagnosis.tool``)."""
    from rich.markup import escape

    style = VERDICT_STYLE.get(diagnosis.verdict, "bold")
    console.print(f"verdict: [{style}]{diagnosis.verdict}[/{style}]")
    for f in diagnosis.findings[:limit]:
        console.print(f"  {escape(f'[{f.severity}]')} [bold]{escape(f.title)}[/bold]")
        console.print(f"      {f.explanation}")
        for r in f.remedies[:3]:
            console.print(escape(f"      try: {advice(r, getattr(diagnosis, 'tool', None))}   ({r['why']})"),
                          soft_wrap=True)
    if len(diagnosis.findings) > limit:
        console.print(f"  ... and {len(diagnosis.findings) - limit} more (see diagnosis.json)")


def autofit_table(autofit: dict[str, Any]) -> Table:
    """One row per auto-fit round: what changed and why, the validation score, the verdict."""
    table = Table(title=f"auto-fit ({autofit['stopped']}); chosen: round {autofit['chosen_round']}",
                  title_justify="left", caption=autofit.get("outcome") or None, caption_justify="left")
    for col in ("round", "change", "why", autofit["monitor"], "best epoch", "verdict"):
        table.add_column(col, overflow="fold")  # a change is read whole, never cut to "training.epo..."
    for r in autofit["rounds"]:
        change = " ".join(f"{k}={v}" for k, v in r["changes"].items()) or "-"
        mark = " *" if r["round"] == autofit["chosen_round"] else ""
        score = "-" if r["score"] is None else f"{r['score']:.4f}"  # the monitor's own value, as the task ranks it
        table.add_row(f"{r['round']}{mark}", change, r["why"], score, str(r["best_epoch"]), r["verdict"])
    return table


def seed_table(spread: dict[str, Any], limit: int = 8) -> Table:
    """The seed spread: each headline test metric's mean ± std and every seed's value (the kept seed marked)."""
    seeds = spread["seeds"]
    table = Table(title=f"{len(seeds)} seeds; kept: seed {spread['kept_seed']} (the median by validation score)",
                  title_justify="left")
    table.add_column("metric")
    table.add_column("mean ± std", justify="right")
    for s in seeds:
        table.add_column(f"{s}{' *' if s == spread['kept_seed'] else ''}", justify="right")
    rows = list(spread.get("metrics", {}).items())[:limit]
    val = spread.get("validation")
    if val:
        rows.insert(0, (f"{val['monitor']} (best)", val))
    for name, m in rows:
        table.add_row(name, f"{m['mean']:.4f} ± {m['std']:.4f}", *(f"{v:.4f}" for v in m["values"]))
    return table


def tune_table(found: dict[str, Any]) -> Table:
    """A search's outcome: trials by state, the best and the baseline trial, the final validation spread."""
    counts = ", ".join(f"{n} {state}" for state, n in found["trials"].items() if n)
    table = Table(title=f"tune: study '{found['study_name']}' ({counts}); {found.get('worker', {}).get('stopped', '')}",
                  title_justify="left")
    for col in ("", f"{found['monitor']} (best epoch)", "parameters"):
        table.add_column(col)

    def params(p: dict[str, Any]) -> str:
        return " ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in p.items())

    best = found.get("best")
    if best:
        table.add_row(f"best (trial {best['number']})", f"{best['value']:.4f}", params(best["params"]))
    base = found.get("baseline")
    if base:
        table.add_row("as given (trial 0)", f"{base['value']:.4f}", params(base["params"]))
    val = (found.get("final") or {}).get("validation")
    if val and len(val.get("values", [])) > 1:
        noise = "; the gain over the config as given is within it: noise" if found.get("gain_is_noise") else ""
        table.add_row(f"best, {len(val['values'])} seeds", f"{val['mean']:.4f} ± {val['std']:.4f}", noise.strip("; "))
    return table


def baseline_line(data: dict[str, Any]) -> str | None:
    """One line on the run's cheap baseline (``result.data["baseline"]``): what it is, its test metrics and whether
    the fine-tuned model beat it on validation; ``None`` when the run has none."""
    b = data.get("baseline")
    if not isinstance(b, dict):
        return None
    if "error" in b:
        return f"cheap baseline: could not be fitted ({b['error']})"
    test = ", ".join(f"{k} {v:.4f}" for k, v in b.get("test", {}).items() if isinstance(v, int | float))
    v = b.get("validation") or {}
    beat = "beats it" if v.get("beats") else ("is worse" if v.get("worse") else "does not beat it beyond the noise")
    return (f"cheap baseline ({b.get('name')}, {b.get('seconds', 0):.1f} s): test {test}; on validation the fine-tuned "
            f"model {beat} (val_{v.get('score')} {v.get('model', float('nan')):.4f} vs {v.get('baseline', float('nan')):.4f})")
