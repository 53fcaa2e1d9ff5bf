"""The ``justfit`` command. Each subcommand only calls the library API.

Every way out of the command is one of four, each with its own exit code:

* success: exit 0 (``justfit check`` exits 1 when the probe fails);
* a user error (a :class:`~justfit.errors.JustfitError`, or a bad option): one ``error: ...`` line, exit 2;
* an interrupt (Ctrl-C): one ``interrupted`` line, exit 130;
* an internal error (any other exception, a bug): one ``internal error: ...`` line naming it and the
  file holding its traceback (in ``$JUSTFIT_LOG_DIR`` or the system temp folder), exit 1. With
  ``--debug`` (or ``JUSTFIT_DEBUG=1``) the traceback is printed instead.

typer's and click's exception classes moved between versions (typer 0.29 bundles its own click
as ``typer._click``; older typer uses ``click``), so the handler looks them up by name, in every
place they may live, and never assumes one exists.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
import sys
import tempfile
import traceback
from collections.abc import Callable
from typing import Any

import typer

from justfit.cli import check as _check
from justfit.cli import clean as _clean
from justfit.cli import doctor as _doctor
from justfit.cli import evaluate as _evaluate
from justfit.cli import export as _export
from justfit.cli import lr_find as _lr_find
from justfit.cli import predict as _predict
from justfit.cli import report as _report
from justfit.cli import train as _train
from justfit.cli import tune as _tune
from justfit.errors import ConfigError, JustfitError

DEBUG_ENV = "JUSTFIT_DEBUG"
LOG_DIR_ENV = "JUSTFIT_LOG_DIR"
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

# Set by the app callback (--debug) for the current invocation of main().
_state: dict[str, bool] = {"debug": False}


class Interrupted(Exception):
    """A KeyboardInterrupt inside a command, carried past typer (which would turn it into a silent exit 130)."""


def _guard(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a command so that Ctrl-C reaches :func:`main` as :class:`Interrupted`, whatever typer does with it."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except KeyboardInterrupt as exc:
            raise Interrupted() from exc

    return wrapper


app = typer.Typer(
    name="justfit",
    help="Fine-tune pretrained models so they fit just right: not overfit, not underfit.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _options(debug: bool = typer.Option(False, "--debug", help="On an internal error, print the full traceback "
                                        f"(also: {DEBUG_ENV}=1).")) -> None:
    """Fine-tune pretrained models so they fit just right: not overfit, not underfit."""
    if debug:
        _state["debug"] = True


def _recipes() -> None:
    """List the training recipes (training.recipe)."""
    from justfit.models.recipes import list_recipes

    for name, text in list_recipes().items():
        typer.echo(f"{name:18s} {text}")


def _cache(clear: bool = typer.Option(False, "--clear", help="Delete the cached backbone features."),
           unused_days: float | None = typer.Option(None, "--unused-days", min=0,
                                                    help="With --clear: only those not used for this many days."),
           cache_dir: str | None = typer.Option(None, "--cache-dir",
                                                help="Cache folder (default $JUSTFIT_CACHE_DIR or ~/.cache/justfit).")) -> None:
    """Show or clear the on-disk cache of frozen-backbone features."""
    from pathlib import Path

    from justfit.tasks.text.frozen import cache_info, clear_cache

    if unused_days is not None and not clear:
        raise ConfigError("--unused-days only applies with --clear: add --clear, or drop --unused-days")
    if cache_dir is not None and Path(cache_dir).exists() and not Path(cache_dir).is_dir():
        raise ConfigError(f"--cache-dir '{cache_dir}' is a file, not a folder. Pass the cache folder.")
    if clear:
        freed = clear_cache(cache_dir, unused_days)
        typer.echo(f"removed {freed['files']} file(s), {freed['bytes'] / 1e6:.1f} MB, from {freed['dir']}")
    info = cache_info(cache_dir)
    typer.echo(f"{info['dir']}: {info['files']} file(s), {info['bytes'] / 1e6:.1f} MB")


def _presets() -> None:
    """List the named model presets."""
    from justfit.models.factory import list_presets

    for name, text in list_presets().items():
        typer.echo(f"{name:20s} {text}")


def _tasks() -> None:
    """List the tasks (the config's task: key)."""
    from justfit.tasks.builtin import list_tasks

    for name, text in list_tasks().items():
        typer.echo(f"{name:16s} {text}")


COMMANDS: dict[str, Callable[..., Any]] = {
    "train": _train.train,
    "tune": _tune.tune,
    "clean": _clean.clean,
    "doctor": _doctor.doctor,
    "check": _check.check,
    "report": _report.report,
    "export": _export.export,
    "evaluate": _evaluate.evaluate,
    "predict": _predict.predict,
    "lr-find": _lr_find.lr_find,
    "recipes": _recipes,
    "cache": _cache,
    "presets": _presets,
    "tasks": _tasks,
}
for _name, _fn in COMMANDS.items():
    app.command(_name)(_guard(_fn))


def _exception_classes(name: str) -> tuple[type[BaseException], ...]:
    """Every class called ``name`` in the modules where typer or click define their exceptions.

    Feature-tested: a module that does not exist, or lacks the name, is skipped."""
    found: list[type[BaseException]] = []
    for module in ("typer", "typer.exceptions", "typer._click", "typer._click.exceptions", "click",
                   "click.exceptions"):
        try:
            mod = importlib.import_module(module)
        except Exception:  # not installed, or fails to import in this version
            continue
        cls = getattr(mod, name, None)
        if isinstance(cls, type) and issubclass(cls, BaseException) and cls not in found:
            found.append(cls)
    return tuple(found)


def _first_line(text: str, limit: int = 500) -> str:
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    line = lines[0] if lines else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _error_line(message: str) -> None:
    typer.secho(message, err=True, fg="red")


def _debug_enabled() -> bool:
    return _state["debug"] or os.environ.get(DEBUG_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def _write_traceback(exc: BaseException) -> str | None:
    """Write ``exc``'s traceback to a new file in ``$JUSTFIT_LOG_DIR`` or the temp folder; its path, or None."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    folder = os.environ.get(LOG_DIR_ENV) or tempfile.gettempdir()
    try:
        os.makedirs(folder, exist_ok=True)
        fd, path = tempfile.mkstemp(prefix="justfit-traceback-", suffix=".txt", dir=folder)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(f"justfit {' '.join(sys.argv[1:])}\n\n{text}")
        return path
    except OSError:
        return None


def _internal_error(exc: BaseException) -> int:
    name = type(exc).__name__
    message = _first_line(str(exc))
    what = f"{name}: {message}" if message else name
    if _debug_enabled():
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
        _error_line(f"internal error: {what}")
        return EXIT_INTERNAL
    path = _write_traceback(exc)
    where = f"full traceback: {path}" if path else "the traceback could not be saved"
    _error_line(f"internal error: {what} ({where}; rerun with --debug to print it)")
    return EXIT_INTERNAL


def _exit_code(exc: BaseException, default: int) -> int:
    code = getattr(exc, "exit_code", getattr(exc, "code", default))
    return code if isinstance(code, int) else default


def _handle(exc: BaseException) -> int:
    """The exit code for an exception that left the app, after printing its one line."""

    if isinstance(exc, JustfitError):
        if _debug_enabled():
            traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
        _error_line(f"error: {_first_line(str(exc), limit=2000)}")
        return _exit_code(exc, EXIT_USAGE)
    cause = exc.__cause__ or exc.__context__
    if isinstance(exc, Interrupted | KeyboardInterrupt) or (
            isinstance(exc, _exception_classes("Abort")) and isinstance(cause, KeyboardInterrupt)):
        _error_line("interrupted")
        return EXIT_INTERRUPTED
    if isinstance(exc, _exception_classes("Exit")):  # typer.Exit / click's Exit that got through
        return _exit_code(exc, 0)
    if type(exc).__name__ == "NoArgsIsHelpError":  # `justfit` alone: the help text, as a usage error
        typer.echo(getattr(exc, "format_message", lambda: str(exc))(), err=True)
        return EXIT_USAGE
    if isinstance(exc, _exception_classes("ClickException")):  # usage errors: bad option, missing argument
        fmt = getattr(exc, "format_message", None)
        _error_line(f"error: {_first_line(fmt() if callable(fmt) else str(exc), limit=2000)}")
        return _exit_code(exc, EXIT_USAGE)
    if isinstance(exc, _exception_classes("Abort")):  # click's Abort: EOF at a prompt
        _error_line("aborted")
        return EXIT_INTERNAL
    if isinstance(exc, BrokenPipeError):  # `justfit ... | head`
        with contextlib.suppress(Exception):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - Python would complain again on exit
        return EXIT_INTERNAL
    return _internal_error(exc)


def main(argv: list[str] | None = None) -> int:
    """Run the ``justfit`` command with ``argv`` (default: ``sys.argv[1:]``) and return its exit code."""
    _state["debug"] = False
    try:
        code = app(args=argv, standalone_mode=False, prog_name="justfit")
    except SystemExit as exc:  # a library or typer path that called sys.exit
        return _exit_code(exc, 0)
    except BaseException as exc:  # noqa: BLE001 - the one place where every exception is turned into a message
        return _handle(exc)
    if isinstance(code, int) and not isinstance(code, bool) and code:
        # A command's typer.Exit(code): typer returns it without standalone mode. 130 is typer's
        # translation of a Ctrl-C outside a command (while parsing options).
        if code == EXIT_INTERRUPTED:
            _error_line("interrupted")
        return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
