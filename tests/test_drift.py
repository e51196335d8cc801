"""PSI and the drift baseline/report of ntl.drift."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ntl import drift
from ntl.errors import ArtifactError, ParameterError


def _population(n: int, seed: int, shift: float = 0.0, missing: float = 0.0) -> tuple:
    """A small preprocessed frame and scores; `shift` moves mean_kwh, `missing` blanks yoy."""
    rng = np.random.default_rng(seed)
    index = pd.Index([f"C{i:04d}" for i in range(n)], name="CONS_NO")
    yoy = rng.normal(1.0, 0.2, n).astype(np.float32)
    yoy[rng.random(n) < missing] = np.nan
    preprocessed = pd.DataFrame(
        {
            "FLAG": pd.array([pd.NA] * n, dtype="Int8"),
            "quality_flag": np.where(rng.random(n) < 0.8, "HIGH", "LOW"),
            "cluster": rng.integers(0, 3, n),
            "mean_kwh": rng.lognormal(2.0 + shift, 0.5, n).astype(np.float32),
            "yoy_ratio": yoy,
            "zero_share": np.where(rng.random(n) < 0.9, 0.0, rng.random(n)).astype(np.float32),
        },
        index=index,
    )
    scores = pd.DataFrame(
        {
            "anomaly_score": rng.beta(2, 5, n),
            "xgb_probability": np.nan,
            "probability": np.nan,
            "risk_score": rng.beta(2, 5, n),
        },
        index=index,
    )
    return preprocessed, scores


def test_psi_by_hand_on_known_shares():
    expected = np.repeat([1.0, 2.0, 3.0, 4.0], 25)  # quartile edges 2, 3, 4 -> bins 25 % each
    actual = np.repeat([1.0, 2.0, 3.0, 4.0], [10, 20, 30, 40])
    shares = np.array([0.1, 0.2, 0.3, 0.4])
    manual = float(np.sum((shares - 0.25) * np.log(shares / 0.25)))
    assert drift.psi(expected, actual, bins=4) == pytest.approx(manual)


def test_psi_near_zero_on_identical_and_large_on_shifted_samples():
    rng = np.random.default_rng(0)
    sample = rng.normal(0, 1, 5000)
    assert drift.psi(sample, sample) == pytest.approx(0.0, abs=1e-12)
    assert drift.psi(sample, rng.normal(0, 1, 5000)) < 0.02
    assert drift.psi(sample, rng.normal(1.0, 1, 5000)) > 0.5


def test_psi_counts_missing_values_as_their_own_bin():
    values = np.arange(100, dtype=float)
    with_gaps = values.copy()
    with_gaps[:30] = np.nan
    assert drift.psi(values, with_gaps) > 0.2
    edges = drift.bin_edges(values, bins=10)
    shares = drift.bin_shares(with_gaps, edges)
    assert shares[-1] == pytest.approx(0.3)
    assert shares.sum() == pytest.approx(1.0)


def test_bin_edges_of_discrete_values_collapse():
    values = np.array([0.0] * 90 + [1.0] * 10)
    edges = drift.bin_edges(values, bins=10)  # deciles: eight zeros, then one interpolated edge
    assert edges == pytest.approx([0.0, 0.1])
    assert drift.bin_shares(values, edges).tolist() == [0.0, 0.9, 0.1, 0.0]
    with pytest.raises(ParameterError, match="bins must be at least 2"):
        drift.bin_edges(values, bins=1)


def test_category_psi_sees_new_categories():
    baseline = drift.category_shares(["a"] * 50 + ["b"] * 50)
    assert baseline == {"a": 0.5, "b": 0.5}
    assert drift.category_psi(baseline, ["a", "b"] * 20) == pytest.approx(0.0)
    assert drift.category_psi(baseline, ["a"] * 40 + ["c"] * 60) > 1.0


def test_baseline_is_json_ready_and_skips_empty_scores():
    preprocessed, scores = _population(300, seed=1)
    baseline = drift.drift_baseline(preprocessed, scores)
    assert set(baseline["features"]) == {"mean_kwh", "yoy_ratio", "zero_share"}
    assert set(baseline["scores"]) == {"anomaly_score", "risk_score"}
    assert set(baseline["categories"]) == {"cluster", "quality_flag"}
    entry = baseline["features"]["mean_kwh"]
    assert len(entry["shares"]) == len(entry["edges"]) + 2  # bins + missing
    assert sum(entry["shares"]) == pytest.approx(1.0)
    assert json.loads(json.dumps(baseline)) == baseline


def test_report_stable_on_same_population_and_flags_shift():
    reference, reference_scores = _population(2000, seed=1)
    baseline = drift.drift_baseline(reference, reference_scores)
    same = drift.drift_report(baseline, reference, reference_scores)
    assert (same["psi"] < 1e-9).all()
    assert not same["alert"].any()

    shifted, shifted_scores = _population(2000, seed=2, shift=0.8, missing=0.4)
    report = drift.drift_report(baseline, shifted, shifted_scores).set_index("variable")
    assert report.loc["mean_kwh", "alert"]
    assert report.loc["mean_kwh", "status"] == "shift"
    assert report.loc["yoy_ratio", "alert"]  # 40 % missing now
    assert report.loc["risk_score", "psi"] < 0.1
    assert report.loc["cluster", "kind"] == "category"
    assert report["psi"].is_monotonic_decreasing
    messages = drift.drift_messages(report.reset_index())
    assert any("'mean_kwh' has PSI" in message for message in messages)
    assert len(messages) == int(report["alert"].sum())


def test_probability_is_reported_as_derived_and_never_alerted():
    """The run's own customers scored again showed a probability PSI of about 0.7 beside a
    risk-score PSI of 0.01: the baseline mixes the steps of several calibrators, a rescore only
    the final one's. Probability is the calibrator of risk_score: reported, never alerted."""
    reference, reference_scores = _population(2000, seed=1)
    steps = np.array([0.02, 0.04, 0.09, 0.3])
    mixed = np.where(np.arange(2000) % 2 == 0, steps[np.arange(2000) % 4], 0.05)  # two calibrators
    baseline = drift.drift_baseline(reference, reference_scores.assign(probability=mixed))
    rescored = reference_scores.assign(probability=steps[np.arange(2000) % 4])  # final one only
    report = drift.drift_report(baseline, reference, rescored).set_index("variable")
    assert report.loc["probability", "psi"] > drift.ALERT_PSI  # what used to alarm
    assert report.loc["probability", "status"] == "derived"
    assert not report["alert"].any()
    assert drift.drift_messages(report.reset_index()) == []
    moved = rescored.assign(risk_score=rescored["risk_score"] + 0.3)  # the score itself moves
    alerted = drift.drift_report(baseline, reference, moved).set_index("variable")
    assert alerted.loc["risk_score", "alert"] and not alerted.loc["probability", "alert"]


def test_report_refuses_data_without_baseline_features():
    reference, scores = _population(200, seed=1)
    baseline = drift.drift_baseline(reference, scores)
    with pytest.raises(ArtifactError, match=r"lacks: \['zero_share'\]"):
        drift.drift_report(baseline, reference.drop(columns="zero_share"), scores)
    with pytest.raises(ArtifactError, match="no 'categories' section"):
        drift.drift_report({"features": {}, "scores": {}}, reference, scores)


def _history(n_customers: int, n_days: int, extra_days: int, seed: int = 1):
    """Synthetic customers over n_days + extra_days, negative readings removed as the loader does.

    With seed 1 the generator draws no system-wide outage day: an outage day in one window and not
    the other (90 % of meters silent on one day) is a real change, and rightly alerts.
    """
    from ntl.synth import generate_consumption

    consumption, _ = generate_consumption(n_customers, n_days=n_days + extra_days, seed=seed)
    days = consumption.columns[1:]
    consumption[days] = consumption[days].where(consumption[days] >= 0)
    return consumption


def _days(frame: pd.DataFrame, first: int, last: int | None = None) -> pd.DataFrame:
    return frame[["FLAG", *frame.columns[1:][first:last]]]


@pytest.fixture(scope="module")
def month_on_month():
    """A baseline on 400 days and the same customers' next month (the window moved 30 days)."""
    from ntl.preprocess import PreprocessConfig, fit_transform

    consumption = _history(1500, 400, 30)
    this_month, next_month = _days(consumption, 0, 400), _days(consumption, 30)
    preprocessor, preprocessed = fit_transform(this_month, PreprocessConfig(n_clusters=2), 3)
    no_scores = pd.DataFrame(index=preprocessed.index)
    baseline = drift.drift_baseline(
        preprocessed, no_scores, last_day=this_month.columns[-1], n_days=400
    )
    baseline = json.loads(json.dumps(baseline))  # as read back from drift_baseline.json
    return preprocessor, baseline, next_month


def _report(preprocessor, baseline, consumption):
    from ntl.frame import day_index

    preprocessed = preprocessor.transform(consumption)
    dates = day_index(consumption)
    return drift.drift_report(
        baseline, preprocessed, pd.DataFrame(index=preprocessed.index), n_days=len(dates)
    )


def test_next_month_of_the_same_population_raises_no_alert(month_on_month):
    preprocessor, baseline, next_month = month_on_month
    report = _report(preprocessor, baseline, next_month)
    assert not report["alert"].any(), report[report["alert"]]
    assert drift.drift_messages(report) == []
    by_name = report.set_index("variable")
    for name in ("drop_days_ago", "drop_position"):
        assert by_name.loc[name, "status"] == "calendar"
        assert by_name.loc[name, "psi"] > drift.ALERT_PSI  # what used to alarm every month
    assert (by_name.drop(["drop_days_ago", "drop_position"])["psi"] < drift.ALERT_PSI).all()


def test_a_real_shift_next_month_raises_alerts(month_on_month):
    preprocessor, baseline, next_month = month_on_month
    shifted = next_month.copy()
    days = shifted.columns[1:]
    shifted[days] = (shifted[days] * 0.4).astype(np.float32)  # a lower level everywhere
    report = _report(preprocessor, baseline, shifted)
    assert "mean_kwh" in set(report.loc[report["alert"], "variable"])
    messages = drift.drift_messages(report)
    assert any("feature 'mean_kwh' has PSI" in m for m in messages)


def test_a_much_shorter_history_is_one_warning_not_an_alert_per_feature(month_on_month):
    preprocessor, baseline, next_month = month_on_month
    report = _report(preprocessor, baseline, _days(next_month, -90))
    assert not report["alert"].any()
    assert set(report["status"]) == {"not comparable"}
    assert report.attrs["history"] == {"baseline_days": 400, "days": 90, "comparable": False}
    (message,) = drift.drift_messages(report)
    assert message.startswith("drift not checked: the file has 90 days of history against 400")


def test_history_lengths_within_a_tenth_are_comparable():
    assert drift.comparable_history({"history": {"n_days": 400}}, 440)
    assert not drift.comparable_history({"history": {"n_days": 400}}, 441)
    assert drift.comparable_history({}, 90)  # an old baseline without its history length
    baseline = drift.drift_baseline(*_population(50, 1), last_day="2016-10-31", n_days=1035)
    assert baseline["history"] == {"n_days": 1035, "last_day": "2016-10-31"}


def test_a_single_customer_gets_no_drift_verdict_but_one_message_why():
    """Scored alone, one customer lands in one bin of every variable: PSI about 8 everywhere,
    which used to give a warning per variable."""
    reference, reference_scores = _population(2000, seed=1)
    baseline = drift.drift_baseline(reference, reference_scores)
    one, one_scores = reference.iloc[:1], reference_scores.iloc[:1]
    report = drift.drift_report(baseline, one, one_scores)
    assert report["psi"].max() > 2  # the numbers are kept: they are what they are
    assert not report["alert"].any()
    assert set(report["status"]) == {drift.TOO_FEW}
    assert drift.drift_messages(report) == [
        "drift not judged: 1 customer(s) scored, PSI needs at least 200 to tell a shift from chance"
    ]


def test_the_minimum_population_does_not_raise_alerts_by_chance():
    reference, reference_scores = _population(5000, seed=1)
    baseline = drift.drift_baseline(reference, reference_scores)
    for seed in range(2, 7):
        sample, sample_scores = _population(drift.MIN_DRIFT_CUSTOMERS, seed=seed)
        report = drift.drift_report(baseline, sample, sample_scores)
        assert drift.too_few_message(report) is None
        assert not report["alert"].any(), report[["variable", "psi"]]
