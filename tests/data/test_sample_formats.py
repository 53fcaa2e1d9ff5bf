"""Audio sample formats and image value ranges are read as their format defines, or refused in one line.

Audio: every integer PCM width and float, as arrays and as files, agree with each other and with the
signal written; a file cut short of its header is refused as truncated. Images: a float range is
decided once for the arrays given together; 16-bit images keep their range.
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib

import numpy as np
import pytest

from justfit.errors import DataError

SR = 8_000


def _tone(n: int = 2_000, peak: float = 0.9) -> np.ndarray:
    return (peak * np.sin(np.linspace(0, 60 * np.pi, n))).astype(np.float32)


def _cell(a: np.ndarray) -> dict:
    return {"array": a, "sampling_rate": SR}


# --- audio arrays ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("dtype", "samples", "expected"), [
    (np.uint8, [0, 128, 255, 64], [-1.0, 0.0, 127 / 128, -0.5]),            # unsigned, 128 is silence
    (np.int8, [-128, 0, 127, 64], [-1.0, 0.0, 127 / 128, 0.5]),
    (np.int16, [-32768, 0, 32767, 16384], [-1.0, 0.0, 32767 / 32768, 0.5]),
    (np.int32, [-2**31, 0, 2**31 - 1, 2**30], [-1.0, 0.0, 1.0, 0.5]),
    (np.int32, [-(2**23) << 8, 0, (2**23 - 1) << 8, (2**22) << 8], [-1.0, 0.0, 1 - 2**-23, 0.5]),  # 24-bit, left-justified
    (">i2", [-32768, 0, 16384, -16384], [-1.0, 0.0, 0.5, -0.5]),           # big-endian int16 (AIFF's order)
    (np.float32, [-1.0, 0.0, 1.0, 0.25], [-1.0, 0.0, 1.0, 0.25]),
    (np.float64, [-0.5, 0.0, 0.75, 1.0], [-0.5, 0.0, 0.75, 1.0]),
    (np.float16, [-0.5, 0.0, 0.75, 1.0], [-0.5, 0.0, 0.75, 1.0]),
])
def test_each_array_sample_format_decodes_as_it_defines(dtype, samples, expected):
    from justfit.tasks.audio.sources import decode_audio, pcm_to_float

    a = np.array(samples, dtype=dtype)
    assert np.allclose(pcm_to_float(a), expected, atol=1e-7)
    got = decode_audio(_cell(np.repeat(a, 4)), SR)
    assert got.dtype == np.float32 and np.allclose(got, np.repeat(expected, 4), atol=1e-7)


def test_8bit_silence_is_silence_not_a_dc_offset():
    from justfit.tasks.audio.sources import decode_audio

    silent = decode_audio(_cell(np.full(800, 128, np.uint8)), SR)
    assert np.abs(silent).max() == 0.0  # read as x / 255 it was +0.5 throughout
    tone = _tone(800)
    as_u8 = np.clip(np.round(tone * 128) + 128, 0, 255).astype(np.uint8)
    got = decode_audio(_cell(as_u8), SR)
    assert abs(float(got.mean()) - float(tone.mean())) < 1 / 128 and np.abs(got - tone).max() <= 0.5 / 128


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.int32])
def test_multichannel_integer_arrays_are_scaled_before_the_channels_are_mixed(dtype):
    from justfit.tasks.audio.sources import decode_audio, pcm_to_float

    rng = np.random.default_rng(0)
    info = np.iinfo(dtype)
    stereo = rng.integers(info.min, info.max, (2, 1_000), dtype=dtype, endpoint=True)
    expected = pcm_to_float(stereo).mean(axis=0)
    assert np.allclose(decode_audio(_cell(stereo), SR), expected, atol=1e-7)
    assert np.allclose(decode_audio(_cell(stereo.T.copy()), SR), expected, atol=1e-7)  # (samples, channels)


@pytest.mark.parametrize(("samples", "named"), [
    (np.array([0, 1000, -1000]), "int64"),                    # a list of Python ints: its width is not known
    (np.array([0, 1000], np.uint16), "uint16"),
    (np.array([0, 1000], np.uint32), "uint32"),
    (np.array([True, False]), "bool"),
    (np.array([0.1 + 0.2j, 0.0]), "complex128"),
    (np.array([0.1, "x"], dtype=object), "object"),
    (np.array([0.5, 1.5, -0.2], np.float32), "1.5"),          # floats outside [-1, 1]
    (np.array([0.5, -3000.0]), "3000"),                        # int16 values stored as floats
    (np.array([0.5, np.nan], np.float32), "NaN"),
])
def test_arrays_outside_every_sample_format_are_refused_in_one_line(samples, named):
    from justfit.tasks.audio.sources import clip_info, decode_audio

    for call in (lambda: decode_audio(_cell(samples), SR), lambda: clip_info(samples, SR)):
        with pytest.raises(DataError) as err:
            call()
        assert named in str(err.value) and "\n" not in str(err.value)


def test_integer_background_clips_are_read_by_their_format():
    from justfit.tasks.audio.augment import _pool

    tone = _tone(1_000, peak=0.5)
    pool = _pool([(np.round(tone * 128) + 128).astype(np.uint8), np.round(tone * 32768).astype(np.int16)])
    for clip in pool.clips:
        assert clip.dtype == np.float32 and np.abs(clip - tone).max() <= 0.5 / 128


# --- audio files against arrays ----------------------------------------------------------------------

# WAV subtype -> one quantisation step of its format.
WAV_STEPS = {"PCM_U8": 2**-7, "PCM_16": 2**-15, "PCM_24": 2**-23, "PCM_32": 2**-31, "FLOAT": 0.0, "DOUBLE": 0.0}


@pytest.mark.parametrize("subtype", list(WAV_STEPS))
def test_a_wav_file_and_its_array_decode_alike_for_every_subtype(tmp_path, subtype):
    import scipy.io.wavfile
    import soundfile as sf

    from justfit.tasks.audio.sources import clip_info, decode_audio

    tone = _tone()
    path = str(tmp_path / f"{subtype}.wav")
    sf.write(path, tone, SR, subtype=subtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scipy.io.wavfile.WavFileWarning)  # libsndfile's PEAK chunk
        rate, array = scipy.io.wavfile.read(path)  # uint8 / int16 / int32 (24-bit left-justified) / float32 / float64
    step = WAV_STEPS[subtype]
    from_file, from_array = decode_audio(path, SR), decode_audio(_cell(array), rate)
    assert clip_info(path).subtype == subtype and len(from_file) == len(tone)
    assert np.abs(from_file - from_array).max() <= step + 1e-7
    assert np.abs(from_file - tone).max() <= step + 1e-7  # both are the signal written, not equally wrong


def test_8bit_signed_pcm_file_and_array_agree(tmp_path):
    # WAV has no signed 8-bit PCM (libsndfile refuses the combination): AIFF stores 8 bits signed.
    import soundfile as sf

    from justfit.tasks.audio.sources import decode_audio

    with pytest.raises(ValueError, match="Invalid combination"):
        sf.write(str(tmp_path / "s8.wav"), _tone(), SR, subtype="PCM_S8")
    path = str(tmp_path / "s8.aiff")
    tone = _tone()
    sf.write(path, tone, SR, format="AIFF", subtype="PCM_S8")
    as_int8 = (sf.read(path, dtype="int16")[0] >> 8).astype(np.int8)  # the 8 bits, left-justified in int16
    from_file, from_array = decode_audio(path, SR), decode_audio(_cell(as_int8), SR)
    assert np.abs(from_file - from_array).max() <= 2**-7
    assert np.abs(from_file - tone).max() <= 2**-7


def test_float_files_outside_full_scale_are_refused_like_float_arrays(tmp_path):
    import soundfile as sf

    from justfit.tasks.audio.sources import decode_audio

    path = str(tmp_path / "overs.wav")
    sf.write(path, _tone(peak=1.5), SR, subtype="FLOAT")
    with pytest.raises(DataError, match=r"overs\.wav.*up to 1\.5, outside \[-1, 1\]"):
        decode_audio(path, SR)


# --- truncated files -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("fmt", "subtype", "suffix"), [
    ("WAV", "PCM_16", "wav"), ("WAV", "PCM_24", "wav"), ("WAV", "FLOAT", "wav"), ("WAV", "PCM_U8", "wav"),
    ("RF64", "PCM_16", "rf64"), ("AIFF", "PCM_16", "aiff"), ("FLAC", "PCM_16", "flac"),
])
def test_a_file_cut_short_of_its_header_is_refused_as_truncated(tmp_path, fmt, subtype, suffix):
    import soundfile as sf

    from justfit.tasks.audio.sources import clip_info, decode_audio

    full = tmp_path / f"full.{suffix}"
    sf.write(str(full), np.random.default_rng(0).uniform(-0.5, 0.5, 8_000).astype(np.float32), SR,
             format=fmt, subtype=subtype)
    raw = full.read_bytes()
    cut = tmp_path / f"cut.{suffix}"
    cut.write_bytes(raw[: len(raw) * 2 // 3])
    assert len(decode_audio(str(full), SR)) == 8_000
    for source, name in ((str(cut), "cut." + suffix), ({"bytes": cut.read_bytes(), "path": None}, "<audio bytes>")):
        calls = [lambda s=source: decode_audio(s, SR)]
        if fmt != "FLAC":  # a FLAC header is read without decoding; libsndfile fails on the cut stream itself
            calls.append(lambda s=source: clip_info(s))
        for call in calls:
            with pytest.raises(DataError) as err:
                call()
            message = str(err.value)
            assert name in message and "\n" not in message
            assert "truncated" in message or fmt == "FLAC"


def test_headers_that_leave_the_length_open_or_carry_more_chunks_are_read(tmp_path):
    import soundfile as sf

    from justfit.tasks.audio.sources import declared_frames, decode_audio

    path = tmp_path / "a.wav"
    sf.write(str(path), _tone(), SR, subtype="PCM_16")
    raw = bytearray(path.read_bytes())
    at = raw.index(b"data")
    assert declared_frames(str(path)) == len(_tone())
    streamed = bytearray(raw)
    streamed[at + 4:at + 8] = b"\xff\xff\xff\xff"  # what a writer on a pipe leaves: length not declared
    assert declared_frames(io.BytesIO(bytes(streamed))) is None
    assert len(decode_audio(bytes(streamed), SR)) == len(_tone())
    padded = bytes(raw) + b"LIST" + struct.pack("<I", 4) + b"INFO"  # a chunk after the data
    assert len(decode_audio(padded, SR)) == len(_tone())


# --- images --------------------------------------------------------------------------------------------

def test_a_float_range_is_decided_once_for_the_arrays_given_together():
    from justfit.tasks.image.sources import image_inputs

    rng = np.random.default_rng(0)
    bright = rng.uniform(0, 1, (6, 5, 3))
    dark = rng.uniform(0, 0.2, (6, 5, 3))  # a dark [0, 1] image: max 0.2
    unit = image_inputs([bright, dark])
    assert np.array_equal(unit[1], np.round(dark * 255).astype(np.uint8))  # scaled as its neighbour, not stretched
    levels = image_inputs([bright * 255, dark])  # a 0-255 set: its dark image (max 0.2 of 255) stays near black
    assert np.array_equal(levels[0], np.round(bright * 255).astype(np.uint8)) and levels[1].max() == 0
    # The same set read alone, image by image, would disagree with itself: that is what the set prevents.
    assert image_inputs([dark])[0].max() == np.round(dark.max() * 255)


def test_every_way_of_giving_images_together_uses_the_one_range():
    import pandas as pd
    from PIL import Image

    from justfit.data.inputs import as_inputs, image_batch
    from justfit.data.media import IMAGE, media_frame

    rng = np.random.default_rng(1)
    X = rng.uniform(0, 255, (4, 6, 5))
    X[2] = rng.uniform(0, 0.9, (6, 5))  # one dark image of a 0-255 set
    expected = np.round(X).astype(np.uint8)
    assert np.array_equal(image_batch(X), expected)
    assert all(np.array_equal(a, e) for a, e in zip(as_inputs(list(X), "image"), expected, strict=True))
    frame = media_frame(pd.DataFrame({"image": list(X), "label": list("abab")}), "image", "label", None, "the table",
                        IMAGE)
    assert all(np.array_equal(a, e) for a, e in zip(frame["image"], expected, strict=True))
    pil = [Image.fromarray(x.astype(np.float32), mode="F") for x in X]  # 32-bit float PIL images count as arrays
    assert all(np.array_equal(a, e) for a, e in zip(as_inputs(pil, "image"), expected, strict=True))


@pytest.mark.parametrize(("images", "named"), [
    ([np.full((3, 3), 0.5), np.full((3, 3), 1.3)], "1.3"),         # above 1, below 2: neither range
    ([np.full((3, 3), 0.5), np.full((3, 3), 300.0)], "300"),
    ([np.full((3, 3), 0.5), np.full((3, 3), -0.1)], "-0.1"),       # normalised pixels
    ([np.full((3, 3), np.nan)], "NaN"),
    ([np.full((3, 3), 256, np.int64)], "int64"),                    # 16-bit values in a wide integer
    ([np.full((3, 3), -1, np.int16)], "int16"),
    ([np.full((3, 3), 1 + 1j)], "complex128"),
])
def test_image_values_outside_every_range_are_refused_in_one_line(images, named):
    from justfit.tasks.image.sources import image_inputs
    from justfit.tasks.image.task import decode_image

    with pytest.raises(DataError) as err:
        image_inputs(images)
    assert named in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(DataError, match="image array"):
        decode_image(images[-1])


def test_integer_and_bool_image_arrays_decode_by_their_dtype():
    from justfit.tasks.image.sources import image_inputs

    got = image_inputs([np.array([[0, 1, 200]], np.int64), np.array([[0, 257 * 100, 65535]], np.uint16),
                        np.array([[False, True, True]]), np.array([[0, 1, 255]], np.uint8)])
    assert [g.tolist() for g in got] == [[[0, 1, 200]], [[0, 100, 255]], [[0, 255, 255]], [[0, 1, 255]]]
    assert all(g.dtype == np.uint8 for g in got)


def test_16bit_grey_png_keeps_its_range(tmp_path):
    from PIL import Image

    from justfit.tasks.image.task import _raw_mode, decode_image

    values = np.array([[0, 257 * 64, 257 * 128, 65535], [0, 100, 200, 255]], np.uint16)  # 2nd row: dark 16-bit
    path = tmp_path / "grey16.png"
    Image.fromarray(values).save(path)
    with Image.open(path) as opened:
        assert opened.mode.startswith("I") and _raw_mode(opened) == "I;16B"  # what the file says: 16 bits
    got = np.asarray(decode_image(str(path), channels=1))
    assert got[0].tolist() == [0, 64, 128, 255]
    assert got[1].tolist() == [0, 0, 1, 1]  # 255 of 65535 is near black, not white
    assert np.asarray(decode_image(str(path)))[0, 3].tolist() == [255, 255, 255]


def _png_rgb16(path, pixels: np.ndarray) -> None:
    """A 16-bit-per-channel RGB PNG (colour type 2, bit depth 16; Pillow does not write one)."""
    h, w, _ = pixels.shape
    rows = b"".join(b"\x00" + pixels[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def test_16bit_colour_png_keeps_its_range(tmp_path):
    from justfit.tasks.image.task import decode_image

    pixels = np.array([[[65535, 0, 257 * 128], [257 * 10, 65535, 0]]], np.uint16)
    _png_rgb16(tmp_path / "rgb16.png", pixels)
    got = np.asarray(decode_image(str(tmp_path / "rgb16.png")))
    assert got.tolist() == [[[255, 0, 128], [10, 255, 0]]]


def test_32bit_images_read_as_arrays_and_float_files_are_refused(tmp_path):
    from PIL import Image

    from justfit.tasks.image.task import decode_image

    levels = Image.fromarray(np.array([[0, 100, 255]], np.int32))  # mode I: integers are 0-255 levels
    assert np.asarray(decode_image(levels, channels=1)).tolist() == [[0, 100, 255]]
    with pytest.raises(DataError, match="int32"):
        decode_image(Image.fromarray(np.array([[0, 4000]], np.int32)))
    Image.fromarray(np.array([[0.0, 0.5]], np.float32), mode="F").save(tmp_path / "f.tif")
    with pytest.raises(DataError, match=r"f\.tif.*float pixels"):
        decode_image(str(tmp_path / "f.tif"))
