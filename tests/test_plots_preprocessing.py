"""ntl.plots.preprocessing: labels and legends of the notebook-02 figures that reviewers read."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from ntl.plots import preprocessing as plots


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def summary(clusters: list[int], labeled: list[int], rates: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"labeled": labeled, "theft_rate": rates}, index=pd.Index(clusters))


def test_theft_rate_figure_puts_counts_under_the_bars_and_explains_minus_one_only_if_present():
    figure = plots.theft_rate_figure(summary([0, 1], [31840, 2000], [0.085, 0.2]))
    axis = figure.axes[0]
    assert [t.get_text() for t in axis.get_xticklabels()] == ["0\nn=31,840", "1\nn=2,000"]
    assert "-1" not in axis.get_xlabel()
    assert axis.get_legend().get_texts()[0].get_text() == "overall 9.2%"  # (2706.4 + 400) / 33840
    with_unassigned = plots.theft_rate_figure(summary([-1, 0], [50, 100], [0.5, 0.1])).axes[0]
    assert "-1 = no profile shape" in with_unassigned.get_xlabel()


def test_cluster_profile_figure_names_missing_months_only_when_there_are_some():
    shapes = np.ones((2, 19))
    sizes = pd.Series({0: 10, 1: 20})
    full = plots.cluster_profile_figure(shapes, sizes)
    assert [axis.get_title() for axis in full.axes] == ["weekly shape", "annual shape"]
    assert all(axis.get_legend() is not None for axis in full.axes)
    shapes[:, 7 + 10 :] = np.nan  # no November, December
    partial = plots.cluster_profile_figure(shapes, sizes)
    assert partial.axes[1].get_title() == "annual shape (no data for Nov, Dec)"


def test_cleaning_figure_draws_the_cap_as_a_line():
    raw = np.array([[1.0, np.nan, 3.0, 50.0, 2.0, 60.0]])
    cleaned = np.array([[1.0, 2.0, 3.0, 10.0, 2.0, 10.0]])
    dates = pd.date_range("2014-01-01", periods=6)
    figure = plots.cleaning_figure(raw, cleaned, dates, pd.Index(["c"]))
    labels = [t.get_text() for t in figure.axes[1].get_legend().get_texts()]
    assert "cap (10.0 kWh): capped readings now" in labels
