"""Reading audio: any source to a mono float32 waveform at the model's sampling rate.

A clip is given as a file path (WAV, FLAC, OGG, and MP3 where the installed libsndfile reads it,
through ``soundfile``), encoded bytes or a ``datasets`` ``Audio`` cell (``{"bytes", "path"}``, or
the decoded form ``{"array", "sampling_rate"}``), or a 1-D numpy array with its rate given apart.
Decoding is lazy (one clip when the loader asks for it) and reads only the window it keeps, so an
hour-long file costs the seconds the model sees, not the hour. Samples are read as their format
defines (``pcm_to_float``: 8-bit unsigned PCM centred on 128, the others signed, floats in
[-1, 1]), then channels are averaged to mono; the rate is converted with ``soxr`` (the SoX
resampler, "HQ" quality), the maintained resampler the Python audio stack (librosa,
audiomentations) uses. A WAV, RF64 or AIFF file that holds fewer frames than its header declares
is refused as truncated (libsndfile alone would read it as a shorter clip).

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
    declared = declared_frames(fp)
    try:
        f = sf.SoundFile(fp)
    except (sf.LibsndfileError, RuntimeError, TypeError, OSError) as exc:
        why = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        hint = (" This libsndfile cannot read MP3: convert it to WAV or FLAC (e.g. ffmpeg -i in.mp3 out.wav)."
                if name.lower().endswith(".mp3") and "MP3" not in sf.available_formats() else "")
        raise DataError(f"Cannot read audio '{name}' ({why}).{hint}") from None
    if declared is not None and declared > f.frames:
        f.close()
        raise DataError(f"Audio '{name}' is truncated: its header declares {declared} frames but the file holds "
                        f"{f.frames}. Export or download it again.")
    return f


# WAV format tags whose data chunk is frames of block_align bytes each: PCM, IEEE float, A-law,
# mu-law, and WAVE_FORMAT_EXTENSIBLE (its sub-format is one of these for PCM and float).
_FRAMED_WAV_TAGS = (0x0001, 0x0003, 0x0006, 0x0007, 0xFFFE)
# Data sizes a writer that cannot seek back (a pipe) leaves in the header: the length is not declared.
_UNDECLARED_SIZES = (0, 0xFFFFFFFF)


def declared_frames(fp: Any) -> int | None:
    """The number of frames the header of a WAV (RIFF, RIFX, RF64) or AIFF/AIFC file declares, read
    from a path or a seekable file object (its position is kept); None for other formats, for
    compressed WAV data and for a stream's header that leaves the length open.

    libsndfile counts the frames the file holds and reads a cut file as a shorter clip; comparing
    the two finds the cut. Layouts: Microsoft's RIFF/WAVE specification (``fmt `` block align,
    ``data`` size), EBU Tech 3306 (RF64's ``ds64`` data size) and Apple's AIFF 1.3 (``COMM``
    numSampleFrames)."""
    if fp is None:
        return None
    if isinstance(fp, str | Path):
        try:
            with open(fp, "rb") as fh:
                return _header_frames(fh)
        except OSError:
            return None  # soundfile names the problem when it opens the file
    position = fp.tell()
    try:
        return _header_frames(fp)
    finally:
        fp.seek(position)


def _chunks(fh: Any, big_endian: bool) -> Any:
    """``(id, size, body start)`` of each chunk after a 12-byte RIFF/FORM header; bodies are skipped
    (padded to an even length, as both formats require)."""
    order = "big" if big_endian else "little"
    while len(head := fh.read(8)) == 8:
        size = int.from_bytes(head[4:], order)
        start = fh.tell()
        yield head[:4], size, start
        fh.seek(start + size + (size & 1))


def _header_frames(fh: Any) -> int | None:
    head = fh.read(12)
    if len(head) < 12:
        return None
    kind, form = head[:4], head[8:]
    if kind in (b"RIFF", b"RIFX", b"RF64") and form == b"WAVE":
        return _wav_frames(fh, big_endian=kind == b"RIFX")
    if kind == b"FORM" and form in (b"AIFF", b"AIFC"):
        for chunk, _, _ in _chunks(fh, big_endian=True):
            if chunk == b"COMM":
                return int.from_bytes(fh.read(6)[2:], "big")  # numChannels (2 bytes), numSampleFrames (4)
    return None


def _wav_frames(fh: Any, big_endian: bool) -> int | None:
    order = "big" if big_endian else "little"
    ds64_size, tag, block = None, None, 0
    for chunk, size, _ in _chunks(fh, big_endian):
        if chunk == b"ds64":
            ds64_size = int.from_bytes(fh.read(16)[8:], order)  # riffSize (8 bytes), dataSize (8)
        elif chunk == b"fmt ":
            body = fh.read(min(size, 26))
            tag, block = int.from_bytes(body[:2], order), int.from_bytes(body[12:14], order)
            if tag == 0xFFFE and len(body) >= 26:
                tag = int.from_bytes(body[24:26], order)  # the sub-format GUID starts with the format tag
        elif chunk == b"data":
            if size == 0xFFFFFFFF and ds64_size is not None:
                size = ds64_size
            elif size in _UNDECLARED_SIZES:
                return None
            return size // block if tag in _FRAMED_WAV_TAGS and block else None
    return None


# Each integer sample format as (offset, full scale): float = (x - offset) / full scale, the scaling
# libsndfile applies when it reads PCM as float (sf_read_float, SFC_SET_NORM_FLOAT on, the default),
# so an array and the file it came from decode alike. 8-bit PCM in WAV is unsigned with 128 as
# silence, every wider width signed (Microsoft's RIFF/WAVE specification, "Data Format of the
# Samples"); 24-bit PCM arrives as int32 with its bits at the top (left-justified: scipy.io.wavfile.read,
# and soundfile's read(dtype="int32")), so int32 is 2**31 full scale whether it held 24 or 32 bits.
PCM_SCALES: dict[np.dtype, tuple[int, float]] = {
    np.dtype(np.uint8): (128, 128.0),
    np.dtype(np.int8): (0, 128.0),
    np.dtype(np.int16): (0, 32768.0),
    np.dtype(np.int32): (0, 2147483648.0),
}


def pcm_to_float(samples: Any, name: str = "array") -> np.ndarray:
    """``samples`` (any shape) as float32 in [-1, 1], read as their dtype defines: uint8 as
    ``(x - 128) / 128``, int8 ``x / 128``, int16 ``x / 32768``, int32 (also 24-bit PCM, left-justified
    as scipy and soundfile give it) ``x / 2**31`` (``PCM_SCALES``); floats as they are.

    Raises ``DataError`` (one line, naming ``name``) for floats outside [-1, 1] (their scale is not
    known: HF feature extractors and ``datasets`` take float samples as [-1, 1] and do not rescale
    them) or NaN, and for other dtypes: int64 (what a list of Python ints becomes, whatever its
    width), other unsigned widths, bool, complex, objects."""
    a = np.asarray(samples)
    dtype = a.dtype if a.dtype.isnative else a.dtype.newbyteorder("=")  # big-endian int16 is int16
    if dtype in PCM_SCALES:
        offset, scale = PCM_SCALES[dtype]
        return ((a.astype(np.float64) - offset) / scale).astype(np.float32)
    if not np.issubdtype(a.dtype, np.floating):
        raise DataError(f"Audio {name} has samples of dtype {a.dtype}, which is no sample format: pass floats in "
                        "[-1, 1], or PCM as uint8 (8-bit, 128 = silence), int8, int16 or int32 (also 24-bit, "
                        "left-justified).")
    a = a.astype(np.float32, copy=False)
    check_float_samples(a, name)
    return a


def check_float_samples(a: np.ndarray, name: str) -> None:
    """Raise ``DataError`` when float samples hold NaN or infinity, or go outside [-1, 1]."""
    if not np.isfinite(a).all():
        raise DataError(f"Audio {name} holds NaN or infinite samples.")
    peak = float(np.abs(a).max()) if a.size else 0.0
    if peak > 1.0:
        raise DataError(f"Audio {name} has float samples up to {peak:g}, outside [-1, 1]: divide integer values "
                        "stored as floats by their format's full scale (32768 for 16-bit), or clip overs to [-1, 1].")


def _array_of(source: Any, sampling_rate: int | None) -> tuple[np.ndarray, int] | None:
    """``(samples, rate)`` for array sources; None for files and bytes."""
    if isinstance(source, dict) and "array" in source:
        arr, rate = source["array"], source.get("sampling_rate")
    elif isinstance(source, np.ndarray | list | tuple) and not isinstance(source, str):
        arr, rate = source, sampling_rate
    else:
        return None
    name = describe_clip(source)
    if rate is None:
        raise DataError(f"Audio array {name} comes without its sampling rate: pass sampling_rate (Hz), "
                        "or {'array': ..., 'sampling_rate': ...} items.")
    a = pcm_to_float(arr, f"array {name}")  # scaled before channels are mixed: a mean of ints loses their format
    if a.ndim == 2:  # (channels, samples) or (samples, channels): the shorter side is the channels
        a = a.mean(axis=0 if a.shape[0] <= a.shape[1] else 1, dtype=np.float32)
    if a.ndim != 1:
        raise DataError(f"An audio array must be 1-D (samples) or 2-D (channels x samples); got shape {a.shape}.")
    return a, int(rate)


def clip_info(source: Any, sampling_rate: int | None = None) -> ClipInfo:
    """The clip's length and format from its header (files) or shape (arrays), without decoding.
    Raises ``DataError`` for a missing, empty, truncated or unreadable file, or an array whose samples
    are outside their format (``pcm_to_float``)."""
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

    Raises ``DataError`` (one line) for a missing, empty, corrupt, truncated or non-audio file, a
    clip with no samples, an array without its rate, and samples outside their format (``pcm_to_float``:
    floats outside [-1, 1] or NaN, in an array or a float file; dtypes that are no sample format)."""
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
                frames = f.read(count, dtype="float32", always_2d=True)
            except (RuntimeError, ValueError, OSError) as exc:  # libsndfile on a truncated or corrupt body
                raise DataError(f"Cannot read audio '{name}' ({str(exc).splitlines()[0][:120]}).") from None
            if len(frames) < count:  # a header that declares more than a cut body holds (FLAC, OGG, ...)
                raise DataError(f"Audio '{name}' is truncated: frames {start + len(frames)} to {start + count} that "
                                "its header declares cannot be read. Export or download it again.")
            check_float_samples(frames, f"'{name}'")  # a float file's samples, like a float array's
            a = frames.mean(axis=1)
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
