"""Figures of notebook 01: missingness, distributions, weekly and seasonal profiles, examples.

Every function takes a canonical consumption frame (and, for synthetic data, the ground truth)
and returns a Figure. Customers are grouped by label (normal, theft, unlabeled); a group that is
empty is left out, so unlabeled data gets one curve instead of an error. Figures that draw every
customer's readings work on a seeded sample so they stay fast at 42k customers.
"""

from __future__ import annotations

import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ntl.frame import consumption_matrix, day_index, labels

GROUP_COLOURS = {"normal": "#2c7fb8", "theft": "#d95f0e", "unlabeled": "#7f8c8d"}
MIN_PROFILE_CUSTOMERS = 30  # archetype x label groups smaller than this are too noisy to draw
WELL_COVERED_MISSING = 0.05  # example thieves miss at most this share of days (attack visible)


def label_groups(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Boolean row masks for the normal, theft and unlabeled customers (empty groups left out)."""
    flag = labels(frame)
    masks = {
        "normal": (flag == 0).fillna(False).to_numpy(dtype=bool),
        "theft": (flag == 1).fillna(False).to_numpy(dtype=bool),
        "unlabeled": flag.isna().to_numpy(dtype=bool),
    }
    return {name: mask for name, mask in masks.items() if mask.any()}


def sample_rows(mask: np.ndarray, limit: int, seed: int) -> np.ndarray:
    """Up to `limit` row positions where `mask` is True, drawn without replacement, in order."""
    rows = np.flatnonzero(mask)
    if len(rows) <= limit:
        return rows
    return np.sort(np.random.default_rng(seed).choice(rows, limit, replace=False))


def _quiet_nanmean(values: np.ndarray, axis: int) -> np.ndarray:
    """nanmean without the 'mean of empty slice' warning (all-NaN slices give NaN)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(values, axis=axis)


def relative_consumption(matrix: np.ndarray) -> np.ndarray:
    """Each customer's readings divided by that customer's mean (1 = usual level)."""
    mean = _quiet_nanmean(matrix, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return matrix / np.where(mean > 0, mean, np.nan)[:, None]


def label_balance_figure(frame: pd.DataFrame) -> Figure:
    """Customers per label, with shares: how rare theft is (and how much is unlabeled)."""
    groups = label_groups(frame)
    counts = {name: int(mask.sum()) for name, mask in groups.items()}
    fig, ax = plt.subplots(figsize=(6, 3.2))
    bars = ax.bar(list(counts), list(counts.values()), color=[GROUP_COLOURS[g] for g in counts])
    total = sum(counts.values())
    for bar, count in zip(bars, counts.values(), strict=True):
        ax.annotate(
            f"{count:,} ({count / total:.1%})",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
        )
    ax.set(ylabel="customers", title="Label balance")
    ax.margins(y=0.15)
    fig.tight_layout()
    return fig


def missing_per_customer_figure(frame: pd.DataFrame) -> Figure:
    """Distribution of the share of missing days per customer, by label."""
    missing_share = np.isnan(consumption_matrix(frame)).mean(axis=1)
    fig, ax = plt.subplots(figsize=(7, 3.8))
    bins = np.linspace(0, 1, 21)
    for name, mask in label_groups(frame).items():
        share = missing_share[mask]
        ax.hist(
            share,
            bins=bins,
            density=True,
            histtype="step",
            linewidth=2,
            color=GROUP_COLOURS[name],
            label=f"{name} (mean {share.mean():.1%}, n={mask.sum():,})",
        )
    ax.set(
        xlabel="share of days with no reading",
        ylabel="density of customers",
        title="Missing readings per customer",
    )
    ax.legend()
    fig.tight_layout()
    return fig


def missingness_map_figure(frame: pd.DataFrame, max_customers: int = 300, seed: int = 0) -> Figure:
    """Customers x days picture of missing readings (black = missing) for a sample of customers.

    Rows are grouped by label and sorted by missing share inside each group.
    """
    matrix = consumption_matrix(frame)
    groups = label_groups(frame)
    per_group = max(1, max_customers // len(groups))
    blocks, boundaries, names = [], [], []
    for name, mask in groups.items():
        rows = sample_rows(mask, per_group, seed)
        missing = np.isnan(matrix[rows])
        blocks.append(missing[np.argsort(missing.mean(axis=1), kind="stable")])
        boundaries.append(sum(len(b) for b in blocks))
        names.append(f"{name} ({len(rows):,} of {mask.sum():,})")
    picture = np.vstack(blocks)
    days = day_index(frame)
    fig, ax = plt.subplots(figsize=(10, 4.5))
    ax.imshow(picture, aspect="auto", cmap="Greys", interpolation="nearest", vmin=0, vmax=1)
    starts = [0, *boundaries[:-1]]
    for end in boundaries[:-1]:
        ax.axhline(end - 0.5, color="#d95f0e", linewidth=1.5)
    centres = [(start + end - 1) / 2 for start, end in zip(starts, boundaries, strict=True)]
    ax.set_yticks(centres, names, rotation=90, va="center", fontsize=8)
    ticks = np.linspace(0, len(days) - 1, min(8, len(days))).astype(int)
    ax.set_xticks(ticks, [days[t].strftime("%Y-%m-%d") for t in ticks], rotation=30, ha="right")
    ax.set(title="Missing readings: customers x days (black = missing; a sample of customers)")
    fig.tight_layout()
    return fig


def consumption_distribution_figure(
    frame: pd.DataFrame, max_customers: int = 3000, seed: int = 0
) -> Figure:
    """Per-customer mean consumption and daily readings on log scales, by label.

    Daily readings come from a sample of customers; zero readings (and customers whose every
    reading is zero) cannot sit on a log axis and are reported as a share in the legend instead.
    """
    matrix = consumption_matrix(frame)
    fig, (mean_ax, daily_ax) = plt.subplots(1, 2, figsize=(11, 4))
    customer_mean = _quiet_nanmean(matrix, axis=1)
    positive_means = customer_mean[customer_mean > 0]
    if len(positive_means):
        low, high = np.log10(positive_means.min()), np.log10(positive_means.max())
        mean_bins = np.logspace(low - 0.1, high + 0.1, 40)
    else:
        mean_bins = np.logspace(-2, 2, 40)
    groups = label_groups(frame)
    sampled = {}
    for name, mask in groups.items():
        readings = matrix[sample_rows(mask, max_customers, seed)]
        sampled[name] = readings[~np.isnan(readings)]
    # The bins reach below the smallest positive reading drawn, so every one of them is counted.
    smallest = min((r[r > 0].min() for r in sampled.values() if (r > 0).any()), default=1.0)
    daily_low = min(-2.0, float(np.log10(smallest)) - 0.1)
    daily_high = np.log10(max(1.0, np.nanmax(matrix, initial=1.0))) + 0.1
    daily_bins = np.logspace(daily_low, daily_high, 50)
    for name, mask in groups.items():
        colour = GROUP_COLOURS[name]
        means = customer_mean[mask]
        means = means[np.isfinite(means)]  # a customer without any reading has no level
        all_zero = float((means == 0).mean()) if means.size else 0.0
        positive_mean = means[means > 0]  # shares of all customers: all-zero meters say so
        mean_ax.hist(positive_mean, bins=mean_bins,
                     weights=np.full(len(positive_mean), 1 / max(1, len(means))),
                     histtype="step", linewidth=2, color=colour,
                     label=f"{name} (all-zero meters: {all_zero:.1%})")  # fmt: skip
        readings = sampled[name]
        zero_share = float((readings == 0).mean()) if readings.size else 0.0
        positive = readings[readings > 0]
        daily_ax.hist(positive, bins=daily_bins,
                      weights=np.full(len(positive), 1 / max(1, len(positive))),
                      histtype="step", linewidth=2, color=colour,
                      label=f"{name} (zeros: {zero_share:.1%})")  # fmt: skip
    # Shares per (logarithmic) bin, not densities per kWh, so the right tail stays visible.
    mean_ax.set(xscale="log", xlabel="mean daily consumption per customer (kWh, log)",
                ylabel="share of customers", title="Customer levels: heavy right tail")  # fmt: skip
    daily_ax.set(xscale="log", xlabel="daily reading (kWh, log)", ylabel="share of readings",
                 title="Daily readings (sample of customers)")  # fmt: skip
    mean_ax.legend()
    daily_ax.legend()
    fig.tight_layout()
    return fig


def weekly_profiles(matrix: np.ndarray, weekday: np.ndarray) -> np.ndarray:
    """customers x 7 mean consumption per weekday (Mon..Sun), divided by the customer's mean
    over the seven, so every profile averages 1 whatever the customer's level."""
    per_weekday = np.stack(
        [_quiet_nanmean(matrix[:, weekday == day], axis=1) for day in range(7)], axis=1
    )
    return relative_consumption(per_weekday)


def weekly_profile_figure(frame: pd.DataFrame, truth: pd.DataFrame | None = None) -> Figure:
    """Typical weekly profile (each customer's weekday means over their own mean), by label.

    With a ground truth holding `archetype`, a second panel splits normal and theft by archetype:
    thieves are more often commercial or industrial (a deep weekend dip), which alone makes the
    pooled theft curve swing more. The y-axis spans at least +-10 % so noise is not magnified.
    """
    profiles = weekly_profiles(consumption_matrix(frame), day_index(frame).day_of_week.to_numpy())
    names = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    groups = label_groups(frame)
    by_archetype = truth is not None and "archetype" in truth.columns
    fig, axes = plt.subplots(1, 2 if by_archetype else 1, figsize=(13 if by_archetype else 7, 3.8),
                             squeeze=False)  # fmt: skip
    pooled_ax = axes[0, 0]
    for name, mask in groups.items():
        profile = _quiet_nanmean(profiles[mask], axis=0)
        pooled_ax.plot(names, profile, "o-", color=GROUP_COLOURS[name],
                       label=f"{name} (n={mask.sum():,})")  # fmt: skip
    pooled_ax.set(ylabel="weekday mean / weekly mean", title="All customers, by label")
    if by_archetype:
        archetype = truth["archetype"].reindex(frame.index).to_numpy(dtype=object)
        split_ax = axes[0, 1]
        colours = plt.get_cmap("tab10")
        for position, kind in enumerate(pd.unique(archetype[pd.notna(archetype)])):
            for name, style in (("normal", "o-"), ("theft", "s--")):
                mask = groups.get(name, np.zeros(len(frame), dtype=bool)) & (archetype == kind)
                if mask.sum() < MIN_PROFILE_CUSTOMERS:
                    continue
                profile = _quiet_nanmean(profiles[mask], axis=0)
                split_ax.plot(names, profile, style, color=colours(position), markersize=4,
                              label=f"{kind} {name} (n={mask.sum():,})")  # fmt: skip
        split_ax.set(title="By archetype (solid normal, dashed theft)")
        split_ax.legend(fontsize=7, ncol=2)
    for ax in axes.flat:
        drawn = np.concatenate([line.get_ydata() for line in ax.get_lines()] or [np.ones(1)])
        spread = max(0.1, 1.15 * float(np.nanmax(np.abs(drawn - 1), initial=0)))
        ax.axhline(1, ls=":", color="grey")
        ax.set_ylim(1 - spread, 1 + spread)
        ax.grid(alpha=0.3)
    pooled_ax.legend(fontsize=8)
    fig.suptitle("Weekly profile (mean over customers)")
    fig.tight_layout()
    return fig


def reference_means(matrix: np.ndarray, end_day: np.ndarray) -> np.ndarray:
    """Each customer's mean reading over days [0, end_day) (NaN when none is observed there).

    Used to normalise thieves by their pre-onset level, which theft has not lowered.
    """
    end_day = np.asarray(end_day, dtype=np.int64)
    before = np.arange(matrix.shape[1])[None, :] < end_day[:, None]
    observed = before & ~np.isnan(matrix)
    total = np.where(observed, matrix, 0).sum(axis=1, dtype=np.float64)
    count = observed.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(count > 0, total / count, np.nan)


def seasonal_profile_figure(
    frame: pd.DataFrame, truth: pd.DataFrame | None = None, smoothing_days: int = 7
) -> Figure:
    """Mean relative consumption per calendar day (smoothed), by label, over the whole period.

    Normal customers are divided by their whole-period mean. Thieves with a known onset (a
    ground truth with `onset`) are divided by their mean BEFORE the onset: their whole-period
    mean is lowered by the theft, which would push their early curve above the normal one.
    Without onsets every customer is divided by the whole-period mean (the title says so).
    """
    matrix = consumption_matrix(frame)
    days = day_index(frame)
    end_day = np.full(len(frame), len(days))
    with_onsets = truth is not None and "onset" in truth.columns
    if with_onsets:
        onset = pd.DatetimeIndex(truth["onset"].reindex(frame.index))
        known = ~onset.isna()
        end_day[known] = (onset[known] - days[0]).days
    level = reference_means(matrix, end_day)
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = matrix / np.where(level > 0, level, np.nan)[:, None]
    fig, ax = plt.subplots(figsize=(10, 3.8))
    for name, mask in label_groups(frame).items():
        daily = pd.Series(_quiet_nanmean(relative[mask], axis=0), index=days)
        smooth = daily.rolling(smoothing_days, center=True, min_periods=1).mean()
        ax.plot(days, smooth, color=GROUP_COLOURS[name], label=name)
    ax.axhline(1, ls=":", color="grey")
    reference = (
        "normal: whole-period mean, theft: pre-onset mean"
        if with_onsets
        else "each customer's whole-period mean"
    )
    ax.set(ylabel="consumption / reference level",
           title=f"Seasonal profile ({smoothing_days}-day rolling mean; reference: {reference})")  # fmt: skip
    ax.legend()
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def choose_examples(
    frame: pd.DataFrame, truth: pd.DataFrame | None = None, n_examples: int = 6, seed: int = 0
) -> list[str]:
    """Customer IDs worth looking at: thieves with different attacks, then normal look-alikes
    (a legitimate level drop, a vacant or holiday home), then anyone, up to n_examples.

    Thieves are taken among the well-covered ones (few missing readings, at least a quarter of
    the period after the onset) when there are any, so the attack is visible.
    """
    rng = np.random.default_rng(seed)
    chosen: list[str] = []

    def take(candidates: pd.Index, count: int) -> None:
        candidates = candidates.difference(pd.Index(chosen))
        if len(candidates) and count > 0:
            picked = rng.choice(np.asarray(candidates), min(count, len(candidates)), replace=False)
            chosen.extend(str(c) for c in picked)

    missing_share = pd.Series(np.isnan(consumption_matrix(frame)).mean(axis=1), frame.index)
    well_covered = frame.index[missing_share.to_numpy() <= WELL_COVERED_MISSING]

    def prefer(candidates: pd.Index, good: pd.Index) -> pd.Index:
        """The good candidates when there are any left, else all of them."""
        best = candidates.intersection(good).difference(pd.Index(chosen))
        return best if len(best) else candidates

    n_thieves = (n_examples + 1) // 2
    if truth is not None and "attack" in truth.columns:
        thieves = truth[truth["attack"] != "none"]
        days = day_index(frame)
        attacked_share = (days[-1] - thieves["onset"]).dt.days / len(days)
        clear = thieves.index[attacked_share.to_numpy() >= 0.25].intersection(well_covered)
        for attack in rng.permutation(np.asarray(thieves["attack"].unique(), dtype=object)):
            if len(chosen) >= n_thieves:
                break
            take(prefer(thieves.index[thieves["attack"] == attack], clear), 1)
        normal = truth[truth["attack"] == "none"]
        shift = normal.get("level_shift", pd.Series(1.0, normal.index))
        take(prefer(normal.index[shift.to_numpy() < 0.7], well_covered), 1)
        empty = normal["archetype"].isin(["vacant", "seasonal"]).to_numpy() & (shift == 1.0)
        take(prefer(normal.index[empty], well_covered), 1)
    else:
        flag = labels(frame)
        take(frame.index[(flag == 1).fillna(False).to_numpy(dtype=bool)], n_thieves)
    take(frame.index, n_examples - len(chosen))
    return chosen[:n_examples]


def example_customers_figure(
    frame: pd.DataFrame, customer_ids: list[str], truth: pd.DataFrame | None = None
) -> Figure:
    """Daily readings of a few customers (thin) with a 7-day mean (thick); theft onset dashed
    black, a legitimate level change (ground truth level_shift_date) dotted green."""
    days = day_index(frame)
    matrix = consumption_matrix(frame.loc[customer_ids])
    flag = labels(frame).loc[customer_ids]
    n_rows = max(1, int(np.ceil(len(customer_ids) / 2)))
    fig, axes = plt.subplots(n_rows, 2, figsize=(12, 2.6 * n_rows), sharex=True, squeeze=False)
    for ax, customer, readings, label in zip(axes.flat, customer_ids, matrix, flag, strict=False):
        group = "unlabeled" if pd.isna(label) else ("theft" if label == 1 else "normal")
        colour = GROUP_COLOURS[group]
        series = pd.Series(readings, index=days)
        ax.plot(days, series, color=colour, alpha=0.35, linewidth=0.7)
        ax.plot(days, series.rolling(7, min_periods=1).mean(), color=colour, linewidth=1.5)
        ax.set_title(_example_title(customer, group, truth), fontsize=9)
        ax.set_ylabel("kWh/day")
        if truth is None or customer not in truth.index:
            continue
        marks = (("onset", "black", "--", "theft onset"),
                 ("level_shift_date", "green", ":", "legitimate level change"))  # fmt: skip
        for column, line_colour, style, text in marks:
            if column in truth.columns and pd.notna(truth.at[customer, column]):
                ax.axvline(truth.at[customer, column], color=line_colour, ls=style,
                           linewidth=1.5, label=text)  # fmt: skip
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper right", fontsize=8)
    for ax in list(axes.flat)[len(customer_ids) :]:
        ax.set_visible(False)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def _example_title(customer: str, group: str, truth: pd.DataFrame | None) -> str:
    if truth is None or customer not in truth.index:
        return f"{customer}: {group}"
    row = truth.loc[customer]
    text = f"{customer}: {row.get('archetype', '')}"
    if row.get("attack", "none") != "none":
        return f"{text}, theft '{row['attack']}' from {row['onset']:%Y-%m-%d}"
    shift = row.get("level_shift", 1.0)
    if pd.notna(shift) and shift != 1.0:
        text += f", normal; legitimate level x{shift:.2f} from {row['level_shift_date']:%Y-%m-%d}"
    else:
        text += ", normal"
    return text
