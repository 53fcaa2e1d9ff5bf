"""Image classification: one class per image, cross-entropy on ``num_labels`` logits.

An image is given as a file path, encoded bytes (a ``datasets`` ``Image`` cell: ``{"bytes",
"path"}``), a ``PIL.Image`` or a numpy array of shape ``(h, w)`` or ``(h, w, c)`` (uint8, uint16,
bool, integer 0-255 levels, or floats in [0, 1] or 0-255: the values of arrays given together are
read under one range, ``justfit.tasks.image.sources``). Decoding is lazy: the dataset holds the sources
and decodes one image when the loader asks for it (Pillow), applies its EXIF orientation,
converts grey, palette, alpha (composited on white), CMYK and 16-bit images (by their 16-bit full
scale) to the model's channels, and runs the model's own image processor
(``AutoImageProcessor``: resize, rescale, normalise). Float image files (TIFF mode ``F``) are
refused: their range is in no header.

``ImageClassificationStep`` is the batch-level step the loop uses; ``ImageClassificationTask``
(registered as ``image-classification``) is the task: the label codec and metrics are those of
:class:`justfit.tasks.classification.ClassificationTask`.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from justfit.data.inputs import as_inputs, image_batch
from justfit.data.media import encoded
from justfit.errors import DataError
from justfit.evaluation.baseline import standardised
from justfit.report.html import escape
from justfit.tasks.base import TASKS, EncodedDataset
from justfit.tasks.classification import ClassificationTask
from justfit.tasks.image.augment import build_image_augmenter
from justfit.tasks.image.hashing import near_pairs, phashes, thumbs, verified
from justfit.tasks.image.models import (
    check_image_model,
    load_image_model,
    load_saved_image_model,
    num_channels,
)
from justfit.tasks.image.sources import (
    IMAGE_SUFFIXES,  # noqa: F401  (the suffixes read as images)
    image_inputs,
)
from justfit.tasks.media import MediaCodec, audit_media_leakage, clean_media, content_digest
from justfit.tasks.media_features import backbone_outputs, frozen_stage
from justfit.tasks.text.task import TextClassificationTask
from justfit.training.runtime import resolve_bf16

# Pillow's own decompression-bomb limit (PIL.Image.MAX_IMAGE_PIXELS, about 89 megapixels): a larger
# image is refused with a message instead of being decoded into gigabytes of memory.
MAX_PIXELS = 89_478_485


# The cheap baseline's image side in pixels: 16 x 16 x 3 = 768 features, a logistic regression in seconds.
BASELINE_SIDE = 16


def _pil():
    try:
        from PIL import Image, ImageOps
    except ImportError:  # pragma: no cover - Pillow comes with transformers' vision extra
        raise DataError("Image tasks need Pillow: pip install 'justfit[vision]'.") from None
    return Image, ImageOps


def describe_source(source: Any) -> str:
    """A short, printable name for an image source (its path, or its kind and shape)."""
    if isinstance(source, str | Path):
        return str(source)
    if isinstance(source, dict):
        return str(source.get("path") or "<image bytes>")
    if isinstance(source, np.ndarray):
        return f"<array {'x'.join(map(str, source.shape))} {source.dtype}>"
    return f"<{type(source).__name__}>"


def array_to_image(a: np.ndarray) -> Any:
    """A ``PIL.Image`` from an array of shape ``(h, w)``, ``(h, w, 1)``, ``(h, w, 3)`` or ``(h, w, 4)``,
    its values read as ``justfit.tasks.image.sources.pixels_uint8`` reads them (floats: the range of this one
    array; arrays given together were made uint8 under their set's range by ``image_inputs``).
    Raises ``DataError`` for another shape and for values that are no pixels."""

    Image, _ = _pil()
    a = np.asarray(a)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[-1] not in (3, 4)):
        raise DataError(f"An image array must have shape (h, w) or (h, w, c) with c in 1, 3, 4; got {a.shape}.")
    return Image.fromarray(image_inputs([a], "the image array")[0])


def decode_image(source: Any, channels: int = 3, max_pixels: int = MAX_PIXELS) -> Any:
    """Decode ``source`` (see the module docstring) into a ``PIL.Image`` in RGB (``channels`` 3) or
    grey (``channels`` 1), EXIF orientation applied.

    Raises ``DataError`` for a missing, empty, truncated or non-image file, a decompression bomb
    (more than ``max_pixels`` pixels) and an unsupported array."""
    Image, ImageOps = _pil()
    if isinstance(source, np.ndarray):
        img = array_to_image(source)
    elif isinstance(source, Image.Image):
        img = source
    else:
        name = describe_source(source)
        try:
            fp = encoded(source, name, "Image")
            with warnings.catch_warnings(), Image.open(fp) as opened:
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # refused below, with a message
                w, h = opened.size
                if w * h > max_pixels:
                    raise DataError(f"Image '{name}' is {w} x {h} pixels, more than the {max_pixels:,} allowed "
                                    "(a decompression bomb, or a scan far larger than the model's input): "
                                    "downscale it first.")
                if opened.mode == "F":
                    raise DataError(f"Image '{name}' holds float pixels, whose range its file does not give: save it "
                                    "with 8 or 16 bits, or pass the images as float arrays together.")
                sixteen = opened.mode == "I" and _raw_mode(opened).startswith("I;16")
                opened.load()
                img = opened.copy()
            if sixteen:  # a 16-bit file that Pillow opens as 32-bit 'I' (16-bit PNGs, in older Pillow): 16-bit it is
                img = Image.fromarray(np.asarray(img).astype(np.uint16))
        except DataError:
            raise
        except FileNotFoundError:
            raise DataError(f"Image file '{name}' does not exist.") from None
        except Image.DecompressionBombError:
            raise DataError(f"Image '{name}' is more than the {max_pixels:,} pixels allowed (a decompression bomb, or "
                            "a scan far larger than the model's input): downscale it first.") from None
        except (OSError, ValueError, SyntaxError) as exc:  # Pillow's "cannot identify", truncated data, ...
            raise DataError(f"Cannot read image '{name}' ({str(exc).splitlines()[0][:120]}).") from None
    img = ImageOps.exif_transpose(img) or img
    return to_channels(img, channels)


def _raw_mode(opened: Any) -> str:
    """The raw mode of an opened image's first tile (how its file stores the pixels: ``I;16B`` for
    a 16-bit PNG), or ''."""
    tile = getattr(opened, "tile", None) or [()]
    args = tile[0][3] if len(tile[0]) > 3 else ""
    return str(args[0] if isinstance(args, tuple) and args else args)


def to_channels(img: Any, channels: int = 3) -> Any:
    """``img`` as RGB (``channels`` 3) or L (1): 16-bit grey by its full scale (65535 is white),
    32-bit grey (``I``, ``F``) as an array is (``justfit.tasks.image.sources.pixels_uint8``), alpha composited
    on white, palette, CMYK and the rest converted by Pillow. Raises ``DataError`` for 32-bit
    values that are no pixels."""
    Image, _ = _pil()
    if img.mode.startswith("I;16") or img.mode in ("I", "F"):
        img = array_to_image(np.asarray(img))
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("RGBA", "LA", "PA"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    return img.convert("L" if channels == 1 else "RGB")


class ImageDataset(EncodedDataset):
    """Image sources decoded and preprocessed one at a time, when the loader asks (so a loader's
    worker processes share the decoding). ``features`` holds the sources; every length is 1
    (images are batched without length grouping)."""

    def __init__(self, step: ImageClassificationStep, sources: Sequence[Any], labels: Sequence[Any] | None = None,
                 weights: Sequence[float] | None = None) -> None:
        super().__init__(list(sources), labels, weights, lengths=[1] * len(sources))
        self.step = step

    def inputs(self, i: int) -> dict[str, Any]:
        return {"pixel_values": self.step.preprocess(self.features[i])}

    def subset(self, idx: Sequence[int]) -> ImageDataset:
        return ImageDataset(self.step, [self.features[i] for i in idx],
                            None if self.labels is None else [self.labels[i] for i in idx])


class ImageClassificationStep(TextClassificationTask):
    """Decode, preprocess with the model's image processor, stack; cross-entropy on the logits (the
    loss, its weighting and the epoch metrics are those of the text step)."""

    max_length = 0  # images have no token length
    max_length_reason = ""

    def __init__(self, processor: Any, channels: int = 3, class_weights: Sequence[float] | None = None,
                 label_smoothing: float = 0.0) -> None:
        self.processor = processor
        self.channels = channels
        self.augmenter: Any = None  # set for training by the task (ImageClassificationTask.train_dataset)
        self.class_weights = None if class_weights is None else torch.tensor(list(class_weights), dtype=torch.float32)
        self.label_smoothing = float(label_smoothing)

    def state_dict(self) -> dict[str, Any]:
        """The augmenter's draws so far (a checkpoint continues them), or nothing."""
        return {"augmenter": self.augmenter.state_dict()} if self.augmenter is not None else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("augmenter") is not None and self.augmenter is not None:
            self.augmenter.load_state_dict(state["augmenter"])

    def example_inputs(self) -> dict[str, torch.Tensor]:
        """A small batch of model inputs (two preprocessed images), for tracing (ONNX export)."""
        rng = np.random.default_rng(0)
        images = [rng.integers(0, 255, (40, 30, 3), dtype=np.uint8), np.full((20, 20), 128, np.uint8)]
        return {"pixel_values": torch.stack([self.preprocess(x) for x in images])}

    @staticmethod
    def frozen_stage(prep: Any, cfg: Any, train_ds: EncodedDataset, val_ds: EncodedDataset,
                     texts: Any = None, progress: bool = False) -> Any:
        """A head-only stage on backbone outputs computed once (``tasks.image_frozen``), or None."""

        return frozen_stage(prep, cfg, train_ds, val_ds, progress)

    def preprocess(self, source: Any) -> torch.Tensor:
        """One image as the model's input tensor, shape ``(channels, height, width)``."""
        img = decode_image(source, self.channels)
        return self.processor(images=img, return_tensors="pt")["pixel_values"][0]

    def encode(self, examples: Sequence[Any], labels: Sequence[int] | None = None,
               weights: Sequence[float] | None = None) -> ImageDataset:
        return ImageDataset(self, list(examples), labels, weights)

    def forward(self, model: torch.nn.Module, batch: dict[str, torch.Tensor],
                class_weights: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Logits of ``model(pixel_values=...)``; in training mode with an augmenter, the batch is augmented
        first and the loss is the cross-entropy against its (possibly mixed) soft targets."""
        pixels = batch["pixel_values"]
        if self.augmenter is not None and model.training and "labels" in batch:
            pixels, soft = self.augmenter(pixels, batch["labels"])
            return self.soft_outputs(model(pixel_values=pixels).logits, soft, batch, class_weights)
        return self.outputs(model(pixel_values=pixels).logits, batch, class_weights)

    def soft_outputs(self, logits: torch.Tensor, soft: torch.Tensor, batch: dict[str, torch.Tensor],
                     class_weights: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Cross-entropy against soft targets ``soft`` of shape ``(batch, num_labels)`` (mixup/cutmix),
        weighted as ``outputs`` weights hard labels (a row's class weight is its targets' mix of them).
        With ``label_smoothing`` e the targets are ``(1 - e) * soft + e / num_labels``, as torch smooths
        hard labels."""
        if class_weights is None and self.class_weights is not None:
            class_weights = self.class_weights.to(logits.device)
        target = soft * (1 - self.label_smoothing) + self.label_smoothing / soft.shape[-1] if self.label_smoothing \
            else soft
        losses = -(target * torch.log_softmax(logits.float(), dim=-1)).sum(-1)
        cw = soft @ class_weights if class_weights is not None else torch.ones_like(losses)
        if "weights" in batch:
            losses = losses * batch["weights"]
        denominator = cw.sum().clamp(min=1e-12)
        return {"logits": logits, "loss": (losses * cw).sum() / denominator, "loss_weight": denominator.detach()}

    def collate(self, items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {"pixel_values": torch.stack([it["pixel_values"] for it in items])}
        if "labels" in items[0]:
            out["labels"] = torch.tensor([it["labels"] for it in items], dtype=self.label_dtype)
        if "weights" in items[0]:
            out["weights"] = torch.tensor([it["weights"] for it in items], dtype=torch.float32)
        return out


@TASKS.register("image-classification", help="an image in, one of a set of classes out (cross-entropy; accuracy, F1)")
class ImageClassificationTask(ClassificationTask):
    """One class per image. Targets, metrics and the report's section are those of classification."""

    name = "image-classification"
    input_column = "image"
    modality = "image"
    step_class = ImageClassificationStep
    uses_label_audit = True

    def inputs(self, X: Any, cfg: Any, sampling_rate: int | None = None) -> list[Any]:
        """Images as ``Finetuner.predict`` takes them; one array of shape ``(n, height, width[, channels])``
        is a batch of ``n`` images."""

        if isinstance(X, np.ndarray) and X.ndim in (3, 4):
            X = image_batch(X)
        return as_inputs(X, self.input_column)

    def build(self, cfg: Any, train_codes: Sequence[int]) -> tuple[Any, Any, str, ImageClassificationStep]:
        """Load ``cfg.model.name`` with a new head for ``classes``; return ``(model, processor, source, step)``."""

        model, processor, source = load_image_model(cfg.model.name, self.classes, dropout=cfg.model.dropout)
        class_weights = None
        if cfg.training.class_weights == "auto":
            from sklearn.utils.class_weight import compute_class_weight

            class_weights = compute_class_weight("balanced", classes=np.arange(len(self.classes)),
                                                 y=np.asarray(train_codes)).tolist()
        return model, processor, source, ImageClassificationStep(processor, num_channels(model.config), class_weights,
                                                                 label_smoothing=cfg.training.label_smoothing)

    def step_from_meta(self, processor: Any, max_length: int, model_config: Any) -> ImageClassificationStep:

        return ImageClassificationStep(processor, num_channels(model_config))

    @staticmethod
    def load_pretrained(path: Any) -> tuple[Any, Any]:
        """A saved model folder: ``(model, image processor)``."""

        return load_saved_image_model(path)

    def analysis(self, frame: pd.DataFrame, logits: np.ndarray) -> pd.DataFrame:
        """As for classification, with the image's path (or kind and shape) in an ``image`` column."""
        out = super().analysis(frame.assign(text=[describe_source(s) for s in frame[self.input_column]]), logits)
        return out.rename(columns={"text": "image"})

    def read_analysis(self, path: Any) -> pd.DataFrame:
        return pd.read_csv(path, dtype={"image": str, "label": str, "predicted": str}, keep_default_na=False,
                           na_values=[""])

    text_audits = False  # the leakage audit and tokenizer coverage read texts

    def train_dataset(self, cfg: Any, step: ImageClassificationStep, model: Any, processor: Any,
                      inputs: Sequence[Any], targets: Sequence[Any], weights: Sequence[float] | None) -> tuple[Any, bool]:
        """The training split's dataset; with ``augment.ops`` set, the step augments each training batch
        (``data.augment.image``, in training mode only: never validation, test or the training probe)."""

        normalised = getattr(processor, "do_normalize", True)
        n = step.channels
        mean = list(getattr(processor, "image_mean", None) or [0.5] * n) if normalised else [0.0] * n
        std = list(getattr(processor, "image_std", None) or [0.5] * n) if normalised else [1.0] * n
        step.augmenter = build_image_augmenter(cfg.augment, mean=mean[:n], std=std[:n], num_labels=len(self.classes),
                                               seed=cfg.training.seed)
        return step.encode(list(inputs), targets, weights), step.augmenter is not None

    @staticmethod
    def report_assets(test: pd.DataFrame, table: pd.DataFrame, train: pd.DataFrame, step: Any,
                      n: int = 12) -> dict[str, Any]:
        """Thumbnails for the report, as inline PNG data (plain JSON, so the report re-renders offline):
        the ``n`` highest-loss test images with their true and predicted labels, and, when training
        augments images, ``n`` training images as augmentation makes them (one draw, seed 0)."""
        worst = table.sort_values("loss", ascending=False).head(n)
        out: dict[str, Any] = {"highest_loss": [
            {"png": thumbnail(decode_image(test.at[row, "image"])), "label": str(label), "predicted": str(pred),
             "loss": float(loss)} for row, label, pred, loss in zip(worst["row"], worst["label"], worst["predicted"],
                                                                    worst["loss"], strict=True)]}
        augmenter = getattr(step, "augmenter", None)
        if augmenter is not None and len(train):
            import copy

            sample = train.head(n)
            pixels = torch.stack([step.preprocess(s) for s in sample["image"]])
            aug = copy.deepcopy(augmenter)
            aug.seed, aug.calls = 0, 0
            moved, _ = aug(pixels, torch.zeros(len(pixels), dtype=torch.long))
            out["augmented"] = [{"png": thumbnail(_to_image(x, aug.mean[0], aug.std[0])), "label": str(lab)}
                                for x, lab in zip(moved, sample["label"], strict=True)]
        return out

    @staticmethod
    def report_gallery(assets: dict[str, Any]) -> list[str]:
        """HTML: the thumbnails of ``report_assets``."""

        def grid(items: list[dict[str, Any]], caption: Any) -> str:
            cells = "".join(f"<figure style='display:inline-block;margin:4px;text-align:center'>"
                            f"<img src='data:image/png;base64,{it['png']}' width='64' height='64' "
                            f"style='image-rendering:pixelated'><figcaption class='muted'>{escape(caption(it))}"
                            "</figcaption></figure>" for it in items)
            return f"<div>{cells}</div>"

        parts = []
        if assets.get("highest_loss"):
            parts.append("<h3>highest-loss test images</h3>" + grid(
                assets["highest_loss"], lambda it: f"{it['label']} -> {it['predicted']} ({it['loss']:.2f})"))
        if assets.get("augmented"):
            parts.append("<h3>training images as augmentation makes them</h3>" + grid(
                assets["augmented"], lambda it: it["label"]))
        return parts

    @staticmethod
    def check_model(name: str | None) -> str:
        """Check, from its config alone, that ``name`` is an image classification model; return its source."""

        return check_image_model(name)

    @staticmethod
    def clean(frame: pd.DataFrame, rules: Sequence[str], *, report_only: Sequence[str] = (), split: str = "",
              quality: Any = None) -> Any:
        """The data stage's cleaning of images (``clean_images``)."""
        distance = quality.image_hash_distance if quality is not None else 4
        return clean_images(frame, rules, report_only=report_only, split=split, max_distance=distance,
                            conflicts=quality.conflicts if quality is not None else "drop")

    def audit_inputs(self, train: pd.DataFrame, cfg: Any, progress: bool = False) -> tuple[pd.DataFrame, np.ndarray]:
        """What the label audit reads: the frozen pretrained backbone's outputs for each training image
        (pooled, or the first token), with each image named in a ``text`` column for its report."""

        model, processor, _ = load_image_model(cfg.model.name, ["a", "b"])
        step = ImageClassificationStep(processor, num_channels(model.config))
        outs = backbone_outputs(model, step, step.encode(list(train["image"])), cfg.training.eval_batch_size,
                                resolve_bf16(cfg.training.bf16))
        feats = outs.get("pooled", outs.get("tensor"))
        if feats is None:
            feats = outs["first"][:, 0]
        rows = train.assign(text=[describe_source(s) for s in train["image"]])[["text", "label"]]
        return rows, np.asarray(feats, dtype=np.float32).reshape(len(train), -1)

    @staticmethod
    def audit_leakage(train: pd.DataFrame, held_out: dict[str, pd.DataFrame], quality: Any) -> Any:
        """Training images that copy held-out images: the same pixels, or perceptual hashes within
        ``quality.image_hash_distance`` bits (``audit_image_leakage``)."""
        return audit_image_leakage(train, held_out, action=quality.leakage, max_distance=quality.image_hash_distance)

    @staticmethod
    def baseline_features(train: Sequence[Any], others: Sequence[Sequence[Any]], cfg: Any) -> tuple[str, Any, list[Any]]:
        """The cheap baseline's inputs: each image decoded to RGB, resized to ``BASELINE_SIDE`` x ``BASELINE_SIDE``
        pixels (bilinear), flattened and standardised on the training images: ``(n, 3 * side * side)``."""

        Image, _ = _pil()

        def pixels(sources: Sequence[Any]) -> np.ndarray:
            out = np.zeros((len(sources), 3 * BASELINE_SIDE * BASELINE_SIDE), dtype=np.float32)
            for i, s in enumerate(sources):
                img = decode_image(s, 3).resize((BASELINE_SIDE, BASELINE_SIDE), Image.BILINEAR)
                out[i] = np.asarray(img, dtype=np.float32).reshape(-1) / 255.0
            return out

        x, rest = standardised(pixels(train), [pixels(o) for o in others])
        return f"{BASELINE_SIDE} x {BASELINE_SIDE} pixels", x, rest

    def describe(self, labels: pd.Series) -> str:
        counts = pd.Series(list(labels), dtype=object).value_counts()
        return f"images; {len(counts)} classes (largest/smallest in train: {counts.max()}/{counts.min()})"


def _pixel_digest(img: Any) -> str:

    return content_digest(img.tobytes(), img.size, img.mode)


def image_codec(channels: int = 3, max_distance: int = 4) -> Any:
    """How the data stage reads images (``tasks.media.MediaCodec``): each image decoded once into its
    decoded-pixel digest and a 64 x 64 grey copy; near duplicates are pHash candidates within
    ``max_distance`` bits verified on pixels (``data.image_hash``)."""

    def decode(source: Any) -> tuple[str, Any]:
        img = decode_image(source, channels)
        return _pixel_digest(img), img.convert("L").resize((64, 64))

    def near(a: list[Any], b: list[Any] | None) -> list[tuple[int, int, float]]:

        small_a = [x[1] for x in a]
        if b is None:
            return verified(near_pairs(phashes(small_a), max_distance=max_distance), thumbs(small_a))
        small_b = [x[1] for x in b]
        return verified(near_pairs(phashes(small_a), phashes(small_b), max_distance), thumbs(small_a), thumbs(small_b))

    return MediaCodec(column="image", decode=decode, digest=lambda x: x[0], describe=describe_source,
                      unreadable="unreadable_image", near=near,
                      near_detail=lambda d: f"perceptual hash {int(d)} bit(s)")


def clean_images(frame: pd.DataFrame, rules: Sequence[str], *, report_only: Sequence[str] = (), split: str = "",
                 channels: int = 3, max_distance: int = 4, conflicts: str = "drop") -> Any:
    """The data stage's cleaning for images (``tasks.media.clean_media`` with ``image_codec``):
    unreadable images (missing, empty, truncated, not an image, too large) removed as
    ``unreadable_image``; ``missing_label``; exact duplicates by decoded-pixel hash; near duplicates
    by perceptual hash within ``max_distance`` bits, verified on pixels; copies with different labels
    all removed (``conflicts="drop"``) or the first kept (``"majority"``). Returns a
    ``data.cleaning.CleaningReport``."""

    return clean_media(frame, rules, image_codec(channels, max_distance), report_only=report_only, split=split,
                       conflicts=conflicts)


def thumbnail(img: Any, size: int = 64) -> str:
    """``img`` (a ``PIL.Image``) as a base64 PNG at most ``size`` pixels on its longer side."""
    import base64

    img = img.copy()
    img.thumbnail((size, size))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _to_image(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> Any:
    """A normalised ``(channels, h, w)`` tensor back to a ``PIL.Image``."""
    Image, _ = _pil()
    a = ((x.float() * std + mean).clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    return Image.fromarray(a[..., 0] if a.shape[-1] == 1 else a)


def audit_image_leakage(train: pd.DataFrame, held_out: dict[str, pd.DataFrame], *, action: str = "remove",
                        max_distance: int = 4, channels: int = 3) -> Any:
    """Training images that are exact (same decoded pixels) or near copies (perceptual hashes within
    ``max_distance`` bits, verified on pixels) of images in each ``held_out`` split. Returns a
    ``data.leakage.LeakageReport``: with ``action='remove'`` its ``train`` lacks the copies."""

    return audit_media_leakage(train, held_out, image_codec(channels, max_distance), action=action,
                               threshold=float(max_distance))
