"""The learning-rate finder: the suggestion rule on synthetic curves, the sweep on a tiny model, the report."""

import json
import math

import numpy as np
import pytest
import torch

from justfit.training.lr_find import RULE, LRFindResult, ema, lr_find, suggest, sweep_lrs


def valley(n=100, noise=0.0, seed=0, drop_at=-3.5, diverge_at=-0.5, depth=0.6):
    """A typical range-test curve over 1e-7..10: flat, a sigmoid descent centred at 10**drop_at, then a blow-up."""
    lrs = np.array(sweep_lrs(1e-7, 10.0, n))
    x = np.log10(lrs)
    clean = 0.7 - depth / (1 + np.exp(-(x - drop_at) / 0.5)) + 0.05 * np.exp((x - diverge_at) / 0.3)
    noisy = clean * (1 + noise * np.random.default_rng(seed).standard_normal(n))
    return lrs, clean, noisy


def steepest(lrs, clean):
    """The steepest descent of the noiseless curve, before its minimum: what the rule should find."""
    g = np.gradient(clean, np.log10(lrs))
    return lrs[int(np.argmin(g[:int(np.argmin(clean))]))]


def test_sweep_is_geometric():
    lrs = sweep_lrs(1e-7, 10.0, 30)
    assert lrs[0] == pytest.approx(1e-7) and lrs[-1] == pytest.approx(10.0)
    ratios = np.array(lrs[1:]) / np.array(lrs[:-1])
    assert np.allclose(ratios, ratios[0]) and ratios[0] > 1


def test_ema_is_bias_corrected():
    assert ema([2.0, 2.0, 2.0], 0.98) == pytest.approx([2.0, 2.0, 2.0])
    assert ema([1.0, 3.0], 0.5) == pytest.approx([1.0, (0.25 * 1 + 0.5 * 3) / 0.75])


def test_clean_valley_suggests_the_steepest_descent_before_the_minimum():
    lrs, clean, noisy = valley()
    lr, smoothed, reason = suggest(lrs, noisy)
    assert reason == "" and lr is not None
    assert len(smoothed) == len(lrs)
    lr_min = lrs[int(np.argmin(clean))]
    # Inside the descending region, well below the minimum, and close to the true steepest point:
    # a forward-only moving average lags and lands several times higher.
    assert 1e-5 < lr < lr_min / 10
    assert steepest(lrs, clean) / 3 < lr < steepest(lrs, clean) * 3


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_noisy_valley_still_gets_a_sensible_suggestion(seed):
    lrs, clean, noisy = valley(noise=0.15, seed=seed)
    lr, _, reason = suggest(lrs, noisy)
    assert reason == "" and lr is not None
    assert steepest(lrs, clean) / 10 < lr < steepest(lrs, clean) * 3


def test_a_sweep_cut_short_by_divergence_keeps_the_suggestion():
    lrs, clean, noisy = valley(noise=0.05)
    stop = int(np.searchsorted(lrs, 1.0))
    noisy[stop - 3:stop] = [5.0, 40.0, 300.0]  # the last losses explode, as a diverging sweep's do
    lr, _, reason = suggest(lrs[:stop], noisy[:stop])
    assert reason == "" and steepest(lrs, clean) / 3 < lr < steepest(lrs, clean) * 3


def test_flat_curve_has_no_suggestion():
    lrs = sweep_lrs(1e-7, 1e-3, 100)
    losses = 0.69 * (1 + 0.03 * np.random.default_rng(0).standard_normal(100))
    lr, smoothed, reason = suggest(lrs, losses)
    assert lr is None and "flat" in reason
    assert all(math.isfinite(v) for v in smoothed)


@pytest.mark.parametrize("noise", [0.1, 0.3])
def test_noise_alone_does_not_make_a_suggestion(noise):
    # No dip at all, much noise: a 5% threshold alone takes a third of these for a descent (a noisy start,
    # or a dip of the noise); the noise-aware threshold takes none.
    for seed in range(15):
        lrs, _, noisy = valley(noise=noise, depth=0.0, diverge_at=5, seed=seed)
        lr, _, reason = suggest(lrs, noisy)
        assert lr is None and "flat" in reason, seed


def test_a_real_but_small_dip_is_flat():
    lrs, _, noisy = valley(noise=0.005, depth=0.015, diverge_at=5)  # a clear 2% dip: below the 5% threshold
    lr, _, reason = suggest(lrs, noisy)
    assert lr is None and "falls only 2." in reason and "5.0% is needed" in reason


def test_curve_that_diverges_from_the_start_has_no_suggestion():
    lrs = np.array(sweep_lrs(1e-3, 10.0, 60))
    losses = 0.7 * np.exp(0.5 * (np.log10(lrs) + 3)) * (1 + 0.02 * np.random.default_rng(1).standard_normal(60))
    lr, _, reason = suggest(lrs, losses)
    assert lr is None and "diverges" in reason and "start the sweep lower" in reason


def test_descent_before_the_sweep_started_has_no_suggestion():
    # The loss is lowest within the first 10% of the sweep and only rises after it.
    lrs = np.array(sweep_lrs(1e-4, 10.0, 50))
    losses = np.r_[np.linspace(0.7, 0.2, 4), 0.2 + 0.1 * np.arange(46)]
    lr, _, reason = suggest(lrs, losses)
    assert lr is None and ("first 10%" in reason or "diverges" in reason)


def test_too_few_finite_points_has_no_suggestion():
    lr, smoothed, reason = suggest([1e-5, 1e-4, 1e-3, 1e-2, 1e-1], [0.7, 0.6, float("nan"), 0.4, float("inf")])
    assert lr is None and "finite" in reason
    assert len(smoothed) == 5 and all(math.isnan(v) for v in smoothed)
    with pytest.raises(ValueError):
        suggest([1e-3, 1e-2], [0.5])


def test_result_json_round_trip_turns_non_finite_values_into_null():
    r = LRFindResult(lrs=[1e-3, 1e-2], losses=[0.7, float("nan")], smoothed=[0.7, 0.6], suggestion=None,
                     rule=RULE, reason="why", stopped_early=True, steps=2, seconds=0.5)
    d = json.loads(json.dumps(r.to_dict(), allow_nan=False))
    assert d["losses"] == [0.7, None]
    back = LRFindResult.from_dict(d)
    assert back.lrs == r.lrs and math.isnan(back.losses[1]) and back.reason == "why" and back.stopped_early


# --- the sweep on a real (tiny, random) model -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def setup(tiny_model):
    from justfit.config import TrainingConfig
    from justfit.models.factory import load_model
    from justfit.models.freezing import apply_freeze
    from justfit.tasks import TextClassificationTask
    from tests.conftest import planted_texts

    df = planted_texts(64)
    labels = sorted(df["label"].unique())
    torch.manual_seed(0)  # the new head's initialisation
    model, tokenizer, _ = load_model(tiny_model, labels)
    apply_freeze(model, "bottom:1")  # partly frozen: frozen parameters must come back untouched too
    task = TextClassificationTask(tokenizer, 32)
    train = task.encode(df["text"].tolist(), [labels.index(v) for v in df["label"]])
    cfg = TrainingConfig(batch_size=8, bf16=False, seed=3)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: threads only add overhead
    yield model, task, train, cfg
    torch.set_num_threads(threads)


def _snapshot(model):
    return {**{k: v.detach().clone() for k, v in model.named_parameters()},
            **{f"buffer:{k}": v.detach().clone() for k, v in model.named_buffers()}}


def test_lr_find_sweeps_and_restores_the_model_exactly(setup):
    model, task, train, cfg = setup
    model.eval()
    model.classifier.train()  # a mixed mode must come back as it was
    modes = {name: m.training for name, m in model.named_modules()}
    before = _snapshot(model)
    grad = torch.ones_like(model.classifier.weight)
    model.classifier.weight.grad = grad  # a caller's gradient is neither changed nor dropped
    torch.manual_seed(123)
    rng_before = torch.get_rng_state()
    calls = []

    result = lr_find(model, task, train, cfg, start_lr=1e-5, end_lr=100.0, steps=30,
                     progress=lambda done, total: calls.append((done, total)))

    after = _snapshot(model)
    assert after.keys() == before.keys()
    assert all(torch.equal(before[k], after[k]) for k in before), [k for k in before if not torch.equal(before[k],
                                                                                                       after[k])]
    assert {name: m.training for name, m in model.named_modules()} == modes
    assert torch.equal(torch.get_rng_state(), rng_before)
    assert model.classifier.weight.grad is grad and torch.equal(grad, torch.ones_like(grad))
    model.classifier.weight.grad = None
    assert all(p.grad is None for p in model.parameters())

    assert 2 <= result.steps <= 30 and len(result.lrs) == len(result.losses) == len(result.smoothed) == result.steps
    ratios = np.array(result.lrs[1:]) / np.array(result.lrs[:-1])
    assert np.allclose(ratios, (100.0 / 1e-5) ** (1 / 29))
    assert result.lrs[0] == pytest.approx(1e-5)
    assert calls[-1] == (result.steps, 30)
    # Rates up to 100 make the loss diverge: the sweep stops early.
    assert result.stopped_early and result.steps < 30
    assert (result.suggestion is None) == bool(result.reason)
    assert result.rule == RULE and result.seconds > 0

    d = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert LRFindResult.from_dict(d).to_dict() == d

    # Seeded by cfg.seed whatever the caller's random state (dropout), and the model is unchanged:
    # a second sweep gives the same curve.
    torch.manual_seed(999)
    again = lr_find(model, task, train, cfg, start_lr=1e-5, end_lr=100.0, steps=30)
    assert again.losses == result.losses


def test_lr_find_restores_the_model_after_an_error(setup):
    model, task, train, cfg = setup
    model.train()  # the frozen layers stay in eval mode (models.freezing)
    before, modes = _snapshot(model), [m.training for m in model.modules()]

    def boom(done, total):
        if done == 3:
            raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        lr_find(model, task, train, cfg, start_lr=1e-2, end_lr=10.0, steps=10, progress=boom)
    after = _snapshot(model)
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert model.training and [m.training for m in model.modules()] == modes


def test_lr_find_rejects_bad_arguments(setup):
    model, task, train, cfg = setup
    with pytest.raises(ValueError):
        lr_find(model, task, train, cfg, start_lr=1.0, end_lr=1e-3)
    with pytest.raises(ValueError):
        lr_find(model, task, train, cfg, steps=1)


# --- the report -------------------------------------------------------------------------------------------------------

def _minimal_run(path):
    path.mkdir()
    (path / "history.jsonl").write_text("".join(json.dumps({"epoch": e, "train_loss": 0.7 - 0.1 * e,
                                                            "val_loss": 0.72 - 0.1 * e, "lr": 1e-3}) + "\n"
                                                for e in (1, 2, 3)))
    (path / "result.json").write_text(json.dumps({"labels": ["neg", "pos"], "best_epoch": 3, "seconds": 1.0,
                                                  "data": {}}))
    (path / "diagnosis.json").write_text(json.dumps({"verdict": "good fit", "findings": []}))
    return path


def test_report_shows_the_lr_finder_section(tmp_path):
    from justfit.report.render import render_report

    lrs, _, noisy = valley(noise=0.05)
    lr, smoothed, reason = suggest(lrs, noisy)
    found = LRFindResult(lrs=list(lrs), losses=list(noisy), smoothed=smoothed, suggestion=lr, rule=RULE,
                         reason=reason, stopped_early=False, steps=100, seconds=2.0)
    run = _minimal_run(tmp_path / "with")
    (run / "lr_find.json").write_text(json.dumps(found.to_dict()))
    page = render_report(run).read_text()
    assert "Learning-rate finder" in page and f"{lr:.3g}" in page and "steepest descent" in page
    assert page.count("<svg") >= 2  # the finder's plot next to the learning curves

    flat = suggest(sweep_lrs(1e-7, 1e-3, 50), [0.69] * 50)
    none = LRFindResult(lrs=sweep_lrs(1e-7, 1e-3, 50), losses=[0.69] * 50, smoothed=flat[1], suggestion=None,
                        rule=RULE, reason=flat[2], stopped_early=False, steps=50, seconds=1.0)
    run = _minimal_run(tmp_path / "none")
    (run / "lr_find.json").write_text(json.dumps(none.to_dict()))
    page = render_report(run).read_text()
    assert "No suggestion:" in page and "flat" in page and "no suggestion" in page  # text, and the note on the plot

    page = render_report(_minimal_run(tmp_path / "without")).read_text()
    assert "Learning-rate finder" not in page
