"""Figures of notebook 03 (ntl.plots.modeling) and the train learning-curve sample."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgb
from sklearn.metrics import precision_recall_curve

from ntl.errors import ParameterError
from ntl.models.supervised import TRAIN_CURVE_SAMPLE, curve_sample
from ntl.plots.modeling import (
    anomaly_by_cluster_figure,
    calibration_figure,
    capacity_figure,
    feature_importance_figure,
    learning_curve_figure,
    precision_recall_figure,
    weight_curve_figure,
)
from tests.figure_data import box_medians, box_quartiles, labelled_lines, legend_texts, tick_texts


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_calibration_figure_uses_equal_width_bins_with_counts():
    y = np.array([0, 0, 1, 0, 1, 1, 1])
    probability = np.array([0.05, 0.15, 0.15, 0.55, 0.92, 0.95, 0.99])
    fig = calibration_figure(y, {"calibrated": probability, "missing": np.full(7, np.nan)})
    reliability, counts = fig.axes
    line = reliability.get_lines()[1]  # [0] is the diagonal
    np.testing.assert_allclose(line.get_xdata(), [0.05, 0.15, 0.55, 0.9533333], atol=1e-6)
    np.testing.assert_allclose(line.get_ydata(), [0.0, 0.5, 0.0, 1.0])
    heights = [bar.get_height() for bar in counts.containers[0]]
    assert heights == [1, 2, 0, 0, 0, 1, 0, 0, 0, 3]  # ten bins, 0.9-1.0 last
    assert [text.get_text() for text in counts.texts[:10]] == [str(int(h)) for h in heights]
    assert [bar.get_height() for bar in counts.containers[1]] == [0] * 10
    plt.close(fig)


def test_curve_sample_is_seeded_sorted_and_capped():
    np.testing.assert_array_equal(curve_sample(4, 10), [0, 1, 2, 3])
    rows = curve_sample(1000, 50, seed=3)
    assert len(rows) == 50 and len(set(rows)) == 50 and np.all(np.diff(rows) > 0)
    np.testing.assert_array_equal(rows, curve_sample(1000, 50, seed=3))
    assert not np.array_equal(rows, curve_sample(1000, 50, seed=4))
    with pytest.raises(ParameterError, match="curve sample size must be >= 1, got 0"):
        curve_sample(10, 0)


# The figures read back: each test draws hand-made data and checks the plotted values.


def test_learning_curve_draws_both_curves_by_round_and_marks_the_kept_round():
    curve = pd.DataFrame(
        {"train_aucpr": [0.5, 0.7, 0.8, 0.9], "validation_aucpr": [0.4, 0.55, 0.6, 0.58]},
        index=pd.RangeIndex(1, 5, name="round"),  # rounds from 1, as learning_curve() makes them
    )
    axis = learning_curve_figure(curve, best_iteration=2).axes[0]
    train, validation, kept = axis.get_lines()
    assert list(train.get_xdata()) == list(validation.get_xdata()) == [1, 2, 3, 4]
    assert list(train.get_ydata()) == [0.5, 0.7, 0.8, 0.9]
    assert list(validation.get_ydata()) == [0.4, 0.55, 0.6, 0.58]
    assert list(kept.get_xdata()) == [3, 3]  # best_iteration counts from 0: round 3
    assert legend_texts(axis) == [
        f"train (<= {TRAIN_CURVE_SAMPLE:,} customers)",
        "validation",
        "kept: round 3",
    ]


def test_precision_recall_figure_draws_sklearns_curve_per_model_and_the_theft_rate():
    rng = np.random.default_rng(0)
    y = (rng.random(80) < 0.25).astype(int)
    scores = {"ensemble": rng.random(80) + 0.5 * y, "isolation_forest": rng.random(80)}
    axis = precision_recall_figure(y, scores).axes[0]
    lines = labelled_lines(axis)
    assert list(lines) == ["ensemble", "isolation_forest", "chance (theft rate)"]
    for name, score in scores.items():
        precision, recall, _ = precision_recall_curve(y, score)
        np.testing.assert_array_equal(lines[name].get_xdata(), recall)
        np.testing.assert_array_equal(lines[name].get_ydata(), precision)
    assert list(lines["chance (theft rate)"].get_ydata()) == [y.mean()] * 2
    assert (axis.get_xlim(), axis.get_ylim()) == ((0, 1), (0, 1.02))


def test_anomaly_by_cluster_draws_each_clusters_quartiles_for_normal_and_theft():
    clusters = np.repeat([10, -1, 2], 8)  # numeric order on the axis: -1, 2, 10
    score = pd.Series(np.linspace(0, 1, 24), index=[f"c{i}" for i in range(24)])
    flag = pd.Series(np.tile([0, 0, 0, 1, 1, 1, 0, pd.NA], 3), index=score.index, dtype="Int8")
    axis = anomaly_by_cluster_figure(score, pd.Series(clusters, index=score.index), flag).axes[0]
    assert tick_texts(axis.get_xticklabels()) == ["-1", "2", "10"]
    expected_boxes, expected_medians = [], []
    for position, cluster in enumerate([-1, 2, 10]):
        for offset, value in ((-0.2, 0), (0.2, 1)):
            group = score[(clusters == cluster) & (flag == value).fillna(False).to_numpy()]
            low, median, high = np.percentile(group, [25, 50, 75])
            expected_boxes.append((position + offset, low, high))
            expected_medians.append((position + offset, median))
    np.testing.assert_allclose(box_quartiles(axis), expected_boxes)
    np.testing.assert_allclose(box_medians(axis, 0.35), expected_medians)
    colours = [to_rgb("tab:blue")] * 3 + [to_rgb("tab:red")] * 3  # normal boxes, then theft
    assert [box.get_facecolor()[:3] for box in axis.patches] == colours
    assert legend_texts(axis) == ["normal", "theft"]
    pooled = anomaly_by_cluster_figure(score, pd.Series(clusters, index=score.index)).axes[0]
    medians = [np.median(score[clusters == cluster]) for cluster in (-1, 2, 10)]
    np.testing.assert_allclose(box_medians(pooled, 0.5), list(zip([0, 1, 2], medians, strict=True)))


def test_weight_curve_draws_pr_auc_by_weight_and_marks_the_chosen_weight():
    curve = pd.DataFrame({"weight": [0.0, 0.5, 0.7, 1.0], "pr_auc": [0.3, 0.6, 0.65, 0.62]})
    axis = weight_curve_figure(curve, 0.7).axes[0]
    line, chosen = axis.get_lines()
    assert list(line.get_xdata()) == [0.0, 0.5, 0.7, 1.0]
    assert list(line.get_ydata()) == [0.3, 0.6, 0.65, 0.62]
    assert list(chosen.get_xdata()) == [0.7, 0.7]
    assert legend_texts(axis) == ["chosen weight 0.70"]


def test_feature_importance_bars_are_the_top_values_largest_at_the_top():
    importance = pd.Series(
        {"gap_longest": 0.4, "recent_vs_past": 0.3, "zero_share": 0.2, "level": 0.1}
    )
    axis = feature_importance_figure(importance, "mean |SHAP|", top=3).axes[0]
    assert [bar.get_width() for bar in axis.patches] == [0.2, 0.3, 0.4]  # bottom to top
    assert tick_texts(axis.get_yticklabels()) == ["zero_share", "recent_vs_past", "gap_longest"]
    assert (axis.get_xlabel(), axis.get_title()) == ("mean |SHAP|", "Feature importance (top 3)")
    shuffled = feature_importance_figure(importance.iloc[[3, 1, 0, 2]], "gain", top=2).axes[0]
    assert tick_texts(shuffled.get_yticklabels()) == ["recent_vs_past", "gap_longest"]


def test_capacity_figure_draws_precision_and_recall_by_share_inspected_highest_risk_first():
    risk = pd.Series([0.3, 0.9, 0.5, 0.8, 0.05, 0.7, 0.6, 0.2, 0.4, 0.1])
    flag = pd.Series([1, 1, 0, 0, 0, pd.NA, 1, 0, 0, 0], dtype="Int8")
    # by risk: 0.9 (theft), 0.8, 0.7 (unlabeled), 0.6 (theft), 0.5, 0.4, 0.3 (theft), 0.2, ...
    axis = capacity_figure(risk, flag, operational_threshold=0.6).axes[0]
    lines = labelled_lines(axis)
    shares = np.arange(1, 11) / 10
    np.testing.assert_allclose(lines["precision"].get_xdata(), shares)
    caught = np.array([1, 1, 1, 2, 2, 2, 3, 3, 3, 3])
    labelled = np.array(
        [1, 2, 2, 3, 4, 5, 6, 7, 8, 9]
    )  # the unlabeled customer is no inspection result
    np.testing.assert_allclose(lines["precision"].get_ydata(), caught / labelled)
    np.testing.assert_allclose(lines["recall"].get_ydata(), caught / 3)
    assert list(lines["capacity 40.0%"].get_xdata()) == [0.4, 0.4]  # 4 customers >= 0.6
    assert axis.get_xlim() == pytest.approx((0, 0.6))  # half as far again as the capacity
    assert capacity_figure(risk, flag, 0.85).axes[0].get_xlim() == (0, 0.5)  # 20 %: the first half
    wide = capacity_figure(risk, flag, operational_threshold=0.3).axes[0]  # 7 of 10 inspected
    assert list(labelled_lines(wide)["capacity 70.0%"].get_xdata()) == [0.7, 0.7]
    assert wide.get_xlim() == (0, 1.0)  # the axis reaches past the capacity line
    unlabelled = labelled_lines(capacity_figure(risk, None, 0.6).axes[0])
    np.testing.assert_allclose(unlabelled["risk score"].get_ydata(), np.sort(risk)[::-1])
