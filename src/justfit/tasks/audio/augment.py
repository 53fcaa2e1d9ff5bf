"""Audio augmentation for the training split, per clip, through audiomentations.

Operations (``augment.ops``), each applied to a clip with probability ``p`` (``augment.op_p``
overrides it) and scaled by ``strength`` in (0, 1] (``augment.op_strength``); ``s`` below is the
strength, and every range is drawn from uniformly per clip:

==============  ==========================================================================================
``gain``        multiply by a gain of up to ``±12 s`` dB (``audiomentations.Gain``; 0.1: ±1.2 dB, 1: ±12 dB,
                the library's default range). A loud clip raised by a positive gain is clipped at ±1.
``noise``       add white Gaussian noise at an SNR of ``[5 + 30 (1 - s), 15 + 30 (1 - s)]`` dB relative to
                the clip's RMS (``AddGaussianSNR``; 0.1: 32-42 dB, 0.5: 20-30 dB, 1: 5-15 dB). A silent clip
                gets no noise.
``background``  mix in another training clip at an SNR of ``[10 + 20 (1 - s), 20 + 20 (1 - s)]`` dB (0.1:
                28-38 dB, 1: 10-20 dB): gentler than ``noise``, as the other clip is a labelled sound of its
                own and must stay well under this one. From files: ``AddBackgroundNoise`` (relative
                RMS; a random window of a longer clip, a shorter one repeated). From in-memory clips,
                which ``AddBackgroundNoise`` cannot take (it only reads audio files from disk), the same
                mixing done here with audiomentations' own RMS helpers; a pool clip equal to the clip
                being augmented is skipped for the next one.
``shift``       shift in time by up to ``min(s, 0.5)`` of the clip's length either way, the gap filled with
                silence (``Shift``, ``rollover=False``, 5 ms fade at the edge). Not rolled over: wrapping
                the end of a clip round to its start reorders speech and events and makes a splice no
                recording has, while leading or trailing silence is what recordings have anyway; the
                cost is that up to that fraction of the clip is shifted out (hence the cap at half).
``stretch``     change the tempo by a rate in ``[1 / (1 + s), 1 + s]``, pitch kept (``TimeStretch``,
                signalsmith, ``leave_length_unchanged=True``; 0.1: 0.91-1.1, 0.25: 0.8-1.25, the library's
                default, 1: 0.5-2). A slowed clip loses its end; a sped-up one ends in silence.
``pitch``       shift the pitch by up to ``±12 s`` semitones, tempo kept (``PitchShift``, signalsmith; 0.1:
                ±1.2, 1: ±12, an octave)
``time_mask``   SpecAugment time masking (Park et al. 2019, "SpecAugment: A Simple Data Augmentation Method
                for Automatic Speech Recognition") inside the model, on its features, not on the
                waveform: sets the model config's ``mask_time_prob`` to ``s / 2`` (0.1: 0.05,
                transformers' default for Whisper and wav2vec2), the expected fraction of time steps
                masked in spans of ``mask_time_length`` (10 by default); see :func:`spec_augment_settings`
``freq_mask``   SpecAugment feature masking, the same way: ``mask_feature_prob = s / 2`` (transformers'
                default is 0, off), in spans of ``mask_feature_length``
==============  ==========================================================================================

Waveform operations run in the order listed in ``augment.ops`` on mono float waveforms in [-1, 1]
at the augmenter's sampling rate; the result has the input's length (cut or padded with silence)
and dtype, clipped to [-1, 1]. ``time_mask`` and ``freq_mask`` live in the model config (set with
:func:`spec_augment_settings`; transformers applies them to training batches only), so an
``augment.ops`` with nothing else builds no augmenter.

Determinism: ``augmenter(waveform, key)`` is a pure function of the waveform, the augmenter's seed
and ``key`` (the caller passes ``(epoch, row index)``), never of the order of calls, so it gives the
same clips in any data-loader worker and on a rerun. audiomentations draws from the process-global
``random`` and ``numpy.random`` states: each operation runs with both seeded from
``numpy.random.SeedSequence([seed, *key], spawn_key=(k,))``, ``k`` a fixed code of the operation's
name (so enabling another operation does not change the draws of the others), and both states are
restored afterwards, so the caller's own random streams are untouched. Calls are serialised by a
lock within a process (threads); data-loader workers are processes and run in parallel. Negative
numbers are taken modulo 2**64.

audiomentations is imported when an augmenter is built, never when this module is imported.
"""

from __future__ import annotations

import os
import random
import threading
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from justfit._registry import Registry
from justfit.data.augment import check_ops
from justfit.errors import ConfigError
from justfit.tasks.audio.sources import pcm_to_float

if TYPE_CHECKING:
    from justfit.config import AugmentConfig

__all__ = ["AUDIO_AUGMENTATIONS", "SPEC_AUGMENT_OPS", "AudioAugmenter", "AudioOp", "audio_op_names",
           "build_audio_augmenter", "spec_augment_settings"]

# Operation -> the model-config attribute it sets (masking on the model's features, not the waveform).
SPEC_AUGMENT_OPS = {"time_mask": "mask_time_prob", "freq_mask": "mask_feature_prob"}

_LOCK = threading.Lock()


def _audiomentations():
    try:
        import audiomentations
    except ImportError:
        raise ConfigError("Audio augmentation needs audiomentations: pip install 'justfit[audio]'.") from None
    return audiomentations


# ------------------------------------------------------------------ strength -> parameters
def gain_db(strength: float) -> float:
    """Largest gain either way, in dB."""
    return 12.0 * strength


def noise_snr_db(strength: float) -> tuple[float, float]:
    """SNR range of ``noise``, in dB: lower (more noise) for a higher strength."""
    low = 5.0 + 30.0 * (1.0 - strength)
    return low, low + 10.0


def background_snr_db(strength: float) -> tuple[float, float]:
    """SNR range of ``background``, in dB."""
    low = 10.0 + 20.0 * (1.0 - strength)
    return low, low + 10.0


def shift_fraction(strength: float) -> float:
    """Largest shift either way, as a fraction of the clip's length."""
    return min(strength, 0.5)


def stretch_rates(strength: float) -> tuple[float, float]:
    """Tempo range (below 1 slower, above 1 faster), symmetric in log scale."""
    return 1.0 / (1.0 + strength), 1.0 + strength


def pitch_semitones(strength: float) -> float:
    """Largest pitch shift either way, in semitones."""
    return 12.0 * strength


def mask_prob(strength: float) -> float:
    """``mask_time_prob`` / ``mask_feature_prob`` of ``time_mask`` / ``freq_mask``."""
    return strength / 2.0


# ------------------------------------------------------------------ operations
@dataclass(frozen=True)
class AudioOp:
    """One audio operation. ``build(p, strength, background)`` returns a waveform transform called as
    ``transform(samples, sample_rate)``; ``None`` for the operations that live in the model config."""

    build: Callable[[float, float, _Pool | None], Any] | None

    @property
    def on_waveform(self) -> bool:
        return self.build is not None


@dataclass(frozen=True)
class _Pool:
    """The background clips: audio file paths, or float32 mono arrays (silent ones left out)."""

    paths: tuple[str, ...] = ()
    clips: tuple[np.ndarray, ...] = ()


def _build_background(p: float, s: float, pool: _Pool | None) -> Any:
    if pool is None or not (pool.paths or pool.clips):
        raise ConfigError("The augmentation 'background' mixes in other training clips: pass background= "
                          "(their waveforms or audio file paths), or remove 'background' from augment.ops.")
    low, high = background_snr_db(s)
    if pool.paths:
        return _audiomentations().AddBackgroundNoise(sounds_path=list(pool.paths), min_snr_db=low, max_snr_db=high,
                                                     noise_rms="relative", p=p)
    return _MixClips(pool.clips, low, high, p)


AUDIO_AUGMENTATIONS: Registry[AudioOp] = Registry("audio augmentation")
AUDIO_AUGMENTATIONS.register("gain", AudioOp(lambda p, s, pool: _audiomentations().Gain(
    min_gain_db=-gain_db(s), max_gain_db=gain_db(s), p=p)), help="gain of up to ±12*strength dB")
AUDIO_AUGMENTATIONS.register("noise", AudioOp(lambda p, s, pool: _audiomentations().AddGaussianSNR(
    min_snr_db=noise_snr_db(s)[0], max_snr_db=noise_snr_db(s)[1], p=p)),
    help="Gaussian noise at 5+30(1-strength) to 15+30(1-strength) dB SNR")
AUDIO_AUGMENTATIONS.register("background", AudioOp(_build_background),
                             help="another training clip mixed in at 10+20(1-strength) to 20+20(1-strength) dB SNR")
AUDIO_AUGMENTATIONS.register("shift", AudioOp(lambda p, s, pool: _audiomentations().Shift(
    min_shift=-shift_fraction(s), max_shift=shift_fraction(s), shift_unit="fraction", rollover=False, p=p)),
    help="time shift by up to min(strength, 0.5) of the clip, silence filling the gap")
AUDIO_AUGMENTATIONS.register("stretch", AudioOp(lambda p, s, pool: _audiomentations().TimeStretch(
    min_rate=stretch_rates(s)[0], max_rate=stretch_rates(s)[1], leave_length_unchanged=True, p=p)),
    help="tempo rate in [1/(1+strength), 1+strength], pitch kept")
AUDIO_AUGMENTATIONS.register("pitch", AudioOp(lambda p, s, pool: _audiomentations().PitchShift(
    min_semitones=-pitch_semitones(s), max_semitones=pitch_semitones(s), p=p)),
    help="pitch shift by up to ±12*strength semitones, tempo kept")
AUDIO_AUGMENTATIONS.register("time_mask", AudioOp(None),
                             help="SpecAugment time masking in the model (mask_time_prob = strength/2)")
AUDIO_AUGMENTATIONS.register("freq_mask", AudioOp(None),
                             help="SpecAugment feature masking in the model (mask_feature_prob = strength/2)")


def audio_op_names() -> list[str]:
    """The names ``augment.ops`` accepts for audio, sorted."""
    return AUDIO_AUGMENTATIONS.names()


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0


class _MixClips:
    """Mix in one of ``clips`` at an SNR drawn from [min_snr_db, max_snr_db] dB of the clip's RMS: what
    ``AddBackgroundNoise(noise_rms="relative")`` does with files, for clips in memory. Draws from the
    (seeded) global ``random`` state, as audiomentations' transforms do."""

    def __init__(self, clips: Sequence[np.ndarray], min_snr_db: float, max_snr_db: float, p: float) -> None:
        self.clips = tuple(clips)
        self.min_snr_db = min_snr_db
        self.max_snr_db = max_snr_db
        self.p = p

    def __repr__(self) -> str:
        return f"MixClips({len(self.clips)} clips, snr_db={self.min_snr_db:g}-{self.max_snr_db:g}, p={self.p:g})"

    def __call__(self, samples: np.ndarray, sample_rate: int, *, original: np.ndarray | None = None) -> np.ndarray:
        if random.random() >= self.p or samples.size == 0:
            return samples
        snr_db = random.uniform(self.min_snr_db, self.max_snr_db)
        i = random.randrange(len(self.clips))
        if original is not None and len(self.clips) > 1 and _same(self.clips[i], original):
            i = (i + 1) % len(self.clips)  # the clip itself is no background: take the next one
        other, n = self.clips[i], samples.shape[-1]
        if other.shape[-1] > n:  # a random window of a longer clip
            start = random.randint(0, other.shape[-1] - n)
            other = other[start:start + n]
        elif other.shape[-1] < n:  # a shorter one repeated
            other = np.resize(other, n)
        clean_rms, other_rms = _rms(samples), _rms(other)
        if clean_rms <= 0 or other_rms < 1e-9:
            return samples
        scale = clean_rms / (10.0 ** (snr_db / 20.0)) / other_rms
        return (samples + other * np.float32(scale)).astype(np.float32, copy=False)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.array_equal(a, b))


# ------------------------------------------------------------------ the augmenter
def _op_key(name: str) -> int:
    return zlib.crc32(name.encode())


def _u64(x: int) -> int:
    return int(x) % (1 << 64)


@dataclass
class _Step:
    name: str
    p: float
    strength: float
    transform: Any


class AudioAugmenter:
    """Augment one training clip: ``augmenter(waveform, key)`` with a mono float ``waveform`` in [-1, 1]
    at ``sampling_rate`` and ``key`` the caller's ``(epoch, row index)``; returns a new waveform of the
    same length and dtype, clipped to [-1, 1]. A pure function of ``(waveform, seed, key)``; the global
    ``random``/``numpy.random`` states are restored after each call. Picklable, for data-loader workers
    (an in-memory background pool is pickled with it: pass paths for a large one when workers spawn)."""

    def __init__(self, steps: Sequence[_Step], sampling_rate: int, seed: int) -> None:
        self.steps = tuple(steps)
        self.sampling_rate = int(sampling_rate)
        self.seed = int(seed)

    @property
    def ops(self) -> list[str]:
        return [s.name for s in self.steps]

    def __repr__(self) -> str:
        inner = ", ".join(f"{s.name}(p={s.p:g}, strength={s.strength:g})" for s in self.steps)
        return f"AudioAugmenter({inner}; {self.sampling_rate} Hz)"

    def __call__(self, waveform: np.ndarray, key: tuple[int, ...]) -> np.ndarray:
        x = np.asarray(waveform)
        if x.ndim != 1:
            raise ValueError(f"AudioAugmenter takes a mono waveform (1-D), got shape {x.shape}")
        if not np.issubdtype(x.dtype, np.floating):
            raise ValueError(f"AudioAugmenter takes a float waveform in [-1, 1], got dtype {x.dtype}")
        n = x.shape[0]
        original = np.ascontiguousarray(x, dtype=np.float32)
        if n == 0:
            return x.copy()
        entropy = [_u64(self.seed), *(_u64(k) for k in key)]
        out = original.copy()
        with _LOCK:
            py_state, np_state = random.getstate(), np.random.get_state()
            try:
                for step in self.steps:
                    words = np.random.SeedSequence(entropy, spawn_key=(_op_key(step.name),)).generate_state(4)
                    random.seed(int.from_bytes(words[:2].tobytes(), "little"))
                    np.random.seed(words)
                    if isinstance(step.transform, _MixClips):
                        out = step.transform(out, self.sampling_rate, original=original)
                    else:
                        out = step.transform(out, self.sampling_rate)
                    out = _fit(np.asarray(out, dtype=np.float32), n)
            finally:
                random.setstate(py_state)
                np.random.set_state(np_state)
        return np.clip(out, -1.0, 1.0).astype(x.dtype, copy=False)


def _fit(x: np.ndarray, n: int) -> np.ndarray:
    """``x`` cut or padded with silence to ``n`` samples, contiguous."""
    if x.shape[0] > n:
        x = x[:n]
    elif x.shape[0] < n:
        x = np.concatenate([x, np.zeros(n - x.shape[0], dtype=np.float32)])
    return np.ascontiguousarray(x)


def _pool(background: Sequence[Any]) -> _Pool:
    items = list(background)
    if not items:
        return _Pool()
    if all(isinstance(b, (str, os.PathLike)) for b in items):
        from audiomentations.core.utils import SUPPORTED_EXTENSIONS

        paths = tuple(os.fspath(b) for b in items)
        unsupported = [p for p in paths if not p.lower().endswith(SUPPORTED_EXTENSIONS)]
        if unsupported:
            raise ConfigError(f"background= has {len(unsupported)} path(s) that are not audio files "
                              f"audiomentations reads (e.g. {unsupported[0]!r}); it reads "
                              f"{', '.join(SUPPORTED_EXTENSIONS)}.")
        return _Pool(paths=paths)
    if any(isinstance(b, (str, os.PathLike)) for b in items):
        raise ConfigError("background= mixes paths and waveforms: pass one or the other.")

    clips = []
    for b in items:
        clip = np.ascontiguousarray(pcm_to_float(b, "background clip"))  # integer PCM by its format, not cast
        if clip.ndim != 1:
            raise ConfigError(f"background= takes mono waveforms (1-D arrays), got one of shape {clip.shape}.")
        if _rms(clip) >= 1e-9:
            clips.append(clip)
    if not clips:
        raise ConfigError("background= holds only silent clips: there is nothing to mix in.")
    return _Pool(clips=tuple(clips))


def _check_modality(ops: Sequence[str]) -> None:

    check_ops(ops, "audio")
    for name in ops:
        AUDIO_AUGMENTATIONS.get(name)  # an unknown name: ConfigError with the valid ones


def build_audio_augmenter(cfg: AugmentConfig, *, sampling_rate: int, seed: int,
                          background: Sequence[np.ndarray] | Sequence[str] = ()) -> AudioAugmenter | None:
    """The waveform augmenter ``cfg`` describes, for clips at ``sampling_rate`` Hz, or ``None`` when no
    waveform operation is on (``time_mask``/``freq_mask`` alone: see :func:`spec_augment_settings`).

    ``background`` is the pool ``background`` draws from: the other training clips' waveforms (mono,
    at ``sampling_rate``) or their audio file paths (resampled on load if need be). Raises
    ``ConfigError`` naming a text or image operation, for ``background`` without a pool, and when
    audiomentations is missing. Apply the result to the training split only.
    """
    if not cfg.ops:
        return None
    _check_modality(cfg.ops)
    if sampling_rate <= 0:
        raise ConfigError(f"Audio augmentation needs the clips' sampling rate in Hz, got {sampling_rate}.")
    on = [(n, cfg.op_p.get(n, cfg.p), cfg.op_strength.get(n, cfg.strength)) for n in cfg.ops
          if AUDIO_AUGMENTATIONS.get(n).on_waveform and cfg.op_p.get(n, cfg.p) > 0]
    if not on:
        return None
    _audiomentations()
    pool = _pool(background) if any(n == "background" for n, _, _ in on) else None
    steps = [_Step(n, p, s, AUDIO_AUGMENTATIONS.get(n).build(p, s, pool)) for n, p, s in on]
    return AudioAugmenter(steps, sampling_rate, seed)


def spec_augment_settings(cfg: AugmentConfig, model_config: Any) -> dict[str, Any]:
    """The model-config attributes that turn on ``time_mask``/``freq_mask`` as ``cfg`` sets them:
    ``mask_time_prob`` / ``mask_feature_prob`` = ``strength / 2``, and ``apply_spec_augment=True``
    where the config has it (Whisper's is off by default). Only attributes ``model_config`` has are
    returned; ``{}`` when neither operation is on (or its ``p`` is 0). Raises ``ConfigError`` naming
    the operation and the model type when the model has no such masking (``p`` only turns an
    operation on or off here: the model masks every training batch)."""
    out: dict[str, Any] = {}
    for name, attr in SPEC_AUGMENT_OPS.items():
        if name not in cfg.ops or cfg.op_p.get(name, cfg.p) <= 0:
            continue
        if not hasattr(model_config, attr):
            kind = getattr(model_config, "model_type", None) or type(model_config).__name__
            raise ConfigError(f"The augmentation '{name}' sets the model config's {attr} (SpecAugment), which "
                              f"the model type '{kind}' does not have (Whisper, wav2vec2, HuBERT and the like "
                              f"do): remove '{name}' from augment.ops.")
        out[attr] = mask_prob(cfg.op_strength.get(name, cfg.strength))
    if out and hasattr(model_config, "apply_spec_augment"):
        out["apply_spec_augment"] = True
    return out
