"""Tag schemes read as each scheme defines them, checked against seqeval's own reading: IOB1, IOB2,
IOE1, IOE2, IOBES and BILOU (and IO), typed and untyped (seqeval's type ``_``); types holding a
separator; files that mix schemes or use another prefix refused with the offending line; and the
whole path from a CoNLL or JSON Lines file to the entity metrics."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import seqeval.scheme as seq_schemes
from seqeval.metrics import classification_report
from seqeval.metrics.sequence_labeling import get_entities
from seqeval.metrics.sequence_labeling import precision_recall_fscore_support as conlleval_prf
from seqeval.metrics.v1 import precision_recall_fscore_support as strict_prf

from justfit.errors import DataError
from justfit.tasks.tagging.tags import (
    Entity,
    canonical,
    detect_scheme,
    entities,
    in_scheme,
    split_tag,
    to_scheme,
)
from justfit.tasks.tagging.task import TokenClassificationTask
from tests.conftest import ner_sentences, write_conll

# One sentence per scheme, written by hand: a PER of two words, a PER of one word right after it (the
# adjacent chunks IOB1/IOE1 mark), an O, a LOC of one word.
WRITTEN = {
    "IOB1": ["I-PER", "I-PER", "B-PER", "O", "I-LOC"],
    "IOB2": ["B-PER", "I-PER", "B-PER", "O", "B-LOC"],
    "IOE1": ["I-PER", "E-PER", "I-PER", "O", "I-LOC"],
    "IOE2": ["I-PER", "E-PER", "E-PER", "O", "E-LOC"],
    "IOBES": ["B-PER", "E-PER", "S-PER", "O", "S-LOC"],
    "BILOU": ["B-PER", "L-PER", "U-PER", "O", "U-LOC"],
}
SPANS = [("PER", 0, 2), ("PER", 2, 3), ("LOC", 4, 5)]
# seqeval's strict classes that read each scheme (its IOE1 class is marked unfinished in seqeval's own source).
STRICT = {"IOB1": seq_schemes.IOB1, "IOB2": seq_schemes.IOB2, "IOE2": seq_schemes.IOE2, "IOBES": seq_schemes.IOBES,
          "BILOU": seq_schemes.BILOU}
CASES = [(scheme, typed) for scheme in WRITTEN for typed in (True, False)]


def untyped(tags: list[str]) -> list[str]:
    """The tags with their types cut off by plain string work (B-PER -> B), not by justfit."""
    return [t.split("-", 1)[0] for t in tags]


def seqeval_entities(tags: list[str], scheme: str) -> set[tuple[str, int, int]]:
    """seqeval's reading of one sentence in ``scheme``: strict with its class where it has one, else default."""
    if scheme in STRICT:
        return {(e.tag, e.start, e.end) for e in seq_schemes.Tokens(tags, STRICT[scheme]).entities}
    return {(kind, start, end + 1) for kind, start, end in get_entities(tags)}


@pytest.mark.parametrize(("scheme", "typed"), CASES)
def test_every_scheme_is_detected_and_read_as_seqeval_reads_it(scheme, typed):
    tags = WRITTEN[scheme] if typed else untyped(WRITTEN[scheme])
    want = {(kind if typed else "_", a, b) for kind, a, b in SPANS}
    assert detect_scheme([tags]) == scheme
    assert {(e.type, e.start, e.end) for e in entities(tags)} == want
    assert seqeval_entities(tags, scheme) == want  # the hand-written sentence is what seqeval reads too
    if scheme != "BILOU":  # conlleval's reading (seqeval's default mode) knows no L/U
        assert {(k, a, b + 1) for k, a, b in get_entities(tags)} == want
    # Valid data needs no repair; written in the model's scheme and back, it is the same sentence.
    fixed, repairs = canonical(tags, scheme)
    assert repairs == []
    assert to_scheme(entities(fixed), len(fixed), scheme) == tags


def test_untyped_chunks_are_one_type_not_one_entity_per_prefix():
    tags = ["B", "I", "I", "O", "B", "O"]
    assert [(e.type, e.start, e.end) for e in entities(tags)] == [("_", 0, 3), ("_", 4, 5)]
    assert split_tag("B") == ("B", "_") and split_tag("I") == ("I", "_")
    task = TokenClassificationTask().fit([" ".join(tags)])
    assert task.tags == ["O", "B", "I"] and task.scheme == "IOB2"
    assert task.class_counts(pd_series([" ".join(tags)])) == {"_": 2}  # two chunks, not a "B" and two "I"s


def pd_series(labels: list[str]):
    import pandas as pd

    return pd.Series(labels, dtype=object)


def test_a_type_holding_a_separator_is_kept_whole():
    tags = ["B-creative-work", "I-creative-work", "O", "B-person", "B_group", "I_group", "b-per"]
    assert split_tag("B-creative-work") == ("B", "creative-work")
    assert split_tag("I_group") == ("I", "group")
    assert [(e.type, e.start, e.end) for e in entities(tags)] == [("creative-work", 0, 2), ("person", 3, 4),
                                                                   ("group", 4, 6), ("per", 6, 7)]
    # seqeval reads '_' as the separator when told to (strict mode's delimiter); '-' in the default reading.
    assert {(e.tag, e.start, e.end) for e in seq_schemes.Tokens(["B_group", "I_group"], seq_schemes.IOB2,
                                                                 delimiter="_").entities} == {("group", 0, 2)}
    assert get_entities(tags[:4]) == [("creative-work", 0, 1), ("person", 3, 3)]
    # A bare type (IO without prefixes) is a type, whatever letters it starts with.
    assert split_tag("BUILDING") == ("I", "BUILDING") and detect_scheme([["BUILDING", "O", "PER"]]) == "IO"


def sentences(typed: bool) -> tuple[list[list[Entity]], list[list[Entity]], list[int]]:
    """Gold and predicted entities of a few sentences: right, merged adjacent chunks, a boundary off by one,
    a wrong type, a missed and an invented entity."""
    def ents(*spans):
        return [Entity(kind if typed else "_", a, b) for kind, a, b in spans]

    gold = [ents(("PER", 0, 2), ("PER", 2, 3), ("LOC", 4, 5)), ents(("ORG", 1, 2), ("ORG", 2, 4)),
            ents(("LOC", 0, 3)), ents(("PER", 1, 2), ("ORG", 3, 5)), ents()]
    pred = [ents(("PER", 0, 3), ("LOC", 4, 5)), ents(("ORG", 1, 2), ("ORG", 2, 4)), ents(("LOC", 0, 2)),
            ents(("LOC", 1, 2), ("ORG", 3, 5)), ents(("PER", 0, 1))]
    return gold, pred, [6, 5, 4, 6, 3]


def one_hot(codes: list[int], width: int) -> np.ndarray:
    z = np.full((len(codes), width), -4.0, np.float32)
    z[np.arange(len(codes)), codes] = 4.0
    return z


def task_metrics(gold: list[list[str]], pred: list[list[str]]) -> tuple[TokenClassificationTask, dict]:
    """justfit's test metrics of ``pred`` against ``gold`` (tags in the data's scheme): the task fitted on both
    (so that the model has every predicted tag), the predictions given as the model would (one-hot logits
    over its tags, in its scheme)."""
    task = TokenClassificationTask().fit([" ".join(t) for t in gold + pred])
    codes = task.encode_targets([" ".join(t) for t in gold])
    index = {t: i for i, t in enumerate(task.tags)}
    logits = np.empty(len(pred), dtype=object)
    logits[:] = [one_hot([index[t] for t in task.in_scheme(p)], len(task.tags)) for p in pred]
    return task, task.evaluate(codes, logits)


def rounded(*values) -> tuple[float, ...]:
    return tuple(round(float(v), 9) for v in values)


@pytest.mark.parametrize(("scheme", "typed"), CASES)
def test_entity_scores_equal_seqevals_own_for_every_scheme(scheme, typed):
    gold_e, pred_e, lengths = sentences(typed)
    gold = [to_scheme(e, n, scheme) for e, n in zip(gold_e, lengths, strict=True)]
    pred = [to_scheme(e, n, scheme) for e, n in zip(pred_e, lengths, strict=True)]
    for seq, want in zip(gold + pred, gold_e + pred_e, strict=True):  # the sentences are what seqeval reads
        assert seqeval_entities(seq, scheme) == {(e.type, e.start, e.end) for e in want}
    task, m = task_metrics(gold, pred)
    assert detect_scheme(gold + pred) == scheme
    assert task.scheme == {"IOB1": "IOB2", "IOE1": "IOE2"}.get(scheme, scheme)
    # seqeval's numbers on the data as given: strict mode with its class, and conlleval's reading.
    readings = []
    if scheme in STRICT:
        readings.append({"mode": "strict", "scheme": STRICT[scheme]})
    if scheme != "BILOU":
        readings.append({})
    for kwargs in readings:
        prf = strict_prf if kwargs else conlleval_prf
        extra = {"scheme": kwargs["scheme"]} if kwargs else {}
        p, r, f, _ = prf(gold, pred, average="micro", zero_division=0, **extra)
        assert (m["precision"], m["recall"], m["f1"]) == pytest.approx((p, r, f))
        assert m["f1_macro"] == pytest.approx(prf(gold, pred, average="macro", zero_division=0, **extra)[2])
        report = classification_report(gold, pred, output_dict=True, zero_division=0, **kwargs)
        theirs = {t: rounded(v["precision"], v["recall"], v["f1-score"], v["support"]) for t, v in report.items()
                  if not t.endswith(" avg")}
        assert {t: rounded(v["precision"], v["recall"], v["f1"], v["support"]) for t, v in m["per_type"].items()} == theirs
    assert set(m["per_type"]) == ({"PER", "LOC", "ORG"} if typed else {"_"})
    assert m["entities_gold"] == sum(map(len, gold_e)) and m["entities_predicted"] == sum(map(len, pred_e))
    assert 0 < m["f1"] < 1


def test_an_invalid_prediction_is_scored_as_seqevals_strict_mode_reads_it():
    # BILOU, like IOBES, is scored strictly: a B- never closed by L- is no entity.
    gold = [["B-PER", "L-PER", "O", "U-LOC"]]
    pred = [["B-PER", "L-PER", "O", "B-LOC"]]
    task = TokenClassificationTask().fit([" ".join(gold[0]) + " O B-LOC I-LOC L-LOC"])
    index = {t: i for i, t in enumerate(task.tags)}
    logits = np.empty(1, dtype=object)
    logits[:] = [one_hot([index[t] for t in pred[0]], len(task.tags))]
    m = task.evaluate(task.encode_targets([" ".join(gold[0])]), logits)
    p, r, f, _ = strict_prf(gold, pred, average="micro", zero_division=0, scheme=seq_schemes.BILOU)
    assert (m["precision"], m["recall"], m["f1"]) == pytest.approx((p, r, f)) == (1.0, 0.5, 2 / 3)
    assert m["mode"] == "strict (BILOU)" and m["entities_predicted"] == 1


def test_broken_sequences_are_repaired_against_their_own_scheme():
    # IOB1 data is not broken IOB2: written as IOB2 for the model without a repair.
    assert canonical(["I-PER", "B-PER", "O"], "IOB1") == (["B-PER", "B-PER", "O"], [])
    # IOE2 data with a chunk left open, BILOU data with a lone B-.
    fixed, repairs = canonical(["I-PER", "I-PER", "O", "E-LOC"], "IOE2")
    assert fixed == ["I-PER", "E-PER", "O", "E-LOC"] and [(r.position, r.fixed) for r in repairs] == [(1, "E-PER")]
    fixed, repairs = canonical(["B", "O", "U"], "BILOU")
    assert fixed == ["U", "O", "U"] and [r.describe() for r in repairs] == ["word 1: B -> U"]
    # Data with I-begun chunks and B- at fresh chunks is IOB2 with broken sequences, not IOB1.
    assert detect_scheme([["I-PER", "O", "B-LOC"]]) == "IOB2"
    assert detect_scheme([["I-PER", "O", "E-LOC"]]) == "IOE2"
    assert detect_scheme([["I-PER", "O", "E-LOC", "I-LOC"]]) == "IOE1"  # E- only before a LOC: valid IOE1


@pytest.mark.parametrize(("lines", "match"), [
    ("Ann\tS-PER\nsaw\tO\n\nOslo\tU-LOC\n", r"Line 5 .*'U-LOC' \(BILOU's.*line 2 has 'S-PER'"),
    ("Ann\tB-PER\nLee\tL-PER\nsaw\tE-LOC\n", r"Line 4 .*'E-LOC' \(IOBES's.*line 3 has 'L-PER'"),
    ("Ann\tB-PER\nsaw\tO\n\nOslo\tB\n", r"Line 5 .*'B', a chunk tag without a type, but line 2 has 'B-PER'"),
    ("Ann\tPER\nsaw\tO\nOslo\tB-LOC\n", r"Line 4 .*'B-LOC', a typed chunk tag, but line 2 has 'PER'"),
    ("Ann\tB-PER\nsaw\tO\nOslo\tX-LOC\n", r"Line 4 .*'X-LOC', whose prefix 'X' is no tag scheme's"),
])
def test_mixed_schemes_and_unknown_prefixes_are_refused_with_the_first_offending_line(tmp_path, lines, match):
    from justfit.data.io import load_table

    path = tmp_path / "mixed.conll"
    path.write_text("-DOCSTART- O\n" + lines)
    with pytest.raises(DataError, match=match) as err:
        load_table(path)
    message = str(err.value)
    assert "\n" not in message and ("one tag scheme" in message or "no tag scheme" in message)


def test_a_jsonl_file_names_the_row_and_word(tmp_path):
    from justfit.data.io import load_table

    rows = [{"tokens": ["Ann", "saw"], "tags": ["U-PER", "O"]}, {"tokens": ["Oslo", "x"], "tags": ["S-LOC", "O"]}]
    (tmp_path / "m.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    with pytest.raises(DataError, match=r"Row 1, word 1 of .*'S-LOC'.*row 0, word 1 has 'U-PER'"):
        load_table(tmp_path / "m.jsonl")


def bilou(words_tags: list[tuple[list[str], list[str]]]) -> list[tuple[list[str], list[str]]]:
    return [(w, to_scheme(entities(t), len(t), "BILOU")) for w, t in words_tags]


@pytest.mark.parametrize("fmt", ["conll", "jsonl"])
def test_from_file_to_metrics_in_bilou_and_untyped_iob1(tmp_path, fmt):
    """Both readers, a BILOU file and an untyped IOB1 one: the scheme found, and justfit's scores of
    predictions equal seqeval's on the file's own tags."""
    from justfit.data.io import load_table

    # A sentence with adjacent chunks of one type, the only place IOB1 writes B.
    adjacent = (["Ann", "Lee", "Bob", "saw", "Oslo"], WRITTEN["IOB2"])
    data = {"BILOU": bilou([adjacent, *ner_sentences(12, seed=1)]),
            "IOB1": [(w, untyped(to_scheme(entities(t), len(t), "IOB1"))) for w, t in [adjacent, *ner_sentences(12, seed=2)]]}
    for scheme, sents in data.items():
        path = tmp_path / f"{scheme}.{fmt}"
        if fmt == "conll":
            write_conll(path, sents)
        else:
            path.write_text("\n".join(json.dumps({"tokens": w, "tags": t}) for w, t in sents))
        frame = load_table(path).frame
        gold = [lab.split() for lab in frame["label"]]
        assert gold == [t for _, t in sents] and detect_scheme(gold) == scheme
        # Predictions: every sentence's last entity missed.
        pred = [to_scheme(entities(g)[:-1], len(g), scheme) for g in gold]
        task, m = task_metrics(gold, pred)
        kwargs = {"scheme": seq_schemes.BILOU} if scheme == "BILOU" else {}
        p, r, f, _ = (strict_prf if kwargs else conlleval_prf)(gold, pred, average="micro", zero_division=0, **kwargs)
        assert (m["precision"], m["recall"], m["f1"]) == pytest.approx((p, r, f))
        assert p == 1.0 and r < 1.0
        assert set(m["per_type"]) == ({"PER", "LOC"} if scheme == "BILOU" else {"_"})


def test_a_run_on_untyped_chunks_reports_one_type(tiny_model, tmp_path):
    from justfit import finetune

    data = [(w, untyped(t)) for w, t in ner_sentences(120, seed=3)]
    result = finetune({"model": {"name": tiny_model}, "quality": {"label_noise": "off"},
                       "training": {"epochs": 1, "batch_size": 16, "lr": 3e-3, "train_eval_samples": 16, "bf16": False},
                       "data": {"path": str(write_conll(tmp_path / "chunks.conll", data))},
                       "output": {"dir": str(tmp_path / "runs"), "name": "chunks"}})
    run = Path(result.run_dir)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["scheme"] == "IOB2" and set(metrics["per_type"]) == {"_"}
    assert set(json.loads((run / "model" / "config.json").read_text())["id2label"].values()) == {"O", "B", "I"}
    import pandas as pd

    pred = pd.read_csv(run / "predictions.csv")
    gold = [lab.split() for lab in pred["label"]]
    assert metrics["entities_gold"] == sum(len(get_entities(g)) for g in gold)
    assert {e["type"] for row in pred["entities"] for e in json.loads(row)} == {"_"}
    assert in_scheme(["B", "I", "O"], "IOB2") == ["B", "I", "O"]


def planted_model(tiny_model: str, tags: list[str], text: str, word_tags: list[str], later: str | None):
    """A tiny token model whose output for ``text`` is planted: each word's first subword gets its tag in
    ``word_tags``, its later subwords ``later`` (``None``: the word's continuation, I of its type)."""
    import torch
    from transformers.modeling_outputs import TokenClassifierOutput

    from justfit.models import load_model
    from justfit.tasks.tagging.tags import split_tag, tag_name

    model, tokenizer, _ = load_model(tiny_model, tags, head="token")
    enc = tokenizer(text, return_offsets_mapping=True)
    words = [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]
    planted, seen = [], set()
    for a, b in enc["offset_mapping"]:
        w = next((k for k, (s, e) in enumerate(words) if s <= a < e and b > a), None)
        if w is None:
            planted.append("O")
        elif w not in seen:
            seen.add(w)
            planted.append(word_tags[w])
        else:
            prefix, kind = split_tag(word_tags[w])
            planted.append(later if later is not None else tag_name("I", kind) if prefix != "O" else "O")
    logits = torch.full((1, len(planted), len(tags)), -5.0)
    for i, t in enumerate(planted):
        logits[0, i, tags.index(t)] = 5.0

    def forward(input_ids=None, **_):
        assert input_ids.shape[1] == len(planted)
        return TokenClassifierOutput(logits=logits.clone())

    model.forward = forward
    return model, tokenizer


@pytest.mark.parametrize(("scheme", "tags", "word_tags", "later", "want"), [
    # Untyped IOB2, read per subword: one chunk type "_", not entities "B" and "I".
    ("IOB2", ["O", "B", "I"], ["B", "I", "O", "B", "O"], None, [("_", "Ann Lee"), ("_", "Oslo")]),
    # BILOU and IOBES, read per word by its first subword (the later ones planted O).
    ("BILOU", ["O", "B-PER", "L-PER", "U-LOC"], ["B-PER", "L-PER", "O", "U-LOC", "O"], "O",
     [("PER", "Ann Lee"), ("LOC", "Oslo")]),
    ("IOBES", ["O", "B-PER", "E-PER", "S-LOC"], ["B-PER", "E-PER", "O", "S-LOC", "S-LOC"], "O",
     [("PER", "Ann Lee"), ("LOC", "Oslo"), ("LOC", "today")]),
])
def test_predicted_entities_of_texts_are_grouped_by_the_scheme(tiny_model, scheme, tags, word_tags, later, want):
    from justfit.tasks.tagging.task import pipeline_entities

    text = "Ann Lee saw Oslo today"
    model, tokenizer = planted_model(tiny_model, tags, text, word_tags, later)
    found = pipeline_entities(model, tokenizer, [text], scheme=scheme)[0]
    assert [(e["entity_group"], text[e["start"]:e["end"]]) for e in found] == want


def test_saved_runs_name_their_scheme_and_older_names_still_load():
    assert TokenClassificationTask.from_meta({"labels": ["O", "B-PER", "I-PER"], "scheme": "BIO"}, None).scheme == "IOB2"
    assert TokenClassificationTask.from_meta({"labels": ["O", "S-PER"], "scheme": "BIOES"}, None).scheme == "IOBES"
    # Without a recorded scheme, the model's own labels say it.
    assert TokenClassificationTask.from_meta({"labels": ["O", "B", "I", "L", "U"]}, None).scheme == "BILOU"
    task = TokenClassificationTask().fit(["I-X E-X O", "I-X I-X O E-X"])
    assert task.scheme == "IOE2" and task.meta()["scheme"] == "IOE2"
    assert task.in_scheme(["B-X", "I-X", "O", "S-X"]) == ["I-X", "E-X", "O", "E-X"]


def test_the_cli_refuses_a_mixed_file_in_one_line(tmp_path, monkeypatch, capfd):
    from justfit.cli.main import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("JUSTFIT_LOG_DIR", str(tmp_path / "logs"))
    data = ner_sentences(40, seed=9)
    data[30] = (["Ann", "saw", "Oslo"], ["U-PER", "O", "U-LOC"])  # BILOU among IOB2 tags: no clash yet
    data[31] = (["Bob", "Lee", "left"], ["B-PER", "E-PER", "O"])  # IOBES's E- after BILOU's U-
    path = write_conll(tmp_path / "mixed.conll", data)
    capfd.readouterr()
    rc = main(["train", "--data", str(path), "--model", "tiny-bert-random", "--epochs", "1"])
    _, err = capfd.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc != 0 and len(lines) == 1, err
    line_of = 2 + sum(len(w) + 1 for w, _ in data[:31]) + 2  # DOCSTART, its blank line; the E-PER word
    assert re.search(rf"Line {line_of} of .*'E-PER' \(IOBES's E-/S-\), but line {line_of - 5} has 'U-PER'", lines[0])
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(("scheme", "tags", "expected"), [
    ("BILOU", ["L-PER", "O", "U-LOC", "B-ORG", "L-ORG"], [("LOC", 2, 3), ("ORG", 3, 5)]),  # an orphan L- is none
    ("IOBES", ["I-PER", "E-PER", "S-LOC", "O"], [("LOC", 2, 3)]),
    ("IOBES", ["B", "E", "O", "S"], [("_", 0, 2), ("_", 3, 4)]),
    ("IOB2", ["I-PER", "I-PER", "O", "B-LOC"], [("PER", 0, 2), ("LOC", 3, 4)]),  # conlleval reads a leading I-
])
def test_the_entities_listed_are_those_the_metrics_count(scheme, tags, expected):
    from justfit.tasks.tagging.metrics import count_entities
    from justfit.tasks.tagging.task import sentence_entities

    got = sentence_entities(tags, [f"w{i}" for i in range(len(tags))], scheme)
    assert [(e["type"], e["start"], e["end"]) for e in got] == expected
    assert len(got) == count_entities([tags], scheme)
