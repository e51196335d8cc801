"""ntl.features: every feature on hand-made series with known answers, edge cases, identity.

Features are computed the one way the chain computes them, ``ntl.preprocess.describe_customers``,
with cleaning switched off unless a test asks for it, so the hand-computed answers are those of
the raw readings.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from ntl import features
from ntl.errors import MeterDataError, ParameterError
from ntl.features import (
    DEFAULT_CHUNK_ROWS,
    FEATURE_DESCRIPTIONS,
    FEATURE_NAMES,
    Block,
    CalendarLayout,
    calendar_sums,
    cumulative_sums,
    rank_by_separation,
    runs_per_row,
    set_peer_deviation,
    true_runs,
)
from ntl.frame import build_frame
from ntl.preprocess import PreprocessConfig, describe_customers

MONDAY = "2015-01-05"
REQUIRED = (
    "mean_kwh missing_share gap_longest gap_count missing_recent_share zero_share "
    "zero_run_longest zero_run_count drop_largest drop_days_ago drop_position recent_vs_past "
    "yoy_ratio trend_slope weekend_weekday_ratio seasonal_amplitude acf_7 acf_30 cv peer_deviation"
).split()


NO_CLEANING = {"interpolation_limit_days": 0, "outlier_sigma": math.inf}


def features_of(
    *series: np.ndarray,
    start: str = MONDAY,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    n_threads: int = 1,
    **config,
) -> pd.DataFrame:
    """Features of equally long series (one customer each) starting on `start`, through the
    chain's pass; `config` sets PreprocessConfig fields (cleaning off unless given)."""
    matrix = np.vstack(series).astype(np.float32)
    frame = build_frame([f"C{i:03d}" for i in range(len(matrix))], matrix, start)
    described = describe_customers(
        frame, PreprocessConfig(**{**NO_CLEANING, **config}), chunk_rows, n_threads
    )
    return pd.DataFrame(described.features, index=frame.index, columns=list(FEATURE_NAMES))


def one(series: np.ndarray, **kwargs) -> pd.Series:
    """Features of a single series."""
    return features_of(series, **kwargs).iloc[0]


def random_matrix(n_rows: int, n_days: int, seed: int = 0) -> np.ndarray:
    """Gamma readings with 10 % missing, some gaps and some zeros."""
    rng = np.random.default_rng(seed)
    matrix = rng.gamma(3.0, 2.0, size=(n_rows, n_days)).astype(np.float32)
    matrix[rng.random((n_rows, n_days)) < 0.1] = np.nan
    matrix[rng.random((n_rows, n_days)) < 0.05] = 0.0
    matrix[0, 20:45] = np.nan
    return matrix


def test_every_required_feature_exists_and_is_described():
    assert set(REQUIRED) <= set(FEATURE_NAMES)
    assert list(FEATURE_NAMES) == list(FEATURE_DESCRIPTIONS)
    assert all(len(text) > 10 for text in FEATURE_DESCRIPTIONS.values())


def test_series_zeroed_after_day_100():
    row = one(np.r_[np.full(100, 10.0), np.zeros(100)])
    assert row["zero_days"] == 100
    assert row["zero_share"] == 0.5
    assert row["zero_run_longest"] == 100
    assert row["zero_run_count"] == 1
    assert row["zero_recent_share"] == 1.0
    assert row["mean_kwh"] == 5.0
    assert row["drop_largest"] == 1.0
    assert row["drop_days_ago"] == 99  # first zero day is index 100, last day index 199
    assert row["drop_position"] == 0.5
    assert row["after_drop_ratio"] == 0.0
    assert row["recent_vs_past"] == 0.0
    assert row["month_min_ratio"] == 0.0
    assert row["trend_slope"] < 0


def test_constant_series():
    row = one(np.full(60, 5.0))
    assert row["mean_kwh"] == 5.0
    assert row["max_kwh"] == 5.0
    assert row["std_kwh"] == 0.0
    assert row["cv"] == 0.0
    assert row["weekly_cv"] == 0.0
    assert row["monthly_cv"] == 0.0
    assert row["trend_slope"] == 0.0
    assert row["weekend_weekday_ratio"] == 1.0
    assert row["drop_largest"] == 0.0  # never falls ...
    assert np.isnan(row["drop_days_ago"]) and np.isnan(row["drop_position"])  # ... so no "when"
    assert np.isnan(row["acf_7"])  # no variance, no autocorrelation
    assert row["zero_share"] == 0.0 and row["zero_run_longest"] == 0 and row["zero_run_count"] == 0
    assert row["missing_share"] == 0.0 and row["gap_longest"] == 0 and row["gap_count"] == 0
    assert np.isnan(row["recent_vs_past"])  # 60 days: the 90-day recent window is everything
    assert np.isnan(row["yoy_ratio"]) and np.isnan(row["seasonal_amplitude"])


def test_weekly_pattern():
    dates = pd.date_range(MONDAY, periods=196, freq="D")
    series = np.where(dates.day_of_week >= 5, 2.0, 1.0)
    row = one(series)
    assert row["weekend_weekday_ratio"] == pytest.approx(2.0)
    assert row["acf_7"] == pytest.approx(1.0, abs=1e-6)  # 189 pairs = 27 whole weeks
    assert row["weekly_cv"] == pytest.approx(0.0, abs=1e-6)


def test_level_drop_of_known_size_on_known_day():
    row = one(np.r_[np.full(120, 10.0), np.full(80, 3.7)])
    assert row["drop_largest"] == pytest.approx(0.63, abs=1e-6)
    assert row["drop_days_ago"] == 79
    assert row["drop_position"] == pytest.approx(0.6)
    assert row["after_drop_ratio"] == pytest.approx(0.37, abs=1e-6)
    recent_mean = (10 * 10.0 + 80 * 3.7) / 90  # the last 90 days: 10 before the drop, 80 after
    assert row["recent_vs_past"] == pytest.approx(recent_mean / 10.0, rel=1e-5)


def test_drop_window_is_a_parameter():
    series = np.r_[np.full(100, 10.0), np.full(10, 1.0), np.full(90, 10.0)]  # a 10-day dip
    assert one(series, drop_window_days=30)["drop_largest"] == pytest.approx(0.3, abs=1e-6)
    assert one(series, drop_window_days=10)["drop_largest"] == pytest.approx(0.9, abs=1e-6)


def test_gaps_and_recent_missing():
    series = np.full(200, 4.0)
    series[10:15] = np.nan
    series[30:32] = np.nan
    series[150:160] = np.nan  # inside the last 90 days (110..199)
    row = one(series)
    assert row["gap_count"] == 3
    assert row["gap_longest"] == 10
    assert row["missing_share"] == pytest.approx(17 / 200)
    assert row["missing_recent_share"] == pytest.approx(10 / 90)
    assert row["missing_recent_change"] == pytest.approx(10 / 90 - 7 / 110)
    assert row["mean_kwh"] == 4.0  # missing readings are not zeros


def test_recent_window_is_a_parameter():
    series = np.r_[np.full(150, 10.0), np.full(50, 5.0)]
    assert one(series, recent_days=50)["recent_vs_past"] == pytest.approx(0.5)
    assert one(series, recent_days=100)["recent_vs_past"] == pytest.approx(7.5 / 10)


def test_trend_slope_is_relative_per_year():
    days = np.arange(365)
    row = one(100 + 0.1 * days)
    assert row["trend_slope"] == pytest.approx(0.1 * 365.25 / (100 + 0.1 * 182), rel=1e-4)


def test_year_over_year_needs_two_years():
    series = np.r_[np.full(365, 10.0), np.full(365, 5.0)]
    assert one(series)["yoy_ratio"] == pytest.approx(0.5)
    assert np.isnan(one(series[1:])["yoy_ratio"])


def test_seasonal_amplitude_needs_a_year():
    dates = pd.date_range("2015-01-01", periods=365, freq="D")
    series = np.where(dates.month == 1, 2.0, 1.0)
    row = one(series, start="2015-01-01")
    assert row["seasonal_amplitude"] == pytest.approx(1 / (13 / 12))
    assert np.isnan(one(series[:364], start="2015-01-01")["seasonal_amplitude"])


def test_monthly_aggregates():
    dates = pd.date_range("2015-01-01", periods=90, freq="D")  # Jan, Feb, Mar
    series = np.select([dates.month == 1, dates.month == 2], [1.0, 2.0], 3.0)
    row = one(series, start="2015-01-01")
    expected_mean = (31 * 1 + 28 * 2 + 31 * 3) / 90
    assert row["month_min_ratio"] == pytest.approx(1 / expected_mean)
    assert row["monthly_cv"] == pytest.approx(np.std([1, 2, 3]) / 2)


def test_level_features_match_numpy():
    matrix = random_matrix(5, 120)
    table = features_of(*matrix)
    np.testing.assert_allclose(table["mean_kwh"], np.nanmean(matrix, axis=1), rtol=1e-5)
    np.testing.assert_allclose(table["std_kwh"], np.nanstd(matrix, axis=1), rtol=1e-4)
    np.testing.assert_allclose(table["max_kwh"], np.nanmax(matrix, axis=1), rtol=1e-6)
    np.testing.assert_allclose(
        table["cv"], np.nanstd(matrix, axis=1) / np.nanmean(matrix, axis=1), rtol=1e-4
    )


def test_autocorrelation_matches_reference():
    series = random_matrix(1, 150, seed=3)[0]
    row = one(series)
    mean = np.nanmean(series)
    centred = series - mean
    variance = np.nanmean(centred**2)
    for lag in (7, 30):
        products = centred[:-lag] * centred[lag:]
        expected = np.nanmean(products) / variance
        assert row[f"acf_{lag}"] == pytest.approx(expected, rel=1e-4)


def test_fourteen_days_of_history():
    row = one(np.r_[np.full(7, 6.0), np.full(7, 3.0)])
    assert row["mean_kwh"] == 4.5
    assert row["drop_largest"] == pytest.approx(0.5)  # the window shrinks to 7 days
    assert row["drop_days_ago"] == 6
    assert not np.isnan(row["acf_7"])
    for name in ("acf_30", "yoy_ratio", "seasonal_amplitude", "recent_vs_past"):
        assert np.isnan(row[name]), name


def test_all_missing_customer():
    row = one(np.full(100, np.nan))
    assert row["missing_share"] == 1.0
    assert row["gap_longest"] == 100 and row["gap_count"] == 1
    assert row["zero_days"] == 0 and row["zero_run_longest"] == 0
    for name in ("mean_kwh", "zero_share", "cv", "drop_largest", "acf_7", "trend_slope"):
        assert np.isnan(row[name]), name


def test_output_layout_and_dtype():
    table = features_of(*random_matrix(4, 60))
    assert list(table.columns) == list(FEATURE_NAMES)
    assert (table.dtypes == np.float32).all()
    assert list(table.index) == ["C000", "C001", "C002", "C003"]
    assert table["peer_deviation"].isna().all()  # added by the fitted clustering, not here


def test_peer_deviation_is_written_in_place():
    table = features_of(*random_matrix(3, 30)).to_numpy().copy()
    set_peer_deviation(table, np.array([0.1, 0.2, np.nan]))
    column = table[:, FEATURE_NAMES.index("peer_deviation")]
    np.testing.assert_allclose(column, [0.1, 0.2, np.nan], rtol=1e-6)
    with pytest.raises(MeterDataError, match="one value per customer"):
        set_peer_deviation(table, np.zeros(2))


def test_a_customer_alone_equals_the_customer_in_a_batch():
    matrix = random_matrix(12, 800, seed=5)
    batch = features_of(*matrix, start="2014-03-01", interpolation_limit_days=3, outlier_sigma=3)
    for row in (0, 7, 11):
        alone = features_of(
            matrix[row], start="2014-03-01", interpolation_limit_days=3, outlier_sigma=3
        )
        np.testing.assert_array_equal(alone.to_numpy()[0], batch.to_numpy()[row])
    blocks = features_of(*matrix, start="2014-03-01", chunk_rows=5, n_threads=2)
    np.testing.assert_array_equal(
        blocks.to_numpy(), features_of(*matrix, start="2014-03-01").to_numpy()
    )


def test_cleaned_readings_feed_the_level_features_only():
    raw = np.r_[np.full(10, 2.0), np.nan, np.full(18, 2.0), 50.0]
    row = one(raw, interpolation_limit_days=1, outlier_sigma=2.0)
    assert row["missing_share"] == pytest.approx(1 / 30)  # from the raw readings
    assert row["gap_count"] == 1
    uncapped = one(raw)
    assert uncapped["mean_kwh"] == pytest.approx((28 * 2.0 + 50.0) / 29)
    assert row["mean_kwh"] < uncapped["mean_kwh"]  # the 50 kWh peak was capped


def test_runs_match_a_reference():
    rng = np.random.default_rng(1)
    mask = rng.random((30, 25)) < 0.5
    mask[3] = True
    mask[4] = False
    rows, starts, lengths = true_runs(mask)
    expected = []
    for row in range(mask.shape[0]):
        column = 0
        while column < mask.shape[1]:
            if mask[row, column]:
                end = column
                while end < mask.shape[1] and mask[row, end]:
                    end += 1
                expected.append((row, column, end - column))
                column = end
            else:
                column += 1
    assert list(zip(rows, starts, lengths, strict=True)) == expected
    count, longest = runs_per_row(rows, lengths, mask.shape[0])
    assert count[3] == 1 and longest[3] == 25
    assert count[4] == 0 and longest[4] == 0


def test_running_sums_give_every_window_sum():
    matrix = np.nan_to_num(random_matrix(4, 50, seed=2))
    sums = cumulative_sums(matrix)
    assert sums.shape == (4, 51) and sums.dtype == np.float64
    for start, stop in ((0, 50), (3, 10), (49, 50), (7, 7)):
        np.testing.assert_allclose(
            sums[:, stop] - sums[:, start], matrix[:, start:stop].sum(axis=1, dtype=np.float64)
        )
    counts = cumulative_sums(matrix > 0, np.int16)
    assert counts.dtype == np.int16
    np.testing.assert_array_equal(counts[:, 50] - counts[:, 10], (matrix[:, 10:] > 0).sum(axis=1))


def test_calendar_sums_by_weekday_month_and_month_of_year():
    dates = pd.date_range("2014-05-20", periods=800, freq="D")  # a Tuesday, mid-May, 2+ years
    matrix = random_matrix(3, 800, seed=8)
    present = ~np.isnan(matrix)
    filled = np.where(present, matrix, np.float32(0))
    direct = calendar_sums(filled, present, dates)
    running = calendar_sums(
        filled, present, CalendarLayout.of(dates), cumulative_sums(filled), cumulative_sums(present)
    )
    np.testing.assert_allclose(running.month_sums, direct.month_sums, rtol=1e-12)
    np.testing.assert_array_equal(running.month_counts, direct.month_counts)
    row = 1
    for weekday in range(7):  # Monday = 0
        days = np.asarray(dates.day_of_week == weekday)
        assert direct.weekday_sums[row, weekday] == pytest.approx(filled[row, days].sum())
        assert direct.weekday_counts[row, weekday] == present[row, days].sum()
    by_month = direct.month_of_year_means()
    for month in range(12):  # January = 0
        days = np.asarray(dates.month == month + 1)
        assert by_month[row, month] == pytest.approx(np.nanmean(matrix[row, days]))
    assert list(direct.month_of_year[:3]) == [4, 5, 6]  # May, June, July


def test_bad_inputs_are_named():
    with pytest.raises(MeterDataError, match="at least 14 days of history, got 9"):
        features_of(np.ones(9))
    with pytest.raises(ParameterError, match="recent_days must be >= 1, got 0"):
        features_of(np.ones(20), recent_days=0)
    with pytest.raises(MeterDataError, match="2-D"):
        true_runs(np.ones(10, dtype=bool))


def test_rank_by_separation_matches_sklearn_auc():
    rng = np.random.default_rng(2)
    flag = pd.Series([1] * 20 + [0] * 40 + [None] * 5, dtype="Int8")
    strong = np.r_[rng.normal(0, 1, 20), rng.normal(3, 1, 40), rng.normal(0, 1, 5)]
    weak = rng.normal(0, 1, 65)
    features = pd.DataFrame({"weak": weak, "strong": strong})
    table = rank_by_separation(features, flag)
    assert list(table["feature"]) == ["strong", "weak"]
    known = flag.notna().to_numpy()
    target = flag[known].astype(int)
    assert table.loc[0, "auc"] == pytest.approx(roc_auc_score(target, strong[known]))
    assert table.loc[0, "direction"] == "lower in theft"
    with pytest.raises(MeterDataError, match="both theft"):
        rank_by_separation(features, pd.Series([0] * 65, dtype="Int8"))


def test_rank_by_separation_with_ties_and_missing_values():
    rng = np.random.default_rng(3)
    flag = pd.Series(rng.integers(0, 2, size=80), dtype="Int8")
    tied = rng.integers(0, 3, size=80).astype(float)  # many ties
    holes = rng.normal(size=80) + flag.to_numpy(dtype=float)
    holes[::4] = np.nan
    theft_only = np.where(flag.to_numpy() == 1, 1.0, np.nan)  # no normal customer has a value
    features = pd.DataFrame({"tied": tied, "holes": holes, "theft_only": theft_only})
    table = rank_by_separation(features, flag).set_index("feature")
    target = flag.to_numpy(dtype=int)
    assert table.loc["tied", "auc"] == pytest.approx(roc_auc_score(target, tied))
    usable = ~np.isnan(holes)
    assert table.loc["holes", "auc"] == pytest.approx(roc_auc_score(target[usable], holes[usable]))
    assert table.loc["holes", "direction"] == "higher in theft"
    assert np.isnan(table.loc["theft_only", "auc"])
    assert table.loc["theft_only", "direction"] == "no data"
    assert list(table.index)[-1] == "theft_only"  # no separation: last


@pytest.mark.parametrize("start", ["1969-12-25", "1999-12-31", "2016-02-27", "2016-10-31"])
@pytest.mark.parametrize("days", [1, 14, 400, 1035])
def test_calendar_layout_equals_pandas_date_fields(start, days):
    """Weekday of the first day and the calendar months, from numpy's units, as pandas says."""
    dates = pd.date_range(start, periods=days, freq="D")
    layout = CalendarLayout.of(dates)
    month_code = np.asarray(dates.year * 12 + dates.month - 1)
    starts = np.flatnonzero(np.r_[True, month_code[1:] != month_code[:-1]])
    assert layout.n_days == days
    assert layout.first_weekday == dates[0].day_of_week
    np.testing.assert_array_equal(layout.month_starts, starts)
    np.testing.assert_array_equal(layout.month_of_year, month_code[starts] % 12)
    assert CalendarLayout.spanning(np.datetime64(start), days) is layout  # the same days


def test_calendar_layouts_are_kept_by_their_days():
    """CalendarLayout.of keeps the layouts it made by their days (the scorer's calendars repeat):
    the same days give the same layout, read-only; other days (same length, or a date of
    another unit or time zone) a layout of their own, also once more than MAX_KEPT_LAYOUTS were
    made."""
    dates = pd.date_range("2015-01-14", periods=656, freq="D")
    layout = CalendarLayout.of(dates)
    assert CalendarLayout.of(pd.date_range("2015-01-14", periods=656, freq="D")) is layout
    with pytest.raises(ValueError):
        layout.month_starts[0] = 1
    shifted = CalendarLayout.of(pd.date_range("2015-01-15", periods=656, freq="D"))
    assert (shifted.first_weekday, shifted.month_starts[1]) == (
        (layout.first_weekday + 1) % 7,
        layout.month_starts[1] - 1,
    )
    seconds = CalendarLayout.of(dates.as_unit("s"))
    np.testing.assert_array_equal(seconds.month_starts, layout.month_starts)
    for offset in range(features.MAX_KEPT_LAYOUTS + 2):  # more calendars than are kept
        start = pd.Timestamp("2014-01-01") + pd.Timedelta(days=offset)
        made = CalendarLayout.of(pd.date_range(start, periods=400, freq="D"))
        assert made.first_weekday == start.day_of_week
        assert made.n_days == 400
    assert CalendarLayout.of(dates).month_starts.tolist() == layout.month_starts.tolist()


def test_window_ratios_equal_one_window_at_a_time():
    """Block.window_ratios reads every window from the running sums at once: the same values
    as the ratio of two window_mean calls, NaN for an empty window or a mean that is not
    positive."""
    readings = np.array(
        [
            [1.0, 2.0, np.nan, 4.0, 0.0, 0.0, 0.0, 5.0, 6.0, np.nan],
            [np.nan] * 10,
            [0.0] * 10,
            [3.0, np.nan, np.nan, np.nan, np.nan, 1.0, 2.0, 0.5, 0.25, 8.0],
        ],
        dtype=np.float32,
    )
    block = Block.of(readings, readings, pd.date_range(MONDAY, periods=10))
    windows = [(5, 10, 0, 5), (7, 10, 4, 7), (0, 10, 0, 10), (2, 4, 1, 2)]
    ratios = block.window_ratios(windows)
    for column, (a, b, c, d) in enumerate(windows):
        with np.errstate(invalid="ignore", divide="ignore"):
            over, under = block.window_mean(a, b), block.window_mean(c, d)
            expected = np.where(under > 0, over / under, np.nan)
        np.testing.assert_array_equal(ratios[:, column], expected)
    assert np.isnan(ratios[1]).all() and np.isnan(ratios[2]).all()
