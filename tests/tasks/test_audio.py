"""Audio classification through the task seam: decoding, the data stage, fit/predict/save/load on tiny models."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from justfit.errors import DataError

SR = 16_000


def _tones(n=40, seconds=0.6, seed=0, sr=SR):
    """Planted clips: class 'low' is a 300 Hz tone, 'high' a 1,500 Hz one, each with noise and a jittered pitch."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(sr * seconds)) / sr
    X, y = [], []
    for i in range(n):
        f = (300 if i % 2 == 0 else 1500) * (1 + 0.03 * rng.standard_normal())
        X.append((0.3 * np.sin(2 * np.pi * f * t) + 0.02 * rng.standard_normal(len(t))).astype(np.float32))
        y.append("low" if i % 2 == 0 else "high")
    return X, np.array(y)


def _write(path, wave, sr=SR, subtype="PCM_16", channels=1):
    import soundfile as sf

    data = np.stack([wave] * channels, axis=1) if channels > 1 else wave
    sf.write(str(path), data, sr, subtype=subtype)
    return str(path)


@pytest.fixture(scope="module")
def tiny_whisper():
    from justfit.models.factory import resolve_model_name

    return resolve_model_name("tiny-whisper-random")


def test_decoding_mixes_to_mono_resamples_and_reads_every_subtype(tmp_path):
    from justfit.tasks.audio.sources import clip_info, decode_audio

    X, _ = _tones(n=1, seconds=1.0)
    wave = X[0]
    for subtype in ("PCM_16", "PCM_24", "FLOAT", "PCM_U8"):
        p = _write(tmp_path / f"{subtype}.wav", wave, subtype=subtype)
        got = decode_audio(p, SR)
        assert got.dtype == np.float32 and got.shape == wave.shape
        assert np.abs(got - wave).max() < (0.02 if subtype == "PCM_U8" else 1e-3)
    stereo = _write(tmp_path / "stereo.flac", wave, channels=2)
    assert decode_audio(stereo, SR).shape == wave.shape and clip_info(stereo).channels == 2
    for rate in (8_000, 48_000):  # resampled to the model's rate with soxr
        import soxr

        p = _write(tmp_path / f"r{rate}.ogg", soxr.resample(wave, SR, rate), sr=rate, subtype="VORBIS")
        got = decode_audio(p, SR)
        assert abs(len(got) - len(wave)) <= 2
        assert np.corrcoef(got[: len(wave) - 2], wave[: len(got)][: len(wave) - 2])[0, 1] > 0.9
    # Arrays: with their rate, cut to a window.
    got = decode_audio({"array": wave, "sampling_rate": SR}, 8_000, max_seconds=0.5)
    assert got.shape == (4_000,)


def test_only_the_window_kept_is_read_from_a_long_file(tmp_path):
    """An hour-long file costs the seconds the model hears: the centre window in evaluation, a random
    one (seeded) in training."""
    import soundfile as sf

    from justfit.tasks.audio.sources import clip_info, decode_audio

    path = tmp_path / "hour.wav"
    with sf.SoundFile(str(path), "w", samplerate=8_000, channels=1, subtype="PCM_16") as f:
        block = np.zeros(8_000 * 60, dtype=np.int16)
        for minute in range(60):
            f.write(block + minute)  # each minute a different constant level
    assert abs(clip_info(str(path)).seconds - 3600) < 1e-6
    centre = decode_audio(str(path), 8_000, max_seconds=2.0, window="center")
    assert centre.shape == (16_000,) and np.allclose(centre * 32768, 30, atol=1)
    a = decode_audio(str(path), 8_000, max_seconds=2.0, window="random", rng=np.random.default_rng(1))
    b = decode_audio(str(path), 8_000, max_seconds=2.0, window="random", rng=np.random.default_rng(1))
    assert np.array_equal(a, b)


@pytest.mark.parametrize("case", ["missing", "empty", "text", "truncated", "no-rate", "nan", "2d-bad"])
def test_unreadable_clips_are_one_line_errors(tmp_path, case):
    from justfit.tasks.audio.sources import decode_audio

    X, _ = _tones(n=1)
    if case == "missing":
        source = str(tmp_path / "nope.wav")
    elif case == "empty":
        (tmp_path / "e.wav").write_bytes(b"")
        source = str(tmp_path / "e.wav")
    elif case == "text":
        (tmp_path / "t.wav").write_text("this is not audio\n" * 50)
        source = str(tmp_path / "t.wav")
    elif case == "truncated":
        full = _write(tmp_path / "full.wav", X[0])
        raw = __import__("pathlib").Path(full).read_bytes()
        (tmp_path / "cut.wav").write_bytes(raw[:30])
        source = str(tmp_path / "cut.wav")
    elif case == "no-rate":
        source = X[0]
    elif case == "nan":
        source = {"array": np.full(100, np.nan, np.float32), "sampling_rate": SR}
    else:
        source = {"array": np.zeros((2, 3, 4), np.float32), "sampling_rate": SR}
    with pytest.raises(DataError) as err:
        decode_audio(source, SR)
    message = str(err.value)
    assert "\n" not in message
    assert {"missing": "does not exist", "empty": "empty", "text": "Cannot read", "truncated": "Cannot read",
            "no-rate": "sampling rate", "nan": "NaN", "2d-bad": "1-D"}[case] in message


def test_audio_arrays_infer_the_task_fit_predict_save_load_and_pipeline_agrees(tiny_whisper, tmp_path):
    from transformers import pipeline

    from justfit import Finetuner

    X, y = _tones(n=40)
    cfg = {"model": {"name": tiny_whisper}, "data": {"max_seconds": 1.0},
           "training": {"epochs": 3, "lr": 3e-3, "batch_size": 8, "bf16": False, "train_eval_samples": 0}}
    ft = Finetuner(config=cfg).fit(X, y, sampling_rate=SR)
    assert ft.task_.name == "audio-classification" and ft.classes_ == ["high", "low"]
    proba = ft.predict_proba(X[:6], sampling_rate=SR)
    assert proba.shape == (6, 2) and np.allclose(proba.sum(1), 1, atol=1e-5)
    assert (ft.predict(X) == y).mean() > 0.9  # the rate of the fit is the default
    assert ft.evaluate(X, y)["n"] == len(y)
    ft.save(tmp_path / "m")
    back = Finetuner.load(tmp_path / "m")
    assert back.task_.name == "audio-classification"
    assert np.allclose(back.predict_proba([{"array": x, "sampling_rate": SR} for x in X[:6]]), proba, atol=1e-5)
    clf = pipeline("audio-classification", model=str(tmp_path / "m"), top_k=None)
    got = clf([{"raw": x, "sampling_rate": SR} for x in X[:6]])
    hf = np.array([[next(d["score"] for d in row if d["label"] == c) for c in ft.classes_] for row in got])
    assert np.allclose(hf, proba, atol=1e-4)


def test_wav2vec2_preset_trains_on_files_at_other_rates(tmp_path):
    from justfit import Finetuner

    X, y = _tones(n=24, sr=8_000)
    paths = [_write(tmp_path / f"{i}.wav", x, sr=8_000) for i, x in enumerate(X)]
    ft = Finetuner(config={"model": {"name": "tiny-wav2vec2-random"}, "data": {"max_seconds": 1.0},
                           "training": {"epochs": 1, "bf16": False, "train_eval_samples": 0}}).fit(paths, y)
    assert ft.task_.name == "audio-classification" and ft.predict(paths[:3]).shape == (3,)


def test_a_folder_per_class_trains_and_flags_and_removes_with_the_reason(tiny_whisper, tmp_path):
    """Unreadable clips are removed with the reason, silence and clipping flagged, exact copies removed,
    an 8 kHz and a 48 kHz clip read side by side; the report embeds players for the worst test clips."""
    import soxr

    from justfit import finetune

    X, y = _tones(n=48, seconds=0.5)
    root = tmp_path / "clips"
    for i, (x, label) in enumerate(zip(X, y, strict=True)):
        (root / label).mkdir(parents=True, exist_ok=True)
        if i == 0:
            _write(root / label / f"{i}.wav", soxr.resample(x, SR, 8_000), sr=8_000)
        elif i == 1:
            _write(root / label / f"{i}.wav", soxr.resample(x, SR, 48_000), sr=48_000, subtype="PCM_24")
        else:
            _write(root / label / f"{i}.wav", x)
    (root / "low" / "broken.wav").write_text("not audio")
    (root / "low" / "empty.wav").write_bytes(b"")
    _write(root / "high" / "silent.wav", np.zeros(8_000, np.float32))
    _write(root / "high" / "loud.wav", np.clip(X[3] * 10, -1, 1))
    _write(root / "low" / "copy.wav", X[2])
    result = finetune({"data": {"path": str(root), "max_seconds": 1.0}, "model": {"name": tiny_whisper},
                       "training": {"epochs": 1, "bf16": False, "train_eval_samples": 0},
                       "quality": {"label_noise": "off"},
                       "output": {"dir": str(tmp_path / "runs"), "name": "a"}})
    run = Path(result.run_dir)
    removed = pd.read_csv(run / "removed.csv")
    by_rule = removed.groupby("rule")["text"].apply(lambda s: sorted(p.split("/")[-1] for p in s)).to_dict()
    assert by_rule["unreadable_audio"] == ["broken.wav", "empty.wav"]
    assert "copy.wav" in by_rule.get("exact_duplicate", []) + by_rule.get("leakage", [])
    flagged = pd.read_csv(run / "flagged.csv")
    rules = dict(zip(flagged["text"].map(lambda p: p.split("/")[-1]), flagged["rule"], strict=True))
    assert rules["silent.wav"] == "silent_audio" and rules["loud.wav"] == "clipped_audio"
    html = (run / "report.html").read_text()
    assert "data:audio/wav;base64," in html and "highest-loss test clips" in html
    assert "<script src=" not in html  # still one self-contained file


def test_a_table_of_clip_paths_and_a_group_column(tiny_whisper, tmp_path):
    """A CSV of clip paths relative to it; data.group_column keeps each speaker in one split; missing
    paths are all listed."""
    from justfit.data.io import load_table
    from justfit.data.splitting import split
    from justfit.tasks import get_task

    X, y = _tones(n=60, seconds=0.3)
    (tmp_path / "wavs").mkdir()
    rows = [{"file": f"wavs/{i}.wav", "word": label, "speaker": f"s{i % 12}"} for i, label in enumerate(y)]
    for i, x in enumerate(X):
        _write(tmp_path / "wavs" / f"{i}.wav", x)
    pd.DataFrame(rows).to_csv(tmp_path / "clips.csv", index=False)
    frame = load_table(tmp_path / "clips.csv", group_column="speaker").frame
    assert list(frame.columns) == ["audio", "label", "group"]
    s = split(frame, 0.2, 0.2, 0, task=get_task("audio-classification"))
    assert not set(s.train["group"]) & set(s.test["group"]) and not set(s.train["group"]) & set(s.validation["group"])
    pd.DataFrame(rows + [{"file": "wavs/gone1.wav", "word": "low", "speaker": "x"},
                         {"file": "wavs/gone2.wav", "word": "low", "speaker": "x"}]).to_csv(tmp_path / "bad.csv")
    with pytest.raises(DataError, match=r"2 audio path\(s\).*gone1\.wav.*gone2\.wav"):
        load_table(tmp_path / "bad.csv")


def test_near_duplicate_clips_by_log_mel_profile():
    """A copy at another gain, or with a little noise, is a near duplicate; another utterance is not."""
    from justfit.tasks.audio.task import audio_codec
    from justfit.tasks.media import clean_media

    X, y = _tones(n=6, seconds=0.8)
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"audio": [{"array": x, "sampling_rate": SR} for x in X]
                          + [{"array": X[0] * 0.5, "sampling_rate": SR},
                             {"array": X[1] + 0.002 * rng.standard_normal(len(X[1])).astype(np.float32),
                              "sampling_rate": SR}],
                          "label": list(y) + [y[0], y[1]]})
    report = clean_media(frame, ["exact_duplicate", "near_duplicate"], audio_codec())
    assert sorted(report.removed["row"]) == [6, 7]
    assert set(report.removed["rule"]) == {"near_duplicate"}


def test_head_only_training_on_cached_encoder_outputs_matches_the_full_forward(tiny_whisper):
    from justfit import Finetuner

    X, y = _tones(n=24)
    runs = {}
    for cache in (True, False):
        cfg = {"model": {"name": tiny_whisper, "freeze": "backbone", "cache_features": cache},
               "data": {"max_seconds": 1.0},
               "training": {"epochs": 2, "lr": 1e-3, "bf16": False, "train_eval_samples": 0, "seed": 3}}
        runs[cache] = Finetuner(config=cfg).fit(X, y, sampling_rate=SR)
    assert runs[True].feature_cache_.get("equivalent") is True and not runs[False].feature_cache_
    assert np.allclose(runs[True].predict_proba(X[:8]), runs[False].predict_proba(X[:8]), atol=1e-4)


def test_training_windows_and_augmentation_are_deterministic_and_change_by_epoch(tiny_whisper):
    from justfit.config import JustfitConfig
    from justfit.tasks.audio.models import load_audio_model
    from justfit.tasks.audio.task import AudioClassificationStep, AudioClassificationTask

    X, y = _tones(n=4, seconds=2.0)
    cfg = JustfitConfig.from_dict({"data": {"max_seconds": 1.0}, "augment": {"ops": ["gain", "noise"], "p": 1.0}})
    model, processor, _ = load_audio_model(tiny_whisper, ["high", "low"], max_seconds=1.0)
    step = AudioClassificationStep(processor, 1.0, source_rate=SR)
    task = AudioClassificationTask().fit(list(y))
    ds, augmented = task.train_dataset(cfg, step, model, processor, X, [0, 1, 0, 1], None)
    assert augmented
    ds.set_epoch(1)
    a = ds.waveform(0)
    assert np.array_equal(a, ds.waveform(0)) and a.shape == (SR,)
    ds.set_epoch(2)
    assert not np.array_equal(a, ds.waveform(0))
    probe = ds.subset([0])  # the training probe hears the plain centre window
    assert np.array_equal(probe.waveform(0), step.decode(X[0]))


def test_audio_augmentations_are_refused_for_images_and_images_for_audio(tiny_whisper):
    from justfit import Finetuner
    from justfit.errors import ConfigError

    X, y = _tones(n=12)
    with pytest.raises(ConfigError, match="image augmentation"):
        Finetuner(config={"model": {"name": tiny_whisper}, "augment": {"ops": ["hflip"]},
                          "training": {"epochs": 1, "bf16": False}}).fit(X, y, sampling_rate=SR)


def test_the_keywords_set_is_split_by_voice(tmp_path):
    """The packaged keywords frame names its group (the voice's timbre); justfit's split keeps every
    voice on one side. Built here on a subset (the full set takes minutes)."""
    import shutil

    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    from justfit.catalogue.speech_sets import build_keywords, espeak_voices, keywords
    from justfit.data.io import table_frame, table_spec
    from justfit.data.splitting import split
    from justfit.tasks import get_task

    voices = [v.name for v in espeak_voices() if v.accent in ("en-us", "en-gb")][:40]
    build_keywords(tmp_path / "kw", voices=voices, words=["yes", "no", "up"], progress=False)
    raw = keywords(tmp_path / "kw")
    frame = table_frame(raw, table_spec(raw, None, None, where="keywords"), None, "keywords")
    assert list(frame.columns) == ["audio", "label", "group"] and frame["label"].nunique() == 3
    s = split(frame, 0.2, 0.2, 42, task=get_task("audio-classification"))
    assert not set(s.train["group"]) & set(s.test["group"])
    assert not set(s.train["group"]) & set(s.validation["group"])
    assert s.test["label"].nunique() == 3


@pytest.mark.parametrize("settings", [
    {"training": {"recipe": "gradual_unfreeze", "head_epochs": 1, "epochs": 2}},
    {"training": {"recipe": "ulmfit", "epochs": 3}},
    {"model": {"freeze": "bottom:1"}, "training": {"layer_decay": 0.8, "epochs": 1}},
])
def test_recipes_partial_freezing_and_layer_decay_work_for_audio(tiny_whisper, settings):
    from justfit import Finetuner

    X, y = _tones(n=24)
    cfg = {"model": {"name": tiny_whisper, **settings.get("model", {})}, "data": {"max_seconds": 1.0},
           "training": {"bf16": False, "train_eval_samples": 0, **settings["training"]}}
    ft = Finetuner(config=cfg).fit(X, y, sampling_rate=SR)
    assert ft.predict(X[:4]).shape == (4,) and len(ft.history_.records) >= 1


def test_the_learning_rate_finder_works_for_audio(tiny_whisper):
    from justfit import Finetuner

    X, y = _tones(n=32)
    ft = Finetuner(config={"model": {"name": tiny_whisper}, "data": {"max_seconds": 1.0, "sampling_rate": SR},
                           "training": {"bf16": False}})
    result = ft.lr_find(X, y)
    assert len(result.lrs) == len(result.losses) > 5


def test_audio_models_export_to_onnx_and_agree(tiny_whisper, tmp_path):
    from justfit import Finetuner
    from justfit.export import export_onnx

    X, y = _tones(n=16)
    ft = Finetuner(config={"model": {"name": tiny_whisper}, "data": {"max_seconds": 1.0},
                           "training": {"epochs": 1, "bf16": False, "train_eval_samples": 0}}).fit(X, y, sampling_rate=SR)
    ft.save(tmp_path / "m")
    out = export_onnx(tmp_path / "m")
    assert Path(out["path"]).exists() and out["max_difference"] <= 1e-4


def _tiny_checkpoint(kind, path):
    import torch

    torch.manual_seed(0)
    if kind == "ast":
        from transformers import ASTConfig, ASTFeatureExtractor, ASTForAudioClassification

        config = ASTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
                           max_length=128, num_mel_bins=32, frequency_stride=16, time_stride=16)
        ASTForAudioClassification(config).save_pretrained(path)
        ASTFeatureExtractor(num_mel_bins=32, max_length=128).save_pretrained(path)
    else:
        from transformers import HubertConfig, HubertForSequenceClassification, Wav2Vec2FeatureExtractor

        config = HubertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
                              conv_dim=(32, 32, 32), conv_stride=(5, 4, 4), conv_kernel=(10, 8, 8),
                              num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2, classifier_proj_size=16,
                              vocab_size=8)
        HubertForSequenceClassification(config).save_pretrained(path)
        Wav2Vec2FeatureExtractor(return_attention_mask=True).save_pretrained(path)
    return str(path)


@pytest.mark.parametrize("kind", ["ast", "hubert"])
def test_other_audio_architectures_train_and_save(kind, tmp_path):
    """Any AutoModelForAudioClassification checkpoint with its feature extractor: an AST (log-mel patches)
    and a HuBERT (raw waveform) as well as Whisper and wav2vec2."""
    from justfit import Finetuner

    X, y = _tones(n=16)
    ft = Finetuner(config={"model": {"name": _tiny_checkpoint(kind, tmp_path / kind)}, "data": {"max_seconds": 1.0},
                           "training": {"epochs": 1, "bf16": False, "train_eval_samples": 0}}).fit(X, y, sampling_rate=SR)
    proba = ft.predict_proba(X[:3])
    ft.save(tmp_path / "m")
    assert np.allclose(Finetuner.load(tmp_path / "m").predict_proba(X[:3]), proba, atol=1e-5)


def test_mp3_clips_are_read_where_libsndfile_reads_them(tmp_path):
    import soundfile as sf

    from justfit.tasks.audio.sources import decode_audio

    if "MP3" not in sf.available_formats():
        pytest.skip("this libsndfile reads no MP3")
    X, _ = _tones(n=1, seconds=1.0)
    sf.write(str(tmp_path / "a.mp3"), X[0], SR, format="MP3")
    got = decode_audio(str(tmp_path / "a.mp3"), SR)
    assert abs(len(got) - SR) < SR * 0.1 and np.abs(got).max() > 0.1


def test_odd_audio_arguments_to_the_api_are_read_or_refused_in_one_line(tiny_whisper):
    """Stereo arrays with a rate are audio, not images; {'array'} items without a rate are audio that
    says what is missing; a bad rate is a ConfigError; one bare waveform predicts as one clip."""
    from justfit import Finetuner
    from justfit.errors import ConfigError

    X, y = _tones(n=16)
    cfg = {"model": {"name": tiny_whisper}, "data": {"max_seconds": 1.0},
           "training": {"epochs": 1, "bf16": False, "train_eval_samples": 0}}
    stereo = [np.stack([x, x]) for x in X]
    ft = Finetuner(config=cfg).fit(stereo, y, sampling_rate=SR)
    assert ft.task_.name == "audio-classification"
    assert ft.predict(X[0]).shape == (1,)
    with pytest.raises(DataError, match="sampling rate"):
        Finetuner(config=cfg).fit([{"array": x} for x in X], y)
    with pytest.raises(ConfigError, match="sampling_rate"):
        Finetuner(config=cfg).fit(X, y, sampling_rate="16k")
    with pytest.raises(ConfigError, match="sampling_rate"):
        ft.predict(X[:2], sampling_rate="16k")


def test_a_datasets_folder_with_an_audio_feature(tiny_whisper, tmp_path):
    """A save_to_disk folder whose Audio column holds embedded bytes trains as audio; so do cells of
    bytes without a path (told from images by their header)."""
    import io

    import soundfile as sf
    from datasets import Audio, ClassLabel, Dataset
    from datasets.table import embed_table_storage

    from justfit import Finetuner
    from justfit.data.io import load_table
    from justfit.data.media import AUDIO, media_column

    X, y = _tones(n=24)
    paths = [_write(tmp_path / f"{i}.wav", x) for i, x in enumerate(X)]
    ds = Dataset.from_dict({"audio": paths, "label": [int(v == "high") for v in y]})
    ds = ds.cast_column("audio", Audio()).cast_column("label", ClassLabel(names=["low", "high"]))
    ds = ds.with_format("arrow").map(embed_table_storage, batched=True).with_format(None)
    ds.save_to_disk(str(tmp_path / "ds"))
    frame = load_table(tmp_path / "ds").frame
    assert list(frame.columns) == ["audio", "label"] and set(frame["label"]) == {"low", "high"}
    ft = Finetuner(config={"model": {"name": tiny_whisper}, "data": {"max_seconds": 1.0},
                           "training": {"epochs": 1, "bf16": False, "train_eval_samples": 0}}).fit(str(tmp_path / "ds"))
    assert ft.task_.name == "audio-classification"
    buf = io.BytesIO()
    sf.write(buf, X[0], SR, format="WAV")
    bare = pd.DataFrame({"clip": [{"bytes": buf.getvalue(), "path": None}] * 3, "label": ["a", "b", "a"]})
    assert media_column(bare) == ("clip", AUDIO)
