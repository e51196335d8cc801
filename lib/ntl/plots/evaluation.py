"""Figures of notebook 04: curves, calibration, tiers, lift, cost-benefit, reasons, top customers."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import (
    average_precision_score,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)

from ntl.frame import day_index

TIER_COLOURS = {"high": "#c0392b", "medium": "#e67e22", "low": "#7f8c8d"}


def roc_pr_figure(y_true: np.ndarray, scores: Mapping[str, np.ndarray]) -> Figure:
    """ROC and precision-recall curves of several scores of the same customers."""
    y_true = np.asarray(y_true, dtype=int)
    fig, (roc_ax, pr_ax) = plt.subplots(1, 2, figsize=(11, 4.5))
    for name, score in scores.items():
        false_positive, true_positive, _ = roc_curve(y_true, score)
        roc_ax.plot(
            false_positive, true_positive, label=f"{name} ({roc_auc_score(y_true, score):.3f})"
        )
        precision, recall, _ = precision_recall_curve(y_true, score)
        pr_ax.plot(
            recall, precision, label=f"{name} ({average_precision_score(y_true, score):.3f})"
        )
    roc_ax.plot([0, 1], [0, 1], ls=":", c="grey", label="chance")
    pr_ax.axhline(y_true.mean(), ls=":", c="grey", label=f"chance ({y_true.mean():.3f})")
    roc_ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (AUC)")
    pr_ax.set(xlabel="recall", ylabel="precision", title="Precision-recall (average precision)")
    for ax in (roc_ax, pr_ax):
        ax.legend(fontsize=8, loc="lower right" if ax is roc_ax else "upper right")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def reliability_figure(table: pd.DataFrame, brier: float, ece: float) -> Figure:
    """Reliability diagram (observed theft rate against mean probability) and bin counts."""
    fig, (ax, count_ax) = plt.subplots(
        2, 1, figsize=(6, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    filled = table[table["n"] > 0]
    ax.plot([0, 1], [0, 1], ls=":", c="grey", label="perfect calibration")
    ax.plot(filled["mean_probability"], filled["observed_rate"], "o-", label="model")
    ax.set(ylabel="observed theft rate", title=f"Reliability (Brier {brier:.3f}, ECE {ece:.3f})")
    ax.legend(loc="upper left")
    ax.grid(alpha=0.3)
    centres = (table["lower"] + table["upper"]) / 2
    count_ax.bar(
        centres, table["n"], width=(table["upper"] - table["lower"]) * 0.9, color="#95a5a6"
    )
    count_ax.set(xlabel="predicted probability", ylabel="customers", yscale="symlog")
    fig.tight_layout()
    return fig


def confusion_figure(summary: Mapping[str, float]) -> Figure:
    """The 2 x 2 confusion matrix at the operational threshold, counts in the cells."""
    cells = np.array(
        [
            [summary["true_negative"], summary["false_positive"]],
            [summary["false_negative"], summary["true_positive"]],
        ]
    )
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.imshow(cells, cmap="Blues")
    for (row, column), count in np.ndenumerate(cells):
        colour = "white" if count > cells.max() / 2 else "black"
        ax.text(column, row, f"{int(count):,}", ha="center", va="center", color=colour, fontsize=13)
    ax.set_xticks([0, 1], ["not flagged", "flagged"])
    ax.set_yticks([0, 1], ["normal", "theft"])
    ax.set_title(f"At threshold {summary['threshold']:.3f}")
    fig.tight_layout()
    return fig


def tier_figure(table: pd.DataFrame) -> Figure:
    """Customers per tier, with the hit rate written on each bar when labels exist."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    colours = [TIER_COLOURS.get(tier, "grey") for tier in table["tier"]]
    bars = ax.bar(table["tier"], table["customers"], color=colours)
    if "hit_rate" in table.columns:
        for bar, rate in zip(bars, table["hit_rate"], strict=True):
            text = "no labels" if pd.isna(rate) else f"hit rate {rate:.0%}"
            ax.annotate(
                text,
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                ha="center",
                va="bottom",
            )
    ax.set(ylabel="customers", title="Risk tiers", yscale="log")
    fig.tight_layout()
    return fig


def lift_figure(table: pd.DataFrame) -> Figure:
    """Lift per rank group (bars) and cumulative share of thieves found (line)."""
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.bar(table["group"], table["lift"], color="#2980b9", label="lift of the group")
    ax.axhline(1.0, ls=":", c="grey")
    ax.set(xlabel="rank group (1 = highest risk)", ylabel="lift (hit rate / theft rate)")
    ax.set_xticks(table["group"])
    recall_ax = ax.twinx()
    recall_ax.plot(
        table["group"], table["cumulative_recall"], "o-", c="#c0392b", label="thieves found so far"
    )
    recall_ax.set(ylabel="cumulative share of thieves found", ylim=(0, 1.05))
    handles = ax.get_legend_handles_labels()[0] + recall_ax.get_legend_handles_labels()[0]
    ax.legend(handles=handles, loc="center right")
    ax.set_title("Lift chart")
    fig.tight_layout()
    return fig


def cost_benefit_figure(
    table: pd.DataFrame, optimum: pd.Series, threshold_count: int | None = None
) -> Figure:
    """Net value against the number of inspections, the optimum marked."""
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(table["n_inspections"], table["net_value"], c="#2c3e50")
    ax.axhline(0, c="grey", lw=0.8)
    ax.scatter([optimum["n_inspections"]], [optimum["net_value"]], c="#c0392b", zorder=3)
    ax.annotate(
        f"optimum: {int(optimum['n_inspections']):,} inspections\nnet {optimum['net_value']:,.0f}",
        (optimum["n_inspections"], optimum["net_value"]),
        textcoords="offset points",
        xytext=(10, -30),
    )
    if threshold_count is not None:
        ax.axvline(threshold_count, ls="--", c="#e67e22", label="operational threshold")
        ax.legend(loc="lower left")
    ax.set(
        xlabel="customers inspected, highest risk first", ylabel="net value", title="Cost-benefit"
    )
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def importance_figure(importance: pd.Series, measure: str, top: int = 20) -> Figure:
    """Horizontal bars of the `top` most important features."""
    shown = importance.head(top)[::-1]
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(shown) + 1.2))
    ax.barh(shown.index, shown.to_numpy(), color="#16a085")
    ax.set(xlabel=measure, title="Global importance")
    fig.tight_layout()
    return fig


def recall_figure(table: pd.DataFrame, title: str) -> Figure:
    """Recall per group (attack type, onset age ...) with the number of thieves on each bar."""
    fig, ax = plt.subplots(figsize=(7, 3.5))
    bars = ax.bar(table["group"].astype(str), table["recall"], color="#8e44ad")
    for bar, count in zip(bars, table["thieves"], strict=True):
        ax.annotate(
            f"n={count}",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
        )
    ax.set(ylabel="recall at the threshold", ylim=(0, 1.1), title=title)
    ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    return fig


def top_customers_figure(consumption: pd.DataFrame, ranked: pd.DataFrame) -> Figure:
    """Daily consumption of the customers in `ranked` (rows of the inspection list) with reasons.

    `consumption` is the canonical frame holding at least those customers.
    """
    dates = day_index(consumption)
    reason_columns = [c for c in ranked.columns if c.startswith("reason_")]
    fig, axes = plt.subplots(
        len(ranked), 1, figsize=(11, 2.6 * len(ranked)), sharex=True, squeeze=False
    )
    for ax, row in zip(
        axes[:, 0], ranked.itertuples(index=False), strict=True
    ):  # a handful of rows
        customer = row.CONS_NO
        series = pd.Series(consumption.loc[customer].iloc[1:].to_numpy(dtype=float), index=dates)
        ax.plot(series.index, series.to_numpy(), lw=0.6, c="#7f8c8d", label="daily kWh")
        ax.plot(
            series.index,
            series.rolling(30, min_periods=10).mean(),
            c="#c0392b",
            label="30-day mean",
        )
        reasons = [getattr(row, c) for c in reason_columns if getattr(row, c)]
        ax.set_title(
            f"#{row.rank} {customer} · risk {row.risk_score:.3f} · {row.tier}\n"
            + "; ".join(reasons),
            fontsize=9,
            loc="left",
        )
        ax.set_ylabel("kWh")
    axes[0, 0].legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return fig
