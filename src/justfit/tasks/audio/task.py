"""Audio classification: one class per clip (keywords, speakers, sounds), cross-entropy on ``num_labels`` logits.

A clip is a file path, a ``datasets`` ``Audio`` cell or ``{"array", "sampling_rate"}`` item, or a
1-D array with ``data.sampling_rate`` (``data.audio``). Decoding is lazy, in the loader's workers:
mono, resampled to the feature extractor's rate, cut to ``data.max_seconds`` (a random window each
epoch in training, the centre in evaluation), augmented on the waveform in training
(``data.augment.audio``), then turned into the model's inputs by its own feature extractor
(log-mel features for Whisper and AST, the normalised waveform for wav2vec2 and HuBERT, padded to
``max_seconds``).

``AudioClassificationStep`` is the batch-level step; ``AudioClassificationTask`` (registered as
``audio-classification``) the task: label codec and metrics are those of classification, the data
stage's cleaning and leakage audit those of ``tasks.media`` with an audio codec.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from justfit.data.inputs import as_inputs, with_rate
from justfit.errors import DataError
from justfit.evaluation.baseline import standardised
from justfit.report.html import escape
from justfit.tasks.audio.augment import build_audio_augmenter, spec_augment_settings
from justfit.tasks.audio.models import (
    check_audio_model,
    load_audio_model,
    load_saved_audio_model,
    sampling_rate_of,
)
from justfit.tasks.audio.sources import clip_info, decode_audio, describe_clip, wav_bytes
from justfit.tasks.base import TASKS, EncodedDataset
from justfit.tasks.classification import ClassificationTask
from justfit.tasks.media import (
    MediaCodec,
    audit_media_leakage,
    clean_media,
    content_digest,
    robust_outliers,
    stack_inputs,
)
from justfit.tasks.media_features import backbone_outputs, frozen_stage
from justfit.tasks.text.task import TextClassificationTask
from justfit.training.runtime import resolve_bf16

# A clip whose peak stays below this is silent (-60 dBFS); one with more than CLIPPED_SHARE of its
# samples at full scale (|x| >= 0.999) is clipped.
SILENCE_PEAK = 1e-3
CLIPPED_SHARE = 0.01
# Near duplicates: candidates are clips whose log-mel profiles (per-band mean and spread over time,
# each clip's own level removed) reach cosine similarity NEAR_SIMILARITY with lengths within 10%;
# a candidate is a copy when the waveforms themselves (4 kHz, each clip's level removed) correlate
# at least COPY_CORRELATION at some lag up to 0.1 s: the same recording at another gain, re-encoded,
# resampled or shifted. Spectral similarity alone is not enough: two espeak-ng variants of one
# word reach profile similarity 0.9997 (keywords: en-gb-x-gbclan+adam and +caleb saying "eight").
NEAR_SIMILARITY = 0.99
COPY_CORRELATION = 0.95
COARSE_RATE = 4_000


class AudioDataset(EncodedDataset):
    """Clips decoded, cut, augmented and featurised one at a time, when the loader asks. ``features``
    holds the sources. In training (``train=True``) the window and the augmentation of item ``i`` in
    epoch ``e`` depend only on ``(seed, e, i)``; ``subset`` (the training probe) gives plain,
    centred clips."""

    def __init__(self, step: AudioClassificationStep, sources: Sequence[Any], labels: Sequence[Any] | None = None,
                 weights: Sequence[float] | None = None, *, train: bool = False, augmenter: Any = None,
                 seed: int = 0) -> None:
        super().__init__(list(sources), labels, weights, lengths=[1] * len(sources))
        self.step, self.train, self.augmenter, self.seed, self.epoch = step, train, augmenter, int(seed), 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def waveform(self, i: int) -> np.ndarray:
        """Item ``i``'s waveform, shape ``(samples,)``, as the model will hear it this epoch."""
        rng = np.random.default_rng([self.seed % 2**32, self.epoch, i]) if self.train else None
        wave = self.step.decode(self.features[i], window="random" if self.train else "center", rng=rng)
        if self.train and self.augmenter is not None:
            wave = self.augmenter(wave, (self.epoch, int(i)))
        return wave

    def inputs(self, i: int) -> dict[str, Any]:
        return self.step.featurize(self.waveform(i))

    def subset(self, idx: Sequence[int]) -> AudioDataset:
        return AudioDataset(self.step, [self.features[i] for i in idx],
                            None if self.labels is None else [self.labels[i] for i in idx])


class AudioClassificationStep(TextClassificationTask):
    """Decode, featurise with the model's feature extractor, stack; cross-entropy on the logits (loss,
    weighting and epoch metrics are those of the text step)."""

    max_length = 0  # clips have no token length
    max_length_reason = ""
    keep_sequence = True  # audio heads pool over time: the cached backbone output keeps every frame

    def __init__(self, processor: Any, max_seconds: float, class_weights: Sequence[float] | None = None,
                 source_rate: int | None = None, label_smoothing: float = 0.0) -> None:

        self.processor = processor
        self.sampling_rate = sampling_rate_of(processor)
        self.max_seconds = float(max_seconds)
        self.source_rate = source_rate  # the rate of bare arrays (data.sampling_rate)
        names = list(getattr(processor, "model_input_names", None) or ["input_values"])
        self.raw_waveform = names[0] == "input_values" and getattr(processor, "feature_size", 1) == 1
        self.input_keys = tuple(n for n in names if n in ("input_values", "input_features", "attention_mask"))
        self.class_weights = None if class_weights is None else torch.tensor(list(class_weights), dtype=torch.float32)
        self.label_smoothing = float(label_smoothing)

    def decode(self, source: Any, window: str = "center", rng: np.random.Generator | None = None) -> np.ndarray:
        return decode_audio(source, self.sampling_rate, max_seconds=self.max_seconds, window=window, rng=rng,
                            source_rate=self.source_rate)

    def featurize(self, wave: np.ndarray) -> dict[str, torch.Tensor]:
        """One waveform as the model's inputs (the feature extractor's, batch axis dropped). Raw-waveform
        models get it zero-padded to ``max_seconds`` with an attention mask; log-mel models are padded
        by their extractor to its own input length."""
        kwargs: dict[str, Any] = {"sampling_rate": self.sampling_rate, "return_tensors": "pt"}
        if self.raw_waveform:
            kwargs.update(padding="max_length", max_length=int(round(self.max_seconds * self.sampling_rate)),
                          truncation=True)
        with torch.autocast("cpu", enabled=False):  # Whisper's extractor computes in torch: keep it fp32
            out = self.processor(wave, **kwargs)
        return {k: out[k][0].float() if out[k].is_floating_point() else out[k][0]
                for k in self.input_keys if k in out}

    def example_inputs(self) -> dict[str, torch.Tensor]:
        """A small batch of model inputs (two featurised clips), for tracing (ONNX export)."""
        rng = np.random.default_rng(0)
        clips = [rng.normal(0, 0.1, int(self.sampling_rate * self.max_seconds)).astype(np.float32),
                 np.zeros(self.sampling_rate // 2, np.float32)]
        return self.collate([self.featurize(c) for c in clips])

    @staticmethod
    def frozen_stage(prep: Any, cfg: Any, train_ds: EncodedDataset, val_ds: EncodedDataset,
                     texts: Any = None, progress: bool = False) -> Any:
        """A head-only stage on encoder outputs computed once (``tasks.image_frozen``), or None."""

        return frozen_stage(prep, cfg, train_ds, val_ds, progress)

    def encode(self, examples: Sequence[Any], labels: Sequence[int] | None = None,
               weights: Sequence[float] | None = None) -> AudioDataset:
        return AudioDataset(self, list(examples), labels, weights)

    def forward(self, model: torch.nn.Module, batch: dict[str, torch.Tensor],
                class_weights: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        logits = model(**{k: batch[k] for k in self.input_keys if k in batch}).logits
        return self.outputs(logits, batch, class_weights)

    def collate(self, items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:

        return stack_inputs(items, self.label_dtype)


def audio_codec(sampling_rate: int = 16_000, max_seconds: float | None = None) -> Any:
    """How the data stage reads clips (``tasks.media.MediaCodec``): each clip decoded once (at most
    ``data.audio.MAX_DECODE_SECONDS``, mono, ``sampling_rate`` Hz) into a digest of its samples, its
    length, peak and share of full-scale samples, and a log-mel profile for near duplicates. Flags
    (reported, never removed): ``silent_audio``, ``clipped_audio``, and ``length_outlier`` (a length
    far from the rest, ``tasks.media.robust_outliers`` at 3.5)."""

    def decode(source: Any) -> dict[str, Any]:
        import soxr

        seconds = clip_info(source).seconds
        wave = decode_audio(source, sampling_rate, window="start")
        coarse = soxr.resample(wave[: int(5 * sampling_rate)], sampling_rate, COARSE_RATE).astype(np.float32)
        return {"digest": content_digest((np.round(wave * 32767).astype(np.int16)).tobytes(), len(wave)),
                "seconds": seconds, "peak": float(np.abs(wave).max()),
                "clipped": float((np.abs(wave) >= 0.999).mean()), "profile": mel_profile(wave, sampling_rate),
                "coarse": coarse}

    def near(a: list[Any], b: list[Any] | None) -> list[tuple[int, int, float]]:
        pa = np.stack([x["profile"] for x in a])
        other = a if b is None else b
        pb = pa if b is None else np.stack([x["profile"] for x in b])
        la = np.array([x["seconds"] for x in a])
        lb = np.array([x["seconds"] for x in other])
        out = []
        for start in range(0, len(pa), 512):
            sim = pa[start:start + 512] @ pb.T
            for i, j in zip(*np.nonzero(sim >= NEAR_SIMILARITY), strict=True):
                i, j = int(i) + start, int(j)
                if (b is None and j <= i) or abs(la[i] - lb[j]) > 0.1 * max(la[i], lb[j]):
                    continue
                r = copy_correlation(a[i]["coarse"], other[j]["coarse"], int(0.1 * COARSE_RATE))
                if r >= COPY_CORRELATION:
                    out.append((i, j, r))
        return out

    def flags(items: list[Any], sources: list[Any]) -> dict[int, tuple[str, str]]:

        out: dict[int, tuple[str, str]] = {}
        seconds = np.array([x["seconds"] for x in items])
        if len(items) >= 10:
            median = float(np.median(seconds))
            for i in robust_outliers(seconds, 3.5):
                out[int(i)] = ("length_outlier", f"{seconds[i]:.2f} s long; the median clip is {median:.2f} s")
        for i, x in enumerate(items):
            if x["peak"] < SILENCE_PEAK:
                out[i] = ("silent_audio", f"peak {x['peak']:.1e}: silence only (below -60 dBFS)")
            elif x["clipped"] > CLIPPED_SHARE:
                out[i] = ("clipped_audio", f"{x['clipped']:.1%} of the samples at full scale: clipped")
        return out

    return MediaCodec(column="audio", decode=decode, digest=lambda x: x["digest"], describe=describe_clip,
                      unreadable="unreadable_audio", near=near, near_detail=lambda d: f"the same waveform (correlation {d:.3f})",
                      flags=flags, flag_rules=("silent_audio", "clipped_audio", "length_outlier"))


def copy_correlation(x: np.ndarray, y: np.ndarray, max_lag: int) -> float:
    """The largest normalised cross-correlation of ``x`` and ``y`` (each mean-removed) at lags up to
    ``max_lag`` samples either way, over their overlap (``scipy.signal.correlate``, FFT): 1 for the
    same waveform at any gain and shift, near 0 for unrelated ones."""
    from scipy.signal import correlate

    x = x - x.mean()
    y = y - y.mean()
    nx, ny = float(np.linalg.norm(x)), float(np.linalg.norm(y))
    if nx < 1e-9 or ny < 1e-9:
        return 1.0 if nx < 1e-9 and ny < 1e-9 else 0.0
    c = correlate(x, y, mode="full", method="fft")
    centre = len(y) - 1
    window = c[max(0, centre - max_lag): centre + max_lag + 1]
    return float(window.max() / (nx * ny))


def log_mel(wave: np.ndarray, sampling_rate: int, bands: int = 40) -> np.ndarray:
    """The log-mel power spectrogram of ``wave``, shape ``(bands, frames)`` in dB (80 dB range): 25 ms
    Hann windows, 10 ms hop, Slaney mel scale (``transformers.audio_utils``)."""
    from transformers.audio_utils import mel_filter_bank, spectrogram, window_function

    n_fft = int(round(0.025 * sampling_rate))
    padded = wave if len(wave) >= n_fft else np.pad(wave, (0, n_fft - len(wave)))
    mel = mel_filter_bank(num_frequency_bins=n_fft // 2 + 1, num_mel_filters=bands, min_frequency=20.0,
                          max_frequency=sampling_rate / 2, sampling_rate=sampling_rate, norm="slaney", mel_scale="slaney")
    return spectrogram(padded.astype(np.float64), window_function(n_fft, "hann"), frame_length=n_fft,
                       hop_length=int(round(0.010 * sampling_rate)), power=2.0, mel_filters=mel, log_mel="dB",
                       db_range=80.0, center=False)


# The cheap baseline's features: this many MFCCs at this rate (Hz), each one's mean and standard deviation over time.
BASELINE_MFCC = 20
BASELINE_RATE = 16_000


def mfcc_statistics(wave: np.ndarray, sampling_rate: int, n_mfcc: int = BASELINE_MFCC) -> np.ndarray:
    """The mean and standard deviation over time of each of the first ``n_mfcc`` MFCCs: shape ``(2 * n_mfcc,)``.
    The MFCCs are the type-II orthonormal DCT of the log-mel spectrogram (``log_mel``, 40 bands) over the bands,
    as librosa's ``feature.mfcc`` defines them (Davis & Mermelstein 1980)."""
    from scipy.fft import dct

    mfcc = dct(log_mel(wave, sampling_rate, 40), type=2, axis=0, norm="ortho")[:n_mfcc]
    return np.concatenate([mfcc.mean(axis=1), mfcc.std(axis=1)]).astype(np.float32)


def mel_profile(wave: np.ndarray, sampling_rate: int, bands: int = 40) -> np.ndarray:
    """A clip's log-mel profile: per band, the mean and the standard deviation over time of the log
    mel power (``log_mel``), the clip's mean level removed, L2-normalised: shape ``(2 * bands,)``.
    Equal for a copy at another gain or re-encoded; different for another utterance."""
    spec = log_mel(wave, sampling_rate, bands)
    spec = spec - spec.mean()
    v = np.concatenate([spec.mean(axis=1), spec.std(axis=1)])
    n = np.linalg.norm(v)
    return (v / n if n > 0 else v).astype(np.float32)


@TASKS.register("audio-classification", help="an audio clip in, one of a set of classes out (cross-entropy; accuracy, F1)")
class AudioClassificationTask(ClassificationTask):
    """One class per clip. Targets, metrics and the report's section are those of classification."""

    name = "audio-classification"
    input_column = "audio"
    modality = "audio"
    step_class = AudioClassificationStep
    uses_label_audit = True
    text_audits = False  # the leakage audit and tokenizer coverage read texts

    def __init__(self) -> None:
        super().__init__()
        self.max_seconds = 2.0

    def inputs(self, X: Any, cfg: Any, sampling_rate: int | None = None) -> list[Any]:
        """Clips as ``Finetuner.predict`` takes them; bare arrays are at ``sampling_rate`` Hz (default: the
        fit's ``data.sampling_rate``). Raises ``ConfigError`` for a rate ``data.sampling_rate`` refuses."""

        items = as_inputs(X, self.input_column)
        if sampling_rate is not None:
            sampling_rate = type(cfg).from_dict({"data": {"sampling_rate": sampling_rate}}).data.sampling_rate
        return with_rate(items, sampling_rate or cfg.data.sampling_rate)

    def _load(self, cfg: Any, labels: list[Any]) -> tuple[Any, Any, str]:

        updates: dict[str, Any] = {}
        if any(op in ("time_mask", "freq_mask") for op in cfg.augment.ops):
            from transformers import AutoConfig

            updates = spec_augment_settings(cfg.augment, AutoConfig.from_pretrained(check_audio_model(cfg.model.name)))
        return load_audio_model(cfg.model.name, labels, dropout=cfg.model.dropout, max_seconds=cfg.data.max_seconds,
                                config_updates=updates)

    def build(self, cfg: Any, train_codes: Sequence[int]) -> tuple[Any, Any, str, AudioClassificationStep]:
        """Load ``cfg.model.name`` with a new head for the classes; return ``(model, extractor, source, step)``."""
        model, processor, source = self._load(cfg, self.classes)
        class_weights = None
        if cfg.training.class_weights == "auto":
            from sklearn.utils.class_weight import compute_class_weight

            class_weights = compute_class_weight("balanced", classes=np.arange(len(self.classes)),
                                                 y=np.asarray(train_codes)).tolist()
        self.max_seconds = float(cfg.data.max_seconds)
        return model, processor, source, AudioClassificationStep(processor, self.max_seconds, class_weights,
                                                                 cfg.data.sampling_rate,
                                                                 label_smoothing=cfg.training.label_smoothing)

    def step_from_meta(self, processor: Any, max_length: int, model_config: Any) -> AudioClassificationStep:
        return AudioClassificationStep(processor, self.max_seconds)

    def meta(self) -> dict[str, Any]:
        return {**super().meta(), "max_seconds": self.max_seconds}

    @classmethod
    def from_meta(cls, meta: dict[str, Any], model_config: Any) -> AudioClassificationTask:
        task = super().from_meta(meta, model_config)
        task.max_seconds = float(meta.get("max_seconds", 2.0))
        return task

    @staticmethod
    def load_pretrained(path: Any) -> tuple[Any, Any]:
        """A saved model folder: ``(model, feature extractor)``."""

        return load_saved_audio_model(path)

    @staticmethod
    def check_model(name: str | None) -> str:
        """Check, from its config alone, that ``name`` is an audio classification model; return its source."""

        return check_audio_model(name)

    def analysis(self, frame: pd.DataFrame, logits: np.ndarray) -> pd.DataFrame:
        """As for classification, with the clip's path (or kind and length) in an ``audio`` column."""
        out = super().analysis(frame.assign(text=[describe_clip(s) for s in frame[self.input_column]]), logits)
        return out.rename(columns={"text": "audio"})

    def read_analysis(self, path: Any) -> pd.DataFrame:
        return pd.read_csv(path, dtype={"audio": str, "label": str, "predicted": str}, keep_default_na=False,
                           na_values=[""])

    def train_dataset(self, cfg: Any, step: AudioClassificationStep, model: Any, processor: Any,
                      inputs: Sequence[Any], targets: Sequence[Any], weights: Sequence[float] | None) -> tuple[Any, bool]:
        """The training split's dataset: a random ``max_seconds`` window of each clip each epoch, and the
        waveform operations of ``augment.ops`` (``data.augment.audio``; ``background`` mixes in other
        training clips); ``time_mask``/``freq_mask`` are SpecAugment in the model (set when it was built)."""

        pool = [s for s in inputs if isinstance(s, str)] if "background" in cfg.augment.ops else []
        if "background" in cfg.augment.ops and not pool:
            pool = [decode_audio(s, step.sampling_rate, max_seconds=step.max_seconds, source_rate=step.source_rate)
                    for s in list(inputs)[:200]]
        augmenter = build_audio_augmenter(cfg.augment, sampling_rate=step.sampling_rate, seed=cfg.training.seed,
                                          background=pool)
        ds = AudioDataset(step, list(inputs), targets, weights, train=True, augmenter=augmenter, seed=cfg.training.seed)
        return ds, augmenter is not None or any(op in ("time_mask", "freq_mask") for op in cfg.augment.ops)

    @staticmethod
    def clean(frame: pd.DataFrame, rules: Sequence[str], *, report_only: Sequence[str] = (), split: str = "",
              quality: Any = None) -> Any:
        """The data stage's cleaning of clips (``tasks.media.clean_media`` with ``audio_codec``)."""

        return clean_media(frame, rules, audio_codec(), report_only=report_only, split=split,
                           conflicts=quality.conflicts if quality is not None else "drop")

    @staticmethod
    def audit_leakage(train: pd.DataFrame, held_out: dict[str, pd.DataFrame], quality: Any) -> Any:
        """Training clips that copy held-out clips: the same samples, or near-identical log-mel profiles."""

        return audit_media_leakage(train, held_out, audio_codec(), action=quality.leakage, threshold=NEAR_SIMILARITY)

    def audit_inputs(self, train: pd.DataFrame, cfg: Any, progress: bool = False) -> tuple[pd.DataFrame, np.ndarray]:
        """What the label audit reads: the frozen pretrained encoder's outputs for each training clip,
        mean-pooled over time, with each clip named in a ``text`` column for its report."""

        model, processor, _ = self._load(cfg, ["a", "b"])
        step = AudioClassificationStep(processor, cfg.data.max_seconds, source_rate=cfg.data.sampling_rate)
        outs = backbone_outputs(model, step, step.encode(list(train["audio"])), cfg.training.eval_batch_size,
                                resolve_bf16(cfg.training.bf16))
        seq = outs.get("sequence", outs.get("tensor"))
        feats = seq.mean(axis=1) if seq is not None and seq.ndim == 3 else outs.get("pooled", seq)
        rows = train.assign(text=[describe_clip(s) for s in train["audio"]])[["text", "label"]]
        return rows, np.asarray(feats, dtype=np.float32).reshape(len(train), -1)

    def report_assets(self, test: pd.DataFrame, table: pd.DataFrame, train: pd.DataFrame, step: Any,
                      n: int = 8) -> dict[str, Any]:
        """For the report, as plain JSON: the ``n`` highest-loss test clips as base64 16-bit WAV (at the
        model's rate, at most ``max_seconds`` each: ``n * max_seconds * 32`` KB at 16 kHz before base64,
        256 KB for 8 clips of 1 s) with their log-mel spectrograms as PNG, true and predicted labels."""
        import base64

        worst = table.sort_values("loss", ascending=False).head(n)
        clips = []
        for row, label, pred, loss in zip(worst["row"], worst["label"], worst["predicted"], worst["loss"], strict=True):
            try:
                wave = step.decode(test.at[row, "audio"])
            except DataError:
                continue
            clips.append({"wav": base64.b64encode(wav_bytes(wave, step.sampling_rate)).decode("ascii"),
                          "png": spectrogram_png(wave, step.sampling_rate), "label": str(label),
                          "predicted": str(pred), "loss": float(loss), "seconds": round(len(wave) / step.sampling_rate, 2)})
        return {"highest_loss_audio": clips}

    @staticmethod
    def report_gallery(assets: dict[str, Any]) -> list[str]:
        """HTML: inline ``<audio>`` players and spectrograms of ``report_assets``."""

        clips = assets.get("highest_loss_audio") or []
        if not clips:
            return []
        cells = "".join(
            "<figure style='display:inline-block;margin:6px;text-align:center'>"
            f"<img src='data:image/png;base64,{c['png']}' width='240' height='80' alt='log-mel spectrogram'><br>"
            f"<audio controls preload='none' src='data:audio/wav;base64,{c['wav']}'></audio>"
            f"<figcaption class='muted'>{escape(c['label'])} -&gt; {escape(c['predicted'])} ({c['loss']:.2f}, "
            f"{c['seconds']:g} s)</figcaption></figure>" for c in clips)
        return ["<h3>highest-loss test clips</h3><div>" + cells + "</div>"]

    @staticmethod
    def baseline_features(train: Sequence[Any], others: Sequence[Sequence[Any]], cfg: Any) -> tuple[str, Any, list[Any]]:
        """The cheap baseline's inputs: MFCC statistics (``mfcc_statistics``) of each clip's centre
        ``data.max_seconds``, standardised on the training clips: ``(n, 2 * BASELINE_MFCC)``."""

        def stats(sources: Sequence[Any]) -> np.ndarray:
            return np.stack([mfcc_statistics(decode_audio(s, BASELINE_RATE, max_seconds=cfg.data.max_seconds),
                                             BASELINE_RATE) for s in sources]) if len(sources) else \
                np.zeros((0, 2 * BASELINE_MFCC))

        x, rest = standardised(stats(train), [stats(o) for o in others])
        return "MFCC statistics", x, rest

    def describe(self, labels: pd.Series) -> str:
        counts = pd.Series(list(labels), dtype=object).value_counts()
        return f"audio clips; {len(counts)} classes (largest/smallest in train: {counts.max()}/{counts.min()})"


def spectrogram_png(wave: np.ndarray, sampling_rate: int, bands: int = 64) -> str:
    """A clip's log-mel spectrogram (``bands`` mel bands, 10 ms hop, 80 dB range) as a base64 PNG,
    240 x 80 pixels, low frequencies at the bottom (matplotlib's Agg backend)."""
    import base64
    import io

    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    spec = log_mel(wave, sampling_rate, bands)
    fig = plt.figure(figsize=(2.4, 0.8), dpi=100)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(spec, origin="lower", aspect="auto", cmap="magma")
    ax.set_axis_off()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")
