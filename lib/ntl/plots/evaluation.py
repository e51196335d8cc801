"""Figures of notebook 04: curves, calibration, tiers, lift, cost-benefit, reasons, customers."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, StrMethodFormatter
from sklearn.metrics import (
    average_precision_score,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)

from ntl.evaluate import format_probability
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
    ax.set(xlabel="model decision", ylabel="actual")
    ax.set_title(f"At threshold {summary['threshold']:.4f}")
    fig.tight_layout()
    return fig


def _error_bars(table: pd.DataFrame, rate: str) -> np.ndarray | None:
    """Asymmetric error bars from `{rate}_low` / `{rate}_high` columns, when present."""
    if f"{rate}_low" not in table.columns or f"{rate}_high" not in table.columns:
        return None
    values = table[rate].to_numpy(dtype=float)
    below = values - table[f"{rate}_low"].to_numpy(dtype=float)
    above = table[f"{rate}_high"].to_numpy(dtype=float) - values
    return np.nan_to_num(np.vstack([below, above]))


def tier_figure(table: pd.DataFrame) -> Figure:
    """Hit rate per tier (with its interval) and the counts as labels; customers per tier when
    there are no labels. Linear scale: the bar heights are the numbers a reader compares."""
    fig, ax = plt.subplots(figsize=(6, 3.8))
    colours = [TIER_COLOURS.get(tier, "grey") for tier in table["tier"]]
    labelled = "hit_rate" in table.columns and table["hit_rate"].notna().any()
    if labelled:
        ax.bar(
            table["tier"],
            table["hit_rate"].fillna(0.0),
            color=colours,
            yerr=_error_bars(table, "hit_rate"),
            capsize=4,
        )
        thieves = table["thieves"] if "thieves" in table.columns else [None] * len(table)
        ticks = [
            f"{tier}\nno labels"
            if pd.isna(rate)
            else f"{tier}\n{rate:.0%}: {found:,} of {customers:,}"
            if found is not None
            else f"{tier}\n{rate:.0%} of {customers:,}"
            for tier, rate, customers, found in zip(
                table["tier"], table["hit_rate"], table["customers"], thieves, strict=True
            )
        ]
        ax.set_xticks(range(len(table)), ticks)
        top = table.get("hit_rate_high", table["hit_rate"]).max()
        ax.set(ylabel="hit rate (share of thieves)", ylim=(0, min(1.05, top * 1.1 + 0.02)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:.0%}"))
        ax.set_title("Risk tiers: hit rate (95 % interval); thieves of customers below")
    else:
        bars = ax.bar(table["tier"], table["customers"], color=colours)
        for bar, customers in zip(bars, table["customers"], strict=True):
            ax.annotate(
                f"{customers:,}",
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                xytext=(0, 3),
                textcoords="offset points",
                ha="center",
                va="bottom",
            )
        ax.set(ylabel="customers", ylim=(0, table["customers"].max() * 1.15 + 1))
        ax.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
        ax.set_title("Risk tiers: customers (no labels for hit rates)")
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
    table: pd.DataFrame,
    optimum: pd.Series | Mapping[str, float],
    threshold_count: int | None = None,
    currency: str = "EUR",
    optimum_label: str = "optimum",
) -> Figure:
    """Net value against the number of inspections, a chosen number marked, the capacity dashed.

    `optimum` holds ``n_inspections`` and ``net_value`` of the point to mark (e.g. the share
    chosen on validation, applied to these customers). The numbers sit in the legend, below the
    axes, so that no text covers the curve.
    """
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    ax.plot(table["n_inspections"], table["net_value"], c="#2c3e50", label="net value")
    ax.axhline(0, c="grey", lw=0.8)
    ax.scatter(
        [optimum["n_inspections"]],
        [optimum["net_value"]],
        c="#c0392b",
        zorder=3,
        label=f"{optimum_label}: {int(optimum['n_inspections']):,} inspections, "
        f"net {optimum['net_value']:,.0f} {currency}",
    )
    if threshold_count is not None:
        capacity_value = table["net_value"].iloc[min(int(threshold_count), len(table) - 1)]
        ax.axvline(
            threshold_count,
            ls="--",
            c="#e67e22",
            label=f"capacity (operational threshold): {int(threshold_count):,} inspections, "
            f"net {capacity_value:,.0f} {currency}",
        )
    ax.set(
        xlabel="customers inspected, highest risk first",
        ylabel=f"net value ({currency})",
        title="Cost-benefit",
    )
    ax.xaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    ax.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    ax.grid(alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), fontsize=8, frameon=False)
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
    """Recall per group (attack type, onset age ...) with its interval; the tick labels give
    found / thieves (or n), so small groups are read as such."""
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    positions = np.arange(len(table))
    ax.bar(
        positions,
        table["recall"],
        color="#8e44ad",
        yerr=_error_bars(table, "recall"),
        capsize=3,
    )
    found = table["found"] if "found" in table.columns else [None] * len(table)
    ticks = [
        f"{group}\n{hits}/{count}" if hits is not None else f"{group}\nn={count}"
        for group, count, hits in zip(
            table["group"].astype(str), table["thieves"], found, strict=True
        )
    ]
    ax.set_xticks(positions, ticks, rotation=30, ha="right", fontsize=8)
    ax.set(ylabel="recall at the threshold", ylim=(0, 1.05), title=title)
    fig.tight_layout()
    return fig


def _label_text(value: object) -> str:
    """FLAG as a word for a figure title."""
    if value is None or pd.isna(value):
        return "unknown"
    return "theft" if int(value) == 1 else "normal"


def isolated_readings(values: np.ndarray) -> np.ndarray:
    """True for each reading whose neighbours on both sides are missing (or absent).

    A line plot joins consecutive readings, so a reading alone between gaps draws nothing: a
    sparse meter looked nearly blank. These are drawn as dots.
    """
    present = ~np.isnan(np.asarray(values, dtype=np.float64))
    before = np.r_[False, present[:-1]]
    after = np.r_[present[1:], False]
    return present & ~before & ~after


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
        alone = isolated_readings(series.to_numpy())
        ax.plot(series.index[alone], series.to_numpy()[alone], ".", ms=3, c="#7f8c8d")
        ax.plot(
            series.index,
            series.rolling(30, min_periods=10).mean(),
            c="#c0392b",
            label="30-day mean",
        )
        reasons = [getattr(row, c) for c in reason_columns if getattr(row, c)]
        facts = [f"#{row.rank} {customer}", f"risk {row.risk_score:.4f}"]
        if hasattr(row, "probability"):
            facts.append(f"probability {format_probability([row.probability]).iloc[0]}")
        facts.append(str(row.tier))
        if hasattr(row, "split"):
            facts.append(f"{row.split} split")
        if hasattr(row, "label"):
            facts.append(f"label: {_label_text(row.label)}")
        ax.set_title(" · ".join(facts) + "\n" + "; ".join(reasons), fontsize=9, loc="left")
        ax.set_ylabel("kWh")
    axes[0, 0].legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return fig
