"""Field faults of reading and writing data files, tested by kind: each test runs several members of its kind.

F2 text encodings, F3 CSV that justfit writes reads back, F4 labels keep their spelling,
F10 a file's real format, F11 column and label messages that name the fix.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import json
import lzma
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from justfit._files import write_csv
from justfit.config import DataConfig, JustfitConfig
from justfit.data.io import ColumnSpec, load_data, load_table, normalise, read_any
from justfit.errors import ConfigError, DataError, DataQualityWarning

ROWS = [("“great” value – only 5€", "pos"), ("bad café, très mauvais", "neg"), ("naïve résumé", "pos")]


def _csv_text(rows=ROWS, sep=",") -> str:
    buf = io.StringIO()
    csv.writer(buf, delimiter=sep, lineterminator="\n").writerows([("text", "label"), *rows])
    return buf.getvalue()


def _one_line(msg: str) -> None:
    assert "\n" not in msg and len(msg) < 300, msg


# ----------------------------------------------------------------------------- F2: encodings
def _enc_case(name):
    """(file name, bytes, explicit encoding or None, expected encoding or error regex, expected texts)."""
    text = _csv_text()
    latin_only = [("café crème, naïve", "pos"), ("déjà vu, ½ × ¾ ±", "neg")]  # bytes that mean the same in cp1252
    polish = [("Łódź jest piękna", "pos"), ("żółw śpi", "neg")]
    return {
        "cp1252": ("d.csv", text.encode("cp1252"), None, "cp1252", [r[0] for r in ROWS]),
        "cp1252-jsonl": ("d.jsonl", "\n".join(json.dumps({"text": t, "label": lab}, ensure_ascii=False)
                                              for t, lab in ROWS).encode("cp1252"), None, "cp1252",
                         [r[0] for r in ROWS]),
        "utf-8": ("d.csv", text.encode("utf-8"), None, "utf-8", [r[0] for r in ROWS]),
        "utf-8-sig": ("d.csv", text.encode("utf-8-sig"), None, "utf-8-sig", [r[0] for r in ROWS]),
        "utf-16-le-bom": ("d.csv", b"\xff\xfe" + text.encode("utf-16-le"), None, "utf-16-le", [r[0] for r in ROWS]),
        "utf-16-be-bom": ("d.tsv", b"\xfe\xff" + _csv_text(sep="\t").encode("utf-16-be"), None, "utf-16-be",
                          [r[0] for r in ROWS]),
        "latin-1-only": ("d.csv", _csv_text(latin_only).encode("latin-1"), None, "cp1252",
                         [r[0] for r in latin_only]),
        "explicit-override": ("d.csv", _csv_text(polish).encode("cp1250"), "cp1250", "cp1250",
                              [r[0] for r in polish]),
        "explicit-utf-8-with-bom": ("d.csv", text.encode("utf-8-sig"), "utf-8", "utf-8", [r[0] for r in ROWS]),
        "wrong-explicit": ("d.csv", text.encode("cp1252"), "utf-8", r"not valid utf-8.*data\.encoding", None),
    }[name]


@pytest.mark.parametrize("case", ["cp1252", "cp1252-jsonl", "utf-8", "utf-8-sig", "utf-16-le-bom", "utf-16-be-bom",
                                  "latin-1-only", "explicit-override", "explicit-utf-8-with-bom", "wrong-explicit",
                                  "unknown-codec", "through-load-data", "predict-reader"])
def test_text_encodings(tmp_path, case):
    if case == "unknown-codec":
        with pytest.raises(ConfigError, match=r"data\.encoding.*unknown encoding 'utf-99'"):
            JustfitConfig.from_dict({"data": {"encoding": "utf-99"}})
        assert JustfitConfig.from_dict({"data": {"encoding": "cp1252"}}).data.encoding == "cp1252"
        return
    if case in ("through-load-data", "predict-reader"):
        p = tmp_path / "d.csv"
        p.write_bytes(_csv_text().encode("cp1252"))
        if case == "through-load-data":
            out = load_data(DataConfig(path=str(p)))
            assert out["all"].encoding == "cp1252" and out["all"].frame["text"].iloc[0] == ROWS[0][0]
            with pytest.raises(DataError, match=r"data\.encoding"):
                load_data(DataConfig(path=str(p), encoding="utf-8"))
        else:  # justfit predict --input reads through the same reader
            from justfit.cli._common import read_frame

            assert read_frame(str(p), "--input")["text"].tolist() == [r[0] for r in ROWS]
        return
    name, raw, explicit, expected, texts = _enc_case(case)
    p = tmp_path / name
    p.write_bytes(raw)
    if texts is None:
        with pytest.raises(DataError, match=expected) as err:
            load_table(p, encoding=explicit)
        _one_line(str(err.value))
        return
    lt = load_table(p, encoding=explicit)
    assert lt.encoding == expected
    assert lt.columns == ColumnSpec("text", "label")  # no mojibake or BOM in the column names
    assert lt.frame["text"].tolist() == texts
    assert not lt.frame["text"].str.contains("[\u0080-\u009f]").any()  # no C1 control characters


# ----------------------------------------------------------------------------- F3: CSV round trip
TRICKY = ["line\rbreak", "two\nlines", "crlf\r\nend", 'say "hi"', "a, b, c", "tab\there", "007", "NA", "null",
          "=1+2", "+33 1", "-minus", "@handle", "", "  spaced  ", "None", "é “quotes”"]
_NA = {"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A",
       "NA", "NULL", "NaN", "None", "n/a", "nan", "null"}
_BOOL = {"True": True, "TRUE": True, "true": True, "False": False, "FALSE": False, "false": False}


def _read_back(path: Path, sep: str = ",") -> tuple[list[list[str]], pd.DataFrame, pd.DataFrame]:
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh, delimiter=sep))
    exact = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False)
    plain = pd.read_csv(path, sep=sep)
    return rows, exact, plain


def _assert_round_trip(frame: pd.DataFrame, path: Path, sep: str = ",") -> None:
    """Exact with csv and pandas-as-strings; with plain pandas, same rows and every text pandas does not retype."""
    want = frame.astype(object).where(frame.notna(), "").map(str)
    rows, exact, plain = _read_back(path, sep)
    assert rows[0] == [str(c) for c in frame.columns]
    assert rows[1:] == want.to_numpy().tolist()
    assert exact.to_numpy().tolist() == want.to_numpy().tolist()
    assert plain.shape == frame.shape
    for col in frame.columns:
        if plain[col].dtype != object:
            continue  # pandas retyped the whole column (all numbers, or all True/False): by design
        for got, orig in zip(plain[col], want[col], strict=True):
            # pandas reads True/False spelled its ways as booleans even in a column it keeps as objects.
            retyped = orig in _BOOL and got is _BOOL[orig]
            assert (orig in _NA and pd.isna(got)) or retyped or got == orig, (col, orig, got)


_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30) | \
    st.lists(st.sampled_from(["\r", "\n", "\r\n", '"', ",", "\t", "'", " ", "a", "=", "NA"]), max_size=8).map("".join)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(_TEXT, min_size=1, max_size=6), sep=st.sampled_from([",", "\t"]))
@example(texts=["", "FALSE"], sep=",")  # pandas reads FALSE as a boolean in an object column
def test_written_csv_reads_back_property(tmp_path, texts, sep):
    frame = pd.DataFrame({"row": range(len(texts)), "text": texts, "label": ["x"] * len(texts),
                          "p": np.linspace(0, 1, len(texts))})
    path = tmp_path / "out.csv"
    write_csv(frame, path, sep=sep)
    _assert_round_trip(frame, path, sep)


def _tricky_data() -> pd.DataFrame:
    from tests.conftest import planted_texts

    extra = pd.DataFrame({"text": TRICKY[:13] * 2, "label": ["pos", "neg"] * 13})  # copies: removed rows
    return pd.concat([planted_texts(60), extra], ignore_index=True)


@pytest.fixture(scope="module")
def tricky_run(tiny_model, tmp_path_factory) -> Path:
    """One finished run on data whose removed rows hold line breaks, quotes, commas and tabs."""
    from justfit.run import finetune
    from tests.conftest import FAST

    tmp = tmp_path_factory.mktemp("tricky")
    src = tmp / "data.jsonl"
    _tricky_data().to_json(src, orient="records", lines=True, force_ascii=False)
    run = finetune({"data": {"path": str(src)}, "model": {"name": tiny_model},
                    "training": {**FAST["training"], "epochs": 1},
                    "quality": {"label_noise": "off", "rules": ["empty_text", "conflicting_duplicate"]},
                    "output": {"dir": str(tmp / "runs"), "name": "r"}})
    return Path(run.run_dir)


@pytest.mark.parametrize("case", ["write_csv", "removed-and-clean-output", "run-predictions", "predict-output"])
def test_written_csv_reads_back(tmp_path, case, request):
    if case == "write_csv":
        frame = pd.DataFrame({"text": TRICKY, "label": ["007"] * len(TRICKY),
                              "dup": pd.array([None, 3] + [1] * (len(TRICKY) - 2), dtype="Int64")})
        write_csv(frame, tmp_path / "w.csv")
        _assert_round_trip(frame, tmp_path / "w.csv")
        write_csv(frame, tmp_path / "w.tsv", sep="\t")
        _assert_round_trip(frame, tmp_path / "w.tsv", sep="\t")
        return
    data = _tricky_data()
    if case == "removed-and-clean-output":
        src = tmp_path / "data.jsonl"
        data.to_json(src, orient="records", lines=True, force_ascii=False)
        from justfit.data.stage import clean_file

        cfg = JustfitConfig.from_dict({"data": {"path": str(src)}, "quality": {
            "rules": ["empty_text", "missing_label", "conflicting_duplicate", "exact_duplicate"],
            "leakage": "off", "label_noise": "off"}})
        clean_file(cfg, tmp_path / "out" / "cleaned.csv")
        removed = pd.read_csv(tmp_path / "out" / "removed.csv", dtype=str, keep_default_na=False)
        assert set(TRICKY[:13]) - {""} <= set(removed["text"])
        cleaned = pd.read_csv(tmp_path / "out" / "cleaned.csv", dtype=str, keep_default_na=False)
        assert cleaned["text"].tolist() == data["text"].iloc[:60].tolist()
        for name in ("removed.csv", "flagged.csv", "cleaned.csv"):
            with open(tmp_path / "out" / name, newline="", encoding="utf-8") as fh:
                assert len(list(csv.reader(fh))) == len(pd.read_csv(tmp_path / "out" / name)) + 1
        return
    run_dir = request.getfixturevalue("tricky_run")
    if case == "run-predictions":
        removed = pd.read_csv(run_dir / "removed.csv", dtype=str, keep_default_na=False)
        assert {"line\rbreak", "crlf\r\nend", "two\nlines"} <= set(removed["text"])
        for name in ("removed.csv", "flagged.csv", "predictions.csv"):
            exact = pd.read_csv(run_dir / name, dtype=str, keep_default_na=False)
            plain = pd.read_csv(run_dir / name)
            with open(run_dir / name, newline="", encoding="utf-8") as fh:
                rows = list(csv.reader(fh))
            assert len(rows) - 1 == len(exact) == len(plain)
        return
    from justfit.cli.main import main

    inp = tmp_path / "new.csv"
    write_csv(pd.DataFrame({"id": range(len(TRICKY)), "text": TRICKY}), inp)
    out = tmp_path / "pred.csv"
    assert main(["predict", str(run_dir), "--input", str(inp), "--output", str(out), "-q"]) == 0
    back = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert back["text"].tolist() == TRICKY and len(pd.read_csv(out)) == len(TRICKY)


# ----------------------------------------------------------------------------- F4: labels keep their spelling
CODES = ["007", "010", "100", "007", "010", "100"]


def _labels(lt) -> list:
    return [None if pd.isna(v) else v for v in lt.frame["label"]]


def _write(frame: pd.DataFrame, path: Path) -> Path:
    {".csv": lambda: frame.to_csv(path, index=False), ".jsonl": lambda: frame.to_json(path, orient="records",
                                                                                        lines=True),
     ".parquet": lambda: frame.to_parquet(path)}[path.suffix]()
    return path


@pytest.mark.parametrize("case", ["codes-same-in-every-format", "01-and-1-distinct", "typed-values-as-text",
                                  "texts-exact", "csv-train-parquet-test", "api-ints-stay-ints",
                                  "api-int-float-merge-warns", "file-and-dataframe-match"])
def test_labels_are_the_text_in_the_file(tmp_path, case):
    texts = [f"text number {i}" for i in range(6)]
    if case == "codes-same-in-every-format":
        frame = pd.DataFrame({"text": texts, "label": CODES})
        classes = [sorted(set(load_table(_write(frame, tmp_path / f"d{ext}")).frame["label"]))
                   for ext in (".csv", ".jsonl", ".parquet")]
        assert classes == [["007", "010", "100"]] * 3
    elif case == "01-and-1-distinct":
        p = tmp_path / "d.csv"
        p.write_text("text,label\na,01\nb,1\nc,01\nd,1\n")
        assert load_table(p).frame["label"].tolist() == ["01", "1", "01", "1"]
    elif case == "typed-values-as-text":
        (tmp_path / "d.jsonl").write_text('{"text": "a", "label": 7}\n{"text": "b", "label": null}\n'
                                          '{"text": "c", "label": 8}\n')
        assert _labels(load_table(tmp_path / "d.jsonl", allow_missing=True)) == ["7", None, "8"]
        pd.DataFrame({"text": ["a", "b"], "label": [1.0, 2.0]}).to_parquet(tmp_path / "f.parquet")
        assert load_table(tmp_path / "f.parquet").frame["label"].tolist() == ["1.0", "2.0"]
        pd.DataFrame({"text": ["a", "b", "c"], "label": pd.array([7, None, 8], dtype="Int64")}).to_parquet(
            tmp_path / "i.parquet")
        assert _labels(load_table(tmp_path / "i.parquet", allow_missing=True)) == ["7", None, "8"]
    elif case == "texts-exact":
        p = tmp_path / "d.csv"
        p.write_text("text,label\n007,a\nNA,b\nnull,a\n 1.50 ,b\n")
        assert load_table(p).frame["text"].tolist() == ["007", "NA", "null", " 1.50 "]
    elif case == "csv-train-parquet-test":
        frame = pd.DataFrame({"text": texts * 3, "label": CODES * 3})
        tr = _write(frame, tmp_path / "train.csv")
        te = _write(frame.iloc[:6], tmp_path / "test.parquet")
        from justfit.data.splitting import make_splits

        cfg = DataConfig(train=str(tr), test=str(te))
        s = make_splits(load_data(cfg), cfg)
        assert set(s.test["label"]) == set(s.train["label"]) == {"007", "010", "100"}
    elif case == "api-ints-stay-ints":
        from justfit.config import JustfitConfig
        from justfit.data.inputs import as_frame

        cfg = JustfitConfig()
        got = as_frame(texts, [0, 1, 7, 0, 1, 7], cfg, "the training data")
        assert got["label"].tolist() == [0, 1, 7, 0, 1, 7] and got["label"].dtype == np.int64
        df = pd.DataFrame({"text": texts, "label": np.array([3, 1, 3, 1, 3, 1])})
        assert as_frame(df, None, cfg, "the data")["label"].tolist() == [3, 1, 3, 1, 3, 1]
    elif case == "api-int-float-merge-warns":
        frame = pd.DataFrame({"text": texts, "label": pd.Series([1, 1.0, 2, 2, 1, 2], dtype=object)})
        with pytest.warns(DataQualityWarning, match=r"1 and 1\.0"):
            out = normalise(frame, ColumnSpec("text", "label"))
        assert out["label"].tolist() == [1, 1, 2, 2, 1, 2]
    elif case == "file-and-dataframe-match":
        from justfit.data.io import LoadedData
        from justfit.data.splitting import make_splits

        tr = load_table(_write(pd.DataFrame({"text": texts * 3, "label": ["1", "2"] * 9}), tmp_path / "t.csv"))
        va = pd.DataFrame({"text": ["x", "y"], "label": [1, 2]})
        s = make_splits({"train": tr, "validation": LoadedData(va, tr.columns, "va")},
                        DataConfig(train="t.csv", validation="va"))
        assert set(s.validation["label"]) <= set(s.train["label"])


# ----------------------------------------------------------------------------- F10: the real format
def _xlsx_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/workbook.xml", "<workbook/>")
        zf.writestr("xl/worksheets/sheet1.xml", "<worksheet/>")
    return buf.getvalue()


def _zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _parquet_bytes(frame: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.to_parquet(buf)
    return buf.getvalue()


_PLAIN = _csv_text().encode()
_JSONL = "\n".join(json.dumps({"text": t, "label": lab}) for t, lab in ROWS).encode()
FORMAT_CASES = {
    # name: (file name, bytes, None when it reads, else an error regex)
    "xlsx-as-csv": ("x.csv", _xlsx_bytes(), r"'x\.csv' is an Excel workbook \(xlsx\), not CSV: save it as CSV UTF-8, "
                                            r"or convert with pandas\.read_excel"),
    "csv.gz": ("d.csv.gz", gzip.compress(_PLAIN), None),
    "jsonl.gz": ("d.jsonl.gz", gzip.compress(_JSONL), None),
    "csv.bz2": ("d.csv.bz2", bz2.compress(_PLAIN), None),
    "csv.xz": ("d.csv.xz", lzma.compress(_PLAIN), None),
    "csv.zip": ("d.csv.zip", _zip_bytes({"inner.csv": _PLAIN}), None),
    "zip-two-members": ("d.zip", _zip_bytes({"a.csv": _PLAIN, "b.csv": _PLAIN}), r"zip archive with 2 files"),
    "semicolon": ("d.csv", _csv_text(sep=";").encode(), None),
    "tab-in-.csv": ("d.csv", _csv_text(sep="\t").encode(), None),
    "comma-in-.tsv": ("d.tsv", _PLAIN, None),
    "pipe": ("d.csv", _csv_text(sep="|").encode(), None),
    "semicolon-bad-line": ("d.csv", b"text;label\na;pos\nb;neg;extra\nc;pos\n",
                           r"semicolon-separated.*line 3 has 3 fields where the header has 2"),
    "utf-16-bom": ("d.csv", _csv_text().encode("utf-16"), None),
    "parquet-named-csv": ("d.csv", _parquet_bytes(pd.DataFrame(ROWS, columns=["text", "label"])), None),
    "binary-garbage": ("d.csv", bytes(range(256)) * 16, r"binary data"),
    "zero-bytes": ("d.csv", b"", r"is empty"),
    "pdf": ("d.csv", b"%PDF-1.4\n...", r"is a PDF document, not CSV"),
    "html-page": ("d.csv", b"<!DOCTYPE html><html><body>Not found</body></html>", r"is an HTML page, not a data table"),
    "json-wrapper": ("d.json", json.dumps({"meta": {"v": 1}, "data": [{"text": t, "label": lab} for t, lab in ROWS]})
                     .encode(), None),
    "json-two-lists": ("d.json", json.dumps({"train": [{"text": "a"}], "test": [{"text": "b"}]}).encode(),
                       r"several lists of rows \(keys train, test\)"),
    "json-no-rows": ("d.json", json.dumps({"a": 1, "b": "x"}).encode(), r"JSON object \(keys: a, b\) with no list"),
    "jsonl-in-.json": ("d.json", _JSONL, None),
    "list-valued-parquet-text": ("d.parquet", _parquet_bytes(pd.DataFrame({"text": [["a", "b"], ["c"], ["d"]],
                                                                           "label": ["x", "y", "x"]})),
                                 r"Column 'text' of .* holds lists \(e\.g\. \['a', 'b'\]\), not one text per row"),
    "nested-json-label": ("d.jsonl", b'{"text": "a", "label": {"k": 1}}\n{"text": "b", "label": {"k": 2}}\n',
                          r"Column 'label' of .* holds objects \(dicts\).*--label-column"),
}


@pytest.mark.parametrize("case", list(FORMAT_CASES))
def test_real_format_is_sniffed(tmp_path, case):
    name, raw, error = FORMAT_CASES[case]
    p = tmp_path / name
    p.write_bytes(raw)
    if error is not None:
        with pytest.raises(DataError, match=error) as err:
            load_table(p)
        _one_line(str(err.value))
        return
    lt = load_table(p)
    assert (lt.columns.text, lt.columns.label) == ("text", "label")
    assert lt.frame["text"].tolist() == [r[0] for r in ROWS]
    assert lt.frame["label"].tolist() == [r[1] for r in ROWS]
    assert isinstance(read_any(p), pd.DataFrame)


# ----------------------------------------------------------------------------- F11: messages name the fix
@pytest.mark.parametrize("case", ["no-text-column", "continuous-label", "continuous-api-label", "max-rows-one-class",
                                  "many-small-classes", "case-and-space-duplicates", "unknown-column",
                                  "many-columns"])
def test_messages_name_the_fix(tmp_path, case):
    p = tmp_path / "d.csv"
    rng = np.random.default_rng(0)
    if case == "case-and-space-duplicates":
        p.write_text("text,label\na,Positive\nb,positive \nc,positive\nd,negative\n")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            lt = load_table(p)
        msgs = [str(w.message) for w in caught if issubclass(w.category, DataQualityWarning)]
        assert any("'positive ' and 'positive'" in m and "surrounding spaces" in m for m in msgs), msgs
        assert any("'Positive' and 'positive'" in m and "case" in m for m in msgs), msgs
        assert set(lt.frame["label"]) == {"Positive", "positive", "negative"}  # case kept apart, not merged
        for m in msgs:
            _one_line(m)
        return
    if case == "no-text-column":
        pd.DataFrame({"id": range(20), "score": rng.random(20), "label": ["a", "b"] * 10}).to_csv(p, index=False)
        want, call = r"No text column.*every column holds numbers or ids \(id, score, label\); set --text-column", \
            lambda: load_table(p)
    elif case == "continuous-label":
        pd.DataFrame({"text": [f"t{i}" for i in range(1000)], "score": rng.random(1000) * 3}).to_csv(p, index=False)
        from justfit.tasks import get_task

        want, call = r"Column 'score' .*looks like a continuous number \(1,000 distinct values.*e\.g\. .*\): a " \
                     r"classifier needs classes; bin it into classes, or choose another --label-column.*task=regression", \
            lambda: get_task("classification").check_targets(load_table(p, label_column="score").frame)
    elif case == "continuous-api-label":
        frame = pd.DataFrame({"text": [f"t{i}" for i in range(500)], "label": rng.random(500)})
        from justfit.tasks import get_task

        want, call = r"continuous number.*--label-column", lambda: get_task("classification").check_targets(
            normalise(frame, ColumnSpec("text", "label")))
    elif case == "max-rows-one-class":
        pd.DataFrame({"text": [f"t{i}" for i in range(40)], "label": ["a", "b"] * 20}).to_csv(p, index=False)
        from justfit.data.stage import prepare_data

        cfg = JustfitConfig.from_dict({"data": {"path": str(p), "max_rows": 1}, "quality": {"enabled": False}})
        want, call = r"--max-rows 1 \(data\.max_rows\)", lambda: prepare_data(cfg)
    elif case == "many-small-classes":
        from justfit.data.splitting import split

        frame = pd.DataFrame({"text": [f"t{i}" for i in range(2000)], "label": [f"c{i % 1000}" for i in range(2000)]})
        want, call = r"Class\(es\) .* and 99\d more have too few rows", lambda: split(frame)
    elif case == "unknown-column":
        pd.DataFrame({f"col{i}": ["x", "y"] for i in range(60)}).to_csv(p, index=False)
        want, call = r"No label column 'lab'.* and 50 more.*--label-column", lambda: load_table(p, label_column="lab")
    else:  # many-columns, none of them usable as text
        pd.DataFrame({f"n{i}": range(10) for i in range(80)}).assign(label=["a", "b"] * 5).to_csv(p, index=False)
        want, call = r"No text column.*and 71 more\); set --text-column", lambda: load_table(p)
    with pytest.raises(DataError, match=want) as err:
        call()
    _one_line(str(err.value))
