import numpy as np
import pytest
import torch

from justfit.config import TrainingConfig
from justfit.errors import ConfigError
from justfit.models import apply_freeze, load_model
from justfit.training.optim import OPTIMIZERS, build_optimizer, build_scheduler, l1_penalty, param_groups
from justfit.training.sampling import BatchSampler


def test_length_grouped_batches_cover_everything_once():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 200, size=1000)
    s = BatchSampler(lengths, 16, group_by_length=True, seed=3)
    batches = list(s)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(1000)) and len(batches) == len(s)
    # Grouped batches waste far less padding than random ones.
    def padding(bs):
        return sum(max(lengths[b]) * len(b) - sum(lengths[b]) for b in bs)
    random_batches = list(BatchSampler(lengths, 16, group_by_length=False, seed=3))
    assert padding(batches) < 0.3 * padding(random_batches)


def test_sampler_reshuffles_per_epoch_and_is_seeded():
    s = BatchSampler(list(range(100)), 10, seed=1)
    s.set_epoch(1)
    a = list(s)
    s.set_epoch(2)
    b = list(s)
    s.set_epoch(1)
    assert a != b and a == list(s)


def test_sampler_replays_the_rows_of_the_first_batches():
    s = BatchSampler([3, 9, 1, 7, 5, 2, 8, 4, 6, 10] * 5, 4, seed=2)
    s.set_epoch(1)
    batches = list(s)
    assert s.rows_of_first(3).tolist() == sorted(set(batches[0] + batches[1] + batches[2]))
    assert len(s.rows_of_first(100)) == 50 and len(s.rows_of_first(0)) == 0


def test_no_weight_decay_on_biases_and_layernorm(tiny_model):
    model, _, _ = load_model(tiny_model, ["a", "b"])
    groups = param_groups(model, 0.1)
    decayed = {id(p) for p in groups[0]["params"]}
    for name, p in model.named_parameters():
        if "bias" in name or "LayerNorm" in name:
            assert id(p) not in decayed, name
    assert groups[0]["weight_decay"] == 0.1 and groups[1]["weight_decay"] == 0.0


@pytest.mark.parametrize("name,cls", [("adamw", torch.optim.AdamW), ("adam", torch.optim.Adam), ("sgd", torch.optim.SGD)])
def test_optimizers_by_name(name, cls):
    model = torch.nn.Linear(3, 2)
    opt = build_optimizer(model, TrainingConfig(optimizer=name, nesterov=True))
    assert isinstance(opt, cls)
    if name == "sgd":
        assert opt.param_groups[0]["nesterov"] and opt.param_groups[0]["momentum"] == 0.9


def test_unknown_optimizer_lists_valid():
    with pytest.raises(ConfigError, match="Valid choices: adam, adamw, sgd"):
        OPTIMIZERS.get("adagrad")


@pytest.mark.parametrize("sched", ["linear", "cosine", "constant"])
def test_schedulers_warm_up(sched):
    model = torch.nn.Linear(3, 2)
    cfg = TrainingConfig(scheduler=sched, warmup_ratio=0.1, lr=1.0)
    opt = build_optimizer(model, cfg)
    s = build_scheduler(opt, cfg, 100)
    lrs = []
    for _ in range(100):
        lrs.append(s.get_last_lr()[0])
        opt.step()
        s.step()
    assert lrs[0] == 0.0 and abs(lrs[10] - 1.0) < 1e-6
    assert (lrs[-1] < 0.1) == (sched != "constant")


def test_l1_penalty_counts_weights_not_biases():
    m = torch.nn.Linear(2, 1)
    with torch.no_grad():
        m.weight.fill_(-2.0)
        m.bias.fill_(100.0)
    assert l1_penalty(m).item() == 4.0


def test_freeze_backbone_trains_only_head(tiny_model):
    model, _, _ = load_model(tiny_model, ["a", "b"])
    counts = apply_freeze(model, "backbone")
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(n.startswith("classifier") for n in trainable)
    assert counts["trainable_params"] < counts["total_params"]


def test_freeze_bottom_k(tiny_model):
    model, _, _ = load_model(tiny_model, ["a", "b"])
    apply_freeze(model, "bottom:1")
    grad = {n: p.requires_grad for n, p in model.named_parameters()}
    assert not any(v for n, v in grad.items() if "embeddings" in n)
    assert not any(v for n, v in grad.items() if ".layer.0." in n)
    assert all(v for n, v in grad.items() if ".layer.1." in n)
    with pytest.raises(ConfigError, match="more layers than the model has"):
        apply_freeze(model, "bottom:5")


def test_dropout_override_reaches_the_modules(tiny_model):
    model, _, _ = load_model(tiny_model, ["a", "b"], dropout=0.37)
    assert model.config.hidden_dropout_prob == 0.37 and model.config.classifier_dropout == 0.37
    ps = {m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)}
    assert 0.37 in ps
