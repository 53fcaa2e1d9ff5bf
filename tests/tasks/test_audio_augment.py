"""Audio augmentation: each operation's effect, determinism per (seed, key), SNRs, SpecAugment settings."""

from __future__ import annotations

import pickle
import random
import subprocess
import sys
from dataclasses import dataclass, field

import numpy as np
import pytest

pytest.importorskip("audiomentations")

from justfit.errors import ConfigError  # noqa: E402
from justfit.tasks.audio.augment import (  # noqa: E402
    AUDIO_AUGMENTATIONS,
    AudioAugmenter,
    audio_op_names,
    background_snr_db,
    build_audio_augmenter,
    noise_snr_db,
    spec_augment_settings,
)

SR = 16000
WAVE_OPS = ["gain", "noise", "background", "shift", "stretch", "pitch"]


@dataclass
class Cfg:
    """The fields of ``AugmentConfig`` the audio augmenter reads (its validator knows text and image ops)."""

    ops: list[str]
    p: float = 1.0
    strength: float = 0.5
    op_p: dict[str, float] = field(default_factory=dict)
    op_strength: dict[str, float] = field(default_factory=dict)


def tone(freq: float = 440.0, seconds: float = 1.0, amp: float = 0.5, noise: float = 0.01, seed: int = 0) -> np.ndarray:
    t = np.arange(int(SR * seconds)) / SR
    rng = np.random.default_rng(seed)
    return (amp * np.sin(2 * np.pi * freq * t) + noise * rng.standard_normal(t.size)).astype(np.float32)


CLIP = tone()
POOL = [tone(1000.0, 1.5, 0.3, seed=1), tone(2500.0, 0.7, 0.3, seed=2)]


def aug(ops, *, seed=0, background=POOL, **kw) -> AudioAugmenter:
    a = build_audio_augmenter(Cfg(ops, **kw), sampling_rate=SR, seed=seed, background=background)
    assert a is not None
    return a


def snr_db(clean: np.ndarray, noisy: np.ndarray) -> float:
    noise = noisy.astype(np.float64) - clean
    return float(10 * np.log10(np.mean(clean.astype(np.float64) ** 2) / np.mean(noise ** 2)))


def test_names():
    assert audio_op_names() == sorted(WAVE_OPS + ["time_mask", "freq_mask"])
    assert all(n in AUDIO_AUGMENTATIONS for n in audio_op_names())


@pytest.mark.parametrize("op", WAVE_OPS)
def test_each_op_changes_clip_and_keeps_shape(op):
    a = aug([op])
    for key in [(0, 0), (0, 1), (3, 7)]:
        y = a(CLIP, key)
        assert y.shape == CLIP.shape and y.dtype == np.float32
        assert np.all(np.abs(y) <= 1.0)
        assert not np.allclose(y, CLIP, atol=1e-4), (op, key)


def test_float64_in_float64_out_and_clipped():
    y = aug(["gain"], strength=1.0)(CLIP.astype(np.float64) * 1.9, (0, 2))
    assert y.dtype == np.float64 and y.shape == CLIP.shape and np.abs(y).max() <= 1.0


def test_all_ops_deterministic_per_key():
    a = aug(WAVE_OPS, p=0.7)
    y1, y2 = a(CLIP, (1, 5)), a(CLIP, (1, 5))
    a(CLIP, (2, 9))  # the order of calls does not matter
    assert np.array_equal(y1, y2) and np.array_equal(y1, a(CLIP, (1, 5)))
    assert not np.array_equal(y1, a(CLIP, (1, 6)))
    assert not np.array_equal(y1, a(CLIP, (2, 5)))
    assert not np.array_equal(y1, aug(WAVE_OPS, p=0.7, seed=1)(CLIP, (1, 5)))


def test_other_ops_do_not_move_an_ops_draws():
    """Each operation draws from its own stream: the gain drawn for a key is the same with shift before it."""
    alone = aug(["gain"])(CLIP, (0, 3)) / CLIP
    shift = aug(["shift"], strength=0.01)(CLIP, (0, 3))
    both = aug(["shift", "gain"], op_strength={"shift": 0.01})(CLIP, (0, 3))
    ratio = both[shift != 0] / shift[shift != 0]
    assert np.allclose(np.median(ratio), np.median(alone), rtol=1e-4)


def test_global_random_state_untouched():
    random.seed(123)
    np.random.seed(456)
    py, npy = random.getstate(), np.random.get_state()
    aug(WAVE_OPS)(CLIP, (0, 0))
    assert random.getstate() == py
    after = np.random.get_state()
    assert np.array_equal(after[1], npy[1]) and after[2:] == npy[2:]
    expected = (random.random(), np.random.random())
    random.seed(123)
    np.random.seed(456)
    assert expected == (random.random(), np.random.random())


def test_p_zero_is_off_and_p_decides_per_clip():
    assert build_audio_augmenter(Cfg(["gain"], p=0.0), sampling_rate=SR, seed=0) is None
    a = aug(["gain"], p=0.5)
    changed = sum(not np.array_equal(a(CLIP, (0, i)), CLIP) for i in range(200))
    assert 70 < changed < 130
    a = aug(["gain", "pitch"], op_p={"pitch": 0.0})
    assert a.ops == ["gain"]


def test_pickle_round_trip_same_output():
    a = aug(WAVE_OPS)
    b = pickle.loads(pickle.dumps(a))
    assert np.array_equal(a(CLIP, (4, 2)), b(CLIP, (4, 2)))


@pytest.mark.parametrize("strength", [0.1, 0.5, 1.0])
def test_noise_snr_matches_documented_range(strength):
    low, high = noise_snr_db(strength)
    a = aug(["noise"], strength=strength)
    measured = [snr_db(CLIP, a(CLIP, (0, i))) for i in range(40)]
    assert low - 0.5 <= min(measured) and max(measured) <= high + 0.5
    assert abs(np.mean(measured) - (low + high) / 2) < 1.5


def test_stronger_means_more_change():
    def change(op: str, strength: float) -> float:
        a = aug([op], strength=strength)
        return float(np.mean([np.mean((a(CLIP, (0, i)) - CLIP) ** 2) for i in range(20)]))

    for op in ["noise", "background", "gain"]:
        assert change(op, 0.1) < change(op, 0.5) < change(op, 1.0), op


def test_shift_amount_and_silence():
    def shift_samples(strength: float) -> list[int]:
        a = aug(["shift"], strength=strength)
        out = []
        for i in range(20):
            y = a(CLIP, (0, i))
            zeros = np.flatnonzero(y == 0)
            out.append(len(zeros))
        return out

    small, large = shift_samples(0.1), shift_samples(0.4)
    assert max(small) <= 0.1 * SR + 1 and max(large) <= 0.4 * SR + 1  # rollover off: the gap is silence
    assert np.mean(small) < np.mean(large)


def test_background_mixes_in_another_clip():
    other = tone(3000.0, 1.0, 0.3, noise=0.0, seed=9)
    a = aug(["background"], strength=1.0, background=[other])
    y = a(CLIP, (0, 0))
    residual = y.astype(np.float64) - CLIP
    corr = np.dot(residual, other) / (np.linalg.norm(residual) * np.linalg.norm(other))
    assert corr > 0.99
    low, high = background_snr_db(1.0)
    assert low - 0.5 <= snr_db(CLIP, y) <= high + 0.5


def test_background_skips_the_clip_itself():
    other = tone(3000.0, 1.0, 0.3, noise=0.0, seed=9)
    a = aug(["background"], strength=1.0, background=[CLIP, other])
    for i in range(10):
        residual = a(CLIP, (0, i)).astype(np.float64) - CLIP
        assert np.dot(residual, other) / (np.linalg.norm(residual) * np.linalg.norm(other)) > 0.99


def test_background_from_files(tmp_path):
    sf = pytest.importorskip("soundfile")
    other = tone(3000.0, 2.0, 0.3, noise=0.0, seed=9)
    path = tmp_path / "other.wav"
    sf.write(path, other, SR, subtype="FLOAT")
    a = aug(["background"], strength=1.0, background=[str(path)])
    y = a(CLIP, (0, 0))
    assert np.array_equal(y, a(CLIP, (0, 0))) and not np.allclose(y, CLIP, atol=1e-4)
    low, high = background_snr_db(1.0)
    assert low - 0.5 <= snr_db(CLIP, y) <= high + 0.5
    with pytest.raises(ConfigError, match="not audio files"):
        aug(["background"], background=[str(tmp_path / "notes.txt")])


def test_background_needs_a_pool():
    with pytest.raises(ConfigError, match="background="):
        aug(["background"], background=())
    with pytest.raises(ConfigError, match="silent"):
        aug(["background"], background=[np.zeros(SR, np.float32)])


def test_mask_ops_alone_build_nothing():
    assert build_audio_augmenter(Cfg(["time_mask", "freq_mask"]), sampling_rate=SR, seed=0) is None
    assert build_audio_augmenter(Cfg([]), sampling_rate=SR, seed=0) is None
    assert aug(["time_mask", "gain"]).ops == ["gain"]


@pytest.mark.parametrize("ops, message", [
    (["gain", "swap"], r"\['swap'\] are text augmentations; audio inputs take"),
    (["hflip"], r"\['hflip'\] are image augmentations; audio inputs take"),
    (["typo", "rotate"], r"\['typo'\] are text augmentations and \['rotate'\] are image augmentations"),
])
def test_cross_modality_error(ops, message):
    with pytest.raises(ConfigError, match=message):
        build_audio_augmenter(Cfg(ops), sampling_rate=SR, seed=0)


def test_unknown_op_error():
    with pytest.raises(ConfigError, match="Unknown audio augmentation 'gian'"):
        build_audio_augmenter(Cfg(["gian"]), sampling_rate=SR, seed=0)


def test_missing_audiomentations(monkeypatch):
    monkeypatch.setitem(sys.modules, "audiomentations", None)
    with pytest.raises(ConfigError, match=r"pip install 'justfit\[audio\]'"):
        build_audio_augmenter(Cfg(["gain"]), sampling_rate=SR, seed=0)
    assert build_audio_augmenter(Cfg(["time_mask"]), sampling_rate=SR, seed=0) is None  # needs no library


def test_import_does_not_load_audiomentations():
    code = ("import sys, justfit, justfit.tasks.audio.augment; "
            "assert 'audiomentations' not in sys.modules, 'imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_rejects_non_mono():
    with pytest.raises(ValueError, match="mono"):
        aug(["gain"])(np.zeros((2, SR), np.float32), (0, 0))


def test_spec_augment_settings():
    from transformers import BertConfig, Wav2Vec2Config, WhisperConfig

    cfg = Cfg(["time_mask", "freq_mask", "gain"], strength=0.1, op_strength={"freq_mask": 0.2})
    assert spec_augment_settings(cfg, WhisperConfig()) == pytest.approx(
        {"mask_time_prob": 0.05, "mask_feature_prob": 0.1, "apply_spec_augment": True})
    assert spec_augment_settings(Cfg(["time_mask"], strength=0.1), Wav2Vec2Config()) == pytest.approx(
        {"mask_time_prob": 0.05, "apply_spec_augment": True})
    assert spec_augment_settings(Cfg(["gain"]), WhisperConfig()) == {}
    assert spec_augment_settings(Cfg(["time_mask"], op_p={"time_mask": 0.0}), WhisperConfig()) == {}
    with pytest.raises(ConfigError, match="'time_mask'.*'bert'"):
        spec_augment_settings(Cfg(["time_mask"]), BertConfig())
    # the settings apply to a real config
    whisper = WhisperConfig()
    for k, v in spec_augment_settings(cfg, whisper).items():
        setattr(whisper, k, v)
    assert whisper.apply_spec_augment and whisper.mask_time_prob == pytest.approx(0.05)
