"""The figures of notebook 04 build from small inputs without error and show what they claim."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import precision_recall_curve, roc_auc_score, roc_curve

from ntl import evaluate
from ntl.frame import build_frame
from ntl.plots import evaluation as plots


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture
def sample() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    labels = (rng.random(200) < 0.2).astype(int)
    return labels, np.clip(rng.random(200) * 0.7 + 0.3 * labels, 0, 1)


def test_curve_calibration_and_business_figures(sample):
    labels, score = sample
    roc_ax, pr_ax = plots.roc_pr_figure(labels, {"a": score, "b": 1 - score}).axes
    false_positive, true_positive, _ = roc_curve(labels, score)
    np.testing.assert_array_equal(roc_ax.lines[0].get_xdata(), false_positive)
    np.testing.assert_array_equal(roc_ax.lines[0].get_ydata(), true_positive)
    precision, recall, _ = precision_recall_curve(labels, 1 - score)
    np.testing.assert_array_equal(pr_ax.lines[1].get_xdata(), recall)
    np.testing.assert_array_equal(pr_ax.lines[1].get_ydata(), precision)
    assert (
        roc_ax.get_legend().get_texts()[0].get_text() == f"a ({roc_auc_score(labels, score):.3f})"
    )
    table = evaluate.reliability_table(labels, score)
    curve_ax, count_ax = plots.reliability_figure(table, 0.1, 0.05).axes
    filled = table[table["n"] > 0]
    model_line = curve_ax.lines[1]  # after the diagonal
    np.testing.assert_allclose(model_line.get_xdata(), filled["mean_probability"])
    np.testing.assert_allclose(model_line.get_ydata(), filled["observed_rate"])
    assert [bar.get_height() for bar in count_ax.patches] == table["n"].tolist()
    summary = evaluate.threshold_summary(labels, score, 0.5)
    confusion = plots.confusion_figure(summary).axes[0]
    cells = [t.get_text() for t in confusion.texts]
    expected = [summary[k] for k in ("true_negative", "false_positive", "false_negative")]
    assert cells == [f"{count:,}" for count in (*expected, summary["true_positive"])]
    assert (confusion.get_xlabel(), confusion.get_ylabel()) == ("model decision", "actual")
    lift = evaluate.lift_table(labels, score)
    bars_ax, recall_ax = plots.lift_figure(lift).axes
    assert [bar.get_height() for bar in bars_ax.patches] == pytest.approx(lift["lift"].tolist())
    np.testing.assert_allclose(recall_ax.lines[0].get_ydata(), lift["cumulative_recall"])


def test_cost_benefit_figure_has_currency_separators_and_a_legend_below():
    table = pd.DataFrame(
        {
            "n_inspections": np.arange(5),
            "hits": [0, 1, 2, 2, 2],
            "net_value": [0.0, 1400.0, 2800.0, 2700.0, 2600.0],
        }
    )
    optimum = {"n_inspections": 2, "net_value": 2800.0}
    figure = plots.cost_benefit_figure(table, optimum, 1, currency="GBP", optimum_label="chosen")
    ax = figure.axes[0]
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), table["n_inspections"])
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), table["net_value"])
    assert ax.collections[0].get_offsets().tolist() == [[2.0, 2800.0]]  # the marked optimum
    assert ax.get_ylabel() == "net value (GBP)"
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert "chosen: 2 inspections, net 2,800 GBP" in labels
    assert "capacity (operational threshold): 1 inspections, net 1,400 GBP" in labels
    assert ax.yaxis.get_major_formatter()(12000, 0) == "12,000"
    # the legend sits below the axes, off the curve
    assert ax.get_legend().get_bbox_to_anchor().y0 < ax.bbox.y0
    assert len(ax.texts) == 0


def test_tier_importance_recall_and_top_customer_figures():
    tiers = pd.DataFrame(
        {
            "tier": ["high", "medium", "low"],
            "customers": [5, 10, 85],
            "hit_rate": [0.6, np.nan, 0.05],
        }
    )
    tiers["thieves"] = [3, 0, 4]
    tiers["hit_rate_low"] = [0.2, np.nan, 0.02]
    tiers["hit_rate_high"] = [0.9, np.nan, 0.12]
    ax = plots.tier_figure(tiers).axes[0]
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert ticks == ["high\n60%: 3 of 5", "medium\nno labels", "low\n5%: 4 of 85"]
    assert ax.get_yscale() == "linear"
    assert [bar.get_height() for bar in ax.patches] == pytest.approx([0.6, 0.0, 0.05])
    counts = plots.tier_figure(tiers[["tier", "customers"]]).axes[0]
    assert [t.get_text() for t in counts.texts] == ["5", "10", "85"]
    assert counts.get_ylabel() == "customers" and counts.get_yscale() == "linear"
    importance = pd.Series([3.0, 2.0, 1.0], index=["a", "b", "c"])
    importance_ax = plots.importance_figure(importance, "mean |SHAP|").axes[0]
    widths = {
        label.get_text(): bar.get_width()
        for label, bar in zip(importance_ax.get_yticklabels(), importance_ax.patches, strict=True)
    }
    assert widths == {"a": 3.0, "b": 2.0, "c": 1.0}
    recall = evaluate.recall_by_group([True, True, True, True, False, True, False], list("aaabbbb"))
    recall_ax = plots.recall_figure(recall, "by attack").axes[0]
    assert [bar.get_height() for bar in recall_ax.patches] == pytest.approx([1.0, 0.5])
    assert [t.get_text() for t in recall_ax.get_xticklabels()] == ["a\n3/3", "b\n2/4"]
    consumption = build_frame(["A", "B"], np.ones((2, 40)), "2016-01-01")
    ranked = pd.DataFrame(
        {
            "rank": [1, 2],
            "CONS_NO": ["B", "A"],
            "risk_score": [0.9, 0.8],
            "probability": [1.0, 0.41],
            "tier": ["high", "high"],
            "split": ["test", "test"],
            "label": pd.array([1, pd.NA], dtype="Int8"),
            "reason_1": ["fell", "zeros"],
            "reason_2": ["", "gaps"],
        }
    )
    figure = plots.top_customers_figure(consumption, ranked)
    assert len(figure.axes) == 2
    assert figure.axes[1].get_title(loc="left").endswith("zeros; gaps")
    first = figure.axes[0].get_title(loc="left")
    assert first.startswith("#1 B · risk 0.9000 · probability > 0.999 · high · test split")
    assert "label: theft" in first
    assert "label: unknown" in figure.axes[1].get_title(loc="left")


def test_isolated_readings_are_found_so_they_can_be_drawn():
    """Observed: a top-customer panel nearly blank because lone readings between gaps draw no
    line; they are drawn as dots."""
    from ntl.plots.evaluation import isolated_readings

    values = np.array([1.0, np.nan, 2.0, np.nan, np.nan, 3.0, 4.0, np.nan, 5.0])
    expected = [True, False, True, False, False, False, False, False, True]
    assert isolated_readings(values).tolist() == expected
    assert isolated_readings(np.array([np.nan, np.nan])).tolist() == [False, False]
