"""The shape features of the last weeks (ntl.features.shape_features) on hand-made series.

Computed through the chain's own pass (``describe_customers``, cleaning off), like every other
feature test. Series start on Monday 2015-01-05, so column j falls on weekday j % 7.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.test_features import features_of, one

WEEKDAY_FIVE = np.array([5, 5, 5, 5, 5, 1, 1], dtype=np.float64)  # 5 kWh Mon-Fri, 1 at weekends


def weeks(pattern: np.ndarray, n_weeks: int) -> np.ndarray:
    return np.tile(pattern, n_weeks)


def test_a_steady_week_has_its_profile_and_no_change():
    values = one(weeks(WEEKDAY_FIVE, 12))
    mean_day = WEEKDAY_FIVE.mean()  # 27 / 7
    assert values["profile_mon"] == pytest.approx(5 / mean_day)
    assert values["profile_sun"] == pytest.approx(1 / mean_day)
    for k in range(1, 15):
        assert values[f"recent_day_{k}"] == pytest.approx(1.0)
    assert values["week_over_week"] == pytest.approx(1.0)
    assert values["month_over_month"] == pytest.approx(1.0)
    assert values["recent_weekday_weekend"] == pytest.approx(5.0)
    assert values["weekday_weekend_change"] == pytest.approx(1.0)
    assert values["low_days_recent"] == 0.0
    assert values["profile_change"] == pytest.approx(0.0, abs=1e-12)
    assert values["zero_share_change"] == 0.0
    assert values["peak_change"] == pytest.approx(1.0)
    # the change into each of the last 14 days: 4 changes of 4 (Fri-Sat, Sun-Mon twice); the 70
    # days before: 19 in 69 pairs (no Sun-Mon into the first Monday); the same mean
    assert values["swing_change"] == pytest.approx((4 / 14) / (19 / 69))


def test_the_last_two_weeks_capped_keep_their_rhythm_but_lose_peak_and_swings():
    """The cap attack: readings clipped at 2 kWh in the last 14 days (two whole weeks)."""
    series = weeks(WEEKDAY_FIVE, 10)
    series[-14:] = np.minimum(series[-14:], 2.0)
    values = one(series)
    assert values["peak_change"] == pytest.approx(2 / 5)
    # day-to-day changes over the mean: into the two capped weeks 2,2,2,2,2,1,1 by 1 four times
    # in 14 pairs, mean 12/7; among the eight weeks before 5,5,5,5,5,1,1 by 4 fifteen times in
    # 55 pairs, mean 27/7
    assert values["swing_change"] == pytest.approx((4 / 14 / (12 / 7)) / (60 / 55 / (27 / 7)))
    assert values["zero_share_change"] == 0.0


def test_swings_ignore_a_slow_change_of_level():
    """A season: the level rises steadily, the day-to-day changes stay those of the week."""
    steady = one(weeks(WEEKDAY_FIVE, 10))["swing_change"]
    rising = one(weeks(WEEKDAY_FIVE, 10) * np.linspace(1.0, 2.0, 70))["swing_change"]
    assert rising == pytest.approx(steady, rel=0.05)


def test_a_flat_reading_has_no_swings_and_zeroed_days_raise_the_zero_share():
    flat = weeks(WEEKDAY_FIVE, 10)
    flat[-14:] = WEEKDAY_FIVE.mean()  # attack h5: the mean reported every day
    values = one(flat)
    # one change in 14, into the flat stretch (Sunday's 1 to 27/7); the weeks before: 60 in 55
    assert values["swing_change"] == pytest.approx((20 / 7 / 14) / (60 / 55))
    assert values["peak_change"] == pytest.approx(WEEKDAY_FIVE.mean() / 5)
    zeroed = np.full(70, 4.0)
    zeroed[-14::2] = 0.0  # every other day of the last two weeks
    zeroed[3] = 0.0  # and one day of the 56 before
    values = one(zeroed)
    assert values["zero_share_change"] == pytest.approx(7 / 14 - 1 / 56)
    assert values["peak_change"] == pytest.approx(1.0)
    # the last 14: 0 and 4 alternating, 14 changes of 4 over a mean of 2; the 56 days before:
    # two changes of 4 (into and out of the zero) in 55 pairs over a mean of 4 x 55 / 56
    assert values["swing_change"] == pytest.approx((56 / 14 / 2) / (8 / 55 / (4 * 55 / 56)))


def test_recent_changes_need_seven_readings_a_side_and_four_weeks():
    series = np.full(56, 3.0)
    series[-14:-6] = np.nan  # 6 readings left in the last 14 days
    series[-14:-6:2] = 0.0  # zeros are readings, missing days are not zeros
    values = one(series)
    assert values["zero_share_change"] == pytest.approx(4 / 10)
    series[-14:-6] = np.nan
    values = one(series)
    for name in ("zero_share_change", "peak_change", "swing_change"):
        assert np.isnan(values[name]), name
    short = one(np.full(27, 2.0))
    for name in ("zero_share_change", "peak_change", "swing_change"):
        assert np.isnan(short[name]), name
    assert one(np.full(28, 2.0))["peak_change"] == pytest.approx(1.0)


def test_weekdays_cut_to_a_third_in_the_last_three_weeks():
    series = weeks(WEEKDAY_FIVE, 12)
    last_three = np.arange(len(series) - 21, len(series))
    weekday = last_three[(last_three % 7) < 5]
    series[weekday] = 5 / 3
    values = one(series)
    assert values["recent_weekday_weekend"] == pytest.approx(5 / 3)
    assert values["weekday_weekend_change"] == pytest.approx(1 / 3)
    # the usual Friday mixes 9 weeks at 5 and 3 at 5/3: the last day (a Sunday) is unchanged
    assert values["recent_day_1"] == pytest.approx(1.0)
    usual_friday = (9 * 5 + 3 * 5 / 3) / 12
    assert values["recent_day_3"] == pytest.approx((5 / 3) / usual_friday)
    assert values["week_over_week"] == pytest.approx(1.0)  # both weeks already cut
    cut_week, full_week = (5 * 5 / 3 + 2) / 7, 27 / 7
    last_four = (3 * cut_week + full_week) / 4
    assert values["month_over_month"] == pytest.approx(last_four / full_week)
    # 15 weekdays of the last 28 are below half their usual weekday (5/3 < 0.5 x usual)
    assert values["low_days_recent"] == pytest.approx(15 / 28)


def test_a_week_read_backwards_moves_the_profile_not_the_level():
    """Attack h6 reverses the readings within each week: same total, another profile."""
    series = weeks(WEEKDAY_FIVE, 12)
    series[-28:] = weeks(WEEKDAY_FIVE[::-1], 4)
    values = one(series)
    assert values["month_over_month"] == pytest.approx(1.0)
    assert values["week_over_week"] == pytest.approx(1.0)
    recent = WEEKDAY_FIVE[::-1] / WEEKDAY_FIVE.mean()
    before = WEEKDAY_FIVE / WEEKDAY_FIVE.mean()
    assert values["profile_change"] == pytest.approx(np.abs(recent - before).mean())
    assert values["profile_change"] > 0.5


def test_the_last_week_against_the_week_before():
    series = np.full(70, 4.0)
    series[-7:] = 1.0
    values = one(series)
    assert values["week_over_week"] == pytest.approx(0.25)
    assert values["month_over_month"] == pytest.approx((1 + 3 * 4) / 4 / 4)
    assert values["low_days_recent"] == pytest.approx(7 / 28)
    assert values["recent_day_1"] == pytest.approx(1.0 / ((9 * 4 + 1) / 10))


def test_windows_longer_than_the_history_are_missing():
    short = one(np.full(20, 2.0))
    for name in ("month_over_month", "recent_weekday_weekend", "low_days_recent", "profile_change"):
        assert np.isnan(short[name]), name
    assert short["week_over_week"] == pytest.approx(1.0)
    assert short["recent_day_14"] == pytest.approx(1.0)
    fourteen = one(np.full(14, 2.0))
    assert np.isnan(fourteen["profile_change"]) and fourteen["recent_day_14"] == 1.0


def test_missing_and_zero_mean_days_give_nan_not_a_guess():
    series = np.full(56, 3.0)
    series[-1] = np.nan
    values = one(series)
    assert np.isnan(values["recent_day_1"]) and values["recent_day_2"] == 1.0
    silent = one(np.zeros(56))
    for name in ("recent_day_1", "profile_mon", "week_over_week", "recent_weekday_weekend"):
        assert np.isnan(silent[name]), name


def test_each_customer_alone_equals_the_batch():
    rng = np.random.default_rng(5)
    series = [rng.gamma(3.0, 2.0, 90) for _ in range(5)]
    batch = features_of(*series, chunk_rows=2, n_threads=2)
    for row, values in enumerate(series):
        alone = one(values)
        np.testing.assert_array_equal(
            batch.iloc[row].filter(like="profile").to_numpy(),
            alone.filter(like="profile").to_numpy(),
        )
        np.testing.assert_allclose(batch.iloc[row].to_numpy(), alone.to_numpy(), equal_nan=True)


def test_shape_features_lists_what_shape_features_computes():
    from ntl.features import FEATURE_NAMES, SHAPE_FEATURES, Block, shape_features

    series = np.tile(WEEKDAY_FIVE, 8)[None, :].astype(np.float32)
    block = Block.of(series, series, pd.date_range("2015-01-05", periods=56))
    assert tuple(shape_features(block)) == SHAPE_FEATURES
    assert set(SHAPE_FEATURES) < set(FEATURE_NAMES) and len(SHAPE_FEATURES) == 30
