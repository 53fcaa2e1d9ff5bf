"""Planted scenarios run end to end on a tiny model: each must get its known verdict (bench/diagnosis.py)."""

import importlib.util
from pathlib import Path

import pytest


def _bench():
    path = Path(__file__).resolve().parents[2] / "bench" / "diagnosis.py"
    spec = importlib.util.spec_from_file_location("bench_diagnosis", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_every_planted_scenario_gets_its_verdict(tiny_model, tmp_path):
    results = _bench().end_to_end(tmp_path, tiny_model)
    assert len(results) == 8
    wrong = [(planted, verdict) for _, planted, verdict in results if planted != verdict]
    assert not wrong, wrong
