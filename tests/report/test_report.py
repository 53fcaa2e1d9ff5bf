"""report.html: self-contained, complete, and rendered by a real headless browser."""

import re
import shutil
import subprocess

import pandas as pd
import pytest

from justfit.cli.main import main

CHROMIUM = next((shutil.which(n) for n in ("chromium-headless-shell", "chromium", "chromium-browser",
                                            "google-chrome") if shutil.which(n)), None)


@pytest.fixture(scope="module")
def run_dir(tiny_model, tmp_path_factory):
    from justfit import finetune
    from tests.conftest import planted_texts

    tmp = tmp_path_factory.mktemp("report")
    data = tmp / "d.csv"
    df = planted_texts(160)
    df = pd.concat([df, df.iloc[:3]])  # duplicates for the data-stage section
    df.to_csv(data, index=False)
    result = finetune({"data": {"path": str(data)}, "model": {"name": tiny_model},
                       "training": {"epochs": 3, "batch_size": 16, "lr": 3e-3, "bf16": False, "train_eval_samples": 32},
                       "quality": {"label_noise_folds": 3}, "output": {"dir": str(tmp / "runs"), "name": "rep"}})
    return result.model_dir.parent


def test_report_is_complete_and_self_contained(run_dir):
    page = (run_dir / "report.html").read_text()
    for section in ("verdict:", "Diagnosis", "Learning curves", "learning-rate schedule", "confusion matrix",
                    "per class", "highest-loss test examples", "Data stage", "exact_duplicate", "class balance",
                    "label audit", "Configuration", "justfit run: rep<"):
        assert section in page, section
    assert page.count("<svg") >= 4
    # Nothing is fetched: no external scripts, styles, images or fonts.
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert "<script" not in page


def test_report_rerenders_from_the_run_directory(run_dir, tmp_path, capsys):
    out = tmp_path / "again.html"
    assert main(["report", str(run_dir), "-o", str(out)]) == 0
    assert "Learning curves" in out.read_text()
    assert main(["report", str(tmp_path)]) == 2
    assert "not a finished justfit run" in capsys.readouterr().err


@pytest.mark.skipif(CHROMIUM is None, reason="needs headless Chromium (make setup installs chromium-headless-shell)")
def test_report_renders_in_headless_chromium(run_dir, tmp_path):
    import numpy as np

    shot = tmp_path / "shot.png"
    proc = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={shot}",
                           "--window-size=1200,2400", "--enable-logging=stderr", "--v=0",
                           (run_dir / "report.html").as_uri()], capture_output=True, text=True, timeout=120)
    assert shot.is_file(), proc.stderr[-2000:]
    console = [line for line in proc.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert not console, console
    from matplotlib.image import imread

    img = imread(shot)
    assert img.shape[0] >= 2000 and img.shape[1] >= 1000
    # Not blank: many distinct colours, and a good share of non-white pixels (text, tables, plots).
    rgb = (img[..., :3] * 255).astype(np.uint8).reshape(-1, 3)
    assert len(np.unique(rgb[::7], axis=0)) > 50
    assert (rgb.min(axis=1) < 200).mean() > 0.02


def test_text_is_escaped_once(run_dir, tmp_path):
    """An apostrophe or a '<' in a finding's explanation and evidence reads as itself, not as '&#x27;'."""
    import json

    from justfit.report import render_report

    copy = tmp_path / "rep"
    shutil.copytree(run_dir, copy)
    diagnosis = json.loads((copy / "diagnosis.json").read_text())
    diagnosis["findings"] = [{"code": "x", "severity": "low", "title": "the model's <title>",
                              "explanation": "the baseline's errors < 0.5", "remedies": [],
                              "evidence": {"note": "the label audit's flags", "value": 0.12345}}]
    (copy / "diagnosis.json").write_text(json.dumps(diagnosis))
    render_report(copy, name="rep")
    page = (copy / "report.html").read_text()
    assert "&amp;#x27;" not in page and "&amp;lt;" not in page and "&amp;amp;" not in page
    assert "note=the label audit&#x27;s flags, value=0.123" in page and "the baseline&#x27;s errors &lt; 0.5" in page
