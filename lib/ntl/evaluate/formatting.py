"""Display and JSON helpers: tables for the eye, records for evaluation.json."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ntl.evaluate.ranking import ArrayLike


def to_records(frame: pd.DataFrame) -> list[dict]:
    """Rows as dicts for JSON: numpy scalars made plain, NaN as None."""
    clean = frame.astype(object).where(frame.notna(), None)
    return [
        {key: value.item() if hasattr(value, "item") else value for key, value in row.items()}
        for row in clean.to_dict(orient="records")
    ]


def format_probability(values: ArrayLike, digits: int = 4, bound: float = 0.999) -> pd.Series:
    """Probabilities as text with `digits` decimals, never as certainty.

    Values above `bound` read "> 0.999" and values below 1 - `bound` read "< 0.001": a calibrated
    probability is a rate among similar customers, and printing 1.0000 or 0.0000 reads as a
    certainty the model does not have. Missing values read "n/a".
    """
    series = pd.Series(values)
    numbers = pd.Series(
        series.astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan), index=series.index
    )
    text = numbers.map(lambda value: f"{value:.{digits}f}")
    text = text.mask(numbers > bound, f"> {bound:g}")
    text = text.mask(numbers < 1.0 - bound, f"< {round(1.0 - bound, 12):g}")
    return text.mask(numbers.isna(), "n/a")


def readable(
    frame: pd.DataFrame,
    digits: int = 3,
    score_columns: Sequence[str] = ("risk_score", "anomaly_score", "xgb_probability"),
    probability_columns: Sequence[str] = ("probability",),
) -> pd.DataFrame:
    """A copy of `frame` for display: integers with thousands separators, rates with `digits`
    decimals, scores with 4 and probabilities via `format_probability`. The raw values stay in
    the files; this is only what the reader sees."""
    shown = frame.copy()
    for column in shown.columns:
        values = shown[column]
        if column in probability_columns:
            shown[column] = format_probability(values).to_numpy()
        elif not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            continue
        elif column in score_columns:
            shown[column] = values.map(lambda v: "n/a" if pd.isna(v) else f"{v:.4f}")
        elif pd.api.types.is_integer_dtype(values):
            shown[column] = values.map(lambda v: "n/a" if pd.isna(v) else f"{int(v):,}")
        else:
            shown[column] = values.map(lambda v: "n/a" if pd.isna(v) else f"{v:,.{digits}f}")
    return shown


def baseline_quantile_table(baseline: Mapping, section: str, names: Sequence[str]) -> pd.DataFrame:
    """Quantiles, mean and missing share of some variables of a drift baseline, one row each.

    `section` is "scores" or "features" of ``ntl.drift.drift_baseline``; names missing from the
    baseline are skipped.
    """
    entries = baseline.get(section, {})
    rows = [
        {
            "variable": name,
            **entries[name].get("quantiles", {}),
            "mean": entries[name].get("mean"),
            "missing_share": entries[name].get("missing_share"),
        }
        for name in names
        if name in entries
    ]
    return pd.DataFrame(rows)
