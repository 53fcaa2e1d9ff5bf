"""No path of this machine in what a user shares: the run directory's files and the saved model folder.

A run folder is zipped, attached to an issue or pushed with the model; the paths of the machine that
wrote it (the home folder and user name, site-packages, the temporary folder) mean nothing elsewhere
and say more than the user chose to share. What justfit writes names things portably instead:

* a model by :func:`justfit.models.factory.portable_model_name`: a preset's name, a hub id as given,
  ``local:<folder name>`` for the user's own folder;
* a file or folder the user gave (data files, the output folder, the cache folder) by
  :func:`shareable_path`: as given when relative; an absolute path relative to the working
  directory when it lies under it (so the config re-runs from there), else by its name alone.

Files that only this machine reads keep real paths: ``checkpoints/run.json`` (what ``--resume``
continues) and the feature cache.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

from justfit.models.factory import portable_name

# Config keys that hold a path the user gave, by section.
PATH_KEYS = {"data": ("path", "train", "validation", "test"), "quality": ("cache_dir",), "output": ("dir",)}


def shareable_path(value: str | Path | None, cwd: str | Path | None = None) -> str | None:
    """``value`` (a path, or a packaged data set name) without this machine's folders: as given when it is
    relative; an absolute path (``~`` expanded) relative to ``cwd`` (default the working directory) when
    under it, else its last component. ``None`` and ``''`` are returned as they are."""
    if value is None or str(value) == "":
        return None if value is None else ""
    path = Path(str(value)).expanduser()
    if not path.is_absolute():
        return str(value)
    try:
        return path.resolve().relative_to(Path(cwd or os.getcwd()).resolve()).as_posix()
    except ValueError:
        return path.name


def shareable_config(config: dict[str, Any]) -> dict[str, Any]:
    """A copy of a config dict (``JustfitConfig.model_dump(mode="json")``) to write beside the outputs: the
    model by its portable name, each path the user gave by :func:`shareable_path`, a study's storage URL
    by :func:`shareable_url` with its password hidden."""

    out = copy.deepcopy(config)
    for section, keys in PATH_KEYS.items():
        part = out.get(section)
        if isinstance(part, dict):
            for key in keys:
                if isinstance(part.get(key), str):
                    part[key] = shareable_path(part[key])
    model = out.get("model")
    if isinstance(model, dict) and model.get("name"):
        model["name"] = portable_name(model["name"])
    tune = out.get("tune")
    if isinstance(tune, dict) and isinstance(tune.get("storage"), str):
        tune["storage"] = shareable_url(shown_url(tune["storage"]))  # a database's password is not shared either
    return out


def shareable_result(result: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``RunResult.to_dict()`` to write as ``result.json``: the run folder, the data sources and
    the config without this machine's paths (``RunResult.load`` takes the folder it reads from)."""
    out = dict(result)
    out["run_dir"] = shareable_path(result.get("run_dir"))
    if isinstance(result.get("config"), dict):
        out["config"] = shareable_config(result["config"])
    data = result.get("data")
    if isinstance(data, dict) and isinstance(data.get("sources"), dict):
        out["data"] = {**data, "sources": {k: shareable_path(v) for k, v in data["sources"].items()}}
    return out


def shareable_url(url: str) -> str:
    """A storage URL to write: a SQLite file's path by :func:`shareable_path` (``sqlite:///study.db``),
    any other URL as it is (hide its password first: :func:`shown_url`)."""
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        return url
    return prefix + str(shareable_path(url[len(prefix):]))


class PathScrubber:
    """Rewrites this machine's absolute paths inside what a run writes (``predictions.csv``, ``removed.csv``,
    ``flagged.csv``, ``data_report.json``, ``result.json``): a file under a data root the user gave becomes
    ``<that root, by shareable_path>/<the file's path inside it>`` (class folders keep their structure, so
    ``train/cat/1.png`` and ``test/cat/1.png`` stay apart); a file inside an installed package (a packaged
    data set) becomes its path from the package's folder (``animal_mnist/...``); any other absolute path,
    :func:`shareable_path`. Paths inside longer texts (a reason naming a file) are rewritten the same way."""

    def __init__(self, sources: Any = (), cwd: str | Path | None = None) -> None:
        import site
        import sysconfig

        self.cwd = Path(cwd or os.getcwd()).resolve()
        roots: dict[str, str] = {}
        for folder in {sysconfig.get_paths().get("purelib"), sysconfig.get_paths().get("platlib"),
                       *site.getsitepackages(), site.getusersitepackages()}:
            if folder:
                roots[str(Path(folder).resolve())] = ""
        for source in (sources.values() if isinstance(sources, dict) else sources):
            folder = _source_folder(source)
            if folder is not None:
                roots[str(folder)] = str(shareable_path(folder, self.cwd))
        # The longest root first: a data folder inside site-packages is named as the user gave it.
        self.roots = sorted(roots.items(), key=lambda kv: -len(kv[0]))

    def path(self, value: str) -> str:
        """One absolute path, rewritten (see the class); anything else as it is."""
        if not os.path.isabs(value):
            return value
        resolved = str(Path(value).resolve()) if Path(value).exists() else os.path.normpath(value)
        for root, name in self.roots:
            if resolved.startswith(root + os.sep):
                rest = Path(resolved[len(root) + 1:]).as_posix()
                return f"{name}/{rest}" if name else rest
        return str(shareable_path(value, self.cwd))

    def text(self, value: str) -> str:
        """A string: a whole path by :meth:`path`; root folders inside a longer text replaced by their names."""
        if os.path.isabs(value) and "\n" not in value:
            return self.path(value)
        for root, name in self.roots:
            if root in value:
                value = value.replace(root + os.sep, f"{name}/" if name else "").replace(root, name or ".")
        return value

    def data(self, value: Any) -> Any:
        """Plain data (dicts, lists, strings) with every string rewritten by :meth:`text`."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.data(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.data(v) for v in value)
        return value

    def frame(self, df: Any) -> Any:
        """A copy of a DataFrame whose text cells are rewritten by :meth:`text` (other cells as they are)."""
        if df is None or not len(df):
            return df
        import pandas as pd

        out = df.copy()
        for col in out.columns:
            if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
                out[col] = out[col].map(lambda v: self.text(v) if isinstance(v, str) else v)
        return out


def _source_folder(source: Any) -> Path | None:
    """The folder a data source names: the folder itself, or a file's folder (paths in a table are read
    relative to it); ``path:split`` sources are the path's. ``None`` for a packaged set's name or arrays."""
    text = str(source or "")
    for candidate in (text, text.rsplit(":", 1)[0] if ":" in text else ""):
        if candidate and Path(candidate).expanduser().exists():
            p = Path(candidate).expanduser().resolve()
            return p if p.is_dir() else p.parent
    return None


def shown_url(url: str) -> str:
    """The storage URL with its password hidden."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - only for display
        return url
