"""``justfit doctor``: diagnose a finished run, or another tool's history file, offline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def doctor(
    path: Annotated[Path, typer.Argument(help="A justfit run directory, a Keras CSVLogger CSV, a trainer_state.json "
                                              "(or its checkpoint folder), or a CSV/JSON of per-epoch values.")],
    json_out: Annotated[bool, typer.Option("--json", help="Print the diagnosis as JSON.")] = False,
) -> None:
    """Re-diagnose a run from its history: verdict, findings with evidence, remedies as --set flags."""
    import json

    from justfit._display import print_diagnosis
    from justfit.cli._common import console, input_dir, input_file
    from justfit.errors import DataError

    if not path.exists():
        raise DataError(f"'{path}' does not exist. Pass a justfit run directory, a Keras CSVLogger CSV, a "
                        "trainer_state.json, or a CSV/JSON of per-epoch values.")
    if path.is_dir():
        input_dir(path, "PATH", what="justfit run directory or checkpoint folder")
    else:
        input_file(path, "PATH", what="history file (CSV, JSON or JSONL of per-epoch values)")
    from justfit.diagnosis import diagnose_run

    diagnosis = diagnose_run(path)
    if json_out:
        typer.echo(json.dumps(diagnosis.to_dict(), indent=2, default=str))
        return
    console.print(f"{path} ({diagnosis.source}, {len(diagnosis.findings)} findings)")
    print_diagnosis(diagnosis, console, limit=10)
