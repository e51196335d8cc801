"""Reason codes: why a customer is high on the list, in words an inspector can check on site.

Contributions come from XGBoost's own TreeSHAP (``pred_contribs=True``): per customer, one value
per feature plus a ``bias`` column, summing to the model's log-odds. Related features are summed
into one reason (SHAP values add up), e.g. the size, date and position of the largest drop make one
"consumption fell 63 % after 2015-06". The reasons are the groups with the largest positive
contributions, each written as a phrase carrying the customer's own value and, when a drift
baseline is at hand, the typical (median) customer's value: "weekend use at 100 % of weekday use
(typical: 107 %)". A group with nothing to say for a customer (value missing, or neutral such as
no fall at all) is skipped for the next one; a customer missing most days is told so.

Without a supervised model there is no SHAP; :func:`deviation_contributions` then ranks features
by how far the customer sits from the typical customer (robust z-score), and the same phrases
describe them.

Everything from contributions to phrases works on numpy arrays over the explained customers: the
only Python work per customer is formatting the numbers of the reasons actually shown.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ntl.features import CHANGE_WINDOW, FEATURE_DESCRIPTIONS, PROFILE_DAYS, SHAPE_DAYS
from ntl.preprocess import PreprocessConfig

if TYPE_CHECKING:
    from ntl.models import ModelBundle

BIAS_COLUMN = "bias"
# float64 values -> their texts (an object array of str, same length)
Formatter = Callable[[np.ndarray], np.ndarray]
# member feature -> float64 values (lead member first), PhraseContext -> phrases (None: nothing
# to say, e.g. "no fall in consumption", which is never given as a reason)
PhraseBuilder = Callable[[Mapping[str, np.ndarray], "PhraseContext"], np.ndarray]


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


def as_kwh_single_day(values: np.ndarray) -> np.ndarray:
    """24.31 -> "24.3 kWh" (the use of one day, not a daily rate)."""
    return np.round(np.asarray(values, dtype=np.float64), 1).astype(str).astype(object) + " kWh"


def as_number(values: np.ndarray) -> np.ndarray:
    """Three significant digits: 0.04567 -> "0.0457"."""
    return np.char.mod("%.3g", np.asarray(values, dtype=np.float64)).astype(object)


# --------------------------------------------------------------------------- the phrases


@dataclass(frozen=True)
class PhraseContext:
    """What a phrase needs besides the customer's values: the last day of the history (dates the
    drop; one day for every row, or one per row as datetime64 when customers of different
    calendars are phrased together), the recent window in days, and the typical value of the
    lead feature (NaN: unknown)."""

    last_day: pd.Timestamp | np.ndarray
    recent_days: int  # the fitted PreprocessConfig's window of the "recent" features
    typical: float = np.nan


def _last_days(context: PhraseContext, rows: int) -> np.ndarray:
    """The last day of each of `rows` rows' history as datetime64[ns] (the context's one day
    repeated, or its per-row days)."""
    last = np.asarray(context.last_day, dtype="datetime64[ns]")
    return np.broadcast_to(last, (rows,))


# days whose whole span datetime64[ns] holds: dates between them are formatted by numpy
_NS_DAYS = (np.datetime64("1677-09-22", "D"), np.datetime64("2262-04-10", "D"))


def _days_before(last: np.ndarray, back: np.ndarray | int) -> np.ndarray:
    """The day (datetime64[D]) `back` whole days before each of `last` (datetime64[ns])."""
    return last.astype("datetime64[D]") - np.asarray(back, dtype=np.int64).astype("timedelta64[D]")


def _dates_before(last: np.ndarray, back: np.ndarray | int) -> np.ndarray:
    """ "2016-10-04" (object array): the day `back` whole days before each of `last`
    (datetime64[ns]), the text of pandas' ``(last - back days).strftime("%Y-%m-%d")`` without
    building a pandas index per phrase. Outside the range numpy formats the same way (a NaT,
    a date datetime64[ns] cannot hold), pandas itself gives the text (or its error)."""
    days = _days_before(last, back)
    if np.isnat(last).any() or not ((days >= _NS_DAYS[0]) & (days <= _NS_DAYS[1])).all():
        first = pd.DatetimeIndex(last) - pd.to_timedelta(np.asarray(back), unit="D")
        return first.strftime("%Y-%m-%d").to_numpy(object)
    return np.datetime_as_string(days, unit="D").astype(object)


def _lead(values: Mapping[str, np.ndarray]) -> np.ndarray:
    """The values of a group's first member feature, the one its phrase quotes."""
    return next(iter(values.values()))


def _recent(context: PhraseContext) -> str:
    """ "the last 90 days": the window the recent features are measured over."""
    return f"the last {context.recent_days} days"


def _template(text: str, formatter: Formatter, neutral_zero: bool = False) -> PhraseBuilder:
    """A phrase "text" with {value} replaced by the formatted first member feature and {recent}
    by the recent window; None (nothing to say) where the value is 0 and `neutral_zero`."""

    def build(values: Mapping[str, np.ndarray], context: PhraseContext) -> np.ndarray:
        lead = _lead(values)
        before, _, after = text.replace("{recent}", _recent(context)).partition("{value}")
        phrase = before + formatter(lead) + after
        return np.where(lead != 0, phrase, None) if neutral_zero else phrase

    return build


def _drop_phrase(values: Mapping[str, np.ndarray], context: PhraseContext) -> np.ndarray:
    """ "consumption down 63 % since 2015-06-14": size of the largest drop and the day it began
    (the inspector's starting point on site); None (nothing to say) when it fell by less than 1 %."""
    size = values["drop_largest"]
    days_ago = values.get("drop_days_ago", np.full(len(size), np.nan))
    dated = ~np.isnan(days_ago)
    phrase = "consumption down " + as_percent(size)
    if dated.any():
        ago = days_ago[dated]
        last = _last_days(context, len(size))[dated]
        if np.all(ago == np.round(ago)) and np.all(np.abs(ago) < 1e6):  # whole days
            began = _dates_before(last, ago.astype(np.int64))
        else:  # pandas' rounding of a fraction of a day
            began = pd.DatetimeIndex(last) - pd.to_timedelta(ago, unit="D")
            began = began.strftime("%Y-%m-%d").to_numpy(object)
        phrase[dated] = phrase[dated] + " since " + began
    return np.where(size >= 0.01, phrase, None)


TREND_FALL_CAP = 0.5  # a fall steeper than this share of average use a year reads "over 50 %"
TREND_RISE_CAP = 1.0  # a rise steeper than this reads "over 100 %" (use can double, not fall 100 %)


def _trend_phrase(values: Mapping[str, np.ndarray], context: PhraseContext) -> np.ndarray:
    """ "consumption trending down 12 % a year"; steeper than the caps (which short histories
    extrapolate to) "consumption falling fast: down over 50 % a year"; None when flat (< 0.5 %)."""
    slope = _lead(values)
    direction = np.where(slope < 0, "down ", "up ").astype(object)
    phrase = "consumption trending " + direction + as_percent(np.abs(slope)) + " a year"
    fall = f"consumption falling fast: down over {TREND_FALL_CAP:.0%} a year".replace("%", " %")
    rise = f"consumption rising fast: up over {TREND_RISE_CAP:.0%} a year".replace("%", " %")
    phrase = np.where(slope < -TREND_FALL_CAP, fall, np.where(slope > TREND_RISE_CAP, rise, phrase))
    return np.where(np.abs(slope) >= 0.005, phrase, None)


RHYTHM_LOST = 0.1  # without a typical value, a rhythm this weak (correlation) is said to be lost


def _rhythm_phrase(period: str, weaker: str) -> PhraseBuilder:
    """Autocorrelation in words, only when it is suspicious: use that no longer repeats from one
    `period` to the next as it does for the typical customer ("use no longer follows a weekly
    rhythm (weeks 5 % alike, typical: 28 %)"). A steadier rhythm than usual is not suspicious:
    None."""

    def build(values: Mapping[str, np.ndarray], context: PhraseContext) -> np.ndarray:
        lead = _lead(values)
        alike = as_percent(np.clip(lead, 0.0, 1.0))
        if not np.isfinite(context.typical):
            return np.where(lead < RHYTHM_LOST, weaker + f" ({period} " + alike + " alike)", None)
        typical = as_percent(np.array([np.clip(context.typical, 0.0, 1.0)]))[0]
        phrase = weaker + f" ({period} " + alike + f" alike, typical: {typical})"
        return np.where(lead < context.typical, phrase, None)

    return build


def _peer_phrase(values: Mapping[str, np.ndarray], context: PhraseContext) -> np.ndarray:
    """ "usage shape unlike similar customers (3.2 times the usual difference)"; None for a shape
    no further from its cluster's than usual (being like one's peers is not suspicious)."""
    lead = _lead(values)
    if not np.isfinite(context.typical) or context.typical <= 0:
        return np.full(len(lead), "usage shape unlike similar customers", dtype=object)
    times = np.round(lead / context.typical, 1).astype(str).astype(object)
    phrase = "usage shape unlike similar customers (" + times + " times the usual difference)"
    return np.where(lead > context.typical, phrase, None)


WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
UNUSUAL_DAY = 0.8  # a recent day below this share of its usual weekday is worth naming


def _since(context: PhraseContext, days: int, rows: int) -> np.ndarray:
    """The first day of the last `days` days of each row's history, "2016-10-04" (object array)."""
    return _dates_before(_last_days(context, rows), days - 1)


def _recent_day_phrase(values: Mapping[str, np.ndarray], context: PhraseContext) -> np.ndarray:
    """ "on Sunday 2016-10-30 used 12 % of its usual Sunday": the lowest of the recent days,
    each measured against the customer's own mean on that weekday; None when none of them fell
    below `UNUSUAL_DAY` of it."""
    names = list(values)
    matrix = np.column_stack([values[name] for name in names])  # customers x recent days
    back = np.array([int(name.rsplit("_", 1)[1]) for name in names])  # 1 = the last day
    filled = np.where(np.isnan(matrix), np.inf, matrix)
    lowest = np.argmin(filled, axis=1)
    ratio = filled[np.arange(len(filled)), lowest]
    last, back_days = _last_days(context, len(filled)), back[lowest] - 1
    monday_first = (_days_before(last, back_days).view(np.int64) + 3) % 7  # 1970-01-01: Thursday
    weekday = np.asarray(WEEKDAY_NAMES, dtype=object)[monday_first]
    phrase = (
        "on " + weekday + " " + _dates_before(last, back_days) + " used "
        + as_percent(np.where(np.isfinite(ratio), ratio, 0.0)) + " of its usual " + weekday
    )  # fmt: skip
    return np.where(ratio < UNUSUAL_DAY, phrase, None)


def _profile_phrase(values: Mapping[str, np.ndarray], context: PhraseContext) -> np.ndarray:
    """The weekly profile in words: "use on Saturdays at 35 % of its usual day" for the weekday
    farthest from the customer's average day, or, for a week with no rhythm at all (every
    weekday within 5 % of the average, as under a flat or simulated reading), "the same use on
    every day of the week (weekdays within 3 %)"."""
    matrix = np.column_stack(list(values.values()))  # customers x 7, Monday first
    farthest = np.argmax(np.abs(np.nan_to_num(matrix, nan=1.0) - 1.0), axis=1)
    extreme = matrix[np.arange(len(matrix)), farthest]
    days = np.asarray([name + "s" for name in WEEKDAY_NAMES], dtype=object)[farthest]
    phrase = "use on " + days + " at " + as_percent(extreme) + " of its usual day"
    spread = np.abs(matrix - 1.0).max(axis=1)
    flat = (spread < 0.05) & (np.abs(matrix.mean(axis=1) - 1.0) < 0.05)
    flat_phrase = "the same use on every day of the week (within " + as_percent(spread) + ")"
    return np.where(flat, flat_phrase, phrase)


def _window_phrase(days: int, compared: str) -> PhraseBuilder:
    """ "the 7 days from 2016-10-25 at 40 % of the week before": the last `days` days against
    the same number of days before them."""

    def build(values: Mapping[str, np.ndarray], context: PhraseContext) -> np.ndarray:
        lead = _lead(values)
        since = _since(context, days, len(lead))
        return f"the {days} days from " + since + " at " + as_percent(lead) + compared

    return build


WEEKDAY_SHIFT = 0.1  # weekday / weekend use moving by less than this share is not said


def _weekday_weekend_phrase(values: Mapping[str, np.ndarray], context: PhraseContext) -> np.ndarray:
    """ "weekdays at 33 % of weekends since 2016-10-11 (before: 110 %)": weekday against weekend
    use in the last three weeks and over the history before; None when it moved less than
    `WEEKDAY_SHIFT`."""
    recent = values["recent_weekday_weekend"]
    change = values.get("weekday_weekend_change", np.full(len(recent), np.nan))
    with np.errstate(invalid="ignore", divide="ignore"):
        before = recent / change
    phrase = (
        "weekdays at "
        + as_percent(recent)
        + " of weekends since "
        + _since(context, 21, len(recent))
    )
    known = np.isfinite(before)
    phrase = np.where(
        known, phrase + " (before: " + as_percent(np.where(known, before, 0.0)) + ")", phrase
    )
    moved = ~(np.abs(change - 1.0) < WEEKDAY_SHIFT)  # NaN change: the recent ratio alone
    return np.where(moved, phrase, None)


def _low_days_phrase(values: Mapping[str, np.ndarray], context: PhraseContext) -> np.ndarray:
    """ "40 % of days since 2016-10-04 below half their usual weekday use"; None without any."""
    lead = _lead(values)
    since = _since(context, 28, len(lead))
    phrase = as_percent(lead) + " of days since " + since + " below half their usual "
    return np.where(lead > 0, phrase + "weekday use", None)


def _profile_change_phrase(values: Mapping[str, np.ndarray], context: PhraseContext) -> np.ndarray:
    """ "weekly pattern since 2016-10-04 moved 35 % a day from before"."""
    lead = _lead(values)
    since = _since(context, 28, len(lead))
    return "weekly pattern since " + since + " moved " + as_percent(lead) + " a day from before"


def _zero_change_phrase(values: Mapping[str, np.ndarray], context: PhraseContext) -> np.ndarray:
    """ "0 kWh read on 40 % more of days since 2016-10-18 than before": the share of zero
    readings in the last `CHANGE_WINDOW` days minus the share before; None unless it rose. Not
    worded "zero", which the web app's chart takes for the longest zero run (the date marks the
    stretch instead)."""
    lead = _lead(values)
    since = _since(context, CHANGE_WINDOW, len(lead))
    phrase = "0 kWh read on " + as_percent(lead) + " more of days since " + since + " than before"
    return np.where(lead > 0, phrase, None)


def _peak_change_phrase(values: Mapping[str, np.ndarray], context: PhraseContext) -> np.ndarray:
    """ "highest day since 2016-10-18 at 35 % of the highest before"; None unless lower."""
    lead = _lead(values)
    since = _since(context, CHANGE_WINDOW, len(lead))
    phrase = "highest day since " + since + " at " + as_percent(lead) + " of the highest before"
    return np.where(lead < 1, phrase, None)


def _swing_change_phrase(values: Mapping[str, np.ndarray], context: PhraseContext) -> np.ndarray:
    """ "day-to-day swings since 2016-10-18 at 20 % of those before" (near 0: a flat reading)."""
    lead = _lead(values)
    since = _since(context, CHANGE_WINDOW, len(lead))
    return "day-to-day swings since " + since + " at " + as_percent(lead) + " of those before"


def _signed_trend(values: np.ndarray) -> np.ndarray:
    """-0.021 -> "-2 % a year"."""
    return as_percent(values) + " a year"


# group name -> (member features summed into the reason, phrase builder, formatter of the typical
# value of the first member, or None when the phrase brings its own comparison). Members absent
# from the model are ignored.
PHRASES: dict[str, tuple[tuple[str, ...], PhraseBuilder, Formatter | None]] = {
    "missing_share": (
        ("missing_share",),
        _template("{value} of days have no reading", as_percent, neutral_zero=True),
        as_percent,
    ),
    "gaps": (
        ("gap_longest", "gap_count"),
        _template("longest gap in readings: {value}", as_days, neutral_zero=True),
        as_days,
    ),
    "missing_recent": (
        ("missing_recent_share", "missing_recent_change"),
        _template("no reading on {value} of {recent}", as_percent, neutral_zero=True),
        as_percent,
    ),
    "zero_days": (
        ("zero_days", "zero_share"),
        _template("{value} days with zero readings", as_count, neutral_zero=True),
        as_count,
    ),
    "zero_runs": (
        ("zero_run_longest", "zero_run_count"),
        _template("longest run of zero readings: {value}", as_days, neutral_zero=True),
        as_days,
    ),
    "zero_recent_share": (
        ("zero_recent_share",),
        _template("{value} of readings in {recent} are zero", as_percent, neutral_zero=True),
        as_percent,
    ),
    "level": (("mean_kwh", "median_kwh"), _template("average use {value}", as_kwh), as_kwh),
    "cv": (
        ("cv",),
        _template("day-to-day swings of {value} of average use", as_percent),
        as_percent,
    ),
    "std_kwh": (("std_kwh",), _template("daily use varies by {value}", as_kwh), as_kwh),
    "max_kwh": (
        ("max_kwh",),
        _template("highest single day {value}", as_kwh_single_day),
        as_kwh_single_day,
    ),
    "weekly_cv": (
        ("weekly_cv",),
        _template("week-to-week swings of {value} of average use", as_percent),
        as_percent,
    ),
    "monthly_cv": (
        ("monthly_cv",),
        _template("month-to-month swings of {value} of average use", as_percent),
        as_percent,
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
    "trend_slope": (("trend_slope",), _trend_phrase, _signed_trend),
    "recent_vs_past": (
        ("recent_vs_past",),
        _template("use in {recent} at {value} of earlier use", as_percent),
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
        _rhythm_phrase("weeks", "use no longer follows a weekly rhythm"),
        None,
    ),
    "acf_30": (
        ("acf_30",),
        _rhythm_phrase("months", "use no longer repeats from month to month"),
        None,
    ),
    "peer_deviation": (("peer_deviation",), _peer_phrase, None),
    "recent_days": (
        tuple(f"recent_day_{k}" for k in range(1, SHAPE_DAYS + 1)),
        _recent_day_phrase,
        None,
    ),
    "weekly_profile": (tuple(f"profile_{day}" for day in PROFILE_DAYS), _profile_phrase, None),
    "week_over_week": (
        ("week_over_week",),
        _window_phrase(7, " of the week before"),
        as_percent,
    ),
    "month_over_month": (
        ("month_over_month",),
        _window_phrase(28, " of the 28 before"),
        as_percent,
    ),
    "weekday_weekend": (
        ("recent_weekday_weekend", "weekday_weekend_change"),
        _weekday_weekend_phrase,
        as_percent,
    ),
    "low_days_recent": (("low_days_recent",), _low_days_phrase, None),
    "profile_change": (("profile_change",), _profile_change_phrase, as_percent),
    "zero_share_change": (("zero_share_change",), _zero_change_phrase, as_percent),
    "peak_change": (("peak_change",), _peak_change_phrase, as_percent),
    "swing_change": (("swing_change",), _swing_change_phrase, as_percent),
}
MISSING_GROUP = "missing_share"


def missing_share_to_report(config: PreprocessConfig) -> float:
    """The missing share from which an unmeasurable reason hands its weight to the missing share
    itself: the fitted preprocessing's LOW-quality line (1 - ``min_present_share``)."""
    return 1.0 - config.min_present_share


def _generic(feature: str) -> PhraseBuilder:
    """ "<description>: <value>" for a feature without a dedicated phrase."""
    description = FEATURE_DESCRIPTIONS.get(feature, feature.replace("_", " "))
    description = description.replace("the recent window", "{recent}")
    return _template(description + ": {value}", as_number)


def reason_groups(
    features: list[str],
) -> dict[str, tuple[list[str], PhraseBuilder, Formatter | None]]:
    """The reasons available for a model's features: group -> (members, phrase, formatter)."""
    groups: dict[str, tuple[list[str], PhraseBuilder, Formatter | None]] = {}
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


def phrase_values(
    group: str,
    members: list[str],
    build: PhraseBuilder,
    formatter: Formatter | None,
    values: pd.DataFrame,
    last_day: pd.Timestamp,
    typical: Mapping[str, float] | None = None,
    *,
    config: PreprocessConfig | None = None,
) -> pd.Series:
    """The phrase of one reason group for the rows of `values`; None where there is nothing to
    say (the value is missing, or neutral such as no fall in consumption). `config` is the fitted
    preprocessing's (None: PreprocessConfig's defaults)."""
    config = PreprocessConfig() if config is None else config
    columns = {member: values[member].to_numpy(dtype=np.float64) for member in members}
    context = _context(members[0], last_day, config.recent_days, typical)
    phrases = _phrases(members, build, formatter, columns, context)
    return pd.Series(phrases, index=values.index, dtype=object)


def _context(
    lead: str,
    last_day: pd.Timestamp | np.ndarray,
    recent_days: int,
    typical: Mapping[str, float] | None,
) -> PhraseContext:
    """The PhraseContext of a group whose first member is `lead` (`last_day`: one day, or one
    per row as in `reason_codes`)."""
    value = np.nan if typical is None else float(typical.get(lead, np.nan))
    last = pd.Timestamp(last_day) if np.ndim(last_day) == 0 else np.asarray(last_day, "M8[ns]")
    return PhraseContext(last, recent_days, value)


def _phrases(
    members: list[str],
    build: PhraseBuilder,
    formatter: Formatter | None,
    columns: Mapping[str, np.ndarray],
    context: PhraseContext,
) -> np.ndarray:
    """phrase_values on float64 arrays (member -> values): an object array of phrases, None
    where the lead value is missing or the phrase would say nothing is unusual."""
    lead = columns[members[0]]
    phrases = np.asarray(build(columns, context), dtype=object)
    phrases = np.where(np.isnan(lead), None, phrases)
    if formatter is not None and np.isfinite(context.typical):
        said = pd.notna(phrases)
        phrases[said] = with_typical(phrases[said], _typical_text(formatter, context.typical))
    return phrases


@functools.lru_cache(maxsize=4096)
def _typical_text(formatter: Formatter, typical: float) -> str:
    """A typical value as its formatter writes it (the same few for every request)."""
    return str(formatter(np.array([typical]))[0])


def with_typical(phrases: np.ndarray, typical_text: str) -> np.ndarray:
    """Each phrase with "(typical: ...)"; one that already ends in a parenthesis gets the typical
    value inside it ("(before: 102 %; typical: 98 %)", not two parentheses in a row)."""
    text = np.asarray(phrases, dtype=object).astype(str)  # numpy's string kernels, no pandas
    closed = np.strings.endswith(text, ")")
    inside = np.strings.add(np.strings.slice(text, 0, -1), f"; typical: {typical_text})")
    after = np.strings.add(text, f" (typical: {typical_text})")
    return np.where(closed, inside, after).astype(object)


# --------------------------------------------------------------------------- reason codes


def group_weights(contributions: pd.DataFrame, groups: Mapping[str, tuple], how: str) -> np.ndarray:
    """customers x groups float64 (in the order of `groups`): members added ("sum", SHAP values
    are additive) or maxed ("max", for scores that do not add up, such as
    deviation_contributions) left to right, NaN skipped.

    Vectorised over customers, one pass per member; the left-to-right order is pandas'
    ``sum(axis=1)``, so ties between groups break the same way as the row-wise reduction.
    """
    matrix, column_of = _float_matrix(
        contributions, [m for members, *_ in groups.values() for m in members]
    )
    return _group_weights(matrix, column_of, groups, how)


def _group_weights(
    matrix: np.ndarray, column_of: Mapping[str, int], groups: Mapping[str, tuple], how: str
) -> np.ndarray:
    """`group_weights` of a float64 contributions matrix whose column of each member is
    `column_of[member]`."""
    if how not in ("sum", "max"):
        raise ValueError(f"how must be 'sum' or 'max', got {how!r}")
    weights = np.empty((len(matrix), len(groups)), dtype=np.float64)
    if how == "sum":
        matrix = np.where(np.isnan(matrix), 0.0, matrix)
    merge = np.add if how == "sum" else np.fmax
    for position, (members, _build, _formatter) in enumerate(groups.values()):
        merged = matrix[:, column_of[members[0]]]
        for member in members[1:]:
            merged = merge(merged, matrix[:, column_of[member]])
        weights[:, position] = merged
    return weights


def _float_columns(frame: pd.DataFrame, names: list[str]) -> dict[str, np.ndarray]:
    """The named columns of `frame` as float64 arrays, converted in one call (a column lookup
    per name cost ~30 µs each, a few milliseconds for a model's hundred features)."""
    matrix, column_of = _float_matrix(frame, names)
    return {name: matrix[:, column] for name, column in column_of.items()}


def _float_matrix(frame: pd.DataFrame, names: list[str]) -> tuple[np.ndarray, dict[str, int]]:
    """The named columns of `frame` as one float64 matrix and each name's column in it.

    Without a label lookup in pandas where it can (~0.4 ms a call on string labels): the
    frame, or else the slice of its columns spanning the names, converted whole when it holds
    numpy floats only (float32 to float64 is exact, so the values are those of the lookup)."""
    unique = list(dict.fromkeys(names))
    labels = frame.columns.tolist()
    position_of = {label: position for position, label in enumerate(labels)}
    if unique and len(position_of) == len(labels) and all(n in position_of for n in unique):
        positions = [position_of[name] for name in unique]
        first, end = min(positions), max(positions) + 1
        block = frame if _all_floats(frame) else frame.iloc[:, first:end]
        offset = 0 if block is frame else first
        if block is frame or _all_floats(block):
            matrix = block.to_numpy(dtype=np.float64, na_value=np.nan)
            return matrix, {name: at - offset for name, at in zip(unique, positions, strict=True)}
    matrix = frame[unique].to_numpy(dtype=np.float64, na_value=np.nan)
    return matrix, {name: position for position, name in enumerate(unique)}


def _all_floats(frame: pd.DataFrame) -> bool:
    """Every column of `frame` is a numpy float."""
    return all(isinstance(dtype, np.dtype) and dtype.kind == "f" for dtype in frame.dtypes)


def reason_codes(
    contributions: pd.DataFrame,
    features: pd.DataFrame,
    last_day: pd.Timestamp | np.ndarray,
    n: int = 3,
    *,
    min_contribution: float = 0.0,
    typical: Mapping[str, float] | None = None,
    combine: str = "sum",
    config: PreprocessConfig | None = None,
    unusual: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The top `n` reasons per customer as plain phrases: columns reason_1 .. reason_n.

    `contributions` holds one column per feature (plus an optional ``bias``), indexed like
    `features` (which must hold the same feature columns). A reason is a feature group with a
    contribution above `min_contribution` and something to say: a group whose value is missing
    or neutral ("no fall in consumption") is skipped for the next one. For a customer missing at
    least `missing_share_to_report` of days, an unmeasurable group hands its weight to the missing
    share, the real reason. Customers with fewer reasons get "" in the remaining columns; ties
    keep the order of PHRASES. `last_day` dates the drop (one day for all, or one per row of
    `contributions`, for customers of different calendars explained together); `typical` (feature -> typical value)
    adds "(typical: ...)"; `config` is the fitted preprocessing's (its ``recent_days`` names the
    recent window; None: PreprocessConfig's defaults); `combine` merges a group's members: "sum"
    for SHAP, "max" for deviation_contributions. With `unusual` (customer x feature booleans,
    outside_middle_half) a group is said only where one of its members is unusual, so a
    reason never reads "6 % of days (typical: 6 %)".

    Phrases are built only for the groups that can still make a customer's top `n`
    (`_top_phrases`), not for every group of every customer.
    """

    def flags(values: Mapping[str, np.ndarray]) -> Mapping[str, np.ndarray] | None:
        if unusual is None:
            return None
        frame = unusual.reindex(contributions.index)
        matrix = frame.to_numpy(dtype=bool)  # one conversion, columns by position
        return {name: matrix[:, position] for position, name in enumerate(frame.columns)}

    return _reason_codes(
        contributions, features, last_day, n, min_contribution, typical, combine, config, flags
    )


def _reason_codes(
    contributions: pd.DataFrame,
    features: pd.DataFrame,
    last_day: pd.Timestamp | np.ndarray,
    n: int,
    min_contribution: float,
    typical: Mapping[str, float] | None,
    combine: str,
    config: PreprocessConfig | None,
    unusual_flags: Callable[[Mapping[str, np.ndarray]], Mapping[str, np.ndarray] | None],
) -> pd.DataFrame:
    """reason_codes with the `unusual` flags (feature -> booleans per row of `contributions`;
    None: every value unusual) made from the groups' float64 member values, so that
    customer_reasons derives them from the values already converted."""
    feature_names = [column for column in contributions.columns if column != BIAS_COLUMN]
    missing = [name for name in feature_names if name not in features.columns]
    if missing:
        raise ValueError(f"features lacks columns that have contributions: {missing[:5]}")
    if not contributions.index.equals(features.index):
        features = features.reindex(contributions.index)
    matrix, column_of = _float_matrix(contributions, feature_names)
    wanted = [*feature_names, *([MISSING_GROUP] if MISSING_GROUP in features.columns else [])]
    values = _float_columns(features, wanted)
    result = reason_matrix(
        matrix[:, [column_of[name] for name in feature_names]],
        feature_names,
        values,
        last_day,
        n,
        min_contribution=min_contribution,
        typical=typical,
        combine=combine,
        config=config,
        unusual_flags=unusual_flags,
    )
    columns = [f"reason_{slot + 1}" for slot in range(n)]
    return pd.DataFrame(result, index=contributions.index, columns=columns)


def reason_matrix(
    contributions: np.ndarray,
    feature_names: list[str],
    values: Mapping[str, np.ndarray],
    last_day: pd.Timestamp | np.ndarray,
    n: int,
    *,
    min_contribution: float = 0.0,
    typical: Mapping[str, float] | None = None,
    combine: str = "sum",
    config: PreprocessConfig | None = None,
    unusual_flags: Callable[[Mapping[str, np.ndarray]], Mapping[str, np.ndarray] | None]
    | None = None,
) -> np.ndarray:
    """`reason_codes` on arrays: customers x `n` object array of phrases ("" for an empty slot).

    `contributions` is customers x `feature_names` float64 (no bias column); `values` maps
    every one of `feature_names` (and ``missing_share``, when the customers have it) to its
    float64 values per customer. For a caller that holds the matrices (the web app's scorer):
    no frame is built only to be read back. `unusual_flags` as in `_reason_codes` (None: every
    value unusual)."""
    config = PreprocessConfig() if config is None else config
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    per_row = np.ndim(last_day) > 0
    if per_row and len(last_day) != len(contributions):
        raise ValueError(f"{len(last_day)} last days for {len(contributions)} customers")
    groups = reason_groups(feature_names)
    column_of = {name: position for position, name in enumerate(feature_names)}
    weights = _group_weights(contributions, column_of, groups, combine)
    if MISSING_GROUP not in groups and MISSING_GROUP in values:
        groups[MISSING_GROUP] = (["missing_share"], *PHRASES[MISSING_GROUP][1:])
        weights = np.column_stack([weights, np.full(len(weights), -np.inf)])
    members = {m: values[m] for group_members, *_ in groups.values() for m in group_members}
    _hand_unmeasurable_to_missing_share(
        weights, groups, members, min_contribution, missing_share_to_report(config)
    )
    flags = None if unusual_flags is None else unusual_flags(members)
    said = None if flags is None else _said_groups(groups, flags, len(weights))
    days = np.asarray(last_day) if per_row else last_day
    result = _top_phrases(
        weights, groups, members, days, min(n, len(groups)), min_contribution, typical, config, said
    )
    if result.shape[1] < n:  # fewer groups than n
        result = np.hstack([result, np.full((len(result), n - result.shape[1]), "", object)])
    return result


def _top_phrases(
    weights: np.ndarray,
    groups: Mapping[str, tuple],
    values: Mapping[str, np.ndarray],
    last_day: pd.Timestamp | np.ndarray,
    n: int,
    min_contribution: float,
    typical: Mapping[str, float] | None,
    config: PreprocessConfig,
    said: np.ndarray | None,
) -> np.ndarray:
    """customers x `n` object array: each customer's phrases of its `n` heaviest groups with
    something to say ("" for a slot left empty).

    A group may speak where its weight is above `min_contribution`, its lead value is known and
    (with `said`, customers x groups) one of its members is unusual; the candidates are ranked
    by weight, ties in the order of `groups` (a stable sort). A phrase may still be None (a
    neutral value, such as no fall in consumption), so phrases are built in rounds: each round,
    every customer still short of `n` phrases gets the phrases of as many next candidates as it
    lacks, one builder call per group (the loops run over groups and rounds, not customers).
    """
    rows, width = weights.shape
    speakable = weights > min_contribution  # NaN: never
    for position, (members, _build, _formatter) in enumerate(groups.values()):
        speakable[:, position] &= ~np.isnan(values[members[0]])
    if said is not None:
        speakable &= said
    ranked = np.where(speakable, weights, -np.inf)
    order = np.argsort(-ranked, axis=1, kind="stable")  # candidates first, heaviest first
    candidates = speakable.sum(axis=1)
    per_row = np.ndim(last_day) > 0
    plan = list(groups.values())
    result = np.full((rows, n), "", dtype=object)
    filled = np.zeros(rows, dtype=np.int64)  # phrases found per customer
    tried = np.zeros(rows, dtype=np.int64)  # candidates phrased per customer
    active = np.flatnonzero(candidates > 0)
    while active.size:
        lacking = np.minimum(n - filled[active], candidates[active] - tried[active])
        steps = np.arange(lacking.max())
        taken = steps < lacking[:, None]  # active x steps
        ranks = np.minimum(tried[active, None] + steps, width - 1)
        picked = np.where(taken, np.take_along_axis(order[active], ranks, axis=1), -1)
        texts = np.full(picked.shape, None, dtype=object)
        for position in np.unique(picked[taken]):  # a loop over groups, not customers
            at_row, at_step = np.nonzero(picked == position)
            members, build, formatter = plan[position]
            who = active[at_row]
            day = last_day[who] if per_row else last_day
            context = _context(members[0], day, config.recent_days, typical)
            columns = {member: values[member][who] for member in members}
            texts[at_row, at_step] = _phrases(members, build, formatter, columns, context)
        spoken = pd.notna(texts)
        slots = filled[active, None] + np.cumsum(spoken, axis=1) - 1
        at_row, at_step = np.nonzero(spoken)
        result[active[at_row], slots[at_row, at_step]] = texts[at_row, at_step]
        filled[active] += spoken.sum(axis=1)
        tried[active] += lacking
        active = active[(filled[active] < n) & (tried[active] < candidates[active])]
    return result


def _said_groups(
    groups: Mapping[str, tuple], flags: Mapping[str, np.ndarray], rows: int
) -> np.ndarray:
    """customers x groups booleans: one of the group's members is unusual (`flags`: feature ->
    booleans per customer; a member `flags` lacks is unusual, there is nothing to compare it
    with)."""
    said = np.zeros((rows, len(groups)), dtype=bool)
    for position, (members, _build, _formatter) in enumerate(groups.values()):  # groups
        for member in members:
            if member not in flags:
                said[:, position] = True
                break
            said[:, position] |= flags[member]
    return said


def _outside_middle_half_flags(
    values: Mapping[str, np.ndarray], middle_half: Mapping[str, tuple[float, float]]
) -> dict[str, np.ndarray]:
    """outside_middle_half on float64 arrays (feature -> values): feature -> booleans
    (`middle_half`: BaselineReference's)."""
    if not values:
        return {}
    unknown = (np.nan, np.nan)  # no quartiles: every value unusual
    bounds = np.array([middle_half.get(name, unknown) for name in values], dtype=np.float64).T
    matrix = np.column_stack(list(values.values()))
    with np.errstate(invalid="ignore"):
        unusual = np.isnan(matrix) | (matrix < bounds[0]) | (matrix > bounds[1])
    unusual |= np.isnan(bounds[0])  # every value of a feature without quartiles
    return {name: unusual[:, position] for position, name in enumerate(values)}


@dataclass(frozen=True)
class BaselineReference:
    """What the phrases read of a drift baseline's ``features`` section, read once (a scorer
    answers request after request from one baseline): each feature's typical value (p50) and
    middle half (p25 to p75, where both are finite)."""

    typical: dict[str, float]
    middle_half: dict[str, tuple[float, float]]

    @classmethod
    def of(cls, baseline_features: Mapping[str, dict]) -> BaselineReference:
        """The reference of a baseline's ``features`` section."""
        middle_half = {}
        for name, entry in baseline_features.items():  # a loop over features, not customers
            quantiles = entry.get("quantiles", {})
            low, high = (quantiles.get(key) for key in ("p25", "p75"))
            if low is not None and high is not None and np.isfinite(low) and np.isfinite(high):
                middle_half[name] = (float(low), float(high))
        return cls(typical_values(baseline_features), middle_half)


def outside_middle_half(
    features: pd.DataFrame, baseline_features: Mapping[str, dict]
) -> pd.DataFrame:
    """True where a customer's value lies outside the middle half (p25 to p75) of the reference
    population of a drift baseline's ``features`` section: the values worth an inspector's
    attention. A missing value counts as unusual (its phrase decides), and so does every value
    of a feature the baseline has no quartiles for."""
    values = _float_columns(features, list(features.columns))
    flags = _outside_middle_half_flags(values, BaselineReference.of(baseline_features).middle_half)
    return pd.DataFrame(flags, index=features.index)


def _hand_unmeasurable_to_missing_share(
    weights: np.ndarray,
    groups: Mapping[str, tuple],
    values: Mapping[str, np.ndarray],
    min_contribution: float,
    gappy_share: float,
) -> None:
    """In place: for customers missing at least `gappy_share` of days, the missing
    share group takes the largest weight of the groups that cannot be measured (NaN value), so
    "89 % of days have no reading" is said instead of nothing or a lesser reason."""
    if MISSING_GROUP not in groups:
        return
    lost = np.full(len(weights), -np.inf)
    for position, (members, _build, _formatter) in enumerate(groups.values()):
        unmeasurable = np.isnan(values[members[0]]) & (weights[:, position] > min_contribution)
        lost = np.where(unmeasurable, np.fmax(lost, weights[:, position]), lost)
    target = list(groups).index(MISSING_GROUP)
    gappy = values["missing_share"] >= gappy_share
    weights[:, target] = np.where(gappy, np.fmax(weights[:, target], lost), weights[:, target])


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
    last_day: pd.Timestamp | np.ndarray,
    *,
    config: PreprocessConfig,
    baseline_features: Mapping[str, dict] | None = None,
    n: int = 3,
    min_deviation: float = 1.0,
    features: np.ndarray | None = None,
) -> pd.DataFrame:
    """Reason codes for the customers of `preprocessed`, the way the model allows.

    `config` is the fitted preprocessing's (``Preprocessor.config``): the phrases name the recent
    window its features were measured over. `last_day`: the last day of the history, or one per
    customer (as in `reason_codes`). `features`: the bundle's feature matrix of `preprocessed`
    when the caller holds it (TreeSHAP and the phrases then need not read it back from the frame).

    Supervised bundle: XGBoost TreeSHAP contributions (exact, ``pred_contribs=True``); with
    `baseline_features`, each phrase with its typical value and said only where the customer's
    value lies outside the middle half of that population (outside_middle_half). Label-free
    bundle: the features farthest from the typical customer of `baseline_features` (robust z
    above `min_deviation`), each phrase with the typical value; without a baseline, no reasons.
    """
    columns = [f"reason_{slot + 1}" for slot in range(n)]
    phrases = customer_reason_matrix(
        bundle,
        preprocessed,
        last_day,
        config=config,
        baseline_features=baseline_features,
        n=n,
        min_deviation=min_deviation,
        features=features,
    )
    return pd.DataFrame(phrases, index=preprocessed.index, columns=columns)


def customer_reason_matrix(
    bundle: ModelBundle,
    preprocessed: pd.DataFrame,
    last_day: pd.Timestamp | np.ndarray,
    *,
    config: PreprocessConfig,
    baseline_features: Mapping[str, dict] | None = None,
    n: int = 3,
    min_deviation: float = 1.0,
    features: np.ndarray | None = None,
    reference: BaselineReference | None = None,
) -> np.ndarray:
    """`customer_reasons` as a customers x `n` object array of phrases ("" for an empty slot).

    A supervised bundle's phrases are made from arrays throughout (``reason_matrix``: TreeSHAP
    from the feature matrix, the values from its columns), no frame of contributions or
    reasons is built and read back. `reference`: ``BaselineReference.of(baseline_features)``,
    when the caller keeps it."""
    if len(preprocessed) == 0:
        return np.full((0, n), "", dtype=object)
    if bundle.supervised:
        names = list(bundle.feature_names)
        extra = (
            [] if MISSING_GROUP in names or MISSING_GROUP not in preprocessed else [MISSING_GROUP]
        )
        if features is None:  # the frame's values, as they are
            features = bundle.features(preprocessed)
            values = _float_columns(preprocessed, [*names, *extra])
        else:  # the values the frame was made from: float32 to float64 is exact
            as_float = features.astype(np.float64)
            values = {name: as_float[:, position] for position, name in enumerate(names)}
            values |= _float_columns(preprocessed, extra) if extra else {}
        contributions = bundle.xgb_contribution_matrix(features)[:, : len(names)]
        if baseline_features is None:
            return reason_matrix(contributions, names, values, last_day, n, config=config)
        explained = set(names)
        reference = BaselineReference.of(baseline_features) if reference is None else reference

        def unusual(values: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
            # outside_middle_half of the explained features, from the values already converted
            shown = {name: column for name, column in values.items() if name in explained}
            return _outside_middle_half_flags(shown, reference.middle_half)

        return reason_matrix(
            contributions,
            names,
            values,
            last_day,
            n,
            typical=reference.typical,
            config=config,
            unusual_flags=unusual,
        )
    if baseline_features is None:
        return np.full((len(preprocessed), n), "", dtype=object)
    modelled = {
        name: baseline_features[name] for name in bundle.feature_names if name in baseline_features
    }
    deviations = deviation_contributions(preprocessed, modelled)
    reasons = reason_codes(
        deviations,
        preprocessed,
        last_day,
        n,
        min_contribution=min_deviation,
        typical=typical_values(modelled),
        combine="max",
        config=config,
    )
    return reasons.to_numpy(dtype=object)
