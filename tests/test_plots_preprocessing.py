"""ntl.plots.preprocessing: the values, labels and legends of the notebook-02 figures."""

from __future__ import annotations

import matplotlib
import matplotlib.dates

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from ntl.clustering import MONTH_NAMES, WEEKDAY_NAMES
from ntl.plots import preprocessing as plots
from ntl.preprocess import PreprocessConfig
from tests.figure_data import bar_heights, labelled_lines, legend_texts, tick_texts, unmasked


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


# The figures read back: each test draws hand-made data and checks the plotted values.


def test_quality_figure_histograms_the_three_measures_and_marks_the_thresholds():
    quality = pd.DataFrame(
        {
            "present_share": [1.0, 0.9, 0.3, np.nan],
            "gap_longest": [0, 10, 200, 5],
            "zero_share": [0.0, 0.1, 0.7, 0.2],
            "quality_flag": ["OK", "OK", "LOW", "OK"],
        }
    )
    config = PreprocessConfig()
    figure = plots.quality_figure(quality, config)
    thresholds = (config.min_present_share, config.max_gap_days, config.max_zero_share)
    for axis, column, threshold in zip(
        figure.axes, ["present_share", "gap_longest", "zero_share"], thresholds, strict=True
    ):
        counts, edges = np.histogram(quality[column].dropna(), bins=40)
        assert bar_heights(axis) == counts.tolist()
        np.testing.assert_allclose([bar.get_x() for bar in axis.patches], edges[:-1], atol=1e-12)
        assert list(axis.get_lines()[0].get_xdata()) == [threshold, threshold]
    assert legend_texts(figure.axes[0]) == ["LOW below 0.5"]
    assert legend_texts(figure.axes[1]) == ["LOW above 180"]
    assert figure.get_suptitle() == (
        "Data quality per customer: 25.0% flagged LOW (kept and scored)"
    )


def test_cleaning_figure_shows_the_filled_and_the_capped_readings_of_the_right_customers():
    dates = pd.date_range("2014-01-01", periods=6)
    raw = np.array(
        [
            [1.0, np.nan, 3.0, 3.0, 3.0, 3.0],  # one interpolated
            [1.0, np.nan, np.nan, 4.0, 50.0, 3.0],  # two interpolated (the most), one capped
            [1.0, 2.0, 40.0, 2.0, 60.0, 2.0],  # two capped (the most)
        ]
    )
    cleaned = np.array(
        [
            [1.0, 2.0, 3.0, 3.0, 3.0, 3.0],
            [1.0, 2.0, 3.0, 4.0, 9.0, 3.0],
            [1.0, 2.0, 8.0, 2.0, 8.0, 2.0],
        ]
    )
    figure = plots.cleaning_figure(raw, cleaned, dates, pd.Index(["a", "b", "c"]))
    filled_axis, capped_axis = figure.axes
    assert filled_axis.get_title() == "b: most interpolated readings (2 interpolated, 1 capped)"
    assert capped_axis.get_title() == "c: most capped readings (0 interpolated, 2 capped)"
    np.testing.assert_array_equal(filled_axis.get_lines()[0].get_ydata(), raw[1])
    np.testing.assert_array_equal(capped_axis.get_lines()[0].get_ydata(), raw[2])
    interpolated, was = filled_axis.collections
    np.testing.assert_allclose(unmasked(interpolated.get_offsets()), [[dates_num(dates[1]), 2.0],
                                                            [dates_num(dates[2]), 3.0]])  # fmt: skip
    np.testing.assert_allclose(unmasked(was.get_offsets()), [[dates_num(dates[4]), 50.0]])
    _, capped_was = capped_axis.collections
    np.testing.assert_allclose(unmasked(capped_was.get_offsets())[:, 1], [40.0, 60.0])
    assert list(capped_axis.get_lines()[1].get_ydata()) == [8.0, 8.0]  # the cap
    assert list(filled_axis.get_lines()[1].get_ydata()) == [9.0, 9.0]


def dates_num(day: pd.Timestamp) -> float:
    return float(matplotlib.dates.date2num(day))


def test_feature_distribution_draws_clipped_densities_per_class_best_feature_first():
    rng = np.random.default_rng(0)
    strong = np.r_[rng.normal(0, 1, 60), rng.normal(3, 1, 40)]
    strong[-1] = 1000.0  # one outlier: clipped to the 99th percentile, not a squashed plot
    features = pd.DataFrame(
        {"weak": rng.normal(0, 1, 100), "strong": strong},
        index=[f"c{i}" for i in range(100)],
    )
    flag = pd.Series([0] * 60 + [1] * 39 + [None], index=features.index, dtype="Int8")
    ranking = pd.DataFrame({"feature": ["strong", "weak"], "auc": [0.97, 0.51]})
    figure = plots.feature_distribution_figure(features, flag, ranking)
    strong_axis, weak_axis, *spare = figure.axes
    assert [strong_axis.get_title(), weak_axis.get_title()] == [
        "strong (AUC 0.97)",
        "weak (AUC 0.51)",
    ]
    assert not any(axis.get_visible() for axis in spare)
    clipped = np.clip(strong, np.quantile(strong, 0.01), np.quantile(strong, 0.99))
    edges = np.histogram_bin_edges(clipped, bins=30)
    assert edges[-1] == np.quantile(strong, 0.99) < 20  # the outlier does not stretch the axis
    bars = strong_axis.patches
    assert len(bars) == 60  # 30 normal bars, then 30 theft bars
    for group, drawn in ((clipped[:60], bars[:30]), (clipped[60:99], bars[30:])):  # no unlabeled
        expected = np.histogram(group, bins=edges, density=True)[0]
        np.testing.assert_allclose([bar.get_height() for bar in drawn], expected)
        np.testing.assert_allclose([bar.get_x() for bar in drawn], edges[:-1], atol=1e-12)
    assert legend_texts(strong_axis) == ["normal", "theft"]


def test_correlation_heatmap_cells_are_the_spearman_correlations_of_the_usable_features():
    rng = np.random.default_rng(1)
    base = rng.normal(size=50)
    features = pd.DataFrame(
        {
            "base": base,
            "doubled": 2 * base,  # same ranks: +1
            "cubed_negative": -(base**3),  # reversed ranks: -1
            "constant": 1.0,  # no variation: left out
            "empty": np.nan,  # no values: left out
            "noise": rng.normal(size=50),
        }
    )
    axis = plots.correlation_figure(features).axes[0]
    usable = ["base", "doubled", "cubed_negative", "noise"]
    expected = features[usable].corr(method="spearman")
    np.testing.assert_allclose(unmasked(axis.collections[0].get_array()), expected.to_numpy())
    np.testing.assert_allclose(expected.loc["base", ["doubled", "cubed_negative"]], [1, -1])
    assert tick_texts(axis.get_xticklabels()) == usable
    assert tick_texts(axis.get_yticklabels()) == usable
    assert axis.collections[0].get_clim() == (-1, 1)


def test_silhouette_figure_plots_every_score_by_k_and_marks_the_chosen_k():
    scores = {4: 0.31, 2: 0.42, 3: 0.55}  # any order
    axis = plots.silhouette_figure(scores, chosen_k=3).axes[0]
    curve, chosen = axis.get_lines()
    assert list(curve.get_xdata()) == [2, 3, 4]
    assert list(curve.get_ydata()) == [0.42, 0.55, 0.31]
    assert list(chosen.get_xdata()) == [3, 3]
    assert list(axis.get_xticks()) == [2, 3, 4]
    assert legend_texts(axis) == ["chosen k = 3"]


def test_cluster_profile_figure_draws_each_clusters_week_and_year_shape():
    shapes = np.vstack([np.linspace(0.7, 1.3, 19), np.linspace(1.3, 0.7, 19)])
    shapes[1, 7 + 11] = np.nan  # no December shape for cluster 1
    week_axis, year_axis = plots.cluster_profile_figure(shapes, pd.Series({0: 1500, 1: 20})).axes
    for axis, names, part in ((week_axis, WEEKDAY_NAMES, slice(0, 7)),
                              (year_axis, MONTH_NAMES, slice(7, 19))):  # fmt: skip
        lines = labelled_lines(axis)
        assert list(lines) == ["cluster 0 (1,500 customers)", "cluster 1 (20 customers)"]
        for line, shape in zip(lines.values(), shapes, strict=True):
            assert list(line.get_xdata()) == list(names)
            np.testing.assert_array_equal(line.get_ydata(), shape[part])
    assert year_axis.get_title() == "annual shape"  # cluster 0 has a December shape


def test_theft_rate_bars_are_the_rates_of_clusters_with_labels_and_the_line_the_overall_rate():
    table = summary([-1, 0, 1, 2], [10, 100, 0, 40], [0.5, 0.1, 0.0, 0.25])
    axis = plots.theft_rate_figure(table).axes[0]
    assert bar_heights(axis) == [0.5, 0.1, 0.25]  # cluster 1 has no labeled customer: no bar
    assert tick_texts(axis.get_xticklabels()) == ["-1\nn=10", "0\nn=100", "2\nn=40"]
    overall = (5 + 10 + 10) / 150
    np.testing.assert_allclose(axis.get_lines()[0].get_ydata(), [overall, overall])
    assert legend_texts(axis) == [f"overall {overall:.1%}"]
