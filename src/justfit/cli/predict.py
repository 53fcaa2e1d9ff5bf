"""``justfit predict RUN``: labels and probabilities for new texts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from justfit._files import atomic_write, atomic_write_text, write_csv
from justfit.data.encoding import check_codec
from justfit.errors import ConfigError, DataError


def predict(
    run: Annotated[Path, typer.Argument(help="Run directory (or its model/ folder).")],
    text: Annotated[list[str] | None, typer.Option("--text", "-t", help="A text to classify (repeatable).")] = None,
    input: Annotated[str | None, typer.Option("--input", "-i", help="File of texts, or of image or audio paths relative to it (csv/tsv/jsonl/parquet).")] = None,
    output: Annotated[Path | None, typer.Option("--output", help="Where to write predictions (format from extension).")] = None,
    text_column: Annotated[str | None, typer.Option(help="Text column of --input (auto-detected if unset).")] = None,
    encoding: Annotated[str | None, typer.Option(help="Text encoding of --input, e.g. cp1252 (detected if unset).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing --output file.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Predict labels for --text strings, or for every row of --input written to --output."""
    from justfit.cli._common import input_file, output_file, run_dir

    if text is not None and input is not None:
        raise ConfigError("--text and --input exclude each other: give either --text (one or more) or --input FILE "
                          "with --output FILE.")
    if not text and not input:
        raise ConfigError("Give either --text (one or more) or --input FILE with --output FILE.")
    if output and not input:
        raise ConfigError("--output only applies with --input FILE; --text predictions are printed.")
    if input and not output:
        raise ConfigError("--input needs --output FILE for the predictions (csv, tsv, jsonl or parquet).")
    if output and input and Path(output).resolve() == Path(input).resolve():
        raise ConfigError("--output must differ from --input; justfit does not overwrite your data.")
    if text_column and not input:
        raise ConfigError("--text-column only applies with --input FILE.")
    # Checked before the model loads: the run, the input (read, not empty, its text column), the output.
    run_dir(run)
    frame = col = None
    if input:
        input_file(input, "--input", what="file of texts (csv, tsv, jsonl or parquet)")
        output_file(output, "--output", force=force, suffixes=tuple(_FORMATS))
        frame, col = _read_input(run, input, text_column, encoding)

    from justfit.estimator import Finetuner

    est = Finetuner.load(run, progress=not quiet)
    if text:
        _print(est, text)
        return
    _to_file(est, frame, col, input, output)


_FORMATS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet",
            ".pq": "parquet"}


def _read_input(run: Path, input: str, text_column: str | None, encoding: str | None = None):
    """The --input table and its text column, found before any model loads. ``encoding`` overrides detection."""
    from justfit.cli._common import read_frame, trained_config
    from justfit.data.io import table_spec

    if encoding:
        try:
            check_codec(encoding)
        except ValueError as exc:
            raise ConfigError(f"--encoding: {exc}.") from None
    frame = read_frame(input, "--input", encoding)
    if len(frame) == 0:
        raise DataError(f"'{input}' has no rows to predict.")
    cfg = trained_config(run)
    trained_col = cfg.data.text_column if cfg is not None else None
    col = text_column or (trained_col if trained_col in map(str, frame.columns) else None)
    spec = table_spec(frame, col, None, need_label=False, where=f"'{input}'")
    clash = [c for c in ("predicted", "confidence") if c in map(str, frame.columns)]
    if clash:
        raise DataError(f"'{input}' already has column(s) {', '.join(clash)}, which predict would overwrite. "
                        "Rename or drop them first.")
    return frame, spec.text


def _print(est, texts: list[str]) -> None:
    from rich.table import Table

    from justfit.cli._common import console

    cols = est.output_columns(texts)
    shown = [c for c in ("predicted", "confidence", "entities") if c in cols]  # what the task predicts, and how sure
    t = Table(show_header=True)
    t.add_column("text")
    for c in shown:
        t.add_column(c, justify="left" if c == "predicted" else "right")
    def cell(c: str, i: int) -> str:
        value = cols[c][i]
        if c == "entities":  # JSON: each entity as its text, type and score
            return "; ".join(_entity(texts[i], e) for e in json.loads(value)) or "-"
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    for i, s in enumerate(texts):
        t.add_row(s[:80], *(cell(c, i) for c in shown))
    console.print(t)


def _entity(text: str, e: dict) -> str:
    """One entity for the terminal: its text in the input (or its words), its type and score."""
    start, end = e.get("start"), e.get("end")
    shown = text[start:end] if isinstance(text, str) and isinstance(start, int) and isinstance(end, int) else \
        e.get("text") or e.get("word", "")
    kind = e.get("entity_group") or e.get("type", "")
    score = f" {e['score']:.2f}" if isinstance(e.get("score"), float) else ""
    return f"{shown} ({kind}{score})"


def _to_file(est, frame, text_col: str, input: str, output: Path) -> None:
    from justfit.cli._common import console
    from justfit.data.inputs import is_missing
    from justfit.data.media import KINDS, media_frame

    kind = _FORMATS[output.suffix.lower()]
    media = next((k for k in KINDS if k.column == est.task_.input_column), None)
    if media is not None:  # images or clips: paths relative to the input file's folder, as for training tables
        items = media_frame(frame[[text_col]], text_col, None, Path(input).resolve().parent, f"'{input}'", media)
        texts = items[media.column].tolist()
    else:  # texts, or sentences given as lists of words
        texts = [v if isinstance(v, list | tuple) else v.tolist() if hasattr(v, "tolist") and not isinstance(v, str)
                 else "" if is_missing(v) else str(v) for v in frame[text_col]]
    new_cols = list(est.output_columns(texts[:1]))
    clash = [c for c in new_cols if c in map(str, frame.columns)]
    if clash:
        raise DataError(f"'{input}' already has column(s) {', '.join(clash)}, which predict would overwrite. "
                        "Rename or drop them first.")
    out = frame.copy()
    for name, values in est.output_columns(texts).items():
        out[name] = values
    if kind == "parquet":
        atomic_write(output, lambda tmp: out.to_parquet(tmp, index=False))
    elif kind in ("csv", "tsv"):
        from justfit.data.stage import lists_as_json

        write_csv(lists_as_json(out), output, sep="\t" if kind == "tsv" else ",")
    else:
        atomic_write_text(output, out.to_json(orient="records", lines=True, force_ascii=False))
    console.print(f"wrote {len(out)} predictions to {output}")
