"""ntl.synth attacks and building blocks on hand-made series with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ntl.errors import ParameterError
from ntl.synth import (
    ATTACKS,
    after_onset,
    apply_attack,
    public_holidays,
    rolling_mean_noise,
    windows_mask,
)

N_DAYS = 40
ONSET = np.array([5, 12, 30, 1])


def true_readings() -> np.ndarray:
    """Four thieves with distinct, strictly positive, varying readings."""
    day = np.arange(N_DAYS)
    return np.stack(
        [
            10 + day % 7,
            5 + np.sin(day) + 2,
            np.linspace(1, 20, N_DAYS),
            100 + 3 * (day % 3),
        ]
    ).astype(np.float32)


def attacked(name: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    true = true_readings()
    reported, parameter = apply_attack(name, true, ONSET, np.random.default_rng(seed))
    return true, reported, parameter


@pytest.mark.parametrize("name", list(ATTACKS))
def test_every_attack_leaves_readings_before_onset_untouched(name):
    true, reported, parameter = attacked(name)
    before = ~after_onset(ONSET, N_DAYS)
    assert reported.dtype == np.float32 and reported.shape == true.shape
    np.testing.assert_array_equal(reported[before], true[before])
    assert parameter.shape == (len(ONSET),)


@pytest.mark.parametrize("name", [n for n in ATTACKS if n not in ("h5", "h6")])
def test_every_reducing_attack_lowers_consumption_after_onset(name):
    true, reported, _ = attacked(name)
    after = after_onset(ONSET, N_DAYS)
    for row in range(len(ONSET)):
        assert reported[row, after[row]].sum() < true[row, after[row]].sum()


@pytest.mark.parametrize("name", list(ATTACKS))
def test_attacks_are_deterministic_for_a_seed(name):
    np.testing.assert_array_equal(attacked(name, 3)[1], attacked(name, 3)[1])


def test_h1_multiplies_by_one_constant_factor():
    true, reported, alpha = attacked("h1")
    after = after_onset(ONSET, N_DAYS)
    assert ((alpha >= 0.1) & (alpha <= 0.8)).all()
    ratio = np.where(after, reported / true, np.nan)
    np.testing.assert_allclose(np.nanmax(ratio, axis=1), alpha, rtol=1e-6)
    np.testing.assert_allclose(np.nanmin(ratio, axis=1), alpha, rtol=1e-6)


def test_h2_zeroes_windows_after_onset_only():
    true, reported, share = attacked("h2")
    after = after_onset(ONSET, N_DAYS)
    zeroed = reported == 0
    assert not (zeroed & ~after).any()
    assert zeroed.any(axis=1).all()
    np.testing.assert_array_equal(reported[~zeroed], true[~zeroed])
    np.testing.assert_allclose(share, zeroed.sum(axis=1) / after.sum(axis=1), rtol=1e-6)


def test_h3_random_daily_factor_between_point_one_and_point_eight():
    true, reported, mean_factor = attacked("h3")
    after = after_onset(ONSET, N_DAYS)
    ratio = reported[after] / true[after]
    assert ratio.min() >= 0.1 - 1e-6 and ratio.max() <= 0.8 + 1e-6
    assert len(np.unique(np.round(ratio, 4))) > 10  # a different factor each day
    assert ((mean_factor > 0.1) & (mean_factor < 0.8)).all()


def test_h4_random_factor_times_post_onset_mean():
    true, reported, _ = attacked("h4")
    after = after_onset(ONSET, N_DAYS)
    for row in range(len(ONSET)):
        mean = true[row, after[row]].mean()
        scaled = reported[row, after[row]] / mean
        assert scaled.min() >= 0.1 - 1e-5 and scaled.max() <= 0.8 + 1e-5


def test_h5_reports_the_flat_post_onset_mean():
    true, reported, mean = attacked("h5")
    after = after_onset(ONSET, N_DAYS)
    for row in range(len(ONSET)):
        expected = true[row, after[row]].mean()
        np.testing.assert_allclose(reported[row, after[row]], expected, rtol=1e-5)
        assert mean[row] == pytest.approx(expected, rel=1e-5)


def test_h6_reverses_each_week_from_onset():
    true = np.arange(20, dtype=np.float32)[None, :]
    reported, _ = apply_attack("h6", true, np.array([3]), np.random.default_rng(0))
    expected = [0, 1, 2, 9, 8, 7, 6, 5, 4, 3, 16, 15, 14, 13, 12, 11, 10, 19, 18, 17]
    np.testing.assert_array_equal(reported[0], expected)


def test_gradual_ramps_down_to_alpha_and_stays():
    true = np.full((1, 400), 10.0, dtype=np.float32)
    reported, alpha = apply_attack("gradual", true, np.array([100]), np.random.default_rng(1))
    after = reported[0, 100:]
    assert (np.diff(after) <= 1e-6).all()  # never increases
    assert after[0] < 10 and after[-1] == pytest.approx(10 * alpha[0], rel=1e-5)
    assert 0.1 <= alpha[0] <= 0.6


def test_cap_clips_at_a_fraction_of_the_attacked_period_peak():
    true, reported, fraction = attacked("cap")
    after = after_onset(ONSET, N_DAYS)
    for row in range(len(ONSET)):
        peak = true[row, ONSET[row] :].max()
        expected = np.minimum(true[row, after[row]], fraction[row] * peak)
        np.testing.assert_allclose(reported[row, after[row]], expected, rtol=1e-6)


def test_intermittent_zeros_scatter_zeros_after_onset():
    true = np.full((200, 100), 3.0, dtype=np.float32)
    onset = np.full(200, 20)
    reported, probability = apply_attack(
        "intermittent_zeros", true, onset, np.random.default_rng(2)
    )
    zero_share = (reported[:, 20:] == 0).mean(axis=1)
    assert (reported[:, :20] == 3).all()
    assert np.corrcoef(zero_share, probability)[0, 1] > 0.8
    assert set(np.unique(reported)) == {0.0, 3.0}


def test_apply_attack_rejects_bad_input():
    true = true_readings()
    with pytest.raises(ParameterError, match="unknown attack 'h9'"):
        apply_attack("h9", true, ONSET, np.random.default_rng(0))
    with pytest.raises(ParameterError, match="one onset per thief"):
        apply_attack("h1", true, ONSET[:2], np.random.default_rng(0))
    with pytest.raises(ParameterError, match=r"onset days must lie in \[0, 39\]"):
        apply_attack("h1", true, np.array([0, 1, 2, 40]), np.random.default_rng(0))


# ---------------------------------------------------------------------------------------------
# Building blocks


def test_windows_mask_union_of_windows():
    mask = windows_mask(np.array([[1, 3], [8, 0]]), np.array([[3, 2], [5, 0]]), 10)
    expected = np.zeros((2, 10), dtype=bool)
    expected[0, 1:5] = True
    expected[1, 8:10] = True  # clipped at the end of the period; length 0 = no window
    np.testing.assert_array_equal(mask, expected)


def test_rolling_mean_noise_known_answer():
    noise = np.array([[1.0, 2.0, 3.0, 4.0, 5.0]], dtype=np.float32)
    np.testing.assert_allclose(rolling_mean_noise(noise, 2), [[1.5, 2.5, 3.5, 4.5]])


def test_public_holidays_known_dates():
    dates = pd.DatetimeIndex(
        ["2014-01-01", "2014-01-30", "2014-02-05", "2014-02-06", "2015-05-02", "2016-10-07",
         "2016-10-08", "2016-03-03"]
    )  # fmt: skip
    expected = [True, True, True, False, True, True, False, False]
    np.testing.assert_array_equal(public_holidays(dates), expected)
