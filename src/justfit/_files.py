"""The one place justfit writes files: atomically (a reader never sees half a file), JSON that
holds numpy values, and delimited text that reads back cell for cell."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def atomic_write(path: str | Path, write: Callable[[Path], Any]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path`` and rename it, so a reader never sees
    half a file. The temporary name keeps ``path``'s suffix (``np.save`` and friends look at it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix or ".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        # mkstemp creates the file private (0600); a run's files are ordinary files (0644 less the umask).
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_csv(frame: Any, path: str | Path, *, sep: str = ",") -> None:
    """Write a DataFrame as delimited text (``sep``: ``,`` or tab) that reads back row for row and cell for cell.

    The one writer of every CSV/TSV justfit produces (``predictions.csv``, ``removed.csv``,
    ``flagged.csv``, ``justfit clean`` output, ``justfit predict --output``). Written
    atomically (see ``atomic_write``), UTF-8 without a BOM, ``\\n`` line ends, no index, and
    every non-numeric cell quoted (``csv.QUOTE_NONNUMERIC``), so a text holding ``\\r``,
    ``\\n``, ``\\r\\n``, quotes, commas or tabs stays inside its cell; a missing value is
    written as an empty quoted cell.

    Reading back:

    - Python's ``csv`` module (``open(path, newline="", encoding="utf-8")``) and
      ``pandas.read_csv(path, dtype=str, keep_default_na=False)`` return every cell exactly as
      ``str()`` of what was written (missing values as ``""``).
    - Plain ``pandas.read_csv(path)`` returns the same rows and columns and every text cell
      unchanged, except what pandas retypes by design whatever the quoting: cells spelled like
      missing values (``""``, ``NA``, ``null``, ``NaN``, ``None``, ``n/a``, ...) become NaN,
      and a column whose every cell reads as a number (``007``) or as ``True``/``False``
      becomes numeric or boolean. Use the first two readers to keep such texts as written.

    Cells are not altered to defuse spreadsheet formulas (OWASP's ``'`` prefix before a
    leading ``=``, ``+``, ``-`` or ``@``): these files are data for programs, and the prefix
    would change the texts. To look at one in a spreadsheet, import it as text rather than
    opening it directly.
    """
    import csv

    atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False, sep=sep, encoding="utf-8", lineterminator="\n",
                                                quoting=csv.QUOTE_NONNUMERIC))


def write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, default=_json_default) + "\n")


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _json_default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """The feature cache folder: ``cache_dir``, else ``$JUSTFIT_CACHE_DIR``, else ``~/.cache/justfit``."""
    if cache_dir:
        return Path(cache_dir)
    env = os.environ.get("JUSTFIT_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "justfit"


def model_fingerprint(source: str) -> str:
    """Identify a model by its files (local folder) or its id (hub), so a changed model misses the cache."""
    p = Path(source)
    h = hashlib.sha256()
    if p.is_dir():
        for f in sorted(p.iterdir()):
            if f.is_file() and (f.suffix in (".json", ".safetensors", ".bin", ".txt", ".model")):
                st = f.stat()
                h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns}\n".encode())
                if f.suffix in (".json", ".txt") and st.st_size < 2_000_000:
                    h.update(f.read_bytes())
        h.update(str(p.resolve()).encode())
    else:
        h.update(source.encode())
    return h.hexdigest()[:16]
