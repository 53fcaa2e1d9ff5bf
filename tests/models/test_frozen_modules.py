"""A frozen module is frozen in every respect, decided per module: BatchNorm statistics and dropout in
frozen blocks stay fixed whatever later train() calls, recipe stages, LoRA or a resume do."""

import copy
import pickle
import shutil

import numpy as np
import pytest
import torch
from torch import nn

from justfit.models.freezing import apply_freeze, is_frozen, keep_frozen_fixed
from justfit.training import Callback

STATS = ("running_mean", "running_var", "num_batches_tracked")
FROZEN_BY_BOTTOM_1 = ("resnet.embedder.", "resnet.encoder.stages.0.")  # bottom:1 of a 3-stage ResNet


@pytest.fixture(scope="module")
def tiny_resnet(tmp_path_factory):
    """A random 3-stage ResNet (BatchNorm after every convolution) on 32 x 32 images, saved with its
    image processor like any checkpoint; returns ``(folder, its state_dict)``."""
    from transformers import ResNetConfig, ResNetForImageClassification

    from justfit.tasks.image.models import vit_processor

    path = tmp_path_factory.mktemp("tiny-resnet")
    torch.manual_seed(0)
    config = ResNetConfig(num_channels=3, embedding_size=8, hidden_sizes=[8, 8, 8], depths=[1, 1, 1],
                          layer_type="basic", num_labels=2)
    model = ResNetForImageClassification(config)
    model.save_pretrained(path)
    vit_processor(32).save_pretrained(path)
    return str(path), {k: v.clone() for k, v in model.state_dict().items()}


def _images(n=48, seed=0):
    rng = np.random.default_rng(seed)
    y = np.array(["bright", "dark"] * (n // 2))
    X = np.where(y[:, None, None, None] == "bright", 200, 40) + rng.integers(-30, 30, (n, 32, 32, 3))
    return np.clip(X, 0, 255).astype(np.uint8), y


def _config(folder, **model):
    return {"model": {"name": folder, **model},
            "training": {"epochs": 1, "batch_size": 8, "lr": 1e-2, "bf16": False, "train_eval_samples": 0}}


def _stats(state):
    return {k: v for k, v in state.items() if k.endswith(STATS)}


def _changed(before, after):
    return {k for k, v in _stats(before).items() if not torch.equal(v, after[k])}


class _Modes(Callback):
    """Records, at each stage's first batch, which BatchNorm layers are in training mode, and at each
    stage's end a copy of the BatchNorm statistics."""

    def __init__(self):
        self.training, self.stats = [], []

    def on_batch_begin(self, trainer, step):
        if step == 1:
            self.training.append({n for n, m in trainer.model.named_modules()
                                  if isinstance(m, nn.BatchNorm2d) and m.training})

    def on_fit_end(self, trainer):
        self.stats.append({k: v.clone() for k, v in _stats(trainer.model.state_dict()).items()})


@pytest.fixture(scope="module")
def bottom_1(tiny_resnet):
    from justfit import Finetuner

    folder, _ = tiny_resnet
    modes = _Modes()
    ft = Finetuner(config=_config(folder, freeze="bottom:1")).fit(*_images(), callbacks=[modes])
    return ft, modes


def test_bottom_k_keeps_every_batchnorm_statistic_of_the_frozen_layers(tiny_resnet, bottom_1):
    _, pretrained = tiny_resnet
    ft, modes = bottom_1
    changed = _changed(pretrained, ft.model_.state_dict())
    frozen = {k for k in _stats(pretrained) if k.startswith(FROZEN_BY_BOTTOM_1)}
    assert frozen and not changed & frozen
    assert changed == set(_stats(pretrained)) - frozen  # every statistic of the trained stages moved
    # While training, the frozen part's BatchNorm layers ran in eval mode, the rest in training mode.
    bn = {n for n, m in ft.model_.named_modules() if isinstance(m, nn.BatchNorm2d)}
    assert modes.training == [{n for n in bn if not n.startswith(FROZEN_BY_BOTTOM_1)}]


def test_the_saved_models_frozen_part_is_the_pretrained_one_bit_for_bit(tiny_resnet, bottom_1, tmp_path):
    from safetensors.torch import load_file

    _, pretrained = tiny_resnet
    ft, _ = bottom_1
    folder = ft.save(tmp_path / "saved")
    saved = {}
    for f in sorted(folder.glob("*.safetensors")):
        saved.update(load_file(str(f)))
    frozen = [k for k in pretrained if k.startswith(FROZEN_BY_BOTTOM_1)]
    assert len(frozen) > 10 and all(torch.equal(saved[k], pretrained[k]) for k in frozen)
    trained = [k for k in pretrained if k.startswith("resnet.encoder.stages.2.") and k.endswith(".weight")]
    assert any(not torch.equal(saved[k], pretrained[k]) for k in trained)


def test_each_unfreezing_stage_brings_its_layers_back_to_training(tiny_resnet):
    from justfit import Finetuner

    folder, pretrained = tiny_resnet
    modes = _Modes()
    cfg = _config(folder)
    cfg["training"] |= {"recipe": "ulmfit", "head_epochs": 1}
    ft = Finetuner(config=cfg).fit(*_images(), callbacks=[modes])
    assert [r["stage"] for r in ft.history_.records] == ["head", "top1", "top2", "all"]
    before = [pretrained, *modes.stats[:-1]]
    changed = [{k.split(".layers")[0] for k in _changed(b, a)} for b, a in zip(before, modes.stats, strict=True)]
    stages = [f"resnet.encoder.stages.{i}" for i in range(3)]
    # head alone: nothing; top third (bottom:2): stage 2; top two thirds: stages 1 and 2; then all of it again.
    assert changed[0] == set()
    assert changed[1] == {stages[2]}
    assert changed[2] == {stages[1], stages[2]}
    assert changed[3] == {*stages, "resnet.embedder.embedder.normalization.running_mean",
                          "resnet.embedder.embedder.normalization.running_var",
                          "resnet.embedder.embedder.normalization.num_batches_tracked"}


def test_lora_on_a_batchnorm_model_keeps_the_statistics(tiny_resnet):
    from justfit import Finetuner

    folder, pretrained = tiny_resnet
    ft = Finetuner(config=_config(folder, strategy="lora", lora_targets=["convolution"])).fit(*_images())
    after = ft.model_.state_dict()  # merged: the plain ResNet
    assert not _changed(pretrained, after)
    assert any(not torch.equal(after[k], pretrained[k]) for k in pretrained if k.endswith("convolution.weight"))


def test_a_resumed_fit_keeps_the_frozen_statistics_and_ends_as_the_uninterrupted_one(tiny_resnet, tmp_path):
    from justfit import Finetuner
    from justfit.training.callbacks.checkpoint import checkpoints_in
    from justfit.training.fit import Checkpointing

    folder, pretrained = tiny_resnet
    cfg = _config(folder, freeze="bottom:1")
    cfg["training"]["epochs"] = 2
    X, y = _images()
    whole = Finetuner(config=cfg).fit(X, y, checkpointing=Checkpointing(tmp_path / "whole", every_steps=2, keep=100))
    shutil.copytree(tmp_path / "whole", tmp_path / "killed")
    kept = checkpoints_in(tmp_path / "killed")
    for c in kept[1:]:  # as if killed after the first checkpoint (mid-way through epoch 1)
        shutil.rmtree(c)
    resumed = Finetuner(config=cfg).fit(X, y, checkpointing=Checkpointing(tmp_path / "killed", every_steps=2,
                                                                          keep=100, resuming=True))
    after = resumed.model_.state_dict()
    assert not {k for k in _changed(pretrained, after) if k.startswith(FROZEN_BY_BOTTOM_1)}
    assert _changed(pretrained, after)
    for k, v in whole.model_.state_dict().items():
        assert torch.equal(v, after[k]), k


# ---------------------------------------------------------------- the rule, per module


def _block(trainable: bool, affine: bool = True) -> nn.Sequential:
    block = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4, affine=affine), nn.Dropout(0.5))
    block.requires_grad_(trainable)
    return block


def test_frozen_ness_is_each_modules_own():
    model = nn.Sequential(_block(False), _block(True), _block(True, affine=False), nn.Dropout(0.5), nn.Linear(4, 2))
    model[1][1].requires_grad_(False)  # a frozen BatchNorm inside a block that trains
    keep_frozen_fixed(model).train()
    assert [m.training for m in model[0]] == [False, False, False]  # the frozen block, its dropout included
    assert [m.training for m in model[1]] == [True, False, True]  # the frozen BatchNorm alone
    assert [m.training for m in model[2]] == [True, True, True]  # no parameters of its own: the block's
    assert model.training and model[3].training  # dropout beside trainable layers
    assert is_frozen(model[0]) and not is_frozen(model) and not is_frozen(model[3])
    # Unfrozen, the next train() trains it again; frozen-ness is read at each call.
    model[0].requires_grad_(True)
    model.train()
    assert all(m.training for m in model[0])


def test_frozen_batchnorm_statistics_survive_any_later_train_call():
    model = nn.Sequential(_block(False), _block(True))
    keep_frozen_fixed(model)
    x = torch.randn(16, 4)
    start = model[0][1].running_mean.clone()
    calls = {"model.train()": lambda: model.train(), "eval() then train()": lambda: model.eval().train(),
             "the frozen block's own train()": lambda: model[0].train(),
             "nn.Module.train on the root": lambda: nn.Module.train(model)}
    for name, call in calls.items():
        call()
        model(x)
        assert torch.equal(model[0][1].running_mean, start), name
        assert model[1][1].training, name  # the block that trains
    # Copies carry it to their own modules.
    for clone in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        clone.train()
        assert not clone[0][1].training and clone[1][1].training
        assert clone.train.module is clone


def test_dropout_is_off_in_the_frozen_layers_of_a_text_model(tiny_model):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(tiny_model, num_labels=2)
    model.config.hidden_dropout_prob = 0.5
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.p = 0.5
    apply_freeze(model, "bottom:1")
    ids = torch.randint(5, 30, (4, 12))

    def hidden(m):  # for each hidden state: the same in two passes in training mode?
        first = m(input_ids=ids, output_hidden_states=True).hidden_states
        second = m(input_ids=ids, output_hidden_states=True).hidden_states
        return [torch.equal(a, b) for a, b in zip(first, second, strict=True)]

    model.train()
    assert hidden(model) == [True, True, False]  # embeddings and layer 0 frozen: the same; layer 1 trains
    model.bert.encoder.train()  # a submodule's own train() too
    assert hidden(model) == [True, True, False]
    apply_freeze(model, "none")  # a stage that unfreezes everything: dropout is back everywhere
    model.train()
    assert hidden(model) == [False, False, False]
    # LoRA: the base weights are fixed; blocks made of them alone run without dropout.
    apply_freeze(model, "none")
    lora = get_peft_model(model, LoraConfig(r=2, target_modules=["query"], modules_to_save=["classifier"]))
    keep_frozen_fixed(lora).train()
    assert not lora.base_model.model.bert.embeddings.training
    assert lora.base_model.model.bert.encoder.layer[0].attention.self.training  # holds trained adapters
    assert not lora.base_model.model.bert.encoder.layer[0].output.training


def test_a_frozen_backbone_that_is_not_the_base_model_runs_in_eval_mode():
    """Whisper's audio classifier keeps its backbone in ``encoder``, and ``base_model`` is the whole model:
    the frozen encoder is found by its own parameters, and its dropout is off."""
    from transformers import WhisperConfig, WhisperForAudioClassification

    from justfit.models.freezing import set_train_mode

    torch.manual_seed(0)
    config = WhisperConfig(d_model=16, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=8,
                           decoder_layers=1, decoder_attention_heads=2, decoder_ffn_dim=8, num_mel_bins=8,
                           max_source_positions=8, classifier_proj_size=8, vocab_size=64, num_labels=2,
                           dropout=0.5, activation_dropout=0.5, start_token_id=None)
    model = WhisperForAudioClassification(config)
    assert model.base_model is model
    apply_freeze(model, "backbone")
    set_train_mode(model)
    assert model.training and model.projector.training and not model.encoder.training
    features = torch.randn(2, 8, 16)
    first, second = (model.encoder(features).last_hidden_state for _ in range(2))
    assert torch.equal(first, second)


def _frozen_and_trainable(model):
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    return frozen, {n for n, p in model.named_parameters() if p.requires_grad}


def _tiny_models():
    from transformers import (
        BertConfig,
        BertForSequenceClassification,
        MobileNetV2Config,
        MobileNetV2ForImageClassification,
        Wav2Vec2Config,
        Wav2Vec2ForSequenceClassification,
        WhisperConfig,
        WhisperForAudioClassification,
    )

    torch.manual_seed(0)
    bert = BertForSequenceClassification(BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                                    intermediate_size=37, vocab_size=99))
    mobilenet = MobileNetV2ForImageClassification(MobileNetV2Config(depth_multiplier=0.35, image_size=32,
                                                                    num_labels=2))
    # two feature-extractor convolutions and two transformer layers: as long as each other
    w2v = Wav2Vec2ForSequenceClassification(Wav2Vec2Config(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37, conv_dim=(16, 16),
        conv_stride=(5, 2), conv_kernel=(10, 3), num_feat_extract_layers=2, num_conv_pos_embeddings=8,
        num_conv_pos_embedding_groups=2))
    whisper = WhisperForAudioClassification(WhisperConfig(
        d_model=32, encoder_layers=2, decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2,
        encoder_ffn_dim=37, decoder_ffn_dim=37, num_mel_bins=8, max_source_positions=20, vocab_size=99))
    ids = {"input_ids": torch.tensor([[1, 5, 7, 2]]), "attention_mask": torch.ones(1, 4, dtype=torch.long)}
    return [
        (bert, ids, ("bert.embeddings.",), ("bert.pooler.", "classifier.")),
        (mobilenet, {"pixel_values": torch.randn(1, 3, 32, 32)}, ("mobilenet_v2.conv_stem.",),
         ("mobilenet_v2.conv_1x1.", "classifier.")),
        (w2v, {"input_values": torch.randn(1, 4000)},
         ("wav2vec2.feature_extractor.", "wav2vec2.feature_projection.", "wav2vec2.encoder.pos_conv_embed."),
         ("projector.", "classifier.")),
        (whisper, {"input_features": torch.randn(1, 8, 40)}, ("encoder.conv1.", "encoder.conv2.",
                                                              "encoder.embed_positions."),
         ("encoder.layer_norm.", "projector.", "classifier.")),
    ]


@pytest.mark.parametrize("index", range(4), ids=["bert", "mobilenet-v2", "wav2vec2", "whisper"])
def test_bottom_k_freezes_what_lies_below_the_first_layer_whatever_it_is_named(index):
    """Below the stack is what the first block's input depends on (autograd over one forward pass): a CNN's
    stem, an audio encoder's feature extractor and positions, not only modules named "embed"; what lies
    above the stack (final norm, pooler, head) keeps training."""
    model, inputs, below, above = _tiny_models()[index]
    first = {n for n, _ in model.named_parameters() if ".0." in n and (".layer.0." in n or ".layers.0." in n)}
    apply_freeze(model, "bottom:1", inputs)
    frozen, trainable = _frozen_and_trainable(model)
    for prefix in below:
        assert any(n.startswith(prefix) for n in frozen), prefix
        assert not any(n.startswith(prefix) for n in trainable), prefix
    for prefix in above:
        assert any(n.startswith(prefix) for n in trainable) and not any(n.startswith(prefix) for n in frozen), prefix
    assert first and first <= frozen
    assert all(p.requires_grad for n, p in model.named_parameters() if ".layers.1." in n or ".layer.1." in n)
    apply_freeze(model, "bottom:0", inputs)  # nothing fixed, nothing traced
    assert all(p.requires_grad for p in model.parameters())


def test_bottom_k_without_example_inputs_uses_the_models_dummy_inputs():
    model = _tiny_models()[0][0]
    apply_freeze(model, "bottom:1")
    frozen, _ = _frozen_and_trainable(model)
    assert "bert.embeddings.word_embeddings.weight" in frozen and "bert.embeddings.LayerNorm.weight" in frozen


def test_tracing_leaves_modes_and_flags_as_they_were():
    from justfit.models.freezing import backbone_of, below_first_layer, encoder_layers

    model, inputs, _, _ = _tiny_models()[2]
    model.train()
    model.wav2vec2.feature_extractor.requires_grad_(False)
    before = {n: p.requires_grad for n, p in model.named_parameters()}
    backbone = backbone_of(model)
    found = below_first_layer(model, backbone, encoder_layers(backbone), inputs)
    assert found and all(m.training for m in model.modules())
    assert before == {n: p.requires_grad for n, p in model.named_parameters()}
    # the stack is the config's num_hidden_layers blocks, not the feature extractor's equally long list
    assert encoder_layers(backbone) is model.wav2vec2.encoder.layers
