"""An unfinished run: its ``<name>.partial`` folder, the lock of the process working in it, what it
was asked to do, and the checks that let ``--resume`` continue it.

A run works in ``<name>.partial`` from its start: ``checkpoints/run.json`` holds the request (the
config as given, the run's options and, once the data stage has run, a fingerprint of the splits)
and ``checkpoints/checkpoint-NNNNNN`` the training checkpoints. ``run.lock`` is held by the process
working in the folder (``filelock``'s ``fcntl`` lock: the system releases it when that process
dies, so a killed run never leaves it stuck). The finished run is renamed to ``<name>``.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

from justfit._files import read_json, write_json
from justfit.checks import check_settings
from justfit.config import JustfitConfig, coerce_config
from justfit.errors import ConfigError, DataError, RunDirError
from justfit.training.runtime import distributed_state

REQUEST = "run.json"
LOCK = "run.lock"
CHECKPOINTS = "checkpoints"
# Keys that name where the run goes, not what it does: they may differ when resuming.
_PLACE = ("output.dir", "output.name", "output.overwrite")


class RunLock:
    """Hold ``folder/run.lock`` while working in ``folder``; raise ``RunDirError`` at once when another
    live process holds it. The lock file is left in place (removing it is not atomic with releasing)."""

    def __init__(self, folder: Path) -> None:
        from filelock import FileLock

        self.path = Path(folder) / LOCK
        self._lock = FileLock(str(self.path), timeout=0)

    def acquire(self) -> RunLock:
        from filelock import Timeout

        try:
            self._lock.acquire()
        except Timeout:
            raise RunDirError(f"'{self.path.parent}' is in use by another justfit process (it holds {self.path.name}). "
                              "Wait for it to finish, or stop it first.") from None
        return self

    def release(self) -> None:
        self._lock.release()

    @property
    def held_elsewhere(self) -> bool:
        """Does another live process hold the lock (checked by trying to take it)?"""
        from filelock import Timeout

        if self._lock.is_locked:
            return False
        try:
            self._lock.acquire()
        except Timeout:
            return True
        self._lock.release()
        return False


def partial_of(final: Path) -> Path:
    return final.with_name(final.name + ".partial")


def is_unfinished(partial: Path) -> bool:
    """Does ``partial`` hold an unfinished run that ``--resume`` can continue?"""
    return (partial / CHECKPOINTS / REQUEST).is_file()


def start_partial(final: Path, cfg: Any, options: dict[str, Any]) -> tuple[Path, RunLock]:
    """Create ``<final>.partial`` for a new run, lock it and write its request. An unfinished run of the
    same name is never discarded silently: without ``output.overwrite`` it is refused (resume it
    instead), and one that a live process is working in is refused always."""
    partial = partial_of(final)
    if partial.exists():
        if is_unfinished(partial):
            if RunLock(partial).held_elsewhere:
                raise RunDirError(f"A run of this name is in progress in '{partial}' (another justfit process holds "
                                  "its lock). Choose another --name, or wait for it to finish.")
            if not cfg.output.overwrite:
                raise RunDirError(f"'{partial}' holds an unfinished run of this name. Continue it with "
                                  f"'justfit train --resume {partial}', or pass --overwrite to discard it.")
        shutil.rmtree(partial)
    try:
        (partial / CHECKPOINTS).mkdir(parents=True)
    except OSError as exc:
        raise RunDirError(f"Cannot create the run directory '{final}' ({exc.strerror or exc}). Choose another "
                          "--output-dir.") from None
    lock = RunLock(partial).acquire()
    # The keys the request set, only: a resumed run resolves the model's defaults (justfit.defaults) as it did.
    write_json(partial / CHECKPOINTS / REQUEST, {"config": cfg.model_dump(mode="json", exclude_unset=True),
                                                 "options": options})
    return partial, lock


def find_unfinished(path: str | Path) -> Path:
    """The ``.partial`` folder of the run at ``path`` (the folder itself, or the run's name without
    ``.partial``). Raises ``RunDirError`` for a finished run and for a folder that is not a run."""
    path = Path(path)
    if path.name.endswith(".partial") and is_unfinished(path):
        return path
    if not path.name.endswith(".partial") and is_unfinished(partial_of(path)):
        return partial_of(path)
    if (path / "result.json").is_file() and not path.name.endswith(".partial"):
        raise RunDirError(f"'{path}' is a finished run: there is nothing to resume. Its results are in it; start a new "
                          "run with another --name to train again.")
    if path.name.endswith(".partial") and path.is_dir():
        raise RunDirError(f"'{path}' is an unfinished run folder without a saved request (it was not written by "
                          "this version of justfit, or was emptied): it cannot be resumed. Start the run again.")
    if not path.exists():
        raise RunDirError(f"'{path}' does not exist. Pass the folder of a killed run (runs/<name>.partial).")
    raise RunDirError(f"'{path}' is not a justfit run (no {CHECKPOINTS}/{REQUEST}): pass the folder of a killed run "
                      "(runs/<name>.partial).")


def read_request(partial: Path) -> dict[str, Any]:
    return read_json(partial / CHECKPOINTS / REQUEST)


def config_differences(saved: dict[str, Any], given: dict[str, Any]) -> list[str]:
    """``key: saved -> given`` for every dotted key whose value differs (where the run goes excepted)."""
    a, b = _flatten(saved), _flatten(given)
    return [f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in sorted(set(a) | set(b))
            if k not in _PLACE and a.get(k) != b.get(k)]


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v and all(isinstance(x, str) for x in v) and prefix == "":
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def check_same_request(partial: Path, cfg: Any | None, options: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The config and options to resume ``partial`` with: the saved ones. A config or options given as
    well must equal them (where the run goes excepted); otherwise ``ConfigError`` lists every key
    that differs."""

    req = read_request(partial)
    saved_cfg = JustfitConfig.from_dict(req["config"])
    saved_opts = req.get("options", {})
    diffs = []
    if cfg is not None:
        diffs += config_differences(saved_cfg.model_dump(mode="json"), cfg.model_dump(mode="json"))
    diffs += [f"{k}: {saved_opts.get(k)!r} -> {v!r}" for k, v in options.items()
              if v is not None and saved_opts.get(k) != v]
    if diffs:
        raise ConfigError(f"The run in '{partial}' was started with another configuration; resuming it needs the same "
                          f"one. Differences (run -> given): {'; '.join(diffs)}. Drop these settings to resume with "
                          "the run's own, or start a new run.")
    return saved_cfg, saved_opts


def splits_fingerprint(splits: Any, input_column: str) -> str:
    """A SHA-256 of each split's rows (index, inputs and labels), to tell whether the data changed."""
    h = hashlib.sha256()
    for name in ("train", "validation", "test"):
        frame = getattr(splits, name)
        h.update(name.encode())
        h.update(",".join(map(str, frame.index)).encode())
        for col in (input_column, "label"):
            if col in frame:
                h.update("\x1f".join(map(str, frame[col].tolist())).encode("utf-8", "surrogatepass"))
    return h.hexdigest()


def check_same_data(partial: Path, fingerprint: str) -> None:
    """Record the splits' fingerprint on the first pass; refuse (``DataError``) different splits on a resume."""
    path = partial / CHECKPOINTS / REQUEST
    req = read_json(path)
    saved = req.get("splits")
    if saved is None:
        write_json(path, {**req, "splits": fingerprint})
    elif saved != fingerprint:
        raise DataError(f"The data of the run in '{partial}' changed since it started (its splits hold other rows): its "
                        "checkpoints cannot be continued on it. Restore the data, or start a new run.")


class OpenRun:
    """A run being worked on in its locked ``.partial`` folder (``open_run``). Used as a context manager:
    on an error or interrupt, a run with nothing to resume from is removed (with the output folder it
    created, when empty), and one that has checkpoints or a study is kept, with a warning that says how
    to continue it; the lock is released either way."""

    def __init__(self, cfg: Any, final: Path, partial: Path, lock: RunLock | None, options: dict[str, Any],
                 resumed: bool, parent_existed: bool) -> None:
        self.cfg, self.final, self.partial, self.lock = cfg, final, partial, lock
        self.options, self.resumed, self.parent_existed = options, resumed, parent_existed
        self.checkpoints = partial / CHECKPOINTS
        # In a multi-process launch only the main process holds the lock and cleans up (``lock`` is None
        # on the others).
        self.main = lock is not None

    def resumable(self) -> bool:
        """Is there saved work to continue: a training checkpoint, or a study with trials?"""
        return any(self.checkpoints.rglob("checkpoint-*")) or (self.partial / "tune" / "study.db").is_file()

    def __enter__(self) -> OpenRun:
        return self

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> None:
        if not self.main:
            return
        try:
            if exc is None:
                return
            if not self.resumed and not self.resumable():
                shutil.rmtree(self.partial, ignore_errors=True)
                if not self.parent_existed:  # the output folder this run created, when nothing else is in it
                    with contextlib.suppress(OSError):
                        self.final.parent.rmdir()
                return
            from justfit.errors import JustfitError

            if not isinstance(exc, JustfitError):  # a crash or an interrupt; a user error says what to do itself
                import warnings

                command = self.options.get("command", "train")
                warnings.warn(f"The run stopped ({type(exc).__name__}); its saved work is kept in '{self.partial}'. "
                              f"Continue it with: justfit {command} --resume {self.partial}", RuntimeWarning,
                              stacklevel=3)
        finally:
            self.lock.release()


def open_run(config: Any, overrides: dict[str, Any], options: dict[str, Any], resume: str | Path | None,
             *, compare_options: bool = False) -> OpenRun:
    """Start a new run (``config`` plus ``overrides``, checked, its ``.partial`` folder created and locked,
    the request saved) or, with ``resume``, reopen a killed one with its saved config and options (a
    config, overrides or ``compare_options`` given as well must match them). Raises ``ConfigError``,
    ``RunDirError``."""

    state = distributed_state()
    opened = None
    if state is None or state.is_main_process:
        opened = _open_main(config, overrides, options, resume, compare_options)
        if state is None:
            return opened
    # A multi-process launch: the main process created (or reopened) and locked the folder; the others work
    # in the same one, with the same config (if the main process failed, it never sends, and the launcher
    # stops the others when it exits).
    from accelerate.utils import broadcast_object_list

    box = [None if opened is None else (opened.cfg.model_dump(mode="json"), str(opened.final), str(opened.partial),
                                        opened.options, opened.resumed)]
    broadcast_object_list(box, from_process=0)
    if opened is not None:
        return opened

    raw, final, partial, opts, resumed = box[0]
    return OpenRun(JustfitConfig.from_dict(raw), Path(final), Path(partial), None, opts, resumed, True)


def _open_main(config: Any, overrides: dict[str, Any], options: dict[str, Any], resume: str | Path | None,
               compare_options: bool) -> OpenRun:
    """``open_run`` on the process that owns the folder."""

    def given() -> Any:
        cfg = coerce_config(config)
        return cfg.updated({k.replace("__", "."): v for k, v in overrides.items()}) if overrides else cfg

    if resume is not None:
        partial = find_unfinished(resume)
        command = read_request(partial).get("options", {}).get("command", "train")
        if command != options.get("command", "train"):
            raise RunDirError(f"'{partial}' is an unfinished 'justfit {command}' run: continue it with "
                              f"'justfit {command} --resume {partial}'.")
        lock = RunLock(partial).acquire()
        try:
            explicit = config is not None or bool(overrides)
            cfg, saved = check_same_request(partial, given() if explicit else None,
                                            options if explicit or compare_options else {})
            final = partial.with_name(partial.name.removesuffix(".partial"))
            cfg = cfg.updated({"output.dir": str(partial.parent), "output.name": final.name})
            check_settings(cfg)
        except BaseException:
            lock.release()
            raise
        return OpenRun(cfg, final, partial, lock, {**options, **saved}, True, True)
    cfg = given()
    check_settings(cfg)  # before any data is read or model loaded
    final = run_dir_for(cfg)
    parent_existed = final.parent.exists()
    partial, lock = start_partial(final, cfg, options)
    return OpenRun(cfg, final, partial, lock, options, False, parent_existed)


def run_dir_for(cfg: JustfitConfig) -> Path:
    name = cfg.output.name or datetime.now().strftime("%Y%m%d-%H%M%S")
    if name in (".", "..") or "/" in name or "\\" in name or name.endswith(".partial"):
        raise RunDirError(f"Run name '{name}' must be a plain folder name (no '/', '.', '..' or '.partial'); "
                          "use --output-dir for the parent folder.")
    parent = Path(cfg.output.dir)
    if parent.exists() and not parent.is_dir():
        raise RunDirError(f"Output folder '{parent}' is a file. Pass a folder with --output-dir.")
    path = parent / name
    if path.exists():
        if not cfg.output.overwrite:
            raise RunDirError(f"Run directory '{path}' already exists. Choose another --name, or pass --overwrite.")
        if not path.is_dir() or (any(path.iterdir()) and not (path / "result.json").is_file()):
            raise RunDirError(f"'{path}' exists and is not a justfit run directory; --overwrite only replaces runs. "
                              "Choose another --name.")
    return path
