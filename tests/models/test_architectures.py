"""Other encoder families go through the same loading, dropout and freezing code."""

import pytest
import torch

from justfit import Finetuner
from justfit.models import apply_freeze, load_model
from tests.conftest import FAST


def _save(tmp_path, kind):
    from transformers import AutoModel, BertTokenizer, DistilBertConfig, RobertaConfig

    tok = BertTokenizer.from_pretrained(str(tmp_path.parent / "base"))
    if kind == "distilbert":
        cfg = DistilBertConfig(vocab_size=len(tok), dim=32, n_layers=2, n_heads=2, hidden_dim=37)
    else:
        cfg = RobertaConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                            intermediate_size=37, pad_token_id=0, max_position_embeddings=514)
    torch.manual_seed(0)
    AutoModel.from_config(cfg).save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    return str(tmp_path)


@pytest.fixture
def arch_model(request, tiny_model, tmp_path):
    import shutil

    shutil.copytree(tiny_model, tmp_path / "base")
    return _save(tmp_path / request.param, request.param)


@pytest.mark.parametrize("arch_model", ["distilbert", "roberta"], indirect=True)
def test_load_freeze_dropout_fit(arch_model, planted):
    model, _, _ = load_model(arch_model, ["neg", "pos"], dropout=0.3)
    apply_freeze(model, "bottom:1")
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    assert any("embeddings" in n for n in frozen) and any(".0." in n for n in frozen)
    assert any(p.requires_grad for n, p in model.named_parameters() if ".1." in n)
    assert 0.3 in {m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)}
    ft = Finetuner(model=arch_model, freeze="bottom:1", config={"training": FAST["training"]}).fit(planted)
    assert ft.predict_proba(["good", "bad"]).shape == (2, 2)


def test_predict_on_nothing(tiny_model, planted):
    ft = Finetuner(model=tiny_model, config={"training": {**FAST["training"], "epochs": 1}}).fit(planted)
    assert ft.predict_proba([]).shape == (0, 2)
    assert len(ft.predict([])) == 0
