"""Reading audio: any source to a mono float32 waveform at the model's sampling rate.

A clip is given as a file path (WAV, FLAC, OGG, and MP3 where the installed libsndfile reads it,
through ``soundfile``), encoded bytes or a ``datasets`` ``Audio`` cell (``{"bytes", "path"}``, or
the decoded form ``{"array", "sampling_rate"}``), or a 1-D numpy array with its rate given apart.
Decoding is lazy (one clip when the loader asks for it) and reads only the window it keeps, so an
hour-long file costs the seconds the model sees, not the hour. Channels are averaged to mono;
integer samples are scaled to [-1, 1]; the rate is converted with ``soxr`` (the SoX resampler,
"HQ" quality), the maintained resampler the Python audio stack (librosa, audiomentations) uses.

``window`` picks which ``max_seconds`` of a longer clip are kept: ``"random"`` (training: a new
window each epoch, drawn from the caller's generator), ``"center"`` (evaluation: the same window
every time) or ``"start"``. Shorter clips are returned as they are; padding is the feature
extractor's job (it pads to the model's input length).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from justfit.data.media import AUDIO, encoded
from justfit.errors import DataError

AUDIO_SUFFIXES = AUDIO.suffixes
# The longest clip decoded whole when no max_seconds applies (audits, the report): 10 minutes.
MAX_DECODE_SECONDS = 600.0


def _sf() -> Any:
    try:
        import soundfile
    except ImportError:
        raise DataError("Audio tasks need soundfile: pip install 'justfit[audio]'.") from None
    return soundfile


def _soxr() -> Any:
    try:
        import soxr
    except ImportError:
        raise DataError("Resampling audio needs soxr: pip install 'justfit[audio]'.") from None
    return soxr


def describe_clip(source: Any) -> str:
    """A short, printable name for an audio source (its path, or its kind and length)."""
    if isinstance(source, str | Path):
        return str(source)
    if isinstance(source, dict):
        if source.get("path"):
            return str(source["path"])
        if "array" in source:
            a = np.asarray(source["array"])
            return f"<array {a.shape[-1] if a.ndim else 0} samples at {source.get('sampling_rate')} Hz>"
        return "<audio bytes>"
    if isinstance(source, np.ndarray):
        return f"<array {'x'.join(map(str, source.shape))} {source.dtype}>"
    return f"<{type(source).__name__}>"


@dataclass(frozen=True)
class ClipInfo:
    """What the header (or the array) tells without decoding: ``seconds``, ``sampling_rate`` (Hz),
    ``channels``, ``subtype`` (``PCM_16``, ``PCM_24``, ``FLOAT``, ...; ``array`` for arrays)."""

    seconds: float
    sampling_rate: int
    channels: int
    subtype: str


def _open(source: Any, name: str) -> Any:
    """An open ``soundfile.SoundFile`` for a path, bytes or an ``Audio`` cell; DataError when unreadable."""
    sf = _sf()
    fp = encoded(source, name, "Audio")
    try:
        return sf.SoundFile(fp)
    except (sf.LibsndfileError, RuntimeError, TypeError, OSError) as exc:
        why = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        hint = (" This libsndfile cannot read MP3: convert it to WAV or FLAC (e.g. ffmpeg -i in.mp3 out.wav)."
                if name.lower().endswith(".mp3") and "MP3" not in sf.available_formats() else "")
        raise DataError(f"Cannot read audio '{name}' ({why}).{hint}") from None


def _array_of(source: Any, sampling_rate: int | None) -> tuple[np.ndarray, int] | None:
    """``(samples, rate)`` for array sources; None for files and bytes."""
    if isinstance(source, dict) and "array" in source:
        arr, rate = source["array"], source.get("sampling_rate")
    elif isinstance(source, np.ndarray | list | tuple) and not isinstance(source, str):
        arr, rate = source, sampling_rate
    else:
        return None
    a = np.asarray(arr)
    name = describe_clip(source)
    if rate is None:
        raise DataError(f"Audio array {name} comes without its sampling rate: pass sampling_rate (Hz), "
                        "or {'array': ..., 'sampling_rate': ...} items.")
    if a.ndim == 2:  # (channels, samples) or (samples, channels): the shorter side is the channels
        a = a.mean(axis=0 if a.shape[0] <= a.shape[1] else 1)
    if a.ndim != 1:
        raise DataError(f"An audio array must be 1-D (samples) or 2-D (channels x samples); got shape {a.shape}.")
    if np.issubdtype(a.dtype, np.integer):
        a = a.astype(np.float32) / float(np.iinfo(a.dtype).max)
    elif not np.issubdtype(a.dtype, np.floating):
        raise DataError(f"Audio arrays of dtype {a.dtype} are not supported: pass floats in [-1, 1] or integer PCM.")
    a = a.astype(np.float32, copy=False)
    if not np.isfinite(a).all():
        raise DataError(f"Audio array {name} holds NaN or infinite samples.")
    return a, int(rate)


def clip_info(source: Any, sampling_rate: int | None = None) -> ClipInfo:
    """The clip's length and format from its header (files) or shape (arrays), without decoding.
    Raises ``DataError`` for a missing, empty or unreadable file."""
    got = _array_of(source, sampling_rate)
    if got is not None:
        a, rate = got
        return ClipInfo(len(a) / rate, rate, 1, "array")
    with _open(source, describe_clip(source)) as f:
        return ClipInfo(f.frames / f.samplerate if f.samplerate else 0.0, int(f.samplerate), int(f.channels),
                        str(f.subtype))


def decode_audio(source: Any, sampling_rate: int, *, max_seconds: float | None = None, window: str = "center",
                 rng: np.random.Generator | None = None, source_rate: int | None = None) -> np.ndarray:
    """One clip as a mono float32 waveform of shape ``(samples,)`` at ``sampling_rate`` Hz, at most
    ``max_seconds`` long (the ``window`` of the module docstring; no limit: at most
    ``MAX_DECODE_SECONDS``). ``source_rate`` is the rate of a bare array source.

    Raises ``DataError`` (one line) for a missing, empty, corrupt or non-audio file, a clip with no
    samples, an array without its rate or with NaN samples."""
    name = describe_clip(source)
    limit = float(max_seconds) if max_seconds else MAX_DECODE_SECONDS
    got = _array_of(source, source_rate)
    if got is not None:
        a, rate = got
        start, count = _window(len(a), int(round(limit * rate)), window, rng)
        a = a[start:start + count]
    else:
        with _open(source, name) as f:
            rate = int(f.samplerate)
            start, count = _window(f.frames, int(round(limit * rate)), window, rng)
            try:
                f.seek(start)
                a = f.read(count, dtype="float32", always_2d=True).mean(axis=1)
            except (RuntimeError, ValueError, OSError) as exc:  # libsndfile on a truncated or corrupt body
                raise DataError(f"Cannot read audio '{name}' ({str(exc).splitlines()[0][:120]}).") from None
    if not len(a):
        raise DataError(f"Audio '{name}' holds no samples.")
    if rate != sampling_rate:
        a = _soxr().resample(a, rate, sampling_rate, quality="HQ").astype(np.float32, copy=False)
    return np.ascontiguousarray(a, dtype=np.float32)


def _window(total: int, keep: int, window: str, rng: np.random.Generator | None) -> tuple[int, int]:
    """``(start, count)`` of the ``keep`` samples of ``total`` that ``window`` picks."""
    if total <= keep:
        return 0, total
    if window == "random":
        return int((rng or np.random.default_rng()).integers(0, total - keep + 1)), keep
    if window == "center":
        return (total - keep) // 2, keep
    if window == "start":
        return 0, keep
    raise ValueError(f"window must be 'random', 'center' or 'start', not {window!r}")


def wav_bytes(samples: np.ndarray, sampling_rate: int) -> bytes:
    """``samples`` (float, ``(samples,)``) as a 16-bit PCM WAV file's bytes (for the report's players)."""
    buf = io.BytesIO()
    _sf().write(buf, np.clip(samples, -1, 1), int(sampling_rate), format="WAV", subtype="PCM_16")
    return buf.getvalue()
