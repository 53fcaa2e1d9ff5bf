"""The ``justfit`` command. Each subcommand only calls the library API.

Errors a user can fix are printed on one line, without a traceback, with a non-zero exit.
"""

from __future__ import annotations

import sys

import typer

from justfit.cli import check as _check
from justfit.cli import clean as _clean
from justfit.cli import doctor as _doctor
from justfit.cli import evaluate as _evaluate
from justfit.cli import lr_find as _lr_find
from justfit.cli import predict as _predict
from justfit.cli import report as _report
from justfit.cli import train as _train

app = typer.Typer(
    name="justfit",
    help="Fine-tune pretrained models so they fit just right: not overfit, not underfit.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("train")(_train.train)
app.command("clean")(_clean.clean)
app.command("doctor")(_doctor.doctor)
app.command("check")(_check.check)
app.command("report")(_report.report)
app.command("evaluate")(_evaluate.evaluate)
app.command("predict")(_predict.predict)
app.command("lr-find")(_lr_find.lr_find)


@app.command("recipes")
def recipes() -> None:
    """List the training recipes (training.recipe)."""
    from justfit.models.recipes import list_recipes

    for name, text in list_recipes().items():
        typer.echo(f"{name:18s} {text}")


@app.command("cache")
def cache(clear: bool = typer.Option(False, "--clear", help="Delete the cached backbone features."),
          unused_days: float | None = typer.Option(None, "--unused-days", min=0,
                                                   help="With --clear: only those not used for this many days."),
          cache_dir: str | None = typer.Option(None, "--cache-dir",
                                               help="Cache folder (default $JUSTFIT_CACHE_DIR or ~/.cache/justfit).")) -> None:
    """Show or clear the on-disk cache of frozen-backbone features."""
    from justfit.errors import ConfigError
    from justfit.training.feature_cache import cache_info, clear_cache

    if unused_days is not None and not clear:
        raise ConfigError("--unused-days only applies with --clear: add --clear, or drop --unused-days")
    if clear:
        freed = clear_cache(cache_dir, unused_days)
        typer.echo(f"removed {freed['files']} file(s), {freed['bytes'] / 1e6:.1f} MB, from {freed['dir']}")
    info = cache_info(cache_dir)
    typer.echo(f"{info['dir']}: {info['files']} file(s), {info['bytes'] / 1e6:.1f} MB")


@app.command("presets")
def presets() -> None:
    """List the named model presets."""
    from justfit.models.factory import list_presets

    for name, text in list_presets().items():
        typer.echo(f"{name:20s} {text}")


def _click_exception_modules() -> list:
    import contextlib
    import importlib

    mods = []
    for name in ("typer._click.exceptions", "click.exceptions"):
        with contextlib.suppress(ImportError):
            mods.append(importlib.import_module(name))
    return mods


def main(argv: list[str] | None = None) -> int:
    from justfit.errors import JustfitError

    try:
        code = app(args=argv, standalone_mode=False)
        if isinstance(code, int) and code:
            return code  # a command's typer.Exit(code): click returns it without standalone mode
    except JustfitError as exc:
        typer.secho(f"error: {exc}", err=True, fg="red")
        return exc.exit_code
    except KeyboardInterrupt:
        typer.secho("interrupted", err=True, fg="red")
        return 130
    except Exception as exc:  # click's own usage errors (typer may bring its own copy of click)
        for mod in _click_exception_modules():
            if isinstance(exc, mod.ClickException):
                typer.secho(f"error: {exc.format_message()}", err=True, fg="red")
                return exc.exit_code
            if isinstance(exc, mod.Exit):
                return exc.exit_code
            if isinstance(exc, mod.Abort):
                return 1
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
