import pandas as pd
import pytest

from justfit.data.cleaning import RULES, clean
from justfit.errors import ConfigError, DataError


def frame(rows):
    return pd.DataFrame(rows, columns=["text", "label"])


def test_normalises_and_drops_exact_duplicates_keeping_first():
    df = frame([("Caf\u00e9  ok", "a"), ("  cafe\u0301 ok", "a"), ("other", "b"), ("CAFÉ OK", "a")])
    out, rep = clean(df)
    assert out.index.tolist() == [0, 2] and out.at[0, "text"] == "Café ok"
    rem = rep.removed.set_index("row")
    assert rem.loc[1, "rule"] == "exact_duplicate" and rem.loc[1, "duplicate_of"] == 0
    assert rem.loc[1, "text"] == "  cafe\u0301 ok"  # the original text, as the user wrote it
    assert rep.counts["exact_duplicate"] == 2 and rep.rows_out == 2


def test_empty_texts_removed_with_reason():
    out, rep = clean(frame([("a", "x"), ("   ", "y"), ("b", "y"), ("", "x")]))
    assert out.index.tolist() == [0, 2]
    assert set(rep.removed["rule"]) == {"empty_text"}


def test_conflicting_duplicates_drop_or_majority():
    rows = [("same", "a"), ("same", "b"), ("same", "a"), ("x", "b"), ("y", "a")]
    out, rep = clean(frame(rows))
    assert out.index.tolist() == [3, 4] and rep.counts["conflicting_duplicate"] == 3
    out, rep = clean(frame(rows), conflicts="majority")
    assert out.index.tolist() == [0, 3, 4]
    rem = rep.removed.set_index("row")
    assert rem.loc[1, "rule"] == "conflicting_duplicate" and rem.loc[1, "duplicate_of"] == 0
    assert rem.loc[2, "rule"] == "exact_duplicate"


def test_rules_are_selectable_and_unknown_names_listed():
    df = frame([("a", "x"), ("a", "x"), ("b", "y")])
    out, _ = clean(df, rules=["normalize"])
    assert len(out) == 3
    with pytest.raises(ConfigError, match="Valid choices: .*exact_duplicate"):
        clean(df, rules=["exact_dup"])
    assert "exact_duplicate" in RULES


def test_cleaning_that_leaves_one_class_names_rules():
    df = frame([("a", "x"), ("b", "x"), ("  ", "y")])
    with pytest.raises(DataError, match=r"single class.*empty_text \(1 rows\)"):
        clean(df)
