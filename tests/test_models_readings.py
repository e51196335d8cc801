"""The raw-readings baseline: its compact layout on hand-made series, and the fitted model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ntl.artifacts import ArtifactStore
from ntl.errors import MeterDataError
from ntl.frame import build_frame
from ntl.models import load_model_bundle, save_model_bundle, train_models
from ntl.models.metrics import compared_scores
from ntl.models.readings import (
    RAW_READINGS_MODEL,
    ReadingsLayout,
    readings_frame,
    readings_values,
)
from ntl.split import split_customers
from tests.test_models_helpers import FAST_TRAINING, make_preprocessed


@pytest.mark.parametrize(
    ("n_days", "expected", "span"),
    [
        (14, (14, 0, 0), 14),
        (28, (28, 0, 0), 28),
        (30, (28, 1, 0), 35),
        (90, (28, 9, 0), 91),
        (364, (28, 48, 0), 364),
        (365, (28, 48, 1), 392),
        (1035, (28, 48, 24), 1036),
    ],
)
def test_layout_covers_every_day_once(n_days, expected, span):
    layout = ReadingsLayout.for_history(n_days)
    assert (layout.daily, layout.weekly, layout.blocks) == expected
    assert layout.span_days == span >= n_days
    assert len(layout.names()) == expected[0] + sum(expected)


def test_layout_names_count_back_from_the_last_day():
    names = ReadingsLayout.for_history(400).value_names()
    assert names[:2] == ["day_1", "day_2"] and names[27] == "day_28"
    assert names[28] == "week_5" and names[28 + 47] == "week_52"
    assert names[-2:] == ["block_1", "block_2"]


def test_values_on_a_hand_made_history():
    """42 days: day k back reads k kWh; weeks 5 and 6 are the means of days 29-35 and 36-42."""
    days = np.arange(42, 0, -1, dtype=np.float32)  # oldest first: 42 .. 1 (last day reads 1)
    layout = ReadingsLayout.for_history(42)
    values = readings_values(days[None, :], layout)[0]
    names = layout.names()
    got = dict(zip(names, values.tolist(), strict=True))
    assert got["kwh_day_1"] == 1.0 and got["kwh_day_28"] == 28.0
    assert "kwh_week_5" not in got  # weeks only relative to the mean
    assert got["rel_week_5"] == pytest.approx(32.0 / 21.5)  # mean of 29..35 over that of 1..42
    assert got["rel_day_1"] == pytest.approx(1.0 / 21.5)
    assert got["rel_week_6"] == pytest.approx(39.0 / 21.5)


def test_missing_readings_stay_missing_and_partial_periods_average_what_is_there():
    days = np.full((1, 35), 2.0, dtype=np.float32)
    days[0, -1] = np.nan  # the last day missing
    days[0, 0:6] = np.nan  # six of week 5's seven days missing
    days[0, 6] = 9.0
    values = dict(
        zip(
            ReadingsLayout.for_history(35).names(),
            readings_values(days, ReadingsLayout.for_history(35))[0].tolist(),
            strict=True,
        )
    )
    assert np.isnan(values["kwh_day_1"]) and np.isnan(values["rel_day_1"])
    assert values["rel_week_5"] == pytest.approx(9.0 / ((2.0 * 27 + 9.0) / 28))
    assert values["rel_day_2"] == pytest.approx(2.0 / ((2.0 * 27 + 9.0) / 28))


def test_a_shorter_history_fills_the_trained_layout_with_nan_and_a_longer_one_is_cut():
    layout = ReadingsLayout.for_history(90)
    short = readings_values(np.ones((2, 30), dtype=np.float32), layout)
    names = layout.names()
    assert short.shape == (2, len(names))
    assert short[0, names.index("rel_week_5")] == 1.0
    assert np.isnan(short[0, names.index("rel_week_6")])
    long = np.ones((1, 400), dtype=np.float32)
    long[0, :300] = 100.0  # beyond the 91-day span: not read, except through the mean
    assert readings_values(long, layout)[0, names.index("kwh_day_28")] == 1.0
    assert readings_values(long, layout)[0, names.index("rel_week_13")] == pytest.approx(
        400 / 30100
    )


def test_zero_mean_customer_has_no_relative_values():
    values = readings_values(np.zeros((1, 28), dtype=np.float32), ReadingsLayout.for_history(28))
    assert (values[0, :28] == 0).all() and np.isnan(values[0, 28:]).all()


def test_bad_input_is_named():
    with pytest.raises(MeterDataError, match="at least 1 day"):
        ReadingsLayout.for_history(0)
    with pytest.raises(MeterDataError, match="2-D"):
        readings_values(np.ones(5, dtype=np.float32), ReadingsLayout.for_history(5))


def test_frame_is_indexed_like_the_consumption():
    frame = build_frame(["a", "b"], np.ones((2, 20)), "2020-01-01")
    out = readings_frame(frame, ReadingsLayout.for_history(20))
    assert list(out.index) == ["a", "b"] and out.columns[0] == "kwh_day_1"


def _consumption_with_signal(n: int = 600, n_days: int = 60, seed: int = 3):
    """Thieves' readings fall to a third in the last two weeks; normal ones stay level."""
    rng = np.random.default_rng(seed)
    flag = (rng.random(n) < 0.2).astype(int)
    readings = rng.gamma(4.0, 2.0, size=(n, n_days)).astype(np.float32)
    readings[flag == 1, -14:] /= 3.0
    return build_frame([f"c{i}" for i in range(n)], readings, "2021-01-01", flag)


def test_fitted_on_readings_it_ranks_a_late_fall_and_round_trips(tmp_path):
    consumption = _consumption_with_signal()
    preprocessed = make_preprocessed(len(consumption), seed=3)
    preprocessed.index = consumption.index
    preprocessed["FLAG"] = consumption["FLAG"]
    split = split_customers(preprocessed["FLAG"], seed=3)
    bundle, report = train_models(preprocessed, split, consumption, **FAST_TRAINING)
    assert "raw_readings_baseline" in report["times"]
    table = report["validation_table"]
    assert table.loc[RAW_READINGS_MODEL, "roc_auc"] > 0.95  # the fall is in the readings only
    store = ArtifactStore(tmp_path, notebook="03_modeling")
    save_model_bundle(bundle, store)
    loaded = load_model_bundle(ArtifactStore(tmp_path))
    assert loaded.readings.layout == bundle.readings.layout == ReadingsLayout.for_history(60)
    again = loaded.readings.predict(consumption)
    np.testing.assert_array_equal(again.to_numpy(), bundle.readings.predict(consumption).to_numpy())
    scores = bundle.score(preprocessed)
    compared = compared_scores(bundle, scores, preprocessed, consumption)
    assert compared.columns[-1] == RAW_READINGS_MODEL
    assert RAW_READINGS_MODEL not in compared_scores(bundle, scores, preprocessed).columns
    quick = load_model_bundle(ArtifactStore(tmp_path), baselines=False)
    assert quick.readings is None and quick.detectors == {}
    # the One-Class SVM and autoencoder per cluster come back from their skops files
    assert sorted(loaded.detectors) == ["autoencoder", "one_class_svm"]
    assert (tmp_path / "model_one_class_svm_cluster_global.skops").exists()
    pd.testing.assert_frame_equal(
        loaded.score_detectors(preprocessed), bundle.score_detectors(preprocessed)
    )
    assert list(compared.columns[2:5]) == ["isolation_forest", "one_class_svm", "autoencoder"]


def test_without_consumption_no_readings_model_is_fitted():
    preprocessed = make_preprocessed(400, seed=1)
    split = split_customers(preprocessed["FLAG"], seed=1)
    bundle, report = train_models(preprocessed, split, **FAST_TRAINING)
    assert bundle.readings is None and "raw_readings_baseline" not in report["times"]
    assert RAW_READINGS_MODEL not in report["validation_table"].index


def test_same_seed_same_readings_model():
    consumption = _consumption_with_signal(n=300)
    preprocessed = make_preprocessed(300, seed=3)
    preprocessed.index = consumption.index
    preprocessed["FLAG"] = consumption["FLAG"]
    split = split_customers(preprocessed["FLAG"], seed=3)
    first, _ = train_models(preprocessed, split, consumption, **FAST_TRAINING)
    second, _ = train_models(preprocessed, split, consumption, **FAST_TRAINING)
    pd.testing.assert_series_equal(
        first.readings.predict(consumption), second.readings.predict(consumption)
    )
