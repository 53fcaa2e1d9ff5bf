"""One exception family for everything a user can cause.

Each message says what was expected, what was received, and what to do. The CLI prints
these on one line, without a traceback, and exits non-zero.
"""

from __future__ import annotations


class JustfitError(Exception):
    """Base class of every error a user can cause and fix."""

    exit_code = 2


class ConfigError(JustfitError, ValueError):
    """A config file, key, value or command-line override is invalid."""


class DataError(JustfitError, ValueError):
    """The data cannot be used as given (missing file/column, empty, one class, ...)."""


class ModelError(JustfitError, ValueError):
    """A model cannot be loaded or does not fit the task."""


class RunDirError(JustfitError, FileExistsError):
    """A run directory is missing, incomplete, or would be overwritten."""


class MissingDependencyError(JustfitError, ImportError):
    """An optional dependency is not installed."""

    def __init__(self, package: str, extra: str | None = None, purpose: str = "") -> None:
        hint = f"pip install 'justfit[{extra}]'" if extra else f"pip install {package}"
        what = f" (needed for {purpose})" if purpose else ""
        super().__init__(f"The package '{package}' is not installed{what}. Install it with: {hint}")


def did_you_mean(name: str, valid: list[str] | tuple[str, ...] | set[str]) -> str:
    """Return ' Did you mean 'x'?' for the closest valid name, or '' when none is close."""
    import difflib

    name, options = str(name), sorted(map(str, valid))
    match = difflib.get_close_matches(name, options, n=1, cutoff=0.6)
    if not match:
        # Abbreviations and elongations ("lrate" for "lr", "max_len" for "max_length").
        match = [o for o in options if len(o) >= 2 and (name.startswith(o) or o.startswith(name))][:1]
    if not match:
        match = difflib.get_close_matches(name, options, n=1, cutoff=0.5)
    return f" Did you mean '{match[0]}'?" if match else ""


def unknown_name(kind: str, name: object, valid: list[str] | tuple[str, ...] | set[str],
                 error: type[JustfitError] = ConfigError) -> JustfitError:
    """The one-line error for a user-given ``name`` that is none of ``valid``: every valid name, and the
    closest one (:func:`did_you_mean`) when one is close. Every registry and every fixed set of choices
    (export formats, trackers, leakage actions, ...) raises through this, so each says the same.

    ``kind`` names the family ("model preset", "packaged data set"); ``error`` is the class to return
    (``ConfigError`` unless the name is data, ``DataError``, or a model, ``ModelError``)."""
    options = sorted(map(str, valid))
    hint = did_you_mean(str(name).strip().lower(), options) or did_you_mean(str(name), options)
    return error(f"Unknown {kind} '{name}'. Valid choices: {', '.join(options)}.{hint}")


class DataQualityWarning(UserWarning):
    """A finding of the data stage the user should act on (test leakage, tiny classes, label noise)."""
