"""ntl.plots.eda: the figures of notebook 01 on labeled and unlabeled data, and their helpers."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from ntl.frame import build_frame
from ntl.plots import eda
from ntl.synth import generate_consumption
from tests.figure_data import (
    bar_heights,
    labelled_lines,
    legend_texts,
    step_histogram,
    tick_texts,
    unmasked,
)


@pytest.fixture(scope="module")
def synthetic():
    return generate_consumption(120, n_days=40, seed=3)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def unlabeled(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(FLAG=pd.array([pd.NA] * len(frame), dtype="Int8"))


@pytest.mark.parametrize("labeled", [True, False])
def test_every_figure_draws_labeled_and_unlabeled_data(synthetic, labeled):
    frame, truth = synthetic
    frame = frame if labeled else unlabeled(frame)
    figures = [
        eda.label_balance_figure(frame),
        eda.missing_per_customer_figure(frame),
        eda.missingness_map_figure(frame, max_customers=50, seed=1),
        eda.consumption_distribution_figure(frame, max_customers=30, seed=1),
        eda.weekly_profile_figure(frame),
        eda.seasonal_profile_figure(frame),
        eda.example_customers_figure(frame, eda.choose_examples(frame, truth, 4, seed=1), truth),
    ]
    assert all(isinstance(figure, Figure) for figure in figures)
    legend_texts = [t.get_text() for t in figures[1].axes[0].get_legend().get_texts()]
    expected = ["normal", "theft"] if labeled else ["unlabeled"]
    assert [text.split(" ")[0] for text in legend_texts] == expected


def test_label_groups_leave_out_empty_groups():
    frame = build_frame(["a", "b", "c"], np.ones((3, 14)), "2014-01-01", flag=[1, 0, None])
    groups = eda.label_groups(frame)
    assert {name: mask.tolist() for name, mask in groups.items()} == {
        "normal": [False, True, False],
        "theft": [True, False, False],
        "unlabeled": [False, False, True],
    }
    assert list(eda.label_groups(unlabeled(frame))) == ["unlabeled"]


def test_weekly_profiles_known_answer():
    weekday = np.arange(14) % 7
    readings = np.where(weekday >= 5, 2.0, 1.0)[None, :]  # weekends double
    readings = np.vstack([readings, np.full((1, 14), 5.0)])
    profiles = eda.weekly_profiles(readings, weekday)
    np.testing.assert_allclose(profiles[0], np.array([1, 1, 1, 1, 1, 2, 2]) / (9 / 7))
    np.testing.assert_allclose(profiles[1], np.ones(7))


def test_relative_consumption_divides_by_the_customer_mean():
    matrix = np.array([[1.0, 3.0, np.nan], [0.0, 0.0, 0.0]])
    relative = eda.relative_consumption(matrix)
    np.testing.assert_allclose(relative[0, :2], [0.5, 1.5])
    assert np.isnan(relative[1]).all()  # no level, no relative profile


def test_sample_rows_is_bounded_sorted_and_seeded():
    mask = np.arange(100) % 2 == 0
    rows = eda.sample_rows(mask, 10, seed=4)
    assert len(rows) == 10 and (np.diff(rows) > 0).all() and mask[rows].all()
    np.testing.assert_array_equal(rows, eda.sample_rows(mask, 10, seed=4))
    np.testing.assert_array_equal(eda.sample_rows(mask, 500, seed=4), np.flatnonzero(mask))


def test_choose_examples_prefers_different_attacks_then_look_alikes(synthetic):
    frame, truth = synthetic
    chosen = eda.choose_examples(frame, truth, n_examples=6, seed=0)
    assert len(chosen) == len(set(chosen)) == 6
    attacks = truth.loc[chosen[:3], "attack"]
    assert (attacks != "none").all() and attacks.is_unique
    assert (truth.loc[chosen[3:5], "attack"] == "none").all()


def test_choose_examples_without_ground_truth_uses_flag(synthetic):
    frame, _ = synthetic
    chosen = eda.choose_examples(frame, None, n_examples=4, seed=0)
    assert (frame.loc[chosen[:2], "FLAG"] == 1).all() and len(chosen) == 4


def test_reference_means_average_the_days_before_each_end_day():
    matrix = np.array(
        [[2.0, 4.0, np.nan, 10.0], [np.nan, 1.0, 3.0, 5.0], [np.nan, np.nan, 1.0, 1.0]]
    )
    means = eda.reference_means(matrix, np.array([3, 4, 2]))
    np.testing.assert_allclose(means[:2], [3.0, 3.0])
    assert np.isnan(means[2])  # nothing observed before day 2


def test_seasonal_profile_normalises_thieves_by_their_pre_onset_level():
    # A thief at 10 kWh who halves from day 20: by the pre-onset mean the curve starts at 1
    # (by the whole-period mean it would start at 10 / 7.5 = 1.33).
    readings = np.vstack([np.r_[np.full(20, 10.0), np.full(20, 5.0)], np.full(40, 3.0)])
    frame = build_frame(["t", "n"], readings, "2014-01-01", flag=[1, 0])
    truth = pd.DataFrame(
        {"onset": pd.to_datetime(["2014-01-21", None]), "archetype": ["residential"] * 2},
        index=frame.index,
    )
    lines = {line.get_label(): line.get_ydata() for line in eda.seasonal_profile_figure(
        frame, truth, smoothing_days=1).axes[0].get_lines()}  # fmt: skip
    np.testing.assert_allclose(lines["theft"][[0, 39]], [1.0, 0.5])
    np.testing.assert_allclose(lines["normal"][[0, 39]], [1.0, 1.0])
    without = eda.seasonal_profile_figure(frame, None, smoothing_days=1).axes[0].get_lines()
    np.testing.assert_allclose(without[1].get_ydata()[0], 10 / 7.5)
    assert "pre-onset" not in eda.seasonal_profile_figure(frame).axes[0].get_title()


def test_weekly_profile_splits_by_archetype_and_spans_ten_percent(synthetic):
    frame, truth = synthetic
    pooled = eda.weekly_profile_figure(frame)
    assert len(pooled.axes) == 1
    low, high = pooled.axes[0].get_ylim()
    assert low <= 0.9 and high >= 1.1
    split = eda.weekly_profile_figure(frame, truth)
    labels = [line.get_label() for line in split.axes[1].get_lines()]
    assert any(label.startswith("residential normal") for label in labels)


def test_choose_examples_shows_a_well_covered_thief_and_an_empty_premises():
    mix = {"h1": 1, "h3": 1, "cap": 1}  # ~11 thieves per attack: some are well covered
    frame, truth = generate_consumption(400, n_days=200, attack_mix=mix, seed=5)
    chosen = eda.choose_examples(frame, truth, n_examples=6, seed=0)
    missing = np.isnan(frame.loc[chosen[:3]].drop(columns="FLAG").to_numpy(dtype=float)).mean(1)
    assert (missing <= eda.WELL_COVERED_MISSING).all()
    assert truth.loc[chosen[4], "archetype"] in {"vacant", "seasonal"}
    assert truth.loc[chosen[3], "level_shift"] < 0.7


def test_example_figure_marks_onset_and_legitimate_level_change():
    frame, truth = generate_consumption(400, n_days=200, seed=5)
    thief = truth.index[truth["attack"] != "none"][0]
    shifted = truth.index[(truth["attack"] == "none") & truth["level_shift_date"].notna()][0]
    figure = eda.example_customers_figure(frame, [thief, shifted], truth)
    legends = [[t.get_text() for t in ax.get_legend().get_texts()] for ax in figure.axes[:2]]
    assert legends == [["theft onset"], ["legitimate level change"]]


# The figures read back: each test draws a small hand-made frame and checks the plotted values.

WEEKEND_DOUBLED = np.tile([1.0, 1, 1, 1, 1, 2, 2], 2)  # 14 days from a Monday


def hand_frame() -> pd.DataFrame:
    """Six customers over two weeks from Monday 2014-01-06, with known gaps and weekly shapes.

    normal n0 (days 0-6 missing), n1 (complete), n2 (day 13 missing), all flat at 3 kWh;
    theft t0 (days 0-2 missing), t1 (complete), weekends doubled; unlabeled u0 (days 4-5
    missing), flat at 5 kWh.
    """
    readings = np.vstack(
        [np.full((3, 14), 3.0), np.tile(WEEKEND_DOUBLED, (2, 1)), np.full(14, 5.0)]
    )
    for row, days in ((0, range(7)), (2, [13]), (3, range(3)), (5, [4, 5])):
        readings[row, list(days)] = np.nan
    flag = [0, 0, 0, 1, 1, None]
    return build_frame(["n0", "n1", "n2", "t0", "t1", "u0"], readings, "2014-01-06", flag=flag)


def test_label_balance_bars_are_the_class_counts_with_their_shares():
    axis = eda.label_balance_figure(hand_frame()).axes[0]
    assert tick_texts(axis.get_xticklabels()) == ["normal", "theft", "unlabeled"]
    assert bar_heights(axis) == [3, 2, 1]
    assert [text.get_text() for text in axis.texts] == ["3 (50.0%)", "2 (33.3%)", "1 (16.7%)"]
    assert [text.xy[1] for text in axis.texts] == [3, 2, 1]  # each share on top of its bar


def test_missing_per_customer_histograms_are_the_shares_of_missing_days():
    axis = eda.missing_per_customer_figure(hand_frame()).axes[0]
    shares = {"normal": [7 / 14, 0, 1 / 14], "theft": [3 / 14, 0], "unlabeled": [2 / 14]}
    bins = np.linspace(0, 1, 21)
    assert len(axis.patches) == 3
    for patch, share in zip(axis.patches, shares.values(), strict=True):
        heights, edges = step_histogram(patch)
        np.testing.assert_allclose(edges, bins)
        np.testing.assert_allclose(heights, np.histogram(share, bins=bins, density=True)[0])
    assert legend_texts(axis) == [
        "normal (mean 19.0%, n=3)",
        "theft (mean 10.7%, n=2)",
        "unlabeled (mean 14.3%, n=1)",
    ]


def test_missingness_map_shows_each_group_sorted_by_missing_share():
    frame = hand_frame()
    axis = eda.missingness_map_figure(frame).axes[0]
    order = [1, 2, 0, 4, 3, 5]  # n1, n2, n0 | t1, t0 | u0: fewest missing first in each group
    expected = np.isnan(frame.drop(columns="FLAG").to_numpy(dtype=float))[order]
    np.testing.assert_array_equal(unmasked(axis.get_images()[0].get_array()), expected)
    assert [line.get_ydata()[0] for line in axis.get_lines()] == [2.5, 4.5]  # group boundaries
    np.testing.assert_allclose(axis.get_yticks(), [1.0, 3.5, 5.0])
    names = ["normal (3 of 3)", "theft (2 of 2)", "unlabeled (1 of 1)"]
    assert tick_texts(axis.get_yticklabels()) == names
    ticks = np.linspace(0, 13, 8).astype(int)
    np.testing.assert_array_equal(axis.get_xticks(), ticks)
    dates = pd.date_range("2014-01-06", periods=14)[ticks].strftime("%Y-%m-%d").tolist()
    assert tick_texts(axis.get_xticklabels()) == dates
    sampled = eda.missingness_map_figure(frame, max_customers=3, seed=0).axes[0]
    assert sampled.get_images()[0].get_array().shape == (3, 14)
    assert tick_texts(sampled.get_yticklabels())[0] == "normal (1 of 3)"


def test_consumption_distribution_puts_each_level_in_its_bin_and_counts_zeros_apart():
    # normal customers use 10 kWh every day; thieves 2 kWh on half the days and 0 on the rest.
    readings = np.vstack([np.full((3, 10), 10.0), np.tile([2.0, 0.0], (2, 5))])
    frame = build_frame(["a", "b", "c", "d", "e"], readings, "2014-01-06", flag=[0, 0, 0, 1, 1])
    mean_axis, daily_axis = eda.consumption_distribution_figure(frame).axes
    for axis, levels in ((mean_axis, {"normal": 10.0, "theft": 1.0}),
                         (daily_axis, {"normal": 10.0, "theft": 2.0})):  # fmt: skip
        assert axis.get_xscale() == "log"
        for patch, level in zip(axis.patches, levels.values(), strict=True):
            heights, edges = step_histogram(patch)
            holding = np.flatnonzero((edges[:-1] <= level) & (level < edges[1:]))
            assert len(holding) == 1 and heights[holding[0]] == pytest.approx(1.0)
            assert heights.sum() == pytest.approx(1.0)  # shares: every customer/reading once
    assert legend_texts(daily_axis) == ["normal (zeros: 0.0%)", "theft (zeros: 50.0%)"]
    assert legend_texts(mean_axis) == [
        "normal (all-zero meters: 0.0%)",
        "theft (all-zero meters: 0.0%)",
    ]
    # an all-zero meter is a share of its group, said in the legend, not dropped from the shares
    dead = np.vstack([np.full((3, 10), 10.0), np.zeros((1, 10)), np.full((1, 10), 2.0)])
    frame = build_frame(["a", "b", "c", "d", "e"], dead, "2014-01-06", flag=[0, 0, 0, 1, 1])
    mean_axis = eda.consumption_distribution_figure(frame).axes[0]
    theft_heights, _ = step_histogram(mean_axis.patches[1])
    assert theft_heights.sum() == pytest.approx(0.5)
    assert legend_texts(mean_axis)[1] == "theft (all-zero meters: 50.0%)"
    tiny = build_frame(["a", "b"], np.tile([0.004, 0.01, 2.0, 0.0], (2, 3)), "2014-01-06", [0, 1])
    for patch in eda.consumption_distribution_figure(tiny).axes[1].patches:
        heights, edges = step_histogram(patch)  # readings under 0.01 kWh are counted too
        assert heights.sum() == pytest.approx(1.0) and edges[0] < 0.004


def test_weekly_profile_draws_each_groups_mean_relative_weekday_profile(monkeypatch):
    frame = hand_frame()
    axis = eda.weekly_profile_figure(frame).axes[0]
    lines = labelled_lines(axis)
    assert list(lines) == ["normal (n=3)", "theft (n=2)", "unlabeled (n=1)"]
    weekdays = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    assert list(lines["theft (n=2)"].get_xdata()) == weekdays
    theft_profile = np.array([1, 1, 1, 1, 1, 2, 2]) / (9 / 7)
    np.testing.assert_allclose(lines["theft (n=2)"].get_ydata(), theft_profile, rtol=1e-6)
    np.testing.assert_allclose(lines["normal (n=3)"].get_ydata(), np.ones(7))
    spread = 1.15 * (theft_profile.max() - 1)  # the largest swing drawn, with a margin
    np.testing.assert_allclose(axis.get_ylim(), (1 - spread, 1 + spread), rtol=1e-6)
    flat = build_frame(["a", "b"], np.full((2, 14), 4.0), "2014-01-06", flag=[0, 1])
    np.testing.assert_allclose(eda.weekly_profile_figure(flat).axes[0].get_ylim(), (0.9, 1.1))
    monkeypatch.setattr(eda, "MIN_PROFILE_CUSTOMERS", 2)
    truth = pd.DataFrame({"archetype": ["home", "home", "shop", "home", "home", "shop"]},
                         index=frame.index)  # fmt: skip
    split = labelled_lines(eda.weekly_profile_figure(frame, truth).axes[1])
    assert list(split) == ["home normal (n=2)", "home theft (n=2)"]  # 'shop': one of each
    np.testing.assert_allclose(split["home theft (n=2)"].get_ydata(), theft_profile, rtol=1e-6)


def test_seasonal_profile_is_the_centred_rolling_mean_of_each_groups_relative_readings():
    readings = np.vstack([np.tile([2.0, 4.0], 5), np.full(10, 7.0)])
    frame = build_frame(["n", "t"], readings, "2014-01-06", flag=[0, 1])
    axis = eda.seasonal_profile_figure(frame, smoothing_days=3).axes[0]
    lines = labelled_lines(axis)
    days = pd.date_range("2014-01-06", periods=10)
    np.testing.assert_array_equal(pd.DatetimeIndex(lines["normal"].get_xdata()), days)
    # 2 and 4 around a mean of 3: edges average two days (1), inside three (2+4+2 or 4+2+4).
    expected = [1.0, *([8 / 9, 10 / 9] * 4), 1.0]
    np.testing.assert_allclose(lines["normal"].get_ydata(), expected, rtol=1e-6)
    np.testing.assert_allclose(lines["theft"].get_ydata(), np.ones(10))
    assert "3-day rolling mean" in axis.get_title()


def test_example_customers_draw_their_readings_weekly_mean_and_marks():
    frame = hand_frame()
    truth = pd.DataFrame(
        {
            "archetype": ["residential"] * 6,
            "attack": ["none", "none", "none", "h1", "none", "none"],
            "onset": pd.to_datetime([None, None, None, "2014-01-10", None, None]),
            "level_shift": [1.0, 0.6, 1.0, 1.0, 1.0, 1.0],
            "level_shift_date": pd.to_datetime([None, "2014-01-12", None, None, None, None]),
        },
        index=frame.index,
    )
    figure = eda.example_customers_figure(frame, ["t0", "n1", "u0"], truth)
    thief_axis, shifted_axis, unlabeled_axis, spare_axis = figure.axes
    raw, weekly, onset = thief_axis.get_lines()
    readings = frame.loc["t0"].drop("FLAG").to_numpy(dtype=float)
    np.testing.assert_array_equal(raw.get_ydata(), readings)
    expected_weekly = pd.Series(readings).rolling(7, min_periods=1).mean().to_numpy()
    np.testing.assert_allclose(weekly.get_ydata(), expected_weekly)
    assert weekly.get_color() == raw.get_color() == eda.GROUP_COLOURS["theft"]
    assert list(onset.get_xdata()) == [pd.Timestamp("2014-01-10")] * 2
    assert thief_axis.get_title() == "t0: residential, theft 'h1' from 2014-01-10"
    assert list(shifted_axis.get_lines()[2].get_xdata()) == [pd.Timestamp("2014-01-12")] * 2
    assert shifted_axis.get_title() == (
        "n1: residential, normal; legitimate level x0.60 from 2014-01-12"
    )
    assert unlabeled_axis.get_lines()[0].get_color() == eda.GROUP_COLOURS["unlabeled"]
    assert len(unlabeled_axis.get_lines()) == 2  # no onset, no level change: no mark
    assert not spare_axis.get_visible()
