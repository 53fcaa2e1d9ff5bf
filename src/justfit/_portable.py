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
    from justfit.models.factory import portable_name

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
        from justfit.tuning.search import shown_url

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
    any other URL as it is (hide its password first: ``tuning.search.shown_url``)."""
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        return url
    return prefix + str(shareable_path(url[len(prefix):]))
