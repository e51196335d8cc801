"""ntl.synth.generate_consumption: contract, determinism, theft from the onset, missingness."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ntl.errors import ParameterError
from ntl.frame import consumption_matrix, validate_canonical
from ntl.synth import (
    ARCHETYPES,
    ATTACKS,
    DEFAULT_ATTACK_MIX,
    after_onset,
    draw_missing_rates,
    draw_onsets,
    generate_consumption,
    missing_mask,
    validate_attack_mix,
)


@pytest.fixture(scope="module")
def medium():
    """1,500 customers over 200 days with the default theft and missing rates."""
    return generate_consumption(1500, n_days=200, seed=7)


def test_frame_is_canonical_with_the_requested_shape(medium):
    frame, truth = medium
    validate_canonical(frame, "synthetic")
    assert frame.shape == (1500, 201)
    assert frame.columns[1] == "2014-01-01" and frame.columns[-1] == "2014-07-19"
    assert frame.index.equals(truth.index)
    assert frame.index.is_unique and frame.index[0] == "C000000"


def test_readings_are_never_negative():
    """Holidays and weekends lower a day's level but never below zero, for every archetype."""
    frame, truth = generate_consumption(3000, n_days=400, seed=42)
    readings = consumption_matrix(frame)
    assert set(truth["archetype"]) == set(ARCHETYPES)
    assert np.nanmin(readings) >= 0


def test_ground_truth_columns_and_consistency(medium):
    frame, truth = medium
    for column in ("archetype", "attack", "onset", "attack_parameter", "stolen_fraction"):
        assert column in truth.columns
    assert set(truth["archetype"]) == set(ARCHETYPES)
    thief = frame["FLAG"].to_numpy(dtype=int) == 1
    np.testing.assert_array_equal(truth["attack"].to_numpy() != "none", thief)
    assert truth.loc[thief, "onset"].notna().all() and truth.loc[~thief, "onset"].isna().all()
    assert set(truth.loc[thief, "attack"]) <= set(ATTACKS)
    assert pd.api.types.is_datetime64_any_dtype(truth["onset"])


def test_theft_rate_is_exact_and_onsets_are_not_day_one(medium):
    frame, truth = medium
    assert int(frame["FLAG"].sum()) == round(0.085 * 1500)
    onset = truth["onset"].dropna()
    assert onset.min() > pd.Timestamp("2014-01-01")
    assert onset.max() <= pd.Timestamp("2014-01-01") + pd.Timedelta(days=200 - 30)


@pytest.mark.parametrize(
    ("n_days", "first", "last"), [(1035, 103, 1005), (120, 12, 90), (14, 1, 11)]
)
def test_onsets_run_from_a_tenth_of_the_period_to_a_month_before_its_end(n_days, first, last):
    onset = draw_onsets(20_000, n_days, np.random.default_rng(0))
    assert onset.min() == first and onset.max() == last


def test_recent_onsets_fill_the_last_half_year():
    onset = draw_onsets(20_000, 1035, np.random.default_rng(1))
    days_of_theft = 1035 - onset
    # Uniform over days 103..1005: about 60/903 start in the last 90 days, 90/903 in the 90 before.
    assert np.mean(days_of_theft < 90) == pytest.approx(60 / 903, abs=0.01)
    assert np.mean((days_of_theft >= 90) & (days_of_theft < 180)) == pytest.approx(
        90 / 903, abs=0.01
    )


def test_missing_rate_near_target_with_thieves_missing_more(medium):
    frame, _ = medium
    missing = np.isnan(consumption_matrix(frame))
    thief = frame["FLAG"].to_numpy(dtype=int) == 1
    assert missing.mean() == pytest.approx(0.25, abs=0.03)
    assert missing[thief].mean() > 1.2 * missing[~thief].mean()
    assert not missing.all(axis=1).any()  # every customer has at least one reading


def test_missingness_comes_in_runs_and_scattered(medium):
    frame, _ = medium
    missing = np.isnan(consumption_matrix(frame))
    starts = missing[:, 1:] & ~missing[:, :-1]
    run_count = starts.sum() + missing[:, 0].sum()
    mean_run_length = missing.sum() / run_count
    assert 1.5 < mean_run_length < 30  # neither only single days nor only whole-series gaps
    assert (missing[:, :5].all(axis=1)).mean() > 0.05  # some meters start late


def test_heavy_tailed_levels_and_weekly_cycle(medium):
    frame, truth = medium
    matrix = consumption_matrix(frame)
    with np.errstate(all="ignore"):
        customer_mean = np.nanmean(matrix, axis=1)
    assert np.nanpercentile(customer_mean, 99) > 8 * np.nanmedian(customer_mean)
    commercial = (truth["archetype"] == "commercial").to_numpy() & (frame["FLAG"] == 0).to_numpy()
    weekday = pd.DatetimeIndex(frame.columns[1:]).day_of_week.to_numpy()
    sunday = np.nanmean(matrix[commercial][:, weekday == 6])
    midweek = np.nanmean(matrix[commercial][:, weekday == 2])
    assert sunday < 0.8 * midweek


def test_same_seed_same_data_other_seed_other_data():
    first = generate_consumption(200, n_days=30, seed=11)
    again = generate_consumption(200, n_days=30, seed=11)
    other = generate_consumption(200, n_days=30, seed=12)
    pd.testing.assert_frame_equal(first[0], again[0])
    pd.testing.assert_frame_equal(first[1], again[1])
    assert not first[0].equals(other[0])


def test_theft_changes_readings_only_from_the_onset():
    clean, _ = generate_consumption(600, n_days=90, theft_rate=0.0, missing_rate=0.0, seed=5)
    stolen, truth = generate_consumption(600, n_days=90, theft_rate=0.2, missing_rate=0.0, seed=5)
    clean_matrix, stolen_matrix = consumption_matrix(clean), consumption_matrix(stolen)
    days = pd.DatetimeIndex(stolen.columns[1:]).to_numpy()
    onset = truth["onset"].to_numpy()
    before = days[None, :] < onset[:, None]  # all False for normal customers (NaT)
    thief = truth["attack"].to_numpy() != "none"
    np.testing.assert_array_equal(stolen_matrix[~thief], clean_matrix[~thief])
    np.testing.assert_array_equal(stolen_matrix[before], clean_matrix[before])
    reducing = thief & ~np.isin(truth["attack"].to_numpy(), ["h5", "h6"])
    after = ~before & thief[:, None]
    reported = np.where(after, stolen_matrix, 0).sum(axis=1)[reducing]
    true = np.where(after, clean_matrix, 0).sum(axis=1)[reducing]
    assert (reported < true).all()
    assert (truth.loc[reducing, "stolen_fraction"] > 0).all()


def test_attack_mix_selects_attacks():
    _, truth = generate_consumption(300, n_days=30, attack_mix={"h1": 1, "cap": 0}, seed=1)
    assert set(truth["attack"]) == {"none", "h1"}
    assert truth.loc[truth["attack"] == "h1", "attack_parameter"].between(0.1, 0.8).all()


def test_default_attack_mix_covers_every_attack():
    assert set(DEFAULT_ATTACK_MIX) == set(ATTACKS)
    assert sum(DEFAULT_ATTACK_MIX.values()) == pytest.approx(1.0)
    assert validate_attack_mix(None) == pytest.approx(DEFAULT_ATTACK_MIX)
    assert validate_attack_mix({"h1": 3, "h2": 1}) == {"h1": 0.75, "h2": 0.25}


@pytest.mark.parametrize(
    ("mix", "message"),
    [
        ({"h7": 1.0}, r"unknown attack\(s\) \['h7'\]"),
        ({"h1": -1.0}, "must be >= 0"),
        ({"h1": 0.0}, "not all 0"),
    ],
)
def test_bad_attack_mix(mix, message):
    with pytest.raises(ParameterError, match=message):
        generate_consumption(50, n_days=20, attack_mix=mix)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"n_customers": 0}, "n_customers must be a positive integer"),
        ({"n_days": 10}, r"n_days must be an integer >= 14"),
        ({"theft_rate": 1.5}, r"theft_rate must be in \[0, 1\)"),
        ({"missing_rate": -0.1}, r"missing_rate must be in \[0, 0\.9\)"),
    ],
)
def test_bad_generator_parameters(options, message):
    with pytest.raises(ParameterError, match=message):
        generate_consumption(**{"n_customers": 50, "n_days": 20} | options)


@pytest.mark.parametrize("n_days", [14, 30, 120])
def test_short_periods_work(n_days):
    frame, truth = generate_consumption(300, n_days=n_days, seed=2)
    validate_canonical(frame)
    assert frame.shape == (300, n_days + 1)
    assert int(frame["FLAG"].sum()) == round(0.085 * 300)
    last_day = pd.Timestamp("2014-01-01") + pd.Timedelta(days=n_days - 1)
    assert truth["onset"].dropna().between(pd.Timestamp("2014-01-02"), last_day).all()


def test_no_theft_no_missing():
    frame, truth = generate_consumption(100, n_days=20, theft_rate=0, missing_rate=0, seed=3)
    assert (frame["FLAG"] == 0).all() and (truth["attack"] == "none").all()
    assert not np.isnan(consumption_matrix(frame)).any()
    assert (consumption_matrix(frame) >= 0).all()


def test_missing_mask_hits_each_customers_rate():
    rng = np.random.default_rng(0)
    rates = np.array([0.0, 0.1, 0.5, 0.8] * 250)
    mask = missing_mask(rates, 400, rng)
    for rate in (0.0, 0.1, 0.5, 0.8):
        assert mask[rates == rate].mean() == pytest.approx(rate, abs=0.02)


def test_missing_rates_average_to_the_target():
    rates = draw_missing_rates(20_000, 0.25, np.random.default_rng(0))
    assert rates.mean() == pytest.approx(0.25, abs=0.01)
    assert (draw_missing_rates(5, 0.0, np.random.default_rng(0)) == 0).all()


def test_thieves_miss_more_readings_only_from_their_onset():
    """Missingness is part of the attack: before the onset a thief's meter is like any other."""
    frame, truth = generate_consumption(6000, n_days=400, theft_rate=0.2, seed=3)
    missing = np.isnan(consumption_matrix(frame))
    thieves = np.flatnonzero((truth["attack"] != "none").to_numpy())
    normal = (truth["attack"] == "none").to_numpy()
    onset = (truth["onset"].iloc[thieves] - pd.Timestamp(frame.columns[1])).dt.days.to_numpy()
    after = after_onset(onset, 400)
    normal_by_day = np.broadcast_to(missing[normal].mean(axis=0), after.shape)  # same days
    before = missing[thieves][~after].mean()
    assert before == pytest.approx(normal_by_day[~after].mean(), rel=0.05)
    after_share = missing[thieves][after].mean()
    assert after_share == pytest.approx(1.5 * normal_by_day[after].mean(), rel=0.12)
