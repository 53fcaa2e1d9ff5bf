"""Training defaults by model family, each with where it came from.

A setting the user leaves unset takes its family's measured value when ``bench/`` measured one for that
family, justfit's global default otherwise; a run records every one of them with its source
(``result.data["defaults"]``), so a number is never a guess the run does not own up to. The family comes
from the checkpoint's ``config.json`` (``model_type``), never from the model's name.

What the rows rest on (all in ``bench/README.md``):

* text encoders (BERT-like; measured on the packaged all-MiniLM-L6-v2, tweets, ``time_to_accuracy.py``):
  batch 16 at lr 1e-4 reached test macro-F1 0.749-0.768 in a fixed time, against 0.733 for batch 32 at
  5e-5, 0.748-0.760 for batch 32 at 1e-4 and 0.738 for batch 8 at 1e-4 (one seed each but the default,
  measured with three). On a small training set the 5 default epochs are too few steps (``defaults.py``,
  3 seeds): on 240 tweets, 15 steps an epoch, 10 epochs reached 0.681 +/- 0.006 against 0.640 +/- 0.011,
  so an unset epoch count grows to at least 150 optimisation steps (``min_steps``); from about 470 rows
  on, 5 epochs are more and stay. Other text encoders (BERT-base and larger) were not measured: their own authors
  fine-tune with 2e-5 to 5e-5 (Devlin et al. 2019), and justfit's remedies hold them below 3e-4.
* convolutional networks (measured on the packaged EfficientNet-Lite0, ``image.py``): full fine-tuning
  at lr 5e-4 reached 0.992 test accuracy on mnist and 0.994 on animals, against 0.964 at 1e-4 (2 epochs).
* a head on a frozen backbone (``model.freeze: backbone``; ``frozen.py``, ``audio.py``, ``image_presets.py``
  train heads so): lr 1e-3 for at most 10 epochs; a linear probe on fixed features takes larger steps.
* Whisper encoders (measured on the packaged Whisper tiny.en, keywords, ``defaults.py``, 3 seeds): lr 1e-4,
  the global default, confirmed: 3e-4 gained 0.005 test accuracy on 246 clips but not on 984, 5e-5 lost 0.019
  on 246, and a head on the frozen encoder lost 0.055 on 246 (so the diagnosis does not offer it there).
* ViT-like and wav2vec2-like models: not measured against other settings; they take justfit's global
  defaults, and the run says so.
* with ``optimizer: adam`` or ``sgd`` (L2 added to the gradient) the weight decay is torch's default, 0
  (``COUPLED``), for every family.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from justfit.config import JustfitConfig, TrainingConfig

# The settings this table sets, by config key.
KEYS = ("training.lr", "training.batch_size", "training.epochs", "training.warmup_ratio", "training.weight_decay")

# model_type (config.json) -> family.
FAMILIES: dict[str, frozenset[str]] = {
    "text-encoder": frozenset({"bert", "roberta", "distilbert", "deberta", "deberta-v2", "electra", "xlm-roberta",
                               "xlm-roberta-xl", "mpnet", "albert", "camembert", "modernbert", "megatron-bert",
                               "ernie", "nomic_bert", "xlm", "flaubert", "longformer", "bigbird", "funnel"}),
    "conv-net": frozenset({"resnet", "convnext", "convnextv2", "efficientnet", "mobilenet_v1", "mobilenet_v2",
                           "regnet", "bit", "justfit-efficientnet-lite"}),
    "vit-like": frozenset({"vit", "deit", "beit", "swin", "swinv2", "dinov2", "vit_msn", "vit_mae",
                           "data2vec-vision", "audio-spectrogram-transformer"}),
    "whisper": frozenset({"whisper"}),
    "wav2vec2-like": frozenset({"wav2vec2", "hubert", "wavlm", "data2vec-audio", "wav2vec2-conformer", "sew",
                                "sew-d", "unispeech", "unispeech-sat"}),
}


@dataclass(frozen=True)
class Row:
    """One family's measured settings and the evidence for them."""

    settings: dict[str, Any]
    evidence: str
    measured_on: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    # Fewest optimisation steps the default schedule plans: an unset ``training.epochs`` grows to reach them on
    # a small training set (``epochs_for_steps``); 0: no such rule was measured for the family.
    min_steps: int = 0
    min_steps_evidence: str = ""


TABLE: dict[str, Row] = {
    "text-encoder": Row({"training.lr": 1e-4, "training.batch_size": 16},
                        "bench/README.md, time_to_accuracy.py: batch 16 at 1e-4 beat batch 32 at 5e-5 or 1e-4 and "
                        "batch 8 at 1e-4 in a fixed time on the tweets; defaults.py: 1e-4 beat 2e-4 on 1,932 tweets "
                        "(0.743 +/- 0.006 against 0.733 +/- 0.008) and 5e-5 on 240 (0.640 against 0.579)",
                        "all-MiniLM-L6-v2",
                        min_steps=150,
                        min_steps_evidence="bench/README.md, defaults.py: on 240 tweets (15 steps an epoch) 10 epochs "
                        "reached test macro-F1 0.681 +/- 0.006 against 0.640 +/- 0.011 for 5 (3 seeds); lr 2e-4 "
                        "gained there too (0.675) but lost 0.010 on 1,932 rows, where 5 epochs reached 0.743"),
    "whisper": Row({"training.lr": 1e-4},
                   "bench/README.md, defaults.py: on keyword clips 1e-4 reached test accuracy 0.992 +/- 0.003 on 246 "
                   "and 0.998 +/- 0.001 on 984; 3e-4 gained 0.005 on 246 but not on 984 (0.997 +/- 0.003), "
                   "5e-5 lost 0.019 on 246 (3 seeds each)", "Whisper tiny.en"),
    "conv-net": Row({"training.lr": 5e-4},
                    "bench/README.md, image.py: 0.992 test accuracy on mnist at 5e-4 against 0.964 at 1e-4 "
                    "(2 epochs), 0.994 on animals", "EfficientNet-Lite0"),
}
# A head trained on a frozen backbone, whatever the family.
HEAD_ONLY = Row({"training.lr": 1e-3, "training.epochs": 10},
                "bench/README.md, frozen.py / audio.py / image_presets.py: heads on frozen backbones trained at "
                "1e-3 for at most 10 epochs (a linear probe on fixed features)")
GLOBAL = "justfit's default for every model (not measured for this family)"
# Optimizers that add the weight decay to the gradient (classic L2) take torch's own default, 0: justfit's
# global 0.01 is a decoupled (AdamW) value (Loshchilov & Hutter 2019), and as coupled L2 under Adam it pulls
# every weight toward 0 at up to the learning rate per step, whatever the loss says.
COUPLED = frozenset({"adam", "sgd"})
COUPLED_SOURCE = ("torch.optim.Adam's and SGD's own default (L2 added to the gradient): justfit's 0.01 is a "
                  "decoupled AdamW value")


def family_of(model_type: str | None) -> str | None:
    """The family of a checkpoint's ``model_type`` (``FAMILIES``), or ``None`` when unknown."""
    if not model_type:
        return None
    return next((f for f, types in FAMILIES.items() if model_type in types), None)


def epochs_for_steps(epochs: int, n_train: int, batch_size: int, grad_accum_steps: int, min_steps: int) -> int:
    """The epochs a schedule of at least ``min_steps`` optimisation steps takes on ``n_train`` training rows
    (``ceil(n_train / (batch_size * grad_accum_steps))`` steps an epoch), never fewer than ``epochs``."""
    per_epoch = max(1, math.ceil(n_train / (batch_size * grad_accum_steps)))
    return max(int(epochs), math.ceil(min_steps / per_epoch))


def learning_rate(model_type: str | None, *, head_only: bool) -> float:
    """The learning rate a model of ``model_type`` (config.json's) takes by default when what is trained
    changes: ``HEAD_ONLY``'s for a head on a frozen backbone, its family's measured rate (``TABLE``) for the
    whole model, justfit's global default (``training.lr``) for a family not measured."""
    row = HEAD_ONLY if head_only else TABLE.get(family_of(model_type) or "")
    if row is not None and "training.lr" in row.settings:
        return float(row.settings["training.lr"])
    return float(TrainingConfig.model_fields["lr"].default)


def explicit_keys(cfg: JustfitConfig) -> set[str]:
    """The dotted keys the config sets (``section.key``), as opposed to those left at their defaults (pydantic's
    ``model_fields_set``, kept through ``JustfitConfig.updated``)."""
    out: set[str] = set()
    for section in cfg.model_fields_set:
        value = getattr(cfg, section)
        for name in getattr(value, "model_fields_set", ()):
            out.add(f"{section}.{name}")
    return out


def apply_defaults(cfg: JustfitConfig, model_type: str | None = None,
                   n_train: int | None = None) -> tuple[JustfitConfig, dict[str, Any]]:
    """``cfg`` with each key of ``KEYS`` it leaves unset at its family's measured value (``TABLE``; ``HEAD_ONLY``
    with ``model.freeze: backbone``), and where every one of them came from: ``{"family", "model_type", "n_train",
    "keys": {key: {"value", "source"}}}`` with source ``"as given"``, the row's evidence, or ``GLOBAL``.
    ``model_type``: the checkpoint's (``models.factory.checkpoint_model_type``
    reads it from its config.json); ``None``: unknown, the global defaults apply. ``n_train``: the training rows, when known; an unset
    ``training.epochs`` then grows to the family's ``min_steps`` (``epochs_for_steps``) on a small set.
    Applying it twice changes nothing (the keys it sets count as given)."""
    family = family_of(model_type)
    given = explicit_keys(cfg)
    head_only = cfg.model.freeze == "backbone"
    row = HEAD_ONLY if head_only else TABLE.get(family or "")
    changes: dict[str, Any] = {}
    keys: dict[str, Any] = {}
    for key in KEYS:
        section, name = key.split(".")
        if key in given:
            keys[key] = {"value": getattr(getattr(cfg, section), name), "source": "as given"}
        elif key == "training.weight_decay" and cfg.training.optimizer in COUPLED:
            changes[key] = 0.0
            keys[key] = {"value": 0.0, "source": COUPLED_SOURCE}
        elif row is not None and key in row.settings:
            changes[key] = row.settings[key]
            where = "a head on a frozen backbone" if head_only else f"{family} ({row.measured_on})"
            keys[key] = {"value": row.settings[key], "source": f"measured for {where}: {row.evidence}"}
        else:
            keys[key] = {"value": getattr(getattr(cfg, section), name), "source": GLOBAL}
    if row is not None and row.min_steps and n_train and "training.epochs" not in given:
        t = cfg.training
        epochs = keys["training.epochs"]["value"]
        batch = changes.get("training.batch_size", t.batch_size)
        more = epochs_for_steps(epochs, n_train, batch, t.grad_accum_steps, row.min_steps)
        if more > epochs:
            changes["training.epochs"] = more
        # The rule decided the count either way: on this many rows the epochs already give the steps, or more did.
        keys["training.epochs"] = {
            "value": more, "source": f"measured for {family} ({row.measured_on}): at least {row.min_steps} "
            f"optimisation steps on {n_train:,} training rows at batch {batch}: {row.min_steps_evidence}"}
    out = cfg.updated(changes) if changes else cfg
    return out, {"family": family or "unknown", "model_type": model_type, "n_train": n_train, "keys": keys}


def describe(provenance: dict[str, Any]) -> str:
    """One line for the progress output: the family and the defaults that are not as given."""
    def kind(source: str) -> str:
        return "measured" if source.startswith("measured") else "torch's" if source == COUPLED_SOURCE else "global"

    parts = [f"{k.split('.')[-1]} {v['value']:g} ({kind(v['source'])})"
             for k, v in provenance["keys"].items() if v["source"] != "as given"]
    return (f"defaults for {provenance['family']} models (model_type {provenance['model_type']}): "
            + (", ".join(parts) if parts else "every one as given"))


def reresolve(cfg: JustfitConfig, first: JustfitConfig, provenance: dict[str, Any]) -> JustfitConfig:
    """``cfg``, derived from ``first`` (the config ``apply_defaults`` resolved, with ``provenance`` its report)
    by a remedy or a search trial, with the keys that were defaulted for ``first`` and that the change left as
    they were resolved again for ``cfg``: a remedy that unfreezes the body takes full fine-tuning's epochs and
    rate, not the 10 epochs of a head on a frozen backbone. Keys given by the user, and keys the change set
    itself, are kept. Changes nothing when nothing the defaults depend on changed."""
    given = {k for k, v in provenance.get("keys", {}).items() if v.get("source") == "as given"}
    raw = cfg.model_dump(mode="json", exclude_unset=True)
    reopened = False
    for key in KEYS:
        section, name = key.split(".")
        if key in given or getattr(getattr(cfg, section), name) != getattr(getattr(first, section), name):
            continue
        if name in raw.get(section, {}):
            del raw[section][name]
            reopened = True
    if not reopened:
        return cfg
    out, _ = apply_defaults(JustfitConfig.from_dict(raw), provenance.get("model_type"), provenance.get("n_train"))
    return out
