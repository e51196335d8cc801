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
