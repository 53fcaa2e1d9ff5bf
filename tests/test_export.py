"""ONNX export for every task, checked with onnxruntime against the PyTorch model."""

import numpy as np
import pytest

from justfit.cli.main import main


@pytest.fixture(scope="module")
def tiny_vit(tmp_path_factory):
    from justfit.catalogue.presets import build_tiny_vit

    return str(build_tiny_vit(tmp_path_factory.mktemp("tiny-vit")))


def _session(path):
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_text_models_export_and_agree(tiny_model, tmp_path, task):
    from justfit import Finetuner
    from justfit.export import export_onnx

    texts = [f"good {i}" if i % 2 else f"bad {i} day" for i in range(24)]
    y = [float(i % 7) + 0.5 * (i % 3) for i in range(24)] if task == "regression" else ["p", "n"] * 12
    ft = Finetuner(config={"task": task, "model": {"name": tiny_model},
                           "training": {"epochs": 1, "bf16": False, "train_eval_samples": 0}}).fit(texts, y)
    ft.save(tmp_path / "m")
    res = export_onnx(tmp_path / "m")
    assert res["path"] == str(tmp_path / "m" / "model.onnx") and res["max_difference"] <= 1e-4
    enc = ft.tokenizer_(["a much longer text than the examples were", "x"], padding=True, return_tensors="np")
    got = _session(res["path"]).run(["logits"], {k: enc[k] for k in res["inputs"]})[0]
    want = ft.decision_logits(["a much longer text than the examples were", "x"])
    assert np.allclose(got, want, atol=1e-4)  # other batch size and length than the traced ones


def test_image_model_exports_through_the_cli(tiny_vit, tmp_path, capsys):
    from justfit import Finetuner

    rng = np.random.default_rng(0)
    X = rng.integers(0, 255, (16, 12, 12, 3), dtype=np.uint8)
    ft = Finetuner(config={"model": {"name": tiny_vit}, "training": {"epochs": 1, "bf16": False,
                                                                      "train_eval_samples": 0}}).fit(X, ["a", "b"] * 8)
    ft.save(tmp_path / "m")
    assert main(["export", str(tmp_path / "m"), "-o", str(tmp_path / "out.onnx")]) == 0
    assert "onnxruntime agrees" in capsys.readouterr().out
    from justfit.tasks.image.task import decode_image

    pixels = np.stack([ft.processor_like(decode_image(x)) for x in X[:5]]) if hasattr(ft, "processor_like") else \
        ft.tokenizer_(images=[decode_image(x) for x in X[:5]], return_tensors="np")["pixel_values"]
    got = _session(tmp_path / "out.onnx").run(["logits"], {"pixel_values": pixels})[0]
    assert np.allclose(ft.task_.transform(got), ft.predict_proba(X[:5]), atol=1e-4)


@pytest.mark.parametrize(("argv", "message"), [
    (["export", "{tmp}/nope"], "does not exist"),
    (["export", "{tmp}", "--format", "tflite"], "Unknown export format"),
])
def test_export_bad_input_is_one_line(tmp_path, capsys, argv, message):
    assert main([a.format(tmp=tmp_path) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and message in err and "\n" not in err
