"""Figures of notebook 02: data quality, gap filling and capping, features, shape clusters.

Every function takes data and returns a matplotlib Figure; nothing is shown or written here.
Label-dependent figures (theft vs normal) are only drawn when the notebook has both classes.
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from ntl.clustering import MONTH_NAMES, WEEKDAY_NAMES
from ntl.preprocess import PreprocessConfig

CLASS_COLOURS = {"normal": "#2c7fb8", "theft": "#d95f0e"}


def quality_figure(quality: pd.DataFrame, config: PreprocessConfig) -> Figure:
    """Histograms of the three quality measures with the LOW thresholds marked."""
    figure, axes = plt.subplots(1, 3, figsize=(13, 3.4))
    panels = [
        ("present_share", "share of days with a reading", config.min_present_share, "LOW below"),
        ("gap_longest", "longest gap (days)", config.max_gap_days, "LOW above"),
        ("zero_share", "share of zero readings", config.max_zero_share, "LOW above"),
    ]
    for axis, (column, label, threshold, side) in zip(axes, panels, strict=True):
        values = quality[column].dropna()
        axis.hist(values, bins=40, color="#7f8c8d")
        axis.axvline(threshold, color="#c0392b", linestyle="--", label=f"{side} {threshold:g}")
        axis.set_xlabel(label)
        axis.set_ylabel("customers")
        axis.legend(frameon=False, fontsize=8)
    low = (quality["quality_flag"] == "LOW").mean()
    figure.suptitle(f"Data quality per customer: {low:.1%} flagged LOW (kept and scored)")
    figure.tight_layout()
    return figure


def cleaning_figure(
    raw: np.ndarray, cleaned: np.ndarray, dates: pd.DatetimeIndex, ids: pd.Index
) -> Figure:
    """The customer with the most interpolated readings and the one with the most capped ones:
    raw readings, the filled-in values and the capped peaks."""
    interpolated = np.isnan(raw) & ~np.isnan(cleaned)
    capped = ~np.isnan(raw) & (cleaned < raw)
    picks = [("most interpolated readings", int(interpolated.sum(axis=1).argmax()))]
    picks.append(("most capped readings", int(capped.sum(axis=1).argmax())))
    figure, axes = plt.subplots(len(picks), 1, figsize=(13, 3.2 * len(picks)), squeeze=False)
    for axis, (title, row) in zip(axes[:, 0], picks, strict=True):
        axis.plot(dates, raw[row], color="#7f8c8d", linewidth=0.8, label="raw reading")
        filled_days = interpolated[row]
        axis.scatter(
            dates[filled_days],
            cleaned[row, filled_days],
            s=10,
            color="#27ae60",
            label="interpolated",
        )
        capped_days = capped[row]
        axis.scatter(
            dates[capped_days], raw[row, capped_days], s=18, color="#c0392b", label="capped (was)"
        )
        if capped_days.any():  # every capped reading is set to the customer's one cap
            cap = float(np.nanmax(cleaned[row, capped_days]))
            axis.axhline(cap, color="#c0392b", linestyle="--", linewidth=1.2,
                         label=f"cap ({cap:,.1f} kWh): capped readings now")  # fmt: skip
        axis.set_title(
            f"{ids[row]}: {title} ({filled_days.sum()} interpolated, {capped_days.sum()} capped)"
        )
        axis.set_ylabel("kWh per day")
        axis.legend(frameon=False, fontsize=8, ncol=4, loc="upper right")
    figure.tight_layout()
    return figure


def _clipped(values: pd.Series, low: float = 0.01, high: float = 0.99) -> pd.Series:
    """Values without NaN, clipped to their 1st..99th percentiles so one outlier cannot squash the plot."""
    values = values.dropna().astype(float)
    if values.empty:
        return values
    return values.clip(values.quantile(low), values.quantile(high))


def feature_distribution_figure(
    features: pd.DataFrame, flag: pd.Series, ranking: pd.DataFrame, n_features: int = 12
) -> Figure:
    """Density of the `n_features` most separating features, theft against normal, best first."""
    names = list(ranking["feature"].head(n_features))
    columns = 4
    rows = max(1, int(np.ceil(len(names) / columns)))
    figure, axes = plt.subplots(rows, columns, figsize=(13, 2.6 * rows), squeeze=False)
    theft = (flag == 1).fillna(False).to_numpy(dtype=bool)
    normal = (flag == 0).fillna(False).to_numpy(dtype=bool)
    for axis, name in zip(axes.ravel(), names, strict=False):
        values = _clipped(features[name])
        bins = np.histogram_bin_edges(values, bins=30) if len(values) else 10
        for label, mask in (("normal", normal), ("theft", theft)):
            group = values.reindex(features.index[mask]).dropna()
            axis.hist(
                group, bins=bins, density=True, alpha=0.5, color=CLASS_COLOURS[label], label=label
            )
        auc = ranking.set_index("feature").loc[name, "auc"]
        axis.set_title(f"{name} (AUC {auc:.2f})", fontsize=9)
        axis.tick_params(labelsize=7)
    for axis in axes.ravel()[len(names) :]:
        axis.set_visible(False)
    axes[0, 0].legend(frameon=False, fontsize=8)
    figure.suptitle("Most separating features first (values clipped to 1st-99th percentile)")
    figure.tight_layout()
    return figure


def correlation_figure(features: pd.DataFrame) -> Figure:
    """Spearman correlation between features (rank-based: robust to the heavy tails)."""
    usable = features.loc[:, features.notna().any() & (features.nunique() > 1)]
    # Ranks of each column, then pairwise Pearson: Spearman exactly without NaN, within ~1e-4
    # with a few NaN; pandas' exact pairwise Spearman is ~20x slower at 42k customers.
    correlation = usable.rank().corr()
    size = max(6.0, 0.32 * len(correlation))
    figure, axis = plt.subplots(figsize=(size + 1.5, size))
    sns.heatmap(
        correlation, ax=axis, cmap="RdBu_r", vmin=-1, vmax=1, square=True,
        cbar_kws={"shrink": 0.6, "label": "Spearman correlation"},
    )  # fmt: skip
    axis.tick_params(labelsize=7)
    axis.set_title("Feature correlation")
    figure.tight_layout()
    return figure


def silhouette_figure(scores: Mapping[int, float], chosen_k: int) -> Figure:
    """Silhouette score by number of clusters, the chosen k marked."""
    figure, axis = plt.subplots(figsize=(6, 3.4))
    if scores:
        ks = sorted(scores)
        axis.plot(ks, [scores[k] for k in ks], marker="o", color="#2c3e50")
        axis.set_xticks(ks)
    axis.axvline(chosen_k, color="#c0392b", linestyle="--", label=f"chosen k = {chosen_k}")
    axis.set_xlabel("number of clusters k")
    axis.set_ylabel("silhouette (higher = better separated)")
    axis.legend(frameon=False)
    figure.tight_layout()
    return figure


def cluster_profile_figure(typical_shapes: np.ndarray, sizes: pd.Series) -> Figure:
    """Typical weekly and annual profile shape of every cluster (1 = the customer's average).

    Months the data does not cover have no shape (NaN, no point); the title says so only then.
    """
    figure, (week_axis, year_axis) = plt.subplots(
        1, 2, figsize=(13, 3.8), gridspec_kw={"width_ratios": [7, 12]}
    )
    palette = sns.color_palette("tab10", len(typical_shapes))
    for cluster, shape in enumerate(typical_shapes):  # a handful of clusters
        label = f"cluster {cluster} ({int(sizes.get(cluster, 0)):,} customers)"
        week_axis.plot(WEEKDAY_NAMES, shape[:7], marker="o", color=palette[cluster], label=label)
        year_axis.plot(MONTH_NAMES, shape[7:], marker="o", color=palette[cluster], label=label)
    months = np.asarray(typical_shapes, dtype=float)[:, 7:]
    missing_months = [name for name, empty in zip(MONTH_NAMES, np.isnan(months).all(axis=0),
                                                  strict=True) if empty]  # fmt: skip
    year_title = "annual shape"
    if missing_months:
        year_title += f" (no data for {', '.join(missing_months)})"
    for axis, title in ((week_axis, "weekly shape"), (year_axis, year_title)):
        axis.axhline(1.0, color="#bdc3c7", linewidth=0.8)
        axis.set_title(title)
        axis.set_ylabel("consumption / own average")
        axis.legend(frameon=False, fontsize=7, loc="best")
    figure.tight_layout()
    return figure


def theft_rate_figure(summary: pd.DataFrame) -> Figure:
    """Theft rate among labeled customers per cluster, with the overall rate for reference.

    The labeled count of each cluster sits under its name on the x-axis, where the overall-rate
    line cannot cross it; cluster -1 is explained only when it holds customers.
    """
    shown = summary[summary["labeled"] > 0]
    figure, axis = plt.subplots(figsize=(7, 3.6))
    labels = [f"{cluster}\nn={count:,}" for cluster, count in zip(shown.index, shown["labeled"],
                                                                   strict=True)]  # fmt: skip
    axis.bar(labels, shown["theft_rate"], color="#d95f0e")
    overall = (shown["theft_rate"] * shown["labeled"]).sum() / max(shown["labeled"].sum(), 1)
    axis.axhline(overall, color="#2c3e50", linestyle="--", label=f"overall {overall:.1%}")
    has_unassigned = -1 in set(shown.index)
    axis.set_xlabel(
        "cluster (n = labeled customers)" + ("; -1 = no profile shape" if has_unassigned else "")
    )
    axis.set_ylabel("theft rate")
    axis.legend(frameon=False)
    figure.tight_layout()
    return figure
