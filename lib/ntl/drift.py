"""Population stability: has new meter data moved away from the data the model was built on?

The Population Stability Index compares the share of customers in each bin of a variable:

    PSI = sum over bins of (actual_share - expected_share) x ln(actual_share / expected_share)

Bins are the deciles of the reference ("expected") sample, plus one bin for missing values, so a
rise in missing features shows up too. Empty bins get a share of 1e-4 so the logarithm stays finite.
Usual reading: < 0.1 stable, 0.1-0.2 moderate change, > 0.2 a shift worth a look before trusting
the scores.

The baseline stores bin edges and shares, not customers, so it is small and holds no personal data.

An alert must mean the population changed, not the calendar:

- ``drop_days_ago`` (counted back from the last day) and ``drop_position`` (a share of the
  history) move with the calendar: the same customers a month later have every drop a month
  further back (PSI 0.6-0.9 on the next month of the same population). Compared as calendar
  dates they still alarm, because drops near the start of the old window fall out of the new one
  and new ones become detectable at its end. They are reported with status "calendar" and never
  alerted; a change in how often or how deep customers drop shows in ``drop_largest`` and
  ``after_drop_ratio``, which do not depend on the calendar.
- Features are computed over the whole history (gap counts, the largest drop, month profiles), so
  a file whose history is much shorter or longer than at training differs by construction: every
  PSI would alarm (24 warnings on a 90-day file). The report then marks each variable
  "not comparable" and gives one warning about the history length instead.

- ``probability`` is the calibrator applied to ``risk_score``: a step function with a handful of
  values. Its PSI says nothing the risk score's does not, and it is fragile: the baseline mixes
  the final calibrator's steps (test customers) with those of the cross-fitted and out-of-fold
  calibrators (validation and training customers), steps a rescore never produces, so the run's
  own customers scored again showed a probability PSI of about 0.7 beside a risk-score PSI of
  0.01. It is reported with status "derived" and never alerted; ``risk_score`` carries the alert.

PSI needs a population: with 11 bins, chance alone gives a PSI of about 10 / n for n customers
scored, and a single customer scored alone lands in one bin of each variable (PSI about 8 on every
variable). Below `MIN_DRIFT_CUSTOMERS` (200: chance PSI about 0.05, a quarter of the alert level)
the report keeps the numbers but judges nothing: no alerts, status ``too few customers``, and one
message saying why.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ntl._version import __version__
from ntl.errors import ArtifactError, ParameterError
from ntl.frame import feature_columns

EMPTY_SHARE = 1e-4
ALERT_PSI = 0.2
MODERATE_PSI = 0.1
MIN_DRIFT_CUSTOMERS = 200
TOO_FEW = "too few customers"
SCORE_COLUMNS = ("risk_score", "anomaly_score", "probability")
CATEGORY_COLUMNS = ("cluster", "quality_flag")
# Positions of the largest drop, counted from the end or as a share of the history: they move
# with the calendar, so they are reported but never alerted.
CALENDAR_FEATURES = ("drop_days_ago", "drop_position")
# A monotone function of risk_score through the fitted calibrator: reported, never alerted.
DERIVED_SCORES = ("probability",)
HISTORY_TOLERANCE = 0.1  # histories differing by more than this share are not comparable


def _finite_values(values: Sequence[float] | np.ndarray | pd.Series) -> np.ndarray:
    """Values as float64 with NaN kept (missing) and infinities treated as missing."""
    array = pd.Series(values).astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan)
    array[np.isinf(array)] = np.nan
    return array


def bin_edges(expected: Sequence[float] | np.ndarray, bins: int = 10) -> np.ndarray:
    """Inner bin edges: the distinct quantiles of `expected` at 1/bins, ..., (bins-1)/bins."""
    if bins < 2:
        raise ParameterError(f"bins must be at least 2, got {bins}")
    values = _finite_values(expected)
    present = values[~np.isnan(values)]
    if present.size == 0:
        return np.empty(0)
    return np.unique(np.quantile(present, np.arange(1, bins) / bins))


def bin_shares(values: Sequence[float] | np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Share of values in each bin (x < e1, e1 <= x < e2, ..., x >= e_last), then missing."""
    array = _finite_values(values)
    if array.size == 0:
        raise ValueError("cannot compute bin shares of an empty sample")
    missing = np.isnan(array)
    bin_ids = np.searchsorted(edges, array[~missing], side="right")
    counts = np.bincount(bin_ids, minlength=edges.size + 1).astype(np.float64)
    return np.append(counts, missing.sum()) / array.size


def psi_from_shares(expected_shares: Sequence[float], actual_shares: Sequence[float]) -> float:
    """PSI of two share vectors over the same bins (empty bins floored at EMPTY_SHARE)."""
    expected = np.maximum(np.asarray(expected_shares, dtype=np.float64), EMPTY_SHARE)
    actual = np.maximum(np.asarray(actual_shares, dtype=np.float64), EMPTY_SHARE)
    if expected.shape != actual.shape:
        raise ValueError(f"share vectors differ in length: {expected.size} vs {actual.size}")
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def psi(
    expected: Sequence[float] | np.ndarray, actual: Sequence[float] | np.ndarray, bins: int = 10
) -> float:
    """Population Stability Index of `actual` against `expected`, on the deciles of `expected`."""
    edges = bin_edges(expected, bins)
    return psi_from_shares(bin_shares(expected, edges), bin_shares(actual, edges))


def category_shares(values: Sequence | pd.Series) -> dict[str, float]:
    """Share of each category (as str keys, sorted), missing values under "missing"."""
    series = pd.Series(values, dtype=object)
    labels = series.map(str).where(series.notna(), "missing")
    shares = labels.value_counts(normalize=True).sort_index()
    return {str(name): float(share) for name, share in shares.items()}


def category_psi(expected_shares: dict[str, float], actual: Sequence | pd.Series) -> float:
    """PSI of a categorical variable against stored shares; unseen categories count too."""
    actual_shares = category_shares(actual)
    names = sorted(set(expected_shares) | set(actual_shares))
    return psi_from_shares(
        [expected_shares.get(name, 0.0) for name in names],
        [actual_shares.get(name, 0.0) for name in names],
    )


def _numeric_entry(values: np.ndarray | pd.Series, bins: int) -> dict[str, Any]:
    array = _finite_values(values)
    edges = bin_edges(array, bins)
    present = array[~np.isnan(array)]
    quantiles = np.quantile(present, [0.05, 0.25, 0.5, 0.75, 0.95]) if present.size else []
    return {
        "edges": [float(edge) for edge in edges],
        "shares": [float(share) for share in bin_shares(array, edges)],
        "missing_share": float(np.isnan(array).mean()),
        "mean": float(present.mean()) if present.size else None,
        "quantiles": {
            name: float(value)
            for name, value in zip(("p05", "p25", "p50", "p75", "p95"), quantiles, strict=False)
        },
    }


def drift_baseline(
    preprocessed: pd.DataFrame,
    scores: pd.DataFrame,
    bins: int = 10,
    *,
    last_day: pd.Timestamp | str | None = None,
    n_days: int | None = None,
) -> dict[str, Any]:
    """Bin edges and shares of every feature, score and category of the reference population.

    `preprocessed` is the preprocessed frame the model was built on and `scores` its model scores
    (same index). Score columns that are all missing (e.g. probability without labels) are left
    out. `last_day` and `n_days` (the history's last day and length) are recorded so the report
    can tell a different history length from drift. JSON-ready.
    """
    if not preprocessed.index.equals(scores.index):
        raise ValueError("preprocessed and scores must have the same customers in the same order")
    features = feature_columns(preprocessed)
    if not features:
        raise ValueError("preprocessed frame has no feature columns")
    score_names = [
        name for name in SCORE_COLUMNS if name in scores.columns and scores[name].notna().any()
    ]
    history: dict[str, Any] = {}
    if n_days is not None:
        history["n_days"] = int(n_days)
    if last_day is not None:
        history["last_day"] = pd.Timestamp(last_day).strftime("%Y-%m-%d")
    return {
        "ntl_version": __version__,
        "n_customers": int(len(preprocessed)),
        "bins": int(bins),
        "history": history,
        "features": {name: _numeric_entry(preprocessed[name], bins) for name in features},
        "scores": {name: _numeric_entry(scores[name], bins) for name in score_names},
        "categories": {
            name: category_shares(preprocessed[name])
            for name in CATEGORY_COLUMNS
            if name in preprocessed.columns
        },
    }


def _status(value: float, alert_threshold: float) -> str:
    if np.isnan(value):
        return "stable"
    if value > alert_threshold:
        return "shift"
    if value > MODERATE_PSI:
        return "moderate"
    return "stable"


def comparable_history(baseline: dict[str, Any], n_days: int | None) -> bool:
    """False when the new history's length differs from the baseline's by > HISTORY_TOLERANCE."""
    baseline_days = baseline.get("history", {}).get("n_days")
    if baseline_days is None or n_days is None:
        return True
    return abs(n_days - baseline_days) <= HISTORY_TOLERANCE * baseline_days + 1e-9


def drift_report(
    baseline: dict[str, Any],
    preprocessed: pd.DataFrame,
    scores: pd.DataFrame,
    alert_threshold: float = ALERT_PSI,
    *,
    n_days: int | None = None,
    min_customers: int = MIN_DRIFT_CUSTOMERS,
) -> pd.DataFrame:
    """PSI of every baseline feature, score and category in new data, highest first.

    Columns: variable, kind (feature / score / category), psi, status, alert (psi >
    alert_threshold, for comparable variables only), baseline_median, median (numeric variables).
    Status: stable / moderate / shift; "calendar" for CALENDAR_FEATURES and "derived" for
    DERIVED_SCORES (both never alerted); "not comparable" for every variable when the history
    length `n_days` differs from the baseline's by more than HISTORY_TOLERANCE; "too few customers" for every variable when fewer than
    `min_customers` were scored (never alerted). The history lengths and the population are kept
    in ``report.attrs``.
    """
    for key in ("features", "scores", "categories"):
        if key not in baseline:
            raise ArtifactError(f"drift baseline has no {key!r} section: not a drift_baseline.json")
    absent = [name for name in baseline["features"] if name not in preprocessed.columns]
    absent += [name for name in baseline["scores"] if name not in scores.columns]
    if absent:
        raise ArtifactError(
            f"drift baseline lists variables the new data lacks: {absent[:5]} "
            "(were the artifacts made by another version of the preprocessing?)"
        )
    rows = []
    for kind, section, frame in (
        ("feature", baseline["features"], preprocessed),
        ("score", baseline["scores"], scores),
    ):
        for name, entry in section.items():
            values = _finite_values(frame[name])
            shares = bin_shares(values, np.asarray(entry["edges"], dtype=np.float64))
            present = values[~np.isnan(values)]
            rows.append(
                {
                    "variable": name,
                    "kind": kind,
                    "psi": psi_from_shares(entry["shares"], shares),
                    "baseline_median": entry["quantiles"].get("p50", np.nan),
                    "median": float(np.median(present)) if present.size else np.nan,
                }
            )
    for name, shares in baseline["categories"].items():
        if name in preprocessed.columns:
            rows.append(
                {
                    "variable": name,
                    "kind": "category",
                    "psi": category_psi(shares, preprocessed[name]),
                    "baseline_median": np.nan,
                    "median": np.nan,
                }
            )
    report = pd.DataFrame(rows)
    status = pd.Series([_status(value, alert_threshold) for value in report["psi"]])
    status[report["variable"].isin(CALENDAR_FEATURES).to_numpy()] = "calendar"
    derived = (report["kind"] == "score") & report["variable"].isin(DERIVED_SCORES)
    status[derived.to_numpy()] = "derived"
    comparable = comparable_history(baseline, n_days)
    if not comparable:
        status[:] = "not comparable"
    enough = len(preprocessed) >= min_customers
    if not enough:
        status[:] = TOO_FEW
    report.insert(3, "status", status.to_numpy())
    report.insert(4, "alert", (report["psi"] > alert_threshold) & status.isin(["shift"]).to_numpy())
    report = report.sort_values("psi", ascending=False, kind="stable").reset_index(drop=True)
    report.attrs["history"] = {
        "baseline_days": baseline.get("history", {}).get("n_days"),
        "days": n_days,
        "comparable": comparable,
    }
    report.attrs.update(n_customers=len(preprocessed), min_customers=int(min_customers))
    return report


def too_few_message(report: pd.DataFrame) -> str | None:
    """Why a drift report judges nothing (too few customers scored), or None when it judges."""
    n, needed = report.attrs.get("n_customers"), report.attrs.get("min_customers")
    if n is None or needed is None or n >= needed:
        return None
    return (
        f"drift not judged: {n:,} customer(s) scored, PSI needs at least {needed:,} to tell a "
        "shift from chance"
    )


def drift_messages(report: pd.DataFrame, alert_threshold: float = ALERT_PSI) -> list[str]:
    """One warning sentence per variable of a drift_report flagged as an alert.

    A report on too few customers, or on a history that is not comparable, gets one sentence
    saying so instead.
    """
    too_few = too_few_message(report)
    if too_few:
        return [too_few]
    history = report.attrs.get("history", {})
    if not history.get("comparable", True):
        return [
            f"drift not checked: the file has {history['days']} days of history against "
            f"{history['baseline_days']} at training, so every feature is computed over a "
            "different span and differs by construction; score files with the training history "
            "length to check drift (and to trust the scores)"
        ]
    return [
        f"drift: {row.kind} {row.variable!r} has PSI {row.psi:.2f} (> {alert_threshold}); "
        f"median {row.baseline_median:.3g} at training, {row.median:.3g} now"
        if row.kind != "category"
        else f"drift: {row.variable!r} category shares changed (PSI {row.psi:.2f})"
        for row in report[report["alert"]].itertuples(index=False)
    ]
