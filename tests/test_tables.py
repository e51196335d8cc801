"""Spreadsheet-safe CSV: formula-like text neutralised, everything else untouched."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from ntl.tables import neutralise_cells, safe_csv_text, spreadsheet_safe, write_safe_csv


def test_formula_starts_get_an_apostrophe_and_nothing_else_changes():
    values = pd.Series(["=HYPERLINK(1)", "+cmd|x", "-2+3", "@SUM(A1)", "\t=1", "C001", "a=b", None])
    safe = neutralise_cells(values)
    assert safe.tolist()[:6] == ["'=HYPERLINK(1)", "'+cmd|x", "'-2+3", "'@SUM(A1)", "'\t=1", "C001"]
    assert safe.iloc[6] == "a=b"
    assert pd.isna(safe.iloc[7])


def test_numbers_and_clean_text_are_returned_as_they_are():
    frame = pd.DataFrame(
        {
            "CONS_NO": ["C1", "C2"],
            "risk_score": [-0.5, 0.25],
            "rank": np.array([1, 2]),
            "flag": [True, False],
        }
    )
    safe = spreadsheet_safe(frame)
    pd.testing.assert_frame_equal(safe, frame)
    assert safe is not frame


def test_categorical_and_object_columns_are_neutralised_and_the_input_is_not_changed():
    frame = pd.DataFrame({"CONS_NO": ["=1+1", "ok"], "tier": pd.Categorical(["@x", "high"])})
    safe = spreadsheet_safe(frame)
    assert safe["CONS_NO"].tolist() == ["'=1+1", "ok"]
    assert safe["tier"].tolist() == ["'@x", "high"]
    assert frame["CONS_NO"].tolist() == ["=1+1", "ok"]


def test_csv_text_round_trips_except_the_neutralised_cells():
    frame = pd.DataFrame({"CONS_NO": ["=cmd", "C2"], "risk_score": [-1.5, 2.0]})
    text = safe_csv_text(frame)
    assert text.splitlines() == ["CONS_NO,risk_score", "'=cmd,-1.5", "C2,2.0"]
    buffer = io.StringIO()
    write_safe_csv(frame, buffer)
    assert buffer.getvalue() == text
    back = pd.read_csv(io.StringIO(text))
    assert back["risk_score"].tolist() == [-1.5, 2.0]
