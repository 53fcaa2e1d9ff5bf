"""``justfit doctor``: diagnose a finished run, or another tool's history file, offline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def doctor(
    path: Annotated[Path, typer.Argument(help="A justfit run directory, a Keras/fastai CSVLogger CSV, a Lightning "
                                              "metrics.csv, a Keras history JSON dict, a trainer_state.json (or its "
                                              "checkpoint folder), or a CSV/JSON of per-epoch values.")],
    json_out: Annotated[bool, typer.Option("--json", help="Print the diagnosis as JSON.")] = False,
) -> None:
    """Re-diagnose a run from its history: verdict, findings with evidence (positions as the log numbers
    them: "epoch 3", "step 200 (epoch 0.4)"), remedies as --set flags, or, for another tool's log, in that
    tool's terms (Keras arguments, TrainingArguments, Lightning, fastai) with the --set flags beside them."""
    import json

    from justfit.diagnosis.history_io import check_history_path

    # Before any work: a missing path, a folder without a history, a 0-byte file are one-line errors (exit 2).
    check_history_path(path)

    from justfit._display import print_diagnosis
    from justfit.cli._common import console
    from justfit.diagnosis import diagnose_run

    diagnosis = diagnose_run(path)
    if json_out:
        typer.echo(json.dumps(diagnosis.to_dict(), indent=2, default=str))
        return
    console.print(f"{path} ({diagnosis.source}, {len(diagnosis.findings)} findings)")
    print_diagnosis(diagnosis, console, limit=10)
