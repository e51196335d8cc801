"""Reason codes: why a customer is high on the list, in words an inspector can check on site.

Contributions come from XGBoost's own TreeSHAP (``pred_contribs=True``): per customer, one value
per feature plus a ``bias`` column, summing to the model's log-odds. Related features are summed
into one reason (SHAP values add up), e.g. the size, date and position of the largest drop make one
"consumption fell 63 % after 2015-06". The reasons are the groups with the largest positive
contributions, each written as a phrase carrying the customer's own value.

Without a supervised model there is no SHAP; :func:`deviation_contributions` then ranks features
by how far the customer sits from the typical customer (robust z-score), and the same phrases
describe them.

Everything from contributions to phrases works on numpy arrays over the explained customers: the
only Python work per customer is formatting the numbers of the reasons actually shown.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ntl.features import FEATURE_DESCRIPTIONS

if TYPE_CHECKING:
    from ntl.models import ModelBundle

BIAS_COLUMN = "bias"
# float64 values -> their texts (an object array of str, same length)
Formatter = Callable[[np.ndarray], np.ndarray]
# member feature -> float64 values (lead member first), last day of history -> phrases
PhraseBuilder = Callable[[Mapping[str, np.ndarray], pd.Timestamp], np.ndarray]


# --------------------------------------------------------------------------- value formatting


def _integer_text(values: np.ndarray) -> np.ndarray:
    """Rounded half to even, without a sign on zero: 63.4 -> "63", -0.2 -> "0"."""
    rounded = np.round(np.asarray(values, dtype=np.float64)) + 0.0  # + 0.0 turns -0.0 into 0.0
    return np.char.mod("%.0f", rounded).astype(object)


def as_percent(values: np.ndarray) -> np.ndarray:
    """0.634 -> "63 %"."""
    return _integer_text(np.asarray(values, dtype=np.float64) * 100.0) + " %"


def as_days(values: np.ndarray) -> np.ndarray:
    """41.0 -> "41 days" ("1 day" for one)."""
    text = _integer_text(values)
    return text + np.where(text == "1", " day", " days").astype(object)


def as_count(values: np.ndarray) -> np.ndarray:
    """41.0 -> "41"."""
    return _integer_text(values)


def as_kwh(values: np.ndarray) -> np.ndarray:
    """2.137 -> "2.1 kWh/day"."""
    return np.round(np.asarray(values, dtype=np.float64), 1).astype(str).astype(object) + (
        " kWh/day"
    )


def as_number(values: np.ndarray) -> np.ndarray:
    """Three significant digits: 0.04567 -> "0.0457"."""
    return np.char.mod("%.3g", np.asarray(values, dtype=np.float64)).astype(object)


# --------------------------------------------------------------------------- the phrases


def _lead(values: Mapping[str, np.ndarray]) -> np.ndarray:
    """The values of a group's first member feature, the one its phrase quotes."""
    return next(iter(values.values()))


def _template(text: str, formatter: Formatter, when_zero: str | None = None) -> PhraseBuilder:
    """A phrase "text" with {value} replaced by the formatted first member feature
    (`when_zero` instead where that value is 0, e.g. "no gaps in readings")."""
    before, _, after = text.partition("{value}")

    def build(values: Mapping[str, np.ndarray], last_day: pd.Timestamp) -> np.ndarray:
        lead = _lead(values)
        phrase = before + formatter(lead) + after
        return phrase if when_zero is None else np.where(lead != 0, phrase, when_zero)

    return build


def _drop_phrase(values: Mapping[str, np.ndarray], last_day: pd.Timestamp) -> np.ndarray:
    """ "consumption fell 63 % after 2015-06": size of the largest drop and its month."""
    size = values["drop_largest"]
    days_ago = values.get("drop_days_ago", np.full(len(size), np.nan))
    dated = ~np.isnan(days_ago)
    phrase = "consumption fell " + as_percent(size)
    if dated.any():
        month = pd.Timestamp(last_day) - pd.to_timedelta(days_ago[dated], unit="D")
        phrase[dated] = phrase[dated] + " after " + month.strftime("%Y-%m").to_numpy(object)
    return np.where(size >= 0.01, phrase, "no lasting fall in consumption")


def _trend_phrase(values: Mapping[str, np.ndarray], last_day: pd.Timestamp) -> np.ndarray:
    """ "consumption trending down 12 % a year" (or up); "steeply" past 100 % a year, which
    short histories extrapolate to."""
    slope = _lead(values)
    direction = np.where(slope < 0, "down ", "up ").astype(object)
    phrase = "consumption trending " + direction + as_percent(np.abs(slope)) + " a year"
    steep = "consumption trending " + direction + "steeply (over 100 % a year)"
    return np.where(np.abs(slope) <= 1.0, phrase, steep)


# group name -> (member features summed into the reason, phrase builder, formatter of the first
# member for "typical" values). Members absent from the model are ignored.
PHRASES: dict[str, tuple[tuple[str, ...], PhraseBuilder, Formatter]] = {
    "missing_share": (
        ("missing_share",),
        _template("{value} of days have no reading", as_percent),
        as_percent,
    ),
    "gaps": (
        ("gap_longest", "gap_count"),
        _template("longest gap in readings: {value}", as_days, "no gaps in readings"),
        as_days,
    ),
    "missing_recent": (
        ("missing_recent_share", "missing_recent_change"),
        _template("{value} of recent days have no reading", as_percent),
        as_percent,
    ),
    "zero_days": (
        ("zero_days", "zero_share"),
        _template("{value} days with zero readings", as_count, "no zero readings"),
        as_count,
    ),
    "zero_runs": (
        ("zero_run_longest", "zero_run_count"),
        _template("longest run of zero readings: {value}", as_days, "no zero readings"),
        as_days,
    ),
    "zero_recent_share": (
        ("zero_recent_share",),
        _template("{value} of recent readings are zero", as_percent),
        as_percent,
    ),
    "level": (("mean_kwh", "median_kwh"), _template("average use {value}", as_kwh), as_kwh),
    "cv": (("cv",), _template("day-to-day variation {value} (std / mean)", as_number), as_number),
    "std_kwh": (
        ("std_kwh",),
        _template("daily use varies by {value} (standard deviation)", as_kwh),
        as_kwh,
    ),
    "max_kwh": (("max_kwh",), _template("highest day {value}", as_kwh), as_kwh),
    "weekly_cv": (
        ("weekly_cv",),
        _template("week-to-week variation {value} (std / mean)", as_number),
        as_number,
    ),
    "monthly_cv": (
        ("monthly_cv",),
        _template("month-to-month variation {value} (std / mean)", as_number),
        as_number,
    ),
    "week_min_ratio": (
        ("week_min_ratio",),
        _template("lowest week at {value} of average use", as_percent),
        as_percent,
    ),
    "month_min_ratio": (
        ("month_min_ratio",),
        _template("lowest month at {value} of average use", as_percent),
        as_percent,
    ),
    "trend_slope": (("trend_slope",), _trend_phrase, as_percent),
    "recent_vs_past": (
        ("recent_vs_past",),
        _template("recent use at {value} of earlier use", as_percent),
        as_percent,
    ),
    "yoy_ratio": (
        ("yoy_ratio",),
        _template("last 12 months at {value} of the year before", as_percent),
        as_percent,
    ),
    "drop": (
        ("drop_largest", "drop_days_ago", "drop_position", "after_drop_ratio"),
        _drop_phrase,
        as_percent,
    ),
    "weekend_weekday_ratio": (
        ("weekend_weekday_ratio",),
        _template("weekend use at {value} of weekday use", as_percent),
        as_percent,
    ),
    "seasonal_amplitude": (
        ("seasonal_amplitude",),
        _template("seasonal swing of {value} of the average month", as_percent),
        as_percent,
    ),
    "acf_7": (
        ("acf_7",),
        _template("weekly rhythm {value} (7-day autocorrelation)", as_number),
        as_number,
    ),
    "acf_30": (
        ("acf_30",),
        _template("month-to-month persistence {value} (30-day autocorrelation)", as_number),
        as_number,
    ),
    "peer_deviation": (
        ("peer_deviation",),
        _template("usage shape unlike similar customers (distance {value})", as_number),
        as_number,
    ),
}


def _generic(feature: str) -> PhraseBuilder:
    """ "<description>: <value>" for a feature without a dedicated phrase."""
    description = FEATURE_DESCRIPTIONS.get(feature, feature.replace("_", " "))
    return _template(description + ": {value}", as_number)


def reason_groups(features: list[str]) -> dict[str, tuple[list[str], PhraseBuilder, Formatter]]:
    """The reasons available for a model's features: group -> (members, phrase, formatter)."""
    groups: dict[str, tuple[list[str], PhraseBuilder, Formatter]] = {}
    claimed: set[str] = set()
    for name, (members, build, formatter) in PHRASES.items():
        present = [member for member in members if member in features]
        if present and present[0] == members[0]:
            groups[name] = (present, build, formatter)
            claimed.update(present)
    for feature in features:  # members without their group's lead feature, and unknown ones
        if feature not in claimed:
            groups[feature] = ([feature], _generic(feature), as_number)
    return groups


NOT_MEASURABLE: dict[str, str] = {
    "drop": "largest drop not measurable (history too short or too gappy)",
    "yoy_ratio": "year-over-year change not measurable (needs two years of history)",
    "seasonal_amplitude": "seasonal pattern not measurable (needs a year of history)",
    "recent_vs_past": "recent against earlier use not measurable (too few readings)",
    "trend_slope": "trend not measurable (too few readings)",
}


def _unavailable(group: str, feature: str) -> str:
    """What to say when the lead feature of a reason is missing for a customer."""
    if group in NOT_MEASURABLE:
        return NOT_MEASURABLE[group]
    description = FEATURE_DESCRIPTIONS.get(feature, feature.replace("_", " ")).split(" (")[0]
    return f"{description}: not measurable"


def phrase_values(
    group: str,
    members: list[str],
    build: PhraseBuilder,
    formatter: Formatter,
    values: pd.DataFrame,
    last_day: pd.Timestamp,
    typical: Mapping[str, float] | None = None,
) -> pd.Series:
    """The phrase of one reason group for the rows of `values` (NaN lead -> "not measurable")."""
    columns = {member: values[member].to_numpy(dtype=np.float64) for member in members}
    phrases = _phrases(group, members, build, formatter, columns, last_day, typical)
    return pd.Series(phrases, index=values.index, dtype=object)


def _phrases(
    group: str,
    members: list[str],
    build: PhraseBuilder,
    formatter: Formatter,
    columns: Mapping[str, np.ndarray],
    last_day: pd.Timestamp,
    typical: Mapping[str, float] | None,
) -> np.ndarray:
    """phrase_values on float64 arrays (member -> values): an object array of phrases."""
    lead = columns[members[0]]
    phrases = np.asarray(build(columns, last_day), dtype=object)
    if typical is not None and members[0] in typical and np.isfinite(typical[members[0]]):
        typical_text = formatter(np.array([float(typical[members[0]])]))[0]
        phrases = phrases + f" (typical {typical_text})"
    return np.where(np.isnan(lead), _unavailable(group, members[0]), phrases)


# --------------------------------------------------------------------------- reason codes


def group_contributions(
    contributions: pd.DataFrame, groups: Mapping[str, tuple], how: str = "sum"
) -> pd.DataFrame:
    """Contributions combined within each reason group: "sum" (SHAP values are additive) or
    "max" (for scores that do not add up, such as deviation_contributions)."""
    weights = _group_weights(contributions, groups, how)
    return pd.DataFrame(weights, index=contributions.index, columns=list(groups))


def _group_weights(
    contributions: pd.DataFrame, groups: Mapping[str, tuple], how: str
) -> np.ndarray:
    """customers x groups float64: members added (or maxed) left to right, NaN skipped.

    Vectorised over customers, one pass per member; the left-to-right order is pandas'
    ``sum(axis=1)``, so ties between groups break the same way as the row-wise reduction.
    """
    if how not in ("sum", "max"):
        raise ValueError(f"how must be 'sum' or 'max', got {how!r}")
    weights = np.empty((len(contributions), len(groups)), dtype=np.float64)
    for position, (members, _build, _formatter) in enumerate(groups.values()):
        for rank, member in enumerate(members):
            values = contributions[member].to_numpy(dtype=np.float64)
            if how == "sum":
                values = np.where(np.isnan(values), 0.0, values)
                weights[:, position] = values if rank == 0 else weights[:, position] + values
            else:
                weights[:, position] = (
                    values if rank == 0 else np.fmax(weights[:, position], values)
                )
    return weights


def reason_codes(
    contributions: pd.DataFrame,
    features: pd.DataFrame,
    last_day: pd.Timestamp,
    n: int = 3,
    *,
    min_contribution: float = 0.0,
    typical: Mapping[str, float] | None = None,
    combine: str = "sum",
) -> pd.DataFrame:
    """The top `n` reasons per customer as plain phrases: columns reason_1 .. reason_n.

    `contributions` holds one column per feature (plus an optional ``bias``), indexed like
    `features` (which must hold the same feature columns). A reason is a feature group with a
    contribution above `min_contribution`; customers with fewer such groups get "" in the
    remaining columns. Ties keep the order of PHRASES. `last_day` (the last day of the history)
    dates the drop. `typical` (feature -> typical value) adds "(typical ...)" to each phrase.
    `combine` merges a group's members: "sum" for SHAP, "max" for deviation_contributions.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    feature_names = [column for column in contributions.columns if column != BIAS_COLUMN]
    missing = [name for name in feature_names if name not in features.columns]
    if missing:
        raise ValueError(f"features lacks columns that have contributions: {missing[:5]}")
    if not contributions.index.equals(features.index):
        features = features.reindex(contributions.index)
    groups = reason_groups(feature_names)
    weights = _group_weights(contributions, groups, combine)
    order = np.argsort(-weights, axis=1, kind="stable")[:, :n]
    chosen = np.take_along_axis(weights, order, axis=1) > min_contribution
    result = np.full((len(contributions), n), "", dtype=object)
    for position, (name, (members, build, formatter)) in enumerate(groups.items()):  # groups
        picked = (order == position) & chosen
        rows = np.flatnonzero(picked.any(axis=1))
        if rows.size == 0:
            continue
        columns = {m: features[m].to_numpy(dtype=np.float64)[rows] for m in members}
        text = _phrases(name, members, build, formatter, columns, last_day, typical)
        slots = picked[rows].argmax(axis=1)
        result[rows, slots] = text
    columns = [f"reason_{slot + 1}" for slot in range(n)]
    return pd.DataFrame(result, index=contributions.index, columns=columns)


def global_importance(contributions: pd.DataFrame) -> pd.Series:
    """Mean absolute SHAP contribution per feature (bias excluded), largest first."""
    features = contributions.drop(columns=[BIAS_COLUMN], errors="ignore")
    return features.abs().mean().sort_values(ascending=False, kind="stable").rename("mean_abs_shap")


def deviation_contributions(
    features: pd.DataFrame, baseline_features: Mapping[str, dict]
) -> pd.DataFrame:
    """Label-free stand-in for SHAP: how unusual each feature value is, as a robust z-score.

    |value - median| / (p75 - p25) against the reference quantiles of a drift baseline's
    ``features`` section. Missing values and features without spread score 0. The result has
    the shape reason_codes expects (a ``bias`` column of zeros included).
    """
    columns = {}
    for name, entry in baseline_features.items():  # a loop over features, not customers
        if name not in features.columns:
            continue
        quantiles = entry.get("quantiles", {})
        median, p25, p75 = (quantiles.get(key, np.nan) for key in ("p50", "p25", "p75"))
        spread = p75 - p25
        values = features[name].to_numpy(dtype=np.float64)
        if not np.isfinite(spread) or spread <= 0:
            spread = max(abs(median), 1.0) if np.isfinite(median) else 1.0
        with np.errstate(invalid="ignore"):
            z = np.abs(values - median) / spread
        columns[name] = np.nan_to_num(z, nan=0.0)
    frame = pd.DataFrame(columns, index=features.index)
    frame[BIAS_COLUMN] = 0.0
    return frame


def typical_values(baseline_features: Mapping[str, dict]) -> dict[str, float]:
    """Feature -> median of the reference population, from a drift baseline's features section."""
    return {
        name: float(entry["quantiles"]["p50"])
        for name, entry in baseline_features.items()
        if entry.get("quantiles", {}).get("p50") is not None
    }


def customer_reasons(
    bundle: ModelBundle,
    preprocessed: pd.DataFrame,
    last_day: pd.Timestamp,
    *,
    baseline_features: Mapping[str, dict] | None = None,
    n: int = 3,
    min_deviation: float = 1.0,
) -> pd.DataFrame:
    """Reason codes for the customers of `preprocessed`, the way the model allows.

    Supervised bundle: XGBoost TreeSHAP contributions (exact, ``pred_contribs=True``). Label-free
    bundle: the features farthest from the typical customer of `baseline_features` (robust z
    above `min_deviation`), each phrase with the typical value; without a baseline, no reasons.
    """
    columns = [f"reason_{slot + 1}" for slot in range(n)]
    if len(preprocessed) == 0:
        return pd.DataFrame(columns=columns, index=preprocessed.index, dtype=object)
    if bundle.supervised:
        contributions = bundle.xgb_contributions(preprocessed)
        return reason_codes(contributions, preprocessed, last_day, n)
    if baseline_features is None:
        return pd.DataFrame("", index=preprocessed.index, columns=columns)
    features = {
        name: baseline_features[name] for name in bundle.feature_names if name in baseline_features
    }
    deviations = deviation_contributions(preprocessed, features)
    return reason_codes(
        deviations,
        preprocessed,
        last_day,
        n,
        min_contribution=min_deviation,
        typical=typical_values(features),
        combine="max",
    )
