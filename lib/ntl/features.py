"""Per-customer consumption features, vectorised over the customers x days matrix.

Every feature of a customer depends only on that customer's row and on the calendar, so a
customer's features computed alone equal those computed in a batch (the scorer relies on it).
Missing-reading and zero-reading features read the raw matrix (a missing reading is a signal);
level, shape and trend features read the cleaned matrix (short gaps interpolated, peaks capped).
Features that need more history than the data has (a year for seasonality, two years for the
year-over-year ratio) are NaN rather than guessed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ntl.errors import MeterDataError, ParameterError

DAYS_PER_YEAR = 365.25
MIN_READINGS_PER_WEEK = 4  # a 7-day block with fewer readings has no weekly mean
MIN_READINGS_PER_MONTH = 7  # a calendar month with fewer readings has no monthly mean
MIN_MONTHS_FOR_SEASON = 10  # months of the year with readings needed for seasonal_amplitude
MIN_DROP_WINDOW = 7  # below this the drop features are NaN
DEFAULT_CHUNK_ROWS = 512  # rows per block: float64 temporaries of ~4 MB, few Python calls per row

FEATURE_DESCRIPTIONS: dict[str, str] = {
    # missing readings (raw matrix)
    "missing_share": "share of days with no reading",
    "gap_count": "number of separate runs of missing days",
    "gap_longest": "longest run of consecutive missing days",
    "missing_recent_share": "share of days with no reading in the recent window",
    "missing_recent_change": "missing share in the recent window minus the missing share before it",
    # zero readings (raw matrix; a missing reading is not a zero)
    "zero_share": "share of readings that are exactly zero",
    "zero_days": "number of days with a zero reading",
    "zero_run_count": "number of separate runs of zero readings",
    "zero_run_longest": "longest run of consecutive zero readings (days)",
    "zero_recent_share": "share of readings in the recent window that are zero",
    # level and dispersion (cleaned matrix)
    "mean_kwh": "mean daily consumption (kWh)",
    "std_kwh": "standard deviation of daily consumption (kWh)",
    "max_kwh": "largest daily consumption after capping (kWh)",
    "cv": "coefficient of variation of daily consumption (std / mean)",
    # weekly and monthly aggregates
    "weekly_cv": "coefficient of variation of the 7-day mean consumption",
    "week_min_ratio": "lowest 7-day mean consumption / mean consumption",
    "monthly_cv": "coefficient of variation of the calendar-month mean consumption",
    "month_min_ratio": "lowest calendar-month mean consumption / mean consumption",
    # trend and ratios
    "trend_slope": "linear trend of daily consumption, as a fraction of the mean per year",
    "recent_vs_past": "mean consumption in the recent window / mean consumption before it",
    "yoy_ratio": "mean consumption of the last 365 days / the 365 days before (needs 2 years)",
    # the largest sustained drop
    "drop_largest": "largest fall from the mean of the window before a day to the window after (0.63 = fell 63 %)",
    "drop_days_ago": "days between the largest drop and the last day of the history",
    "drop_position": "where the largest drop happened, as a fraction of the history (0 = start, 1 = end)",
    "after_drop_ratio": "mean consumption from the largest drop to the end / mean in the window before it",
    # patterns
    "weekend_weekday_ratio": "mean consumption on Saturdays and Sundays / mean on weekdays",
    "seasonal_amplitude": "(highest - lowest month-of-year mean) / mean of month means (needs a year)",
    "acf_7": "autocorrelation of daily consumption at a lag of 7 days (weekly rhythm)",
    "acf_30": "autocorrelation of daily consumption at a lag of 30 days (monthly persistence)",
    # the shape of the last weeks (each customer against its own usual use; see shape_features)
    **{
        f"recent_day_{k}": (
            f"reading {k - 1} days before the last day / the customer's mean on that weekday"
            if k > 1
            else "reading on the last day / the customer's mean on that weekday"
        )
        for k in range(1, 15)
    },
    **{
        f"profile_{day}": f"mean on {name} / the customer's mean over the seven weekdays"
        for day, name in zip(
            ("mon", "tue", "wed", "thu", "fri", "sat", "sun"),
            ("Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays", "Sundays"),
            strict=True,
        )
    },
    "week_over_week": "mean of the last 7 days / mean of the 7 days before",
    "month_over_month": "mean of the last 28 days / mean of the 28 days before",
    "recent_weekday_weekend": "mean on weekdays / mean on weekends, last 21 days",
    "weekday_weekend_change": "recent_weekday_weekend / the same ratio before the last 21 days",
    "low_days_recent": "share of the last 28 days below half the customer's mean for their weekday",
    "profile_change": "mean absolute change of the weekly profile: last 28 days against before",
    "zero_share_change": "share of zero readings in the last 14 days minus the share before them",
    "peak_change": "highest reading of the last 14 days / the highest before them",
    "swing_change": "mean day-to-day change over mean use, last 14 days / the days before them",
    # peers
    "peer_deviation": "RMS distance of the customer's weekday/month profile shape from its cluster's typical shape",
}
FEATURE_NAMES: tuple[str, ...] = tuple(FEATURE_DESCRIPTIONS)
SHAPE_FEATURES: tuple[str, ...] = tuple(  # the shape of the last weeks (shape_features)
    name
    for name in FEATURE_NAMES
    if name.startswith(("recent_day_", "profile_"))
    or name
    in (
        "week_over_week",
        "month_over_month",
        "recent_weekday_weekend",
        "weekday_weekend_change",
        "low_days_recent",
        "zero_share_change",
        "peak_change",
        "swing_change",
    )
)


# ---------------------------------------------------------------- runs and small row helpers


def true_runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every run of consecutive True values of a 2-D boolean mask: (row, start column, length).

    Runs are listed row by row, left to right. The mask is flattened with a False separator after
    each row, so one comparison of neighbours finds every start and end at once and they
    alternate (start, end, start, ...), without a loop over rows.
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2:
        raise MeterDataError(f"mask must be 2-D customers x days, got {mask.ndim} dimension(s)")
    n_rows, n_days = mask.shape
    padded = np.zeros((n_rows, n_days + 1), dtype=bool)
    padded[:, :n_days] = mask
    flat = padded.ravel()
    edges = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    if flat.size and flat[0]:
        edges = np.concatenate(([0], edges))
    starts, ends = edges[0::2], edges[1::2]
    rows, start_columns = np.divmod(starts, n_days + 1)
    return rows, start_columns, ends - starts


def runs_per_row(
    rows: np.ndarray, lengths: np.ndarray, n_rows: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the number of runs and the longest one (0 when none), from `true_runs` output."""
    count = np.bincount(rows, minlength=n_rows)
    longest = np.zeros(n_rows, dtype=np.int64)
    if len(rows):
        firsts = np.concatenate(([0], np.flatnonzero(rows[1:] != rows[:-1]) + 1))
        longest[rows[firsts]] = np.maximum.reduceat(lengths, firsts)
    return count, longest


def cumulative_sums(values: np.ndarray, dtype: type = np.float64) -> np.ndarray:
    """Running row sums with a leading 0 column (rows x days + 1), so that the sum of columns
    a..b-1 of every row is ``sums[:, b] - sums[:, a]``: any window in two subtractions.

    float64 carries 29 bits more than float32, so running sums of a few thousand float32
    readings of similar size are exact and a window sum read this way equals the direct sum
    (to ~1e-16 of the running total otherwise).
    """
    sums = np.empty((values.shape[0], values.shape[1] + 1), dtype=dtype)
    sums[:, 0] = 0
    sums[:, 1:] = values  # cast first: an in-place cumsum of one dtype is twice as fast
    return np.cumsum(sums, axis=1, out=sums)


# Division by zero and 0/0 are expected (no reading in a window, a zero mean) and end as NaN.
# Each feature group runs under one such errstate (a decorator: thread-safe, a context per
# call), not one per division: a block of one customer makes about a hundred divisions.
_quiet = np.errstate(invalid="ignore", divide="ignore")


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """`safe_ratio` for callers already under `_quiet`."""
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    return np.where(denominator > 0, numerator / denominator, np.nan)


@_quiet
def safe_ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, NaN where the denominator is not positive or either is NaN."""
    return _ratio(numerator, denominator)


def _means(sums: np.ndarray, counts: np.ndarray, min_count: int = 1) -> np.ndarray:
    """sums / counts as float64, NaN where fewer than `min_count` readings (under `_quiet`)."""
    return np.where(counts >= max(min_count, 1), sums / counts, np.nan)


def _nan_cv(means: np.ndarray, min_groups: int = 2) -> np.ndarray:
    """Coefficient of variation across the non-NaN columns of each row (under `_quiet`)."""
    valid = ~np.isnan(means)
    count = valid.sum(axis=1)
    centre = np.where(valid, means, 0.0).sum(axis=1) / count
    spread = np.sqrt(np.where(valid, (means - centre[:, None]) ** 2, 0.0).sum(axis=1) / count)
    return np.where(count >= min_groups, _ratio(spread, centre), np.nan)


def _nan_mean(values: np.ndarray) -> np.ndarray:
    """Row mean over non-NaN values of a small array, NaN for an all-NaN row."""
    valid = ~np.isnan(values)
    return _means(np.where(valid, values, 0.0).sum(axis=1), valid.sum(axis=1))


def _nan_min(values: np.ndarray) -> np.ndarray:
    """Row minimum ignoring NaN (NaN for an all-NaN row), without a warning."""
    return np.fmin.reduce(values, axis=1)


def _nan_max(values: np.ndarray) -> np.ndarray:
    """Row maximum ignoring NaN (NaN for an all-NaN row), without a warning."""
    return np.fmax.reduce(values, axis=1)


# ---------------------------------------------------------------- calendar groups


@dataclass
class CalendarSums:
    """Per-row sums and counts of present readings by weekday and by calendar month.

    The cleaned readings are summed once per block and shared by the profile shapes, the
    weekend ratio, the monthly aggregates and the seasonal amplitude.
    """

    weekday_sums: np.ndarray  # rows x 7 (Mon..Sun)
    weekday_counts: np.ndarray
    month_sums: np.ndarray  # rows x calendar months of the history
    month_counts: np.ndarray
    month_of_year: np.ndarray  # (calendar months,) 0 = January
    # the two means the profile shapes and the features both ask for, computed once
    _kept_weekday_means: np.ndarray | None = field(
        default=None, init=False, repr=False, compare=False
    )
    _kept_month_of_year_means: np.ndarray | None = field(
        default=None, init=False, repr=False, compare=False
    )

    @_quiet
    def weekday_means(self) -> np.ndarray:
        """Mean reading by weekday (rows x 7, Mon..Sun), NaN where none."""
        if self._kept_weekday_means is None:
            self._kept_weekday_means = _means(self.weekday_sums, self.weekday_counts)
        return self._kept_weekday_means.copy()  # a copy: callers may write theirs

    @_quiet
    def month_means(self, min_count: int = 1) -> np.ndarray:
        """Mean reading by calendar month (rows x months), NaN with fewer than `min_count`."""
        return _means(self.month_sums, self.month_counts, min_count)

    @_quiet
    def month_of_year_means(self) -> np.ndarray:
        """Mean reading by month of the year over all years (rows x 12, Jan..Dec), NaN where none."""
        if self._kept_month_of_year_means is None:
            self._kept_month_of_year_means = _means(
                *(self._by_month_of_year(v) for v in (self.month_sums, self.month_counts))
            )
        return self._kept_month_of_year_means.copy()

    def _by_month_of_year(self, by_month: np.ndarray) -> np.ndarray:
        """Calendar-month columns (consecutive months) summed by month of the year, year by
        year: the months are laid out on a January-to-December grid padded with zeros."""
        rows, n_months = by_month.shape
        first = int(self.month_of_year[0]) if n_months else 0
        n_years = -(-(first + n_months) // 12)
        grid = np.zeros((rows, n_years * 12), dtype=by_month.dtype)
        grid[:, first : first + n_months] = by_month
        return grid.reshape(rows, n_years, 12).sum(axis=1)


@dataclass(frozen=True)
class CalendarLayout:
    """Where weekdays and calendar months fall in a run of consecutive days: worked out once
    from the dates and shared by every block of rows."""

    n_days: int
    first_weekday: int  # weekday of the first day, 0 = Monday
    month_starts: np.ndarray  # first column of each calendar month
    month_of_year: np.ndarray  # month of the year of each calendar month, 0 = January

    @classmethod
    def of(cls, dates: pd.DatetimeIndex | np.ndarray) -> CalendarLayout:
        """The layout of consecutive `dates` (canonical frames guarantee them, ntl.frame; or
        datetime64 days).

        Numpy's calendar units, not pandas' date fields (0.5 ms a call, which a block of one
        web request pays): months since 1970-01 are year * 12 + month - 1 less a constant, and
        1970-01-01 was a Thursday (weekday 3).

        Layouts are kept by their days (at most `MAX_KEPT_LAYOUTS`, their arrays read-only): the
        scorer describes the same few calendars request after request."""
        if isinstance(dates, np.ndarray):
            days = dates.astype("datetime64[D]", copy=False)
        else:
            naive = isinstance(dates, pd.DatetimeIndex) and dates.tz is None
            days = np.asarray(dates.values if naive else dates.to_numpy(), dtype="datetime64[D]")
        key = days.tobytes()
        layout = _KEPT_LAYOUTS.get(key)
        if layout is None:
            month_code = days.astype("datetime64[M]").astype(np.int64) + 1970 * 12
            starts = np.flatnonzero(month_code[1:] != month_code[:-1]) + 1
            starts = np.concatenate(([0], starts))  # the first day starts a month
            first_weekday = int((days[0].astype(np.int64) + 3) % 7)
            layout = cls(len(dates), first_weekday, starts, month_code[starts] % 12)
            layout.month_starts.flags.writeable = False
            layout.month_of_year.flags.writeable = False
            if len(_KEPT_LAYOUTS) >= MAX_KEPT_LAYOUTS:
                _KEPT_LAYOUTS.clear()
            _KEPT_LAYOUTS[key] = layout
        return layout

    @classmethod
    def spanning(cls, first_day: np.datetime64, n_days: int) -> CalendarLayout:
        """`of` the `n_days` consecutive days from `first_day`, without an index of them."""
        days = np.datetime64(first_day, "D") + np.arange(n_days)
        return cls.of(days)


MAX_KEPT_LAYOUTS = 64
_KEPT_LAYOUTS: dict[bytes, CalendarLayout] = {}  # CalendarLayout.of by the days' bytes


def calendar_sums(
    filled: np.ndarray,
    present: np.ndarray,
    dates: pd.DatetimeIndex | CalendarLayout,
    sums: np.ndarray | None = None,
    counts: np.ndarray | None = None,
) -> CalendarSums:
    """Weekday and calendar-month sums of `filled` (NaN replaced by 0) over `present` readings.

    Weekdays are strided column slices, so no column is copied or reordered. Months are
    contiguous column ranges: read from the running sums `sums`/`counts` (`cumulative_sums`)
    when the caller has them, else summed in float64 directly (the same values).
    """
    layout = dates if isinstance(dates, CalendarLayout) else CalendarLayout.of(dates)
    rows = filled.shape[0]
    weekday_sums = np.zeros((rows, 7))
    weekday_counts = np.zeros((rows, 7), dtype=np.int64)
    ones = present.view(np.int8)  # 1 where present: summed as small integers
    for offset in range(min(7, layout.n_days)):  # seven weekdays
        weekday = (layout.first_weekday + offset) % 7
        weekday_sums[:, weekday] = filled[:, offset::7].sum(axis=1, dtype=np.float64)
        weekday_counts[:, weekday] = ones[:, offset::7].sum(axis=1, dtype=np.int32)
    starts = layout.month_starts
    if sums is not None and counts is not None:
        edges = np.concatenate((starts, [layout.n_days]))
        month_sums = np.diff(sums[:, edges], axis=1)
        month_counts = np.diff(counts[:, edges], axis=1).astype(np.int64)
    else:
        month_sums = np.add.reduceat(filled, starts, axis=1, dtype=np.float64)
        month_counts = np.add.reduceat(present.view(np.int8), starts, axis=1, dtype=np.int64)
    return CalendarSums(
        weekday_sums, weekday_counts, month_sums, month_counts, layout.month_of_year
    )


# ---------------------------------------------------------------- feature groups


@dataclass
class Block:
    """One block of rows with what several feature groups share, each computed once."""

    raw: np.ndarray  # raw readings, NaN = missing
    clean: np.ndarray  # cleaned readings (short gaps filled, peaks capped)
    layout: CalendarLayout
    raw_missing: np.ndarray  # raw is NaN
    missing_runs: tuple[np.ndarray, np.ndarray, np.ndarray]  # true_runs(raw_missing)
    present: np.ndarray  # clean is not NaN
    filled: np.ndarray  # clean with NaN as 0
    sums: np.ndarray  # running sums of filled, float64, rows x days + 1 (cumulative_sums)
    counts: np.ndarray  # running counts of present readings, int16/int32, rows x days + 1
    count: np.ndarray  # present readings per row
    mean: np.ndarray  # mean of clean per row (float64)
    centred: np.ndarray  # clean - mean where present, else 0 (float32)
    variance: np.ndarray  # mean square of centred over present readings (float64)
    calendar: CalendarSums

    @classmethod
    @_quiet
    def of(
        cls,
        raw: np.ndarray,
        clean: np.ndarray,
        dates: pd.DatetimeIndex | CalendarLayout,
        present: np.ndarray | None = None,
        raw_missing: np.ndarray | None = None,
        missing_runs: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    ) -> Block:
        """Precompute masks, running sums, mean, centred readings and calendar sums.

        `present` (clean is not NaN), `raw_missing` (raw is NaN) and `missing_runs` (its runs)
        may be passed when the caller already has them.
        """
        layout = dates if isinstance(dates, CalendarLayout) else CalendarLayout.of(dates)
        if raw_missing is None:
            raw_missing = np.isnan(raw)
        if missing_runs is None:
            missing_runs = true_runs(raw_missing)
        if present is None:
            present = ~np.isnan(clean)
        filled = np.where(present, clean, np.float32(0))
        sums = cumulative_sums(filled)
        counts = cumulative_sums(present, np.int16 if clean.shape[1] < 2**15 else np.int32)
        count = counts[:, -1].astype(np.int64)
        mean = _means(sums[:, -1], count)
        centred = np.where(present, clean - mean[:, None].astype(np.float32), np.float32(0))
        variance = (centred * centred).sum(axis=1, dtype=np.float64) / count
        calendar = calendar_sums(filled, present, layout, sums, counts)
        return cls(
            raw,
            clean,
            layout,
            raw_missing,
            missing_runs,
            present,
            filled,
            sums,
            counts,
            count,
            mean,
            centred,
            variance,
            calendar,
        )

    @_quiet
    def window_mean(self, start: int, stop: int) -> np.ndarray:
        """Per row, the mean of the present cleaned readings in columns start..stop-1."""
        return _means(
            self.sums[:, stop] - self.sums[:, start], self.counts[:, stop] - self.counts[:, start]
        )

    @_quiet
    def window_ratios(self, windows: list[tuple[int, int, int, int]]) -> np.ndarray:
        """Per row (rows x windows), the `window_mean` of columns a..b-1 over that of c..d-1 for
        each (a, b, c, d), NaN unless the second mean is positive: every window read from the
        running sums at once (the same values as one window at a time)."""
        bounds = np.array(windows, dtype=np.intp).reshape(-1, 2, 2)  # window, over/under, a/b
        means = self.window_means(bounds[..., 0].ravel(), bounds[..., 1].ravel())
        return _ratio(means[:, 0::2], means[:, 1::2])

    @_quiet
    def window_means(self, starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
        """rows x windows: the `window_mean` of columns starts[i]..stops[i]-1, all at once."""
        return _means(
            self.sums[:, stops] - self.sums[:, starts],
            self.counts[:, stops] - self.counts[:, starts],
        )


def missing_features(
    raw: np.ndarray,
    recent_days: int,
    missing: np.ndarray | None = None,
    runs: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Missing-reading features: share, gaps, and the recent window against the past.

    `missing` (raw is NaN) and its `runs` (`true_runs`) may be passed when already computed.
    """
    n_rows, n_days = raw.shape
    if missing is None:
        missing = np.isnan(raw)
    rows, _, lengths = true_runs(missing) if runs is None else runs
    gap_count, gap_longest = runs_per_row(rows, lengths, n_rows)
    present_total = n_days - np.bincount(rows, weights=lengths, minlength=n_rows).astype(np.int64)
    recent = min(recent_days, n_days)
    past = n_days - recent
    present_recent = recent - np.count_nonzero(missing[:, n_days - recent :], axis=1)
    missing_recent = 1.0 - present_recent / recent
    if past > 0:
        change = missing_recent - (1.0 - (present_total - present_recent) / past)
    else:
        change = np.full(n_rows, np.nan)
    return {
        "missing_share": 1.0 - present_total / n_days,
        "gap_count": gap_count,
        "gap_longest": gap_longest,
        "missing_recent_share": missing_recent,
        "missing_recent_change": change,
    }


@_quiet
def zero_features(
    raw: np.ndarray, recent_days: int, missing: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Zero-reading features: share, count, runs and the recent share (missing is not zero).

    `missing` (raw is NaN) may be passed when already computed.
    """
    n_rows, n_days = raw.shape
    if missing is None:
        missing = np.isnan(raw)
    present_count = n_days - np.count_nonzero(missing, axis=1)
    zero = raw == 0
    rows, _, lengths = true_runs(zero)
    run_count, run_longest = runs_per_row(rows, lengths, n_rows)
    zero_days = np.bincount(rows, weights=lengths, minlength=n_rows).astype(np.int64)
    recent = min(recent_days, n_days)
    recent_present = recent - np.count_nonzero(missing[:, n_days - recent :], axis=1)
    return {
        "zero_share": _ratio(zero_days, present_count),
        "zero_days": zero_days,
        "zero_run_count": run_count,
        "zero_run_longest": run_longest,
        "zero_recent_share": _ratio(
            np.count_nonzero(zero[:, n_days - recent :], axis=1), recent_present
        ),
    }


@_quiet
def level_features(block: Block) -> dict[str, np.ndarray]:
    """Level and dispersion of daily consumption: mean, std, max, cv."""
    std = np.sqrt(block.variance)
    return {
        "mean_kwh": block.mean,
        "std_kwh": std,
        "max_kwh": _nan_max(block.clean),
        "cv": _ratio(std, block.mean),
    }


@_quiet
def aggregate_features(block: Block) -> dict[str, np.ndarray]:
    """Weekly and monthly aggregates: dispersion and the lowest week/month against the mean.

    Weeks are 7-day blocks counted back from the last day (the same blocks for every customer of
    the calendar); months are calendar months with at least 7 readings.
    """
    n_rows, n_days = block.clean.shape
    n_weeks = n_days // 7
    if n_weeks >= 2:
        edges = slice(n_days - 7 * n_weeks, None, 7)  # a view: every 7th running sum
        sums = np.diff(block.sums[:, edges], axis=1)
        counts = np.diff(block.counts[:, edges], axis=1)
        week_means = _means(sums, counts, MIN_READINGS_PER_WEEK)
        weekly_cv = _nan_cv(week_means)
        week_min_ratio = _ratio(_nan_min(week_means), block.mean)
    else:
        weekly_cv = week_min_ratio = np.full(n_rows, np.nan)
    month_means = block.calendar.month_means(MIN_READINGS_PER_MONTH)
    return {
        "weekly_cv": weekly_cv,
        "week_min_ratio": week_min_ratio,
        "monthly_cv": _nan_cv(month_means),
        "month_min_ratio": _ratio(_nan_min(month_means), block.mean),
    }


@_quiet
def trend_features(block: Block, recent_days: int) -> dict[str, np.ndarray]:
    """Trend slope (fraction of the mean per year), recent-vs-past and year-over-year ratios.

    The least-squares sums are taken over day numbers, exactly, and shifted to the centre of
    the history: sum(day * present) and sum(day * reading) come from the running sums (the sum
    of day * x over a row is days * total - the sum of the running totals), and sum(day**2 *
    present) from one masked sum of whole numbers.
    """
    n_rows, n_days = block.clean.shape
    sum_day = n_days * block.count - block.counts[:, 1:].sum(axis=1, dtype=np.int64)
    day_squared = np.arange(n_days, dtype=np.float64) ** 2
    if n_days <= 4096:  # day**2 < 2**24 is exact in float32, the cheaper product
        day_squared = day_squared.astype(np.float32)
    sum_day2 = (block.present * day_squared).sum(axis=1, dtype=np.float64)
    centre = (n_days - 1) / 2
    count = block.count
    sum_y = block.sums[:, -1]
    sum_day_y = n_days * sum_y - block.sums[:, 1:].sum(axis=1)
    sum_t = (sum_day - centre * count) / DAYS_PER_YEAR
    sum_tt = (sum_day2 - 2 * centre * sum_day + centre**2 * count) / DAYS_PER_YEAR**2
    sum_ty = (sum_day_y - centre * sum_y) / DAYS_PER_YEAR
    spread_t = sum_tt - sum_t**2 / count
    slope = (sum_ty - sum_t * sum_y / count) / spread_t
    slope = np.where((count >= 2) & (spread_t > 1e-9), slope, np.nan)
    recent = min(recent_days, n_days)
    windows = {}  # the recent window over the days before it; the last year over the one before
    if n_days > recent:
        windows["recent_vs_past"] = (n_days - recent, n_days, 0, n_days - recent)
    if n_days >= 730:
        windows["yoy_ratio"] = (n_days - 365, n_days, n_days - 730, n_days - 365)
    ratios = block.window_ratios(list(windows.values())) if windows else None
    values = {"trend_slope": _ratio(slope, block.mean)}
    for name in ("recent_vs_past", "yoy_ratio"):
        values[name] = (
            ratios[:, list(windows).index(name)] if name in windows else np.full(n_rows, np.nan)
        )
    return values


@_quiet
def drop_features(block: Block, window_days: int) -> dict[str, np.ndarray]:
    """The largest sustained drop: the day where the mean of the next `window_days` falls most
    below the mean of the previous `window_days`; its size, when it happened, and whether it lasted.

    The window shrinks to half the history for short histories; below 7 days the features are
    NaN. A window needs half its days present. drop_largest is 0 when consumption never falls
    (then the other three are NaN). Every window sum comes from the block's running sums, once:
    the window before day d is the window starting at d - window, the one after starts at d.
    """
    n_rows, n_days = block.clean.shape
    window = min(window_days, n_days // 2)
    names = ("drop_largest", "drop_days_ago", "drop_position", "after_drop_ratio")
    if window < MIN_DROP_WINDOW:
        return {name: np.full(n_rows, np.nan) for name in names}
    window_n = block.counts[:, window:] - block.counts[:, :-window]  # window starting at a day
    enough = window_n >= (window + 1) // 2  # a window needs half its days present
    window_mean = np.subtract(block.sums[:, window:], block.sums[:, :-window])
    np.divide(window_mean, window_n, out=window_mean)
    n_candidates = n_days - 2 * window + 1
    before, after = window_mean[:, :n_candidates], window_mean[:, window:]
    usable = enough[:, :n_candidates] & enough[:, window:]
    usable &= before > 0
    ratio = np.full(before.shape, np.inf)  # after mean / before mean, inf where unusable
    np.divide(after, before, out=ratio, where=usable)
    best = ratio.argmin(axis=1)  # the first day of the lowest ratio
    rows = np.arange(n_rows)
    best_ratio = ratio[rows, best]
    found = np.isfinite(best_ratio) & (best_ratio < 1.0)  # a fall; no fall leaves NaN
    drop_day = best + window  # first day of the lower level
    before_mean = before[rows, best]
    to_end = _means(
        block.sums[:, -1] - block.sums[rows, drop_day],
        block.counts[:, -1] - block.counts[rows, drop_day],
    )
    return {
        "drop_largest": np.where(
            np.isfinite(best_ratio), np.maximum(1.0 - best_ratio, 0.0), np.nan
        ),
        "drop_days_ago": np.where(found, n_days - 1 - drop_day, np.nan),
        "drop_position": np.where(found, drop_day / n_days, np.nan),
        "after_drop_ratio": np.where(found, _ratio(to_end, before_mean), np.nan),
    }


@_quiet
def autocorrelation(block: Block, lags: tuple[int, ...] = (7, 30)) -> dict[int, np.ndarray]:
    """Autocorrelation at each lag, over the day pairs where both days have a reading."""
    n_rows, n_days = block.clean.shape
    centred, present = block.centred, block.present
    result = {}
    for lag in lags:  # two lags
        if n_days <= lag + 1:
            result[lag] = np.full(n_rows, np.nan)
            continue
        products = (centred[:, :-lag] * centred[:, lag:]).sum(axis=1, dtype=np.float64)
        n_pairs = np.count_nonzero(present[:, :-lag] & present[:, lag:], axis=1)
        acf = products / n_pairs / block.variance
        acf = np.clip(acf, -1.0, 1.0)  # gaps can push the pairwise estimate slightly past +-1
        result[lag] = np.where((n_pairs >= 2) & (block.variance > 1e-12), acf, np.nan)
    return result


@_quiet
def pattern_features(block: Block) -> dict[str, np.ndarray]:
    """Weekend/weekday ratio, seasonal amplitude (needs a year) and autocorrelation at 7 and 30 days."""
    calendar = block.calendar
    weekend_mean = _means(
        calendar.weekday_sums[:, 5:].sum(axis=1), calendar.weekday_counts[:, 5:].sum(axis=1)
    )
    weekday_mean = _means(
        calendar.weekday_sums[:, :5].sum(axis=1), calendar.weekday_counts[:, :5].sum(axis=1)
    )
    amplitude = np.full(len(block.clean), np.nan)
    if block.layout.n_days >= 365:
        month_means = calendar.month_of_year_means()
        enough = (~np.isnan(month_means)).sum(axis=1) >= MIN_MONTHS_FOR_SEASON
        spread = _nan_max(month_means) - _nan_min(month_means)
        amplitude = np.where(enough, _ratio(spread, _nan_mean(month_means)), np.nan)
    acf = autocorrelation(block, (7, 30))
    return {
        "weekend_weekday_ratio": _ratio(weekend_mean, weekday_mean),
        "seasonal_amplitude": amplitude,
        "acf_7": acf[7],
        "acf_30": acf[30],
    }


SHAPE_DAYS = 14  # recent daily readings given to the models one by one (two weeks)
WEEKDAY_WINDOW = 21  # days of the recent weekday / weekend comparison (three whole weeks)
PROFILE_WINDOW = 28  # days of the recent weekly profile and the low-day share (four weeks)
LOW_DAY_SHARE = 0.5  # a day below this share of the customer's mean for its weekday is "low"
CHANGE_WINDOW = 14  # days of the recent-against-before zeros, peak and swings (two weeks)
MIN_CHANGE_READINGS = 7  # readings each side needs for those comparisons
PROFILE_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _weekday_of_columns(layout: CalendarLayout) -> np.ndarray:
    """Weekday (0 = Monday) of every day column."""
    return (layout.first_weekday + np.arange(layout.n_days)) % 7


def _weekday_sums(block: Block, weekdays: np.ndarray, start: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row and weekday, the sum and count of present cleaned readings from column `start` on."""
    one_hot = (weekdays[start:, None] == np.arange(7)[None, :]).astype(np.float64)  # days x 7
    sums = block.filled[:, start:].astype(np.float64) @ one_hot
    counts = block.present[:, start:].astype(np.float64) @ one_hot
    return sums, counts


def _weekday_weekend(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Mean on weekdays / mean on weekends from rows x 7 weekday sums and counts."""
    weekday = _means(sums[:, :5].sum(axis=1), counts[:, :5].sum(axis=1))
    weekend = _means(sums[:, 5:].sum(axis=1), counts[:, 5:].sum(axis=1))
    return _ratio(weekday, weekend)


def _profile(means: np.ndarray) -> np.ndarray:
    """Weekday means (rows x 7) over their own mean: 1.0 everywhere is a flat week; NaN unless
    all seven weekdays have a mean."""
    centre = means.mean(axis=1)  # NaN when a weekday has none
    return _ratio(means, centre[:, None])


@_quiet
def shape_features(block: Block) -> dict[str, np.ndarray]:
    """The shape of the last weeks, each customer measured against its own usual use.

    Made for short histories, where trends and seasons cannot be measured but the daily readings
    still carry the signal, and phrased for inspectors (``ntl.explain``): the last `SHAPE_DAYS`
    readings each over the customer's mean on the same weekday (``recent_day_1`` is the last
    day; 0.3 = "used 30 % of a usual Monday"), the weekly profile (``profile_mon`` ..), the last
    week against the week before and the last four weeks against the four before, weekday use
    against weekend use in the last three weeks and its change, the share of low days in the
    last four weeks, and how far the last four weeks' weekly profile moved from the profile
    before, and the last two weeks' zeros, peak and swings against the days before them
    (`recent_changes`). Nothing is fitted: every value depends on the customer's own row and the
    calendar. A window longer than the history gives NaN.
    """
    n_rows, n_days = block.clean.shape
    weekdays = _weekday_of_columns(block.layout)
    usual = block.calendar.weekday_means()  # rows x 7
    values: dict[str, np.ndarray] = {}
    columns = n_days - np.arange(1, SHAPE_DAYS + 1)  # the last day first
    columns = columns[columns >= 0]
    recent_days = np.full((n_rows, SHAPE_DAYS), np.nan)  # NaN before the first day
    recent_days[:, : len(columns)] = _ratio(block.clean[:, columns], usual[:, weekdays[columns]])
    for k in range(SHAPE_DAYS):  # fourteen fixed days
        values[f"recent_day_{k + 1}"] = recent_days[:, k]
    profile = _profile(usual)
    for position, day in enumerate(PROFILE_DAYS):
        values[f"profile_{day}"] = profile[:, position]
    nan = np.full(n_rows, np.nan)
    windows = {  # the last 7 (28) days over the 7 (28) before
        "week_over_week": (n_days - 7, n_days, n_days - 14, n_days - 7),
        "month_over_month": (n_days - 28, n_days, n_days - 56, n_days - 28),
    }
    windows = {name: bounds for name, bounds in windows.items() if bounds[2] >= 0}
    ratios = block.window_ratios(list(windows.values())) if windows else None
    for name in ("week_over_week", "month_over_month"):
        values[name] = ratios[:, list(windows).index(name)] if name in windows else nan
    calendar = block.calendar
    if n_days >= WEEKDAY_WINDOW:
        sums, counts = _weekday_sums(block, weekdays, n_days - WEEKDAY_WINDOW)
        recent = _weekday_weekend(sums, counts)
        before = _weekday_weekend(calendar.weekday_sums - sums, calendar.weekday_counts - counts)
        values["recent_weekday_weekend"] = recent
        values["weekday_weekend_change"] = _ratio(recent, before)
    else:
        values["recent_weekday_weekend"] = values["weekday_weekend_change"] = nan
    if n_days >= PROFILE_WINDOW:
        start = n_days - PROFILE_WINDOW
        expected = usual[:, weekdays[start:]]  # rows x 28: the usual use of each day's weekday
        low = block.present[:, start:] & (block.clean[:, start:] < LOW_DAY_SHARE * expected)
        present = block.present[:, start:].sum(axis=1)
        values["low_days_recent"] = _means(low.sum(axis=1).astype(np.float64), present)
        sums, counts = _weekday_sums(block, weekdays, start)
        recent_profile = _profile(_means(sums, counts))
        earlier_profile = _profile(
            _means(calendar.weekday_sums - sums, calendar.weekday_counts - counts)
        )
        values["profile_change"] = np.abs(recent_profile - earlier_profile).mean(axis=1)
    else:
        values["low_days_recent"] = values["profile_change"] = nan
    return values | recent_changes(block)


@_quiet
def recent_changes(block: Block) -> dict[str, np.ndarray]:
    """The last `CHANGE_WINDOW` days against every day before them: share of zero readings
    (a difference: 0.4 = zeros on 40 more of every 100 days), highest reading and day-to-day
    swings, the mean absolute change between consecutive days over the mean (ratios: 0.3 = a
    peak capped at 30 % of the earlier one; a flat reading's swings near 0).

    Made for short histories: a customer's own weekday means mix the theft weeks with the weeks
    before, whereas these split the history at a fixed day, and they catch the attacks that keep
    the level but change the texture (zeroed days, a cap on the peaks, a flat or jumbled reading).
    Zeros read the raw readings, like the zero features; peak and swings the cleaned ones. NaN
    with fewer than `MIN_CHANGE_READINGS` readings on either side (and below 28 days of history).
    """
    n_rows, n_days = block.clean.shape
    names = ("zero_share_change", "peak_change", "swing_change")
    if n_days < 2 * CHANGE_WINDOW:
        return {name: np.full(n_rows, np.nan) for name in names}
    start = n_days - CHANGE_WINDOW
    read = ~block.raw_missing
    read_recent = read[:, start:].sum(axis=1)
    read_before = read.sum(axis=1) - read_recent
    zero = block.raw == 0  # a missing (NaN) reading is not a zero
    zero_recent = zero[:, start:].sum(axis=1)
    zero_before = zero.sum(axis=1) - zero_recent
    zero_change = _means(zero_recent, read_recent, MIN_CHANGE_READINGS) - _means(
        zero_before, read_before, MIN_CHANGE_READINGS
    )
    present = block.present
    n_recent = present[:, start:].sum(axis=1)
    n_before = block.count - n_recent
    enough = (n_recent >= MIN_CHANGE_READINGS) & (n_before >= MIN_CHANGE_READINGS)
    filled = block.filled  # missing as 0: readings are never negative, so the max is a reading's
    peak = _ratio(filled[:, start:].max(axis=1), filled[:, :start].max(axis=1))
    # day-to-day swings: the mean absolute change between consecutive days with readings, over
    # the window's mean; unlike a standard deviation, slow (seasonal) level changes barely move it
    pairs = present[:, 1:] & present[:, :-1]
    change = np.where(pairs, np.abs(np.diff(block.clean, axis=1)), np.float32(0))
    # pair j is days j and j + 1: the window has the change into each of its days (pairs from
    # start - 1 on), the days before the changes among them
    recent_change = change[:, start - 1 :].sum(axis=1, dtype=np.float64)
    recent_pairs = pairs[:, start - 1 :].sum(axis=1)
    before_change = change[:, : start - 1].sum(axis=1, dtype=np.float64)
    before_pairs = pairs[:, : start - 1].sum(axis=1)
    window_means = block.window_means([start, 0], [n_days, start])  # the window, the days before
    swing_recent = _ratio(_means(recent_change, recent_pairs), window_means[:, 0])
    swing_before = _ratio(_means(before_change, before_pairs), window_means[:, 1])
    return {
        "zero_share_change": zero_change,
        "peak_change": np.where(enough, peak, np.nan),
        "swing_change": np.where(enough, _ratio(swing_recent, swing_before), np.nan),
    }


def feature_block(block: Block, recent_days: int, drop_window_days: int) -> dict[str, np.ndarray]:
    """All features except peer_deviation for one block of rows."""
    values = missing_features(
        block.raw, recent_days, missing=block.raw_missing, runs=block.missing_runs
    )
    values |= zero_features(block.raw, recent_days, missing=block.raw_missing)
    values |= level_features(block)
    values |= aggregate_features(block)
    values |= trend_features(block, recent_days)
    values |= drop_features(block, drop_window_days)
    values |= pattern_features(block)
    values |= shape_features(block)
    return values


def check_feature_knobs(recent_days: int, drop_window_days: int, chunk_rows: int) -> None:
    """Raise ParameterError for a window or block size below 1."""
    if recent_days < 1 or drop_window_days < 1 or chunk_rows < 1:
        raise ParameterError(
            "recent_days, drop_window_days and chunk_rows must be >= 1, got "
            f"{recent_days}, {drop_window_days}, {chunk_rows}"
        )


def feature_matrix(values: dict[str, np.ndarray], n_rows: int) -> np.ndarray:
    """Feature arrays as a float32 rows x FEATURE_NAMES matrix (NaN for a missing feature)."""
    table = np.full((n_rows, len(FEATURE_NAMES)), np.nan, dtype=np.float32)
    for position, name in enumerate(FEATURE_NAMES):  # a few dozen features
        if name in values:
            table[:, position] = values[name]
    return table


def set_peer_deviation(table: np.ndarray, peer_deviation: np.ndarray) -> None:
    """Write the peer_deviation column of a feature matrix in place."""
    peer = np.asarray(peer_deviation, dtype=np.float32)
    if peer.shape != (len(table),):
        raise MeterDataError(
            f"peer_deviation must have one value per customer ({len(table)}), got shape {peer.shape}"
        )
    table[:, FEATURE_NAMES.index("peer_deviation")] = peer


def rank_by_separation(features: pd.DataFrame, flag: pd.Series) -> pd.DataFrame:
    """Features ordered by how well each alone separates theft from normal (for display only).

    Separation is |AUC - 0.5| of the raw feature value over customers with a label and a value;
    `direction` says whether theft tends higher or lower. Needs both classes. The AUC of every
    feature comes at once from average ranks (Mann-Whitney U, what roc_auc_score computes,
    ties included).
    """
    known = flag.notna().to_numpy()
    target = flag[known].astype(int).to_numpy()
    if not ((target == 1).any() and (target == 0).any()):
        raise MeterDataError("rank_by_separation needs labels with both theft (1) and normal (0)")
    values = features.loc[known].astype(np.float64)
    ranks = values.rank(method="average", na_option="keep").to_numpy()
    usable = ~np.isnan(ranks)
    theft = target == 1
    n_theft = (usable & theft[:, None]).sum(axis=0)
    n_normal = usable.sum(axis=0) - n_theft
    rank_sum = np.where(usable & theft[:, None], ranks, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = (rank_sum - n_theft * (n_theft + 1) / 2) / (n_theft * n_normal)
    auc = np.where((n_theft > 0) & (n_normal > 0), auc, np.nan)
    table = pd.DataFrame(
        {"feature": list(features.columns), "auc": auc, "separation": np.abs(auc - 0.5)}
    )
    table["direction"] = np.where(table["auc"] >= 0.5, "higher in theft", "lower in theft")
    table.loc[table["auc"].isna(), "direction"] = "no data"
    return table.sort_values("separation", ascending=False, na_position="last").reset_index(
        drop=True
    )
