"""The figures of notebook 04 build from small inputs without error and show what they claim."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

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
    assert len(plots.roc_pr_figure(labels, {"a": score, "b": 1 - score}).axes) == 2
    table = evaluate.reliability_table(labels, score)
    assert len(plots.reliability_figure(table, 0.1, 0.05).axes) == 2
    summary = evaluate.threshold_summary(labels, score, 0.5)
    texts = [t.get_text() for t in plots.confusion_figure(summary).axes[0].texts]
    assert f"{summary['true_positive']:,}" in texts
    assert len(plots.lift_figure(evaluate.lift_table(labels, score)).axes) == 2
    costs = evaluate.cost_benefit(labels, score, 1.0, 5.0)
    figure = plots.cost_benefit_figure(costs, evaluate.cost_benefit_optimum(costs), 40)
    assert "optimum" in figure.axes[0].texts[0].get_text()


def test_tier_importance_recall_and_top_customer_figures():
    tiers = pd.DataFrame(
        {
            "tier": ["high", "medium", "low"],
            "customers": [5, 10, 85],
            "hit_rate": [0.6, np.nan, 0.05],
        }
    )
    labels = [t.get_text() for t in plots.tier_figure(tiers).axes[0].texts]
    assert labels == ["hit rate 60%", "no labels", "hit rate 5%"]
    importance = pd.Series([3.0, 2.0, 1.0], index=["a", "b", "c"])
    assert len(plots.importance_figure(importance, "mean |SHAP|").axes[0].patches) == 3
    recall = pd.DataFrame({"group": ["h1", "h2"], "thieves": [3, 4], "recall": [1.0, 0.5]})
    assert len(plots.recall_figure(recall, "by attack").axes[0].patches) == 2
    consumption = build_frame(["A", "B"], np.ones((2, 40)), "2016-01-01")
    ranked = pd.DataFrame(
        {
            "rank": [1, 2],
            "CONS_NO": ["B", "A"],
            "risk_score": [0.9, 0.8],
            "tier": ["high", "high"],
            "reason_1": ["fell", "zeros"],
            "reason_2": ["", "gaps"],
        }
    )
    figure = plots.top_customers_figure(consumption, ranked)
    assert len(figure.axes) == 2
    assert figure.axes[1].get_title(loc="left").endswith("zeros; gaps")
