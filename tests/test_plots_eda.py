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
