"""Token classification (named entities): a tag per word, entity-level metrics.

The frame of a token task holds one sentence per row (:mod:`justfit.tasks.tagging.data`):
``tokens`` (the words), ``label`` (their tags joined by spaces) and ``text`` (the words joined
by spaces, read by the text cleaning rules and the leakage audit). The tag codec is fitted on
the canonical tags of the training split (:func:`justfit.tasks.tagging.tags.canonical`: written in the
model's scheme, one per family of the data's scheme, IOB2, IOE2, IOBES or BILOU; broken
sequences repaired as conlleval reads them); ``O`` is code 0, then each type's tags (``_`` is
the type of untyped chunks, as seqeval names it). Tags only seen in held-out data get codes past the model's
outputs: the loss ignores them and the metrics count them as missed entities.

The model is ``AutoModelForTokenClassification`` with a new head; the batch-level step
(:mod:`justfit.tasks.tagging.step`) aligns words and subwords and cuts long sentences into
windows. Metrics are seqeval's entity precision, recall and F1 (:mod:`justfit.tasks.tagging.metrics`).
The saved model is a plain transformers checkpoint whose ``id2label`` are the tags, so
``pipeline("token-classification", aggregation_strategy="simple")`` reads it; ``justfit predict``
runs that same pipeline for raw texts.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from justfit.data.cleaning import REMOVED_COLUMNS, normalize_text
from justfit.data.cleaning import clean as clean_text
from justfit.data.inputs import as_inputs
from justfit.errors import DataError, DataQualityWarning
from justfit.evaluation.baseline import Baseline
from justfit.models import load_model
from justfit.models.factory import check_text_model, plain_model
from justfit.models.saving import load_text_folder
from justfit.report.html import escape
from justfit.report.html import table as html_table
from justfit.tasks.base import TASKS
from justfit.tasks.tagging.data import refuse_untagged, tags_of
from justfit.tasks.tagging.metrics import decode, mode_name, scheme_entities, sequence_metrics
from justfit.tasks.tagging.step import TokenClassificationStep, words_of
from justfit.tasks.tagging.tags import (
    MODEL_SCHEME,
    OUTSIDE,
    canonical,
    detect_scheme,
    entities,
    in_scheme,
    scheme_name,
    split_tag,
    tag_name,
)
from justfit.tasks.tagging.tags import entities as tag_entities
from justfit.tasks.text.task import TextInputs

_ORDER = {"B": 0, "I": 1, "E": 2, "L": 2, "S": 3, "U": 3}
RARE_TYPE_ENTITIES = 20  # a type with fewer training entities than this gets a warning
PALETTE = ("#fde68a", "#a7f3d0", "#bfdbfe", "#fbcfe8", "#ddd6fe", "#fed7aa", "#c7d2fe", "#99f6e4", "#fecaca",
           "#d9f99d", "#e5e7eb")


def _tag_key(tag: str) -> tuple[int, str, int]:
    prefix, kind = split_tag(tag)
    return (0, "", 0) if tag == OUTSIDE else (1, kind, _ORDER.get(prefix, 9))


def sentence_entities(tags: Sequence[str], words: Sequence[str], scheme: str | None = None) -> list[dict[str, Any]]:
    """The entities of one sentence as plain dicts: ``type``, word ``start``/``end`` (exclusive), ``text``;
    read as the metrics read ``scheme`` (``token_metrics.scheme_entities``) when given."""

    found = scheme_entities(list(tags), scheme) if scheme else entities(list(tags))
    return [e.as_dict(list(words)) for e in found]


def _softmax(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    z = z - np.nanmax(z, axis=1, keepdims=True) if len(z) else z
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


@TASKS.register("token-classification",
                help="a tag per word (named entities, chunks; IOB1/IOB2/IOE1/IOE2/IOBES/BILOU); entity-level precision, recall and F1 (seqeval)")
class TokenClassificationTask(TextInputs):
    """A tag per word. See :class:`justfit.tasks.base.TaskKind` for the protocol."""

    name = "token-classification"
    step_class = TokenClassificationStep
    input_column = "tokens"
    metric_directions = TokenClassificationStep.metric_directions
    headline = ("f1", "precision", "recall", "f1_macro", "token_accuracy")
    baseline_score = "f1"  # entity micro-F1: the epoch metric the model and the cheap baseline are compared by
    uses_label_audit = True
    default_monitor = "val_f1"  # early stopping's "auto": the entity F1 is the task's measure
    # Row-level settings that do not apply to a tag per word (refused by build and run.check_task; the
    # diagnosis offers no remedy that sets them).
    unsupported_settings = {
        "training.class_weights": "it weighs whole rows by class, and a sentence has a tag per word (entity F1 "
                                  "already weighs every entity)",
        "training.sampler": "it balances whole rows by class, and a sentence has a tag per word",
        "augment.ops": "text augmentation rewrites words and would move the tags they carry",
        "model.lora_merge": "a token head's adapters are saved merged into the model (the default), so that "
                            "transformers' pipeline loads it",
    }

    def __init__(self) -> None:
        self.tags: list[str] = []  # the model's outputs (id2label), in order
        self.names: list[str] = []  # the tags, then tags only seen in held-out data (shared with the step)
        self.scheme = "IOB2"  # the model's tag scheme (data.tags.MODEL_SCHEME of the training data's)

    # ------------------------------------------------------------------ targets
    def check_targets(self, frame: pd.DataFrame, where: str = "the training data") -> None:
        """Tagged sentences (a ``tokens`` column) with at least one entity among them."""
        if "tokens" not in frame.columns:
            refuse_untagged(frame, frame.attrs.get("label_column", "label"), where)
        labels = frame["label"].dropna()
        if not len(labels):
            raise DataError(f"{where[0].upper() + where[1:]} has no tagged sentence.")
        if not any(t != OUTSIDE for lab in labels for t in tags_of(lab)):
            raise DataError(f"Every word of {where} is tagged O: there is no entity to learn. Tag the entities "
                            "(B-PER, I-PER, ...), or check the tag column (data.label_column).")

    def check_held_out(self, train: pd.DataFrame, other: pd.DataFrame, name: str) -> None:
        """Tags of ``other`` never seen in training: a warning (the model cannot predict them; the metrics
        count their entities as missed)."""
        import warnings

        ours = detect_scheme((tags_of(lab) for lab in train["label"].dropna()), "the training data")
        theirs = detect_scheme((tags_of(lab) for lab in other["label"].dropna()), f"the {name} data")
        scheme = MODEL_SCHEME[ours]
        if MODEL_SCHEME[theirs] != scheme and any(t != OUTSIDE for lab in other["label"].dropna() for t in tags_of(lab)):
            warnings.warn(f"the {name} data is tagged {theirs} and the training data {ours}: its tags are read as "
                          f"entities and written in {scheme} for the metrics.", DataQualityWarning, stacklevel=3)
        seen = {t for lab in train["label"].dropna() for t in in_scheme(tags_of(lab), scheme)}
        new = sorted({t for lab in other["label"].dropna() for t in in_scheme(tags_of(lab), scheme)} - seen)
        if new:
            warnings.warn(f"the {name} data has tag(s) {', '.join(new[:8])} that training never has: the model "
                          "cannot predict them, and their entities count as missed.", DataQualityWarning, stacklevel=3)

    def stratify_key(self, labels: pd.Series) -> pd.Series:
        """Each sentence by its rarest entity type (``none`` without entities); types in fewer than 10
        sentences are pooled, so every stratum can reach every split."""
        types = [sorted({e.type for e in entities(tags_of(lab))}) for lab in labels]
        freq = pd.Series([t for ts in types for t in ts], dtype=object).value_counts()
        key = pd.Series([min(ts, key=lambda t: (freq[t], t)) if ts else "none" for ts in types], index=labels.index,
                        dtype=object)
        counts = key.value_counts()
        key = key.where(~key.isin(counts[counts < 10].index), "rare types")
        if (key == "rare types").sum() < 10:
            key = key.where(key != "rare types", key.value_counts().index[0])
        return key

    def fit(self, labels: Sequence[Any]) -> TokenClassificationTask:
        """Fit the tag codec on the training tags (canonical: see the module docstring)."""
        seqs = [tags_of(lab) for lab in labels]
        data_scheme = detect_scheme(seqs, "the training data")
        self.scheme = MODEL_SCHEME[data_scheme]
        found = {t for s in seqs for t in canonical(s, data_scheme)[0]} | {OUTSIDE}
        self.tags = sorted(found, key=_tag_key)
        self.names = list(self.tags)
        return self

    def in_scheme(self, tags: Sequence[str]) -> list[str]:
        """``tags`` written in the model's scheme (``self.scheme``: IOB2, IOE2, IOBES or BILOU, as the training
        data's family), so held-out data in another scheme is compared entity for entity."""
        return in_scheme(tags, self.scheme)

    def encode_targets(self, labels: Sequence[Any]) -> list[list[int]]:
        """Tag codes per sentence, in the model's scheme (a tag never seen in training gets a code past the
        model's outputs)."""
        index = {t: i for i, t in enumerate(self.names)}
        out = []
        for lab in labels:
            codes = []
            for t in self.in_scheme(tags_of(lab)):
                if t not in index:
                    index[t] = len(self.names)
                    self.names.append(t)
                codes.append(index[t])
            out.append(codes)
        return out

    @property
    def labels(self) -> list[str]:
        """The model's output names (``id2label``), in output order."""
        return list(self.tags)

    # ------------------------------------------------------------------ model
    def _step(self, tokenizer: Any, max_length: int, model_config: Any, subword_labels: str, stride: int,
              label_smoothing: float = 0.0) -> Any:
        cont = {}
        for i, t in enumerate(self.tags):
            prefix, kind = split_tag(t)
            if prefix == "B" and tag_name("I", kind) in self.tags:
                cont[i] = self.tags.index(tag_name("I", kind))
        return TokenClassificationStep(tokenizer, max_length, self.names, num_labels=len(self.tags),
                                       model_config=model_config, subword_labels=subword_labels, stride=stride,
                                       scheme=self.scheme, continuation=cont, label_smoothing=label_smoothing)

    def build(self, cfg: Any, train_codes: Sequence[Any]) -> tuple[Any, Any, str, TokenClassificationStep]:
        """Load ``cfg.model.name`` with a new token-classification head for the tags; return
        ``(model, tokenizer, source, step)`` (settings that do not apply to tags were refused by
        ``justfit.checks.check_unsupported`` before the data was read)."""
        model, tokenizer, source = load_model(cfg.model.name, self.tags, dropout=cfg.model.dropout, problem_type=None,
                                              head="token")
        tokenizer = words_tokenizer(tokenizer, source)
        step = self._step(tokenizer, cfg.data.max_length, plain_model(model).config, cfg.data.subword_labels,
                          cfg.data.stride, cfg.training.label_smoothing)
        return model, tokenizer, source, step

    def step_from_meta(self, tokenizer: Any, max_length: int, model_config: Any) -> TokenClassificationStep:
        return self._step(tokenizer, max_length, model_config, self._subword_labels, self._stride)

    @staticmethod
    def load_pretrained(path: Any) -> tuple[Any, Any]:
        """A saved token-classification model and its tokenizer (plain transformers)."""
        from transformers import AutoModelForTokenClassification

        model, tokenizer = load_text_folder(path, AutoModelForTokenClassification)
        return model, words_tokenizer(tokenizer, str(path))

    @staticmethod
    def check_model(name: str | None) -> str:

        return check_text_model(name, head="token")

    @staticmethod
    def train_dataset(cfg: Any, step: Any, model: Any, tokenizer: Any, inputs: Sequence[Any], targets: Sequence[Any],
                      weights: Sequence[float] | None) -> tuple[Any, bool]:
        """The training windows (no augmentation: rewriting words would move the tags; ``augment.ops`` is
        refused by ``justfit.checks.check_unsupported``)."""
        return step.encode(list(inputs), targets, weights), False

    # ------------------------------------------------------------------ evaluation
    def transform(self, logits: np.ndarray) -> np.ndarray:
        """Tag probabilities per sentence: an object array of ``(n_words, len(tags))`` arrays."""
        out = np.empty(len(logits), dtype=object)
        for i, x in enumerate(logits):
            out[i] = _softmax(np.asarray(x)[:, :len(self.tags)]) if len(x) else np.zeros((0, len(self.tags)), np.float32)
        return out

    def predict(self, logits: np.ndarray) -> np.ndarray:
        """The predicted tags per sentence: an object array of lists, one tag per word."""

        out = np.empty(len(logits), dtype=object)
        for i, tags in enumerate(decode(logits, self.names, len(self.tags))):
            out[i] = tags
        return out

    def evaluate(self, targets: Sequence[Sequence[int]], logits: np.ndarray,
                 train_targets: Sequence[Any] | None = None) -> dict[str, Any]:
        """Test metrics: entity micro and macro precision/recall/F1 and per type (seqeval; strict for
        IOBES and BILOU: :mod:`justfit.tasks.tagging.metrics`), token accuracy, the all-``O`` token baseline,
        entity counts."""

        m = sequence_metrics(targets, logits, self.names, len(self.tags), self.scheme, per_type=True)
        outside = self.names.index(OUTSIDE)
        words = [c for seq in targets for c in seq]
        m["token_accuracy"] = m.pop("accuracy")
        m["log_loss"] = m.pop("loss")
        m["majority_baseline_accuracy"] = float(np.mean([c == outside for c in words])) if words else None
        m["n"] = len(targets)  # test sentences
        m["scheme"] = self.scheme
        m["mode"] = mode_name(self.scheme)
        unseen = self.names[len(self.tags):]
        if unseen:
            m["unseen_tags"] = unseen
        return m

    def analysis(self, frame: pd.DataFrame, logits: np.ndarray) -> pd.DataFrame:
        """One row per sentence: its words, gold and predicted tags and entities, the words tagged wrong,
        the mean word loss and the mean confidence."""
        codes = self.encode_targets(frame["label"])
        pred = self.predict(logits)
        proba = self.transform(logits)
        rows = []
        for row, words, tags, p, y, pr in zip(frame.index, frame["tokens"], frame["label"], pred, codes, proba,
                                              strict=True):
            gold = self.in_scheme(tags_of(tags))
            y = np.asarray(y)
            ok = (y < len(self.tags)) & np.isfinite(pr).all(axis=1) if len(y) else np.zeros(0, bool)
            p_true = pr[np.arange(len(y))[ok], y[ok]] if ok.any() else np.zeros(0)
            g_ent = sentence_entities(gold, words, self.scheme)  # read as the metrics read them
            p_ent = sentence_entities(p, words, self.scheme)
            rows.append({
                "row": row, "tokens": json.dumps(list(words), ensure_ascii=False), "text": " ".join(words),
                "label": " ".join(gold), "predicted": " ".join(p),
                "entities": json.dumps(g_ent, ensure_ascii=False), "predicted_entities": json.dumps(p_ent, ensure_ascii=False),
                "correct": {(e["type"], e["start"], e["end"]) for e in g_ent} == {(e["type"], e["start"], e["end"]) for e in p_ent},
                "wrong_words": int(sum(a != b for a, b in zip(gold, p, strict=True))),
                "confidence": float(np.nanmax(pr, axis=1).mean()) if len(pr) else 1.0,
                "loss": float(-np.log(np.clip(p_true, 1e-15, 1)).mean()) if len(p_true) else 0.0,
            })
        return pd.DataFrame(rows, columns=["row", "tokens", "text", "label", "predicted", "entities",
                                           "predicted_entities", "correct", "wrong_words", "confidence", "loss"])

    def read_analysis(self, path: Any) -> pd.DataFrame:
        return pd.read_csv(path, dtype={"text": str, "label": str, "predicted": str, "tokens": str}, keep_default_na=False,
                           na_values=[""])

    def cheap_baseline(self, train: pd.DataFrame, validation: pd.DataFrame, test: pd.DataFrame, cfg: Any) -> Any:
        """A unigram tagger: each word gets the tags it had in training, as log-probabilities (its tag counts plus
        one count spread by the training tag frequencies); a word never seen gets those frequencies (so the most
        frequent tag, ``O``). The baseline of the CoNLL-2003 shared task (Tjong Kim Sang & De Meulder 2003) tags
        words the same way. Logits: one ``(words, num_labels)`` array per sentence."""
        from collections import Counter, defaultdict

        k = len(self.tags)
        counts: dict[str, Counter] = defaultdict(Counter)
        total: Counter = Counter()
        for words, codes in zip(train["tokens"], self.encode_targets(train["label"]), strict=True):
            for w, c in zip(words, codes, strict=True):
                if c < k:
                    counts[str(w)][c] += 1
                    total[c] += 1
        prior = np.array([total[i] for i in range(k)], dtype=np.float64) + 1e-3
        prior /= prior.sum()
        table = {w: np.log((np.array([c[i] for i in range(k)], dtype=np.float64) + prior) / (sum(c.values()) + 1.0))
                 for w, c in counts.items()}
        unseen = np.log(prior)

        def tag(frame: pd.DataFrame) -> np.ndarray:
            out = np.empty(len(frame), dtype=object)
            for i, words in enumerate(frame["tokens"]):
                out[i] = np.stack([table.get(str(w), unseen) for w in words]) if len(words) else np.zeros((0, k))
            return out

        return Baseline("most frequent tag per word", tag(validation), tag(test), "tags counted on the training words")

    def diagnosis_context(self, train_labels: pd.Series, val_labels: pd.Series) -> dict[str, Any]:
        """The all-``O`` token baseline of the validation words, and the number of tags (the classes each word's
        loss is over: chance is ``log(len(tags))``) and the validation words a token accuracy averages over
        (``n_val``: its noise)."""
        tags = [t for lab in val_labels for t in tags_of(lab)]
        share = float(np.mean([t == OUTSIDE for t in tags])) if tags else None
        return {"metrics": {"majority_baseline_accuracy": share}, "n_classes": max(len(self.tags), 2),
                "n_val": len(tags)}

    def class_counts(self, labels: pd.Series) -> dict[str, int]:
        """Entities per type."""
        counts: dict[str, int] = {}
        for lab in labels:
            for e in entities(tags_of(lab)):
                counts[e.type] = counts.get(e.type, 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: -kv[1]))

    def describe(self, labels: pd.Series) -> str:
        counts = self.class_counts(labels)
        words = sum(len(tags_of(lab)) for lab in labels)
        if not counts:
            return f"no entities in {words:,} words"
        scheme = detect_scheme(tags_of(lab) for lab in labels)
        return (f"{len(counts)} entity types, {sum(counts.values()):,} entities in {words:,} words ({scheme}; "
                f"most/fewest in train: {max(counts.values())}/{min(counts.values())})")

    def balance_report(self, splits: Any) -> tuple[dict[str, Any], list[str]]:
        """Entities per type in each split, the training imbalance ratio, and warnings for rare types."""
        out: dict[str, Any] = {name: self.class_counts(getattr(splits, name)["label"])
                               for name in ("train", "validation", "test")}
        train = out["train"]
        warnings = []
        if train:
            out["imbalance_ratio"] = float(max(train.values()) / max(min(train.values()), 1))
            rare = [t for t, n in train.items() if n < RARE_TYPE_ENTITIES]
            if rare:
                shown = ", ".join(f"'{t}' ({train[t]})" for t in rare[:6])
                warnings.append(f"entity type(s) {shown} have fewer than {RARE_TYPE_ENTITIES} training entities; their "
                                "F1 will be noisy and they pull down the macro average. Tag more of them, or merge "
                                "them into a related type.")
        return out, warnings

    def output_columns(self, logits: np.ndarray, words: Sequence[Sequence[str]] | None = None) -> dict[str, Any]:
        """What ``justfit predict`` adds per sentence of words: ``predicted`` (tags joined by spaces) and
        ``entities`` (JSON: type, word start/end, text when ``words`` are given)."""
        pred = self.predict(logits)
        ents = [json.dumps(sentence_entities(p, words[i] if words is not None else [""] * len(p), self.scheme),
                           ensure_ascii=False) for i, p in enumerate(pred)]
        return {"predicted": [" ".join(p) for p in pred], "entities": ents}

    def predict_columns(self, estimator: Any, X: Any) -> dict[str, Any]:
        """``justfit predict``'s columns: for word lists, the tags and entities of each; for raw texts, the
        entities that ``pipeline("token-classification", aggregation_strategy="simple")`` gives for the
        saved model (type, character start/end, the text and the mean score), as a JSON list each."""

        inputs = list(as_inputs(X, self.input_column))
        if inputs and all(isinstance(x, str) for x in inputs):
            found = pipeline_entities(estimator.model_, estimator.tokenizer_, inputs,
                                      batch_size=estimator.config_.training.eval_batch_size,
                                      stride=estimator.step_.stride, scheme=self.scheme)
            return {"entities": [json.dumps(e, ensure_ascii=False) for e in found]}
        words = [words_of(x) for x in inputs]
        logits = estimator.decision_logits(words)
        return self.output_columns(logits, words)

    # ------------------------------------------------------------------ the report
    def report_sections(self, metrics: dict[str, Any], predictions: pd.DataFrame | None) -> list[str]:
        """HTML: entity metrics per type."""
        per = metrics.get("per_type") or {}
        if not per:
            return []
        rows = [[t, m["precision"], m["recall"], m["f1"], m["support"]] for t, m in sorted(per.items())]
        note = (f"<p class='muted'>Entities are matched whole (type and both boundaries), seqeval in "
                f"{escape(str(metrics.get('mode', 'conlleval')))} mode. Token accuracy "
                f"{metrics.get('token_accuracy', float('nan')):.3f} against {metrics.get('majority_baseline_accuracy') or 0:.3f} "
                "for tagging every word O.</p>")
        return ["<div><h3>per entity type</h3>" + html_table(rows, ["type", "precision", "recall", "F1", "support"])
                + note + "</div>"]

    def report_examples(self, predictions: pd.DataFrame, top: int = 15) -> str:
        """HTML: the highest-loss test sentences, each word coloured by its gold and its predicted entity type."""
        if predictions is None or not len(predictions):
            return ""
        # The types of the run's own tags (the report reads a saved run: its gold and predicted columns).
        seen = [t for col in ("label", "predicted") for lab in predictions[col].fillna("") for t in str(lab).split()]
        types = sorted({split_tag(t)[1] for t in seen if t != OUTSIDE})
        color = {t: PALETTE[i % len(PALETTE)] for i, t in enumerate(types)}
        worst = predictions.sort_values("loss", ascending=False).head(top)
        legend = " ".join(f"<span class='tok' style='background:{color[t]}'>{escape(t)}</span>" for t in types)

        def line(words: list[str], tags: list[str], other: list[str]) -> str:
            out = []
            for w, t, o in zip(words, tags, other, strict=False):
                kind = split_tag(t)[1]
                style = f"background:{color.get(kind, '#e5e7eb')}" if t != OUTSIDE else ""
                mark = " tok-wrong" if t != o else ""
                title = escape(t)
                out.append(f"<span class='tok{mark}' style='{style}' title='{title}'>{escape(w)}</span>")
            return " ".join(out)

        rows = []
        for _, r in worst.iterrows():
            words = json.loads(r["tokens"]) if isinstance(r["tokens"], str) else list(r["tokens"])
            gold, pred = str(r["label"]).split(), str(r["predicted"]).split()
            rows.append(f"<tr><td>{escape(str(r['row']))}</td><td><div>gold: {line(words, gold, pred)}</div>"
                        f"<div>pred: {line(words, pred, gold)}</div></td><td>{float(r['loss']):.3f}</td></tr>")
        style = ("<style>.tok{padding:0 2px;border-radius:3px}.tok-wrong{outline:2px solid #dc2626}</style>")
        return (f"<h3>highest-loss test sentences</h3>{style}<p class='muted'>Types: {legend}. Words whose gold and "
                "predicted tags differ are outlined; hover a word for its tag.</p><table><tr><th>row</th><th>sentence"
                "</th><th>loss</th></tr>" + "".join(rows) + "</table>")

    # ------------------------------------------------------------------ the data stage
    def clean(self, frame: pd.DataFrame, rules: Sequence[str], *, report_only: Sequence[str] = (), split: str = "",
              quality: Any = None) -> Any:
        """The text rules on the joined words (duplicates, near duplicates, empty and non-text sentences,
        conflicting tags for the same sentence), each word normalised on its own (NFKC, spaces), then
        every tag sequence made valid (:func:`justfit.tasks.tagging.tags.canonical`); each repaired sentence is
        listed in ``flagged`` under ``invalid_tags``."""

        if "tokens" not in frame.columns:
            refuse_untagged(frame, frame.attrs.get("label_column", "label"), f"the {split or 'given'} data")
        options = quality.cleaning_options() if quality is not None else {}
        rep = clean_text(frame[["text", "label"]], rules, report_only=report_only, split=split, check=False, **options)
        data = frame.loc[rep.data.index].copy()  # every column kept (tokens, a group column)
        data["text"], data["label"] = rep.data["text"], rep.data["label"]
        if "normalize" in rules and len(data):
            data["tokens"] = [tuple(normalize_text(w) or w for w in words) for words in data["tokens"]]
            data["text"] = [" ".join(w) for w in data["tokens"]]
        scheme = detect_scheme((tags_of(x) for x in data["label"].dropna()), f"the {split or 'given'} data")
        fixed_rows = []
        labels = data["label"].tolist()
        for i, (row, lab) in enumerate(zip(data.index, labels, strict=True)):
            if lab is None or (isinstance(lab, float) and np.isnan(lab)):
                continue
            fixed, repairs = canonical(tags_of(lab), scheme)
            new = " ".join(fixed)
            if repairs:
                shown = "; ".join(r.describe() for r in repairs[:4]) + (f"; +{len(repairs) - 4} more" if len(repairs) > 4 else "")
                fixed_rows.append({"row": row, "split": split, "rule": "invalid_tags", "duplicate_of": None,
                                   "detail": f"invalid {scheme} sequence repaired: {shown}", "text": data.at[row, "text"],
                                   "label": lab})
            labels[i] = new
        data["label"] = labels
        if fixed_rows:
            extra = pd.DataFrame(fixed_rows, columns=REMOVED_COLUMNS)
            extra["duplicate_of"] = extra["duplicate_of"].astype("Int64")
            rep.flagged = pd.concat([rep.flagged, extra], ignore_index=True) if len(rep.flagged) else extra
            rep.examples["invalid_tags"] = extra.head(5)[["row", "duplicate_of", "detail", "text", "label"]].to_dict("records")
        rep.rules = [*rep.rules, "invalid_tags"]
        rep.counts["invalid_tags"] = 0
        rep.flagged_counts["invalid_tags"] = len(fixed_rows)
        rep.data = data
        return rep

    def find_label_issues(self, train: pd.DataFrame, cfg: Any, progress: bool = False) -> Any:
        """The token-level label audit (:func:`justfit.tasks.tagging.audit.find_token_issues`)."""
        from justfit.tasks.tagging.audit import find_token_issues

        q = cfg.quality
        return find_token_issues(train, model=cfg.model.name, folds=q.label_noise_folds, seed=cfg.data.seed,
                                 max_length=cfg.data.max_length, bf16=cfg.training.bf16, cache_dir=q.cache_dir,
                                 progress=progress)

    # ------------------------------------------------------------------ persistence
    _subword_labels = "all"
    _stride = 32

    def meta(self) -> dict[str, Any]:
        return {"task": self.name, "labels": self.labels, "scheme": self.scheme}

    @classmethod
    def from_meta(cls, meta: dict[str, Any], model_config: Any) -> TokenClassificationTask:
        task = cls()
        labels = meta.get("labels") or [model_config.id2label[i] for i in range(model_config.num_labels)]
        task.tags = [str(t) for t in labels]
        task.names = list(task.tags)
        # Runs saved before the schemes took seqeval's names wrote BIO/BIOES (scheme_name reads both).
        task.scheme = MODEL_SCHEME[scheme_name(meta.get("scheme") or detect_scheme([task.tags], "the model's labels"))]
        cfg = meta.get("config") or {}
        task._subword_labels = (cfg.get("data") or {}).get("subword_labels", "all")
        task._stride = int((cfg.get("data") or {}).get("stride", 32))
        return task


def words_tokenizer(tokenizer: Any, source: str) -> Any:
    """``tokenizer``, reloaded with ``add_prefix_space=True`` when it refuses pre-split words without it
    (byte-level BPE tokenizers: RoBERTa, GPT-2, DeBERTa)."""
    try:
        tokenizer(["a", "b"], is_split_into_words=True)
        return tokenizer
    except (ValueError, AssertionError, TypeError):
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(source, add_prefix_space=True)


def scheme_pipeline_class() -> Any:
    """transformers' ``TokenClassificationPipeline`` whose grouping of tags into entities reads the tag
    scheme (:func:`justfit.tasks.tagging.tags.entities`, conlleval's reading) instead of transformers' ``get_tag``,
    which knows ``B-``/``I-`` only and reads any other tag as a type of its own (an untyped ``B`` as the
    type ``B``, ``S-PER`` as ``S-PER``). For typed IOB2 tags the groups are the same as transformers'."""
    from transformers import TokenClassificationPipeline

    class SchemeTokenClassificationPipeline(TokenClassificationPipeline):
        def group_entities(self, entities: list[dict]) -> list[dict]:
            found = tag_entities([e["entity"] for e in entities])
            return [self.group_typed(entities[e.start:e.end], e.type) for e in found]

        def group_typed(self, parts: list[dict], kind: str) -> dict:
            # transformers' group_sub_entities, with the entity's type as read above.
            return {"entity_group": kind, "score": np.mean(np.nanmean([p["score"] for p in parts])),
                    "word": self.tokenizer.convert_tokens_to_string([p["word"] for p in parts]),
                    "start": parts[0]["start"], "end": parts[-1]["end"]}

    return SchemeTokenClassificationPipeline


def pipeline_entities(model: Any, tokenizer: Any, texts: Sequence[str], batch_size: int = 32,
                      stride: int = 0, scheme: str = "IOB2") -> list[list[dict[str, Any]]]:
    """The entities of each text from ``transformers.pipeline("token-classification")`` on ``model``
    (tags in ``scheme``): ``entity_group``, ``score``, ``word``, ``start`` and ``end`` (character
    offsets), plain Python values. Tags are grouped by :func:`scheme_pipeline_class`: for IOB2 over
    every subword (``aggregation_strategy="simple"``, what the plain pipeline gives for typed tags);
    for IOE2, IOBES and BILOU over words, each read by its first subword (``"first"``), since a word's
    later subwords cannot repeat its ``E-``/``S-``/``L-``/``U-`` without closing an entity there. A text
    longer than the tokenizer's ``model_max_length`` is read in overlapping windows (the pipeline's
    ``stride``, in tokens) instead of being truncated; texts that fit in one window get what a call
    without ``stride`` gives."""
    from transformers import pipeline

    aggregation = "simple" if MODEL_SCHEME[scheme_name(scheme)] == "IOB2" else "first"
    pipe = pipeline("token-classification", model=model, tokenizer=tokenizer, aggregation_strategy=aggregation,
                    device=next(model.parameters()).device, pipeline_class=scheme_pipeline_class())
    texts = [str(t) for t in texts]
    filled = [t for t in texts if t.strip()]
    results = iter(pipe(filled, batch_size=batch_size, **({"stride": int(stride)} if stride else {})) if filled else [])
    out = []
    for text in texts:
        found = next(results) if text.strip() else []
        out.append([{"entity_group": str(e["entity_group"]), "score": float(e["score"]), "word": str(e["word"]),
                     "start": int(e["start"]) if e.get("start") is not None else None,
                     "end": int(e["end"]) if e.get("end") is not None else None} for e in found])
    return out
