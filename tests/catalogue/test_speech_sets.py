"""The speech data sets: keywords synthesised with espeak-ng (a small subset), spokennumbers, pocketsphinx."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from justfit.catalogue import speech_sets
from justfit.data.packaged import PACKAGED
from justfit.errors import DataError

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
VOICES = ["en-us+f3", "en-gb-scotland+m3"]
WORDS = ["seven", "yes", "zero"]
MANIFEST = ["file", "label", "voice", "accent", "variant", "gender", "speed", "pitch", "text", "seconds"]


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("JUSTFIT_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_speech_sets_are_registered():
    for name in ("keywords", "spokennumbers", "pocketsphinx"):
        assert name in PACKAGED


@needs_espeak
def test_keywords_subset_is_16khz_mono_with_its_manifest(cache):
    root = speech_sets.build_keywords(voices=VOICES, words=WORDS, progress=False)
    assert root == cache / speech_sets.KEYWORDS_DIR
    manifest = pd.read_csv(root / "manifest.csv")
    assert list(manifest.columns) == MANIFEST
    assert len(manifest) == len(VOICES) * len(WORDS)
    assert set(manifest["voice"]) == set(VOICES) and set(manifest["label"]) == set(WORDS)
    assert set(manifest["accent"]) == {"en-us", "en-gb-scotland"}
    assert manifest["speed"].isin(speech_sets.SPEEDS).all() and manifest["pitch"].isin(speech_sets.PITCHES).all()
    for _, row in manifest.iterrows():
        assert (row["speed"], row["pitch"]) in speech_sets.clip_settings(row["voice"], row["label"])
        info = sf.info(str(root / row["file"]))
        assert (info.samplerate, info.channels, info.subtype) == (16_000, 1, "PCM_16")
        assert abs(info.duration - row["seconds"]) < 1e-3 and 0.2 < info.duration < 3

    frame = speech_sets.keywords()
    assert list(frame.columns) == ["audio", "label", "voice", "accent", "variant", "speed", "pitch"]
    assert all(Path(a).is_absolute() and Path(a).is_file() for a in frame["audio"])
    x, rate = sf.read(frame["audio"][0])
    assert rate == 16_000 and x.ndim == 1 and np.abs(x).max() > 0.05
    assert not list(cache.glob("*.tmp-*"))  # the temp build folder was renamed, nothing left over


def test_clip_settings_are_seeded_and_cover_the_grid():
    a = speech_sets.clip_settings("en-us+f3", "seven")
    assert a == speech_sets.clip_settings("en-us+f3", "seven")
    assert sorted(a) == sorted((s, p) for s in speech_sets.SPEEDS for p in speech_sets.PITCHES)
    firsts = {speech_sets.clip_settings(f"en-us+v{i}", w)[0] for i in range(20) for w in speech_sets.WORDS}
    assert {s for s, _ in firsts} == set(speech_sets.SPEEDS) and {p for _, p in firsts} == set(speech_sets.PITCHES)


@needs_espeak
def test_keywords_build_ignores_leftovers_and_is_never_half_used(cache, monkeypatch):
    target = cache / speech_sets.KEYWORDS_DIR
    (cache / f"{speech_sets.KEYWORDS_DIR}.tmp-killed").mkdir(parents=True)  # a killed build's leftover
    (target / "audio").mkdir(parents=True)  # a half-built folder: no manifest
    (target / "audio" / "junk.wav").write_bytes(b"junk")

    real = speech_sets._write_clip
    calls = {"n": 0}

    def dies_midway(*args):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(speech_sets, "_write_clip", dies_midway)
    with pytest.raises(KeyboardInterrupt):
        speech_sets.build_keywords(voices=VOICES[:1], words=WORDS, progress=False, workers=1)
    assert not (target / "manifest.csv").exists()
    assert [p.name for p in cache.glob("*.tmp-*")] == [f"{speech_sets.KEYWORDS_DIR}.tmp-killed"]

    monkeypatch.setattr(speech_sets, "_write_clip", real)
    root = speech_sets.build_keywords(voices=VOICES[:1], words=WORDS, progress=False)
    assert (root / "manifest.csv").is_file() and not (root / "audio" / "junk.wav").exists()
    assert len(speech_sets.keywords()) == len(WORDS)


@needs_espeak
def test_identical_variants_are_one_voice(cache):
    # klatt and klatt6 set the same synthesiser; fast only changes espeak-ng's fastest speeds.
    root = speech_sets.build_keywords(voices=["en-us+klatt", "en-us+klatt6"], words=["go"], progress=False)
    import json

    info = json.loads((root / "build.json").read_text())
    assert info["same_as"] == {"en-us+klatt6": "en-us+klatt"} and info["voices"] == 1


def test_missing_espeak_says_how_to_install(cache, monkeypatch):
    monkeypatch.setattr(speech_sets.shutil, "which", lambda name: None)
    with pytest.raises(DataError, match=r"sudo apt-get install espeak-ng.*brew install espeak-ng") as e:
        speech_sets.keywords()
    assert "\n" not in str(e.value)
    with pytest.raises(DataError, match="espeak-ng"):
        PACKAGED.get("keywords")()


def test_a_built_keywords_set_loads_without_espeak(cache, monkeypatch):
    root = cache / speech_sets.KEYWORDS_DIR
    (root / "audio" / "en-us+f3").mkdir(parents=True)
    sf.write(root / "audio" / "en-us+f3" / "go.wav", np.zeros(1600), 16_000, subtype="PCM_16")
    pd.DataFrame([{"file": "audio/en-us+f3/go.wav", "label": "go", "voice": "en-us+f3", "accent": "en-us",
                   "variant": "f3", "gender": "F", "speed": 150, "pitch": 50, "text": "go", "seconds": 0.1}]
                 ).to_csv(root / "manifest.csv", index=False)
    monkeypatch.setattr(speech_sets.shutil, "which", lambda name: None)
    frame = speech_sets.keywords()
    assert frame["label"].tolist() == ["go"] and frame["voice"].tolist() == ["en-us+f3"]


def test_import_and_other_sets_do_not_need_espeak():
    code = ("import justfit, justfit.data.packaged as p, justfit.catalogue.speech_sets as s, shutil; "
            "assert shutil.which('espeak-ng') is None; assert len(s.spokennumbers()) == 10")
    out = subprocess.run([sys.executable, "-c", code], env={"PATH": "/nonexistent"}, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_unknown_voice_or_word_is_a_data_error(cache):
    if shutil.which("espeak-ng") is not None:
        with pytest.raises(DataError, match="Unknown espeak-ng voice 'en-us\\+F3'"):
            speech_sets.build_keywords(voices=["en-us+F3"], progress=False)
    with pytest.raises(DataError, match="Unknown keyword 'seventeen'"):
        speech_sets.build_keywords(words=["seventeen"], progress=False)


def test_spokennumbers_labels_match_the_keywords_digits():
    frame = speech_sets.spokennumbers()
    assert frame["label"].tolist() == list(speech_sets.DIGITS)
    assert set(frame["speaker"]) == {"default"}
    assert (frame["sample_rate"] == 44_100).all() and all(Path(a).is_file() for a in frame["audio"])
    assert PACKAGED.get("spokennumbers")()["label"].tolist() == list(speech_sets.DIGITS)
    assert speech_sets.spokennumbers(letters=True)["label"].tolist()[-3:] == ["a", "b", "c"]


def _fake_pocketsphinx(root: Path) -> None:
    (root / "cards").mkdir(parents=True)
    (root / "cards" / "cards.transcription").write_text("<s> five five  </s> (001)\n<s> ten of clubs </s> (002)\n")
    for clip in ("001", "002"):
        sf.write(root / "cards" / f"{clip}.wav", np.zeros(16_000), 16_000, subtype="PCM_16")
    (root / "tidigits").mkdir()
    np.zeros(8_000, dtype="<i2").tofile(root / "tidigits" / "dhd.2934z.raw")


def test_pocketsphinx_from_the_cache_and_its_raw_clip(cache, monkeypatch):
    monkeypatch.setattr(speech_sets, "POCKETSPHINX_APT_DIR", cache / "nowhere")
    _fake_pocketsphinx(cache / "pocketsphinx-testdata")
    frame = PACKAGED.get("pocketsphinx")()
    assert frame["label"].tolist() == ["five five", "ten of clubs", "two nine three four zero"]
    assert frame["keywords"].tolist() == ["five five", "", "two nine three four zero"]
    raw = frame.iloc[-1]
    assert raw["original"].endswith("dhd.2934z.raw") and raw["original_format"] == speech_sets.RAW_FORMAT
    info = sf.info(raw["audio"])
    assert (info.samplerate, info.channels, raw["seconds"]) == (16_000, 1, 0.5)


def test_pocketsphinx_missing_gives_the_apt_command(cache, monkeypatch):
    monkeypatch.setattr(speech_sets, "POCKETSPHINX_APT_DIR", cache / "nowhere")
    with pytest.raises(DataError, match="sudo apt-get install pocketsphinx-testdata"):
        speech_sets.pocketsphinx()


REAL_POCKETSPHINX = next((p for p in (speech_sets.POCKETSPHINX_APT_DIR,
                                      Path.home() / ".cache/justfit/pocketsphinx-testdata/usr/share/pocketsphinx/test/data")
                          if (p / "cards" / "cards.transcription").is_file()), None)


@pytest.mark.skipif(REAL_POCKETSPHINX is None, reason="pocketsphinx-testdata is not installed")
def test_real_pocketsphinx_recordings(cache):
    frame = speech_sets.pocketsphinx(REAL_POCKETSPHINX)
    assert len(frame) == 12 and frame["source"].value_counts().to_dict() == {
        "cards": 5, "librivox": 5, "goforward": 1, "tidigits": 1}
    assert frame.loc[frame["source"] == "goforward", "keywords"].item() == "go"
    for a in frame["audio"]:
        info = sf.info(a)
        assert (info.samplerate, info.channels) == (16_000, 1)
