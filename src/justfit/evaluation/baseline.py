"""The cheap baseline: the model a pragmatic user fits first, in seconds, on the same splits.

Every run fits it beside the fine-tuned model and reports both, so a fine-tuned model that is no
better than word counts (or pixels, or MFCC statistics) is said to be so. What the inputs become
is the task's choice (``TaskKind.baseline_features``: TF-IDF for texts, small pixel grids for
images, MFCC statistics for audio); what is fitted on them is the output's (a logistic regression
for classes, a ridge regression for numbers, a unigram tagger for word tags). The baseline is
scored with the fine-tuned model's own metric functions, so its numbers are the same numbers.

The comparison (``compare``) is a paired bootstrap over the validation units (Efron & Tibshirani
1993, "An Introduction to the Bootstrap", ch. 16; the paired form as in Koehn 2004, "Statistical
Significance Tests for Machine Translation Evaluation"): both models' scores on the same resampled
rows, so the noise of the difference is measured rather than assumed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# Regularisation strengths tried, the one with the lowest validation loss kept (sklearn's C = 1 / lambda).
LOGISTIC_C = (0.1, 1.0, 10.0)
RIDGE_ALPHA = (0.1, 1.0, 10.0)
# From this many training texts on, TF-IDF keeps only terms seen in at least two of them.
MIN_DF_FROM = 1000
# Bootstrap resamples of the validation units for the noise of the difference.
BOOTSTRAP = 200
# The model beats the baseline when its score is better by more than this many bootstrap standard errors
# (about a one-sided 97.7% level for a normal difference).
BEATS_BY_SE = 2.0


@dataclass
class Baseline:
    """A fitted cheap baseline: ``val_logits`` and ``test_logits`` in the task's logit space (classes:
    log-probabilities of shape ``(n, num_labels)``; regression: standardised predictions ``(n,)``; word
    tags: one ``(words, num_labels)`` array per sentence), what it is (``name``), how it was chosen
    (``choice``), the training rows it saw and the seconds it took."""

    name: str
    val_logits: Any
    test_logits: Any
    choice: str = ""
    rows: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def tfidf_features(train: Sequence[str], others: Sequence[Sequence[str]]) -> tuple[Any, list[Any]]:
    """TF-IDF of word unigrams and bigrams (sublinear term frequency, as scikit-learn's text tutorial
    recommends for linear models; words of any length), fitted on the training texts: sparse
    ``(n, vocabulary)`` matrices; character 1- to 3-grams when the texts hold no word at all. From
    ``MIN_DF_FROM`` training texts on, a term must occur in two of them: on the 30,526 training tweets that
    cut the vocabulary from 200,000 to 59,188 terms and the three fits from 59 s to 24 s, for a test macro-F1
    of 0.726 against 0.728 at C = 1."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = [str(t) for t in train]
    options = {"sublinear_tf": True, "max_features": 200_000, "dtype": np.float32,
               "min_df": 2 if len(train) >= MIN_DF_FROM else 1}
    # Words of one character count too ("a", "5", a CJK character): scikit-learn's default pattern drops them.
    vec = TfidfVectorizer(ngram_range=(1, 2), token_pattern=r"(?u)\b\w+\b", **options)
    try:
        x = vec.fit_transform(texts)
    except ValueError:  # no word at all (only symbols or emoji): character n-grams within word boundaries
        vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), **{**options, "min_df": 1})
        x = vec.fit_transform(texts)
    return x, [vec.transform([str(t) for t in o]) for o in others]


def standardised(train: np.ndarray, others: Sequence[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Dense features scaled to zero mean and unit variance on the training rows (``StandardScaler``)."""
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(train)
    return scaler.transform(train), [scaler.transform(o) for o in others]


def logistic_regression(x_train: Any, y_train: Sequence[int], num_labels: int, x_val: Any, y_val: Sequence[int],
                        x_test: Any, seed: int) -> tuple[np.ndarray, np.ndarray, str]:
    """A multinomial logistic regression (scikit-learn, lbfgs) for each C of ``LOGISTIC_C``; the one with the
    lowest validation log loss is kept. Returns log-probabilities over all ``num_labels`` classes (a class
    absent from the sampled training rows gets a probability of 1e-12) for validation and test, and the C."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss

    y_train, y_val = np.asarray(y_train, dtype=int), np.asarray(y_val, dtype=int)
    best: tuple[float, Any, float] | None = None
    for c in LOGISTIC_C:
        model = LogisticRegression(C=c, max_iter=300, random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(x_train, y_train)
        proba = _full_proba(model, x_val, num_labels)
        loss = float(log_loss(y_val, proba, labels=list(range(num_labels)))) if len(y_val) else 0.0
        if best is None or loss < best[0]:
            best = (loss, model, c)
    _, model, c = best  # type: ignore[misc]
    return (np.log(_full_proba(model, x_val, num_labels)), np.log(_full_proba(model, x_test, num_labels)),
            f"C={c:g} (lowest validation log loss of C in {', '.join(f'{v:g}' for v in LOGISTIC_C)})")


def _full_proba(model: Any, x: Any, num_labels: int) -> np.ndarray:
    out = np.full((x.shape[0], num_labels), 1e-12)
    out[:, model.classes_] = np.clip(model.predict_proba(x), 1e-12, 1.0)
    return out / out.sum(axis=1, keepdims=True)


def ridge_regression(x_train: Any, y_train: Sequence[float], x_val: Any, y_val: Sequence[float],
                     x_test: Any) -> tuple[np.ndarray, np.ndarray, str]:
    """A ridge regression (scikit-learn) for each alpha of ``RIDGE_ALPHA``; the one with the lowest validation
    squared error is kept. Returns the predictions for validation and test ``(n,)``, and the alpha."""
    from sklearn.linear_model import Ridge

    y_train, y_val = np.asarray(y_train, dtype=float), np.asarray(y_val, dtype=float)
    best: tuple[float, Any, float] | None = None
    for a in RIDGE_ALPHA:
        model = Ridge(alpha=a).fit(x_train, y_train)
        err = float(np.mean((model.predict(x_val) - y_val) ** 2)) if len(y_val) else 0.0
        if best is None or err < best[0]:
            best = (err, model, a)
    _, model, a = best  # type: ignore[misc]
    return (np.asarray(model.predict(x_val), dtype=float), np.asarray(model.predict(x_test), dtype=float),
            f"alpha={a:g} (lowest validation squared error of alpha in {', '.join(f'{v:g}' for v in RIDGE_ALPHA)})")


def sample_rows(n: int, max_rows: int, seed: int) -> np.ndarray:
    """Indices of at most ``max_rows`` of ``n`` rows (all, in order, when they fit), drawn with ``seed``."""
    if n <= max_rows:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_rows, replace=False))


def fit_baseline(task: Any, splits: Any, cfg: Any) -> Baseline:
    """Fit ``task``'s cheap baseline (``task.cheap_baseline``) on at most ``cfg.baseline.max_rows`` training rows
    of ``splits``, choosing its one setting on the validation split; the time it took in ``seconds``."""
    t0 = time.perf_counter()
    train = splits.train
    idx = sample_rows(len(train), cfg.baseline.max_rows, cfg.training.seed)
    base = task.cheap_baseline(train.iloc[idx], splits.validation, splits.test, cfg)
    base.rows = len(idx)
    if len(idx) < len(train):
        base.notes.append(f"fitted on a sample of {len(idx):,} of the {len(train):,} training rows (baseline.max_rows)")
    base.seconds = time.perf_counter() - t0
    return base


def _take(values: Any, idx: np.ndarray) -> Any:
    if isinstance(values, np.ndarray) and values.dtype != object:
        return values[idx]
    return [values[i] for i in idx]


def compare(metrics: Callable[[Any, Any], dict[str, float]], targets: Sequence[Any], model_logits: Any,
            baseline_logits: Any, score: str, direction: str, seed: int = 0) -> dict[str, Any]:
    """The fine-tuned model against the baseline on the same validation units, by ``score`` (a name
    ``metrics(targets, logits)`` returns; ``direction`` "max" or "min", as the task declares it).

    Returns ``model`` and ``baseline`` (each model's score), ``difference`` (model minus baseline, positive when
    the model is better whatever the direction), ``se`` (the paired bootstrap standard error of the difference,
    ``BOOTSTRAP`` resamples), ``beats`` (the difference exceeds ``BEATS_BY_SE`` standard errors), ``worse``
    (the baseline is better by as much) and ``n`` (the units)."""
    sign = 1.0 if direction == "max" else -1.0
    n = len(targets)
    model = float(metrics(targets, model_logits)[score])
    base = float(metrics(targets, baseline_logits)[score])
    diff = sign * (model - base)
    rng = np.random.default_rng(seed)
    diffs = []
    if n > 1:
        y = list(targets)
        for _ in range(BOOTSTRAP):
            idx = rng.integers(0, n, size=n)
            yy = [y[i] for i in idx]
            a = metrics(yy, _take(model_logits, idx))[score]
            b = metrics(yy, _take(baseline_logits, idx))[score]
            if math.isfinite(a) and math.isfinite(b):
                diffs.append(sign * (a - b))
    se = float(np.std(diffs, ddof=1)) if len(diffs) > 1 else float("nan")
    finite = math.isfinite(diff) and math.isfinite(se)
    return {"score": score, "direction": direction, "model": model, "baseline": base, "difference": diff, "se": se,
            "needed": BEATS_BY_SE * se if math.isfinite(se) else None,
            "beats": bool(finite and diff > BEATS_BY_SE * se) or (math.isfinite(diff) and se == 0 and diff > 0),
            "worse": bool(finite and diff < -BEATS_BY_SE * se), "n": n, "bootstrap": len(diffs),
            "threshold": f"{BEATS_BY_SE:g} paired-bootstrap standard errors ({BOOTSTRAP} resamples of the {n} "
                         "validation units)"}


def summary(est: Any, splits: Any, base: Baseline) -> dict[str, Any]:
    """The cheap baseline beside the fitted estimator ``est`` (a ``Finetuner``): what it is, its test metrics (the
    task's headline ones, by the task's own ``evaluate``) and the validation comparison (``compare``, by the task's
    ``baseline_score``). Costs one prediction pass of ``est`` over the validation split."""
    task, step = est.task_, est.step_
    col = task.input_column
    score = task.baseline_score
    direction = step.metric_directions[score]
    val_targets = task.encode_targets(splits.validation["label"])
    model_logits = est.decision_logits(splits.validation[col].tolist())
    validation = compare(step.epoch_metrics, val_targets, model_logits, base.val_logits, score, direction)
    test = task.evaluate(task.encode_targets(splits.test["label"]), base.test_logits)
    return {"name": base.name, "choice": base.choice, "rows": base.rows, "seconds": round(base.seconds, 3),
            "notes": list(base.notes), "validation": validation,
            "test": {k: test[k] for k in task.headline if isinstance(test.get(k), int | float)}}
