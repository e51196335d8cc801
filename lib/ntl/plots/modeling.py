"""Figures of notebook 03 (modeling): learning curve, PR curves, calibration, importance, capacity.

Every function takes data and returns a matplotlib Figure; nothing is shown or written here.
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import precision_recall_curve

from ntl.evaluate import reliability_table
from ntl.models.supervised import TRAIN_CURVE_SAMPLE


def learning_curve_figure(curve: pd.DataFrame, best_iteration: int) -> Figure:
    """PR-AUC per boosting round on train and validation, with the early-stopping point."""
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(curve.index, curve["train_aucpr"], label=f"train (<= {TRAIN_CURVE_SAMPLE:,} customers)")
    ax.plot(curve.index, curve["validation_aucpr"], label="validation")
    best_round = best_iteration + 1
    ax.axvline(best_round, color="grey", linestyle="--", label=f"kept: round {best_round}")
    ax.set(xlabel="boosting round", ylabel="PR-AUC (aucpr)", title="XGBoost learning curve")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def precision_recall_figure(y_true: np.ndarray, scores: Mapping[str, np.ndarray]) -> Figure:
    """Precision-recall curve of each model on the same customers, with the theft rate."""
    fig, ax = plt.subplots(figsize=(7, 5))
    for name, score in scores.items():
        precision, recall, _ = precision_recall_curve(y_true, score)
        ax.plot(recall, precision, label=name)
    ax.axhline(np.mean(y_true), color="grey", linestyle=":", label="chance (theft rate)")
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02))
    ax.set_title("Precision-recall on validation")
    ax.legend(loc="upper right", fontsize="small")
    fig.tight_layout()
    return fig


def anomaly_by_cluster_figure(
    anomaly_score: pd.Series, cluster: pd.Series, flag: pd.Series | None = None
) -> Figure:
    """Normalised anomaly score per cluster, thieves and normal customers side by side."""
    frame = pd.DataFrame({"anomaly_score": anomaly_score, "cluster": cluster.astype(str)})
    fig, ax = plt.subplots(figsize=(8, 4))
    groups = sorted(frame["cluster"].unique(), key=int)
    positions = np.arange(len(groups))
    if flag is not None and flag.notna().any():
        for offset, (value, label) in zip((-0.2, 0.2), ((0, "normal"), (1, "theft")), strict=True):
            data = [
                frame.loc[(frame["cluster"] == g) & (flag == value).fillna(False), "anomaly_score"]
                for g in groups
            ]
            parts = ax.boxplot(
                data, positions=positions + offset, widths=0.35, patch_artist=True, showfliers=False
            )
            for box in parts["boxes"]:
                box.set_facecolor("tab:red" if value else "tab:blue")
                box.set_alpha(0.5)
            ax.plot([], [], color="tab:red" if value else "tab:blue", label=label, linewidth=6)
        ax.legend(loc="lower right")
    else:
        data = [frame.loc[frame["cluster"] == g, "anomaly_score"] for g in groups]
        ax.boxplot(data, positions=positions, widths=0.5, showfliers=False)
    ax.set_xticks(positions, groups)
    ax.set(xlabel="cluster (-1 = unassigned)", ylabel="anomaly score (0-1)", ylim=(-0.02, 1.02))
    ax.set_title("Isolation Forest score by cluster (validation)")
    fig.tight_layout()
    return fig


def weight_curve_figure(weight_curve: pd.DataFrame, chosen: float) -> Figure:
    """Validation PR-AUC of the ensemble for each XGBoost weight, with the one kept."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(weight_curve["weight"], weight_curve["pr_auc"], marker="o")
    ax.axvline(chosen, color="grey", linestyle="--", label=f"chosen weight {chosen:.2f}")
    ax.set(xlabel="weight of XGBoost (1 - weight on the anomaly score)", ylabel="PR-AUC")
    ax.set_title("Ensemble weight on validation")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def calibration_figure(
    y_true: np.ndarray, probabilities: Mapping[str, np.ndarray], n_bins: int = 10
) -> Figure:
    """Reliability diagram in equal-width bins of [0, 1], with the customers in each bin below.

    The same bins as notebook 04 (`ntl.evaluate.reliability_table`), so the 0.9-1.0 bin, where
    the high tier lives, has its own point; empty bins have no point and a zero bar.
    """
    fig, (ax, count_ax) = plt.subplots(
        2, 1, figsize=(6.5, 6.5), sharex=True, gridspec_kw={"height_ratios": [3, 1.4]}
    )
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect calibration")
    width = 1.0 / n_bins / (len(probabilities) + 1)
    for number, (name, probability) in enumerate(probabilities.items()):
        known = ~np.isnan(probability)
        table = reliability_table(y_true[known], probability[known], n_bins)
        filled = table[table["n"] > 0]
        line = ax.plot(filled["mean_probability"], filled["observed_rate"], marker="o", label=name)
        offset = (number - (len(probabilities) - 1) / 2) * width
        bars = count_ax.bar(
            (table["lower"] + table["upper"]) / 2 + offset,
            table["n"],
            width=width,
            color=line[0].get_color(),
        )
        count_ax.bar_label(bars, labels=table["n"].astype(str), fontsize=6, rotation=90, padding=2)
    ax.set(ylabel="observed theft rate", xlim=(-0.02, 1.02), ylim=(-0.02, 1.02))
    ax.set_title(f"Calibration on validation ({n_bins} equal-width bins)")
    ax.legend(loc="upper left", fontsize="small")
    ax.grid(alpha=0.3)
    count_ax.set(xlabel="predicted probability of theft", ylabel="customers per bin")
    count_ax.set_yscale("symlog", linthresh=1)
    count_ax.set_ylim(0, max(10, count_ax.get_ylim()[1]) * 8)
    count_ax.set_xticks(np.linspace(0, 1, n_bins + 1))
    fig.tight_layout()
    return fig


def feature_importance_figure(importance: pd.Series, label: str, top: int = 20) -> Figure:
    """Horizontal bars of the `top` most important features, largest at the top (sorted here,
    so an unsorted `importance` cannot show its first rows as the top ones)."""
    shown = importance.sort_values(ascending=False, kind="stable").head(top)[::-1]
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(shown) + 1.2))
    ax.barh(shown.index.astype(str), shown.to_numpy(), color="tab:blue")
    ax.set(xlabel=label, title=f"Feature importance (top {len(shown)})")
    fig.tight_layout()
    return fig


def capacity_figure(
    risk_score: pd.Series, flag: pd.Series | None, operational_threshold: float
) -> Figure:
    """Precision and recall against the share of customers inspected (validation).

    Without labels, the sorted risk score instead, so the threshold's place is still visible.
    """
    order = np.argsort(-risk_score.to_numpy(dtype=np.float64), kind="stable")
    inspected = np.arange(1, len(order) + 1) / len(order)
    chosen_share = float(np.mean(risk_score.to_numpy() >= operational_threshold))
    fig, ax = plt.subplots(figsize=(7, 4))
    labelled = flag is not None and flag.notna().any() and (flag == 1).any()
    if labelled:
        known = flag.notna().to_numpy()[order]
        thief = (flag.fillna(0).to_numpy(dtype=np.int64) == 1)[order]
        caught = np.cumsum(thief)
        ax.plot(inspected, caught / np.maximum(np.cumsum(known), 1), label="precision")
        ax.plot(inspected, caught / thief.sum(), label="recall")
        ax.set_ylabel("precision / recall")
    else:
        ax.plot(inspected, risk_score.to_numpy()[order], label="risk score")
        ax.set_ylabel("risk score")
    ax.axvline(chosen_share, color="grey", linestyle="--", label=f"capacity {chosen_share:.1%}")
    shown = min(1.0, max(0.5, 1.5 * chosen_share))  # the capacity line always inside the axis
    ax.set(xlabel="share of validation customers inspected (highest risk first)", xlim=(0, shown))
    ax.set_title("What the inspection capacity buys")
    ax.legend(loc="center right")
    fig.tight_layout()
    return fig
