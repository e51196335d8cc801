"""One reader per interval layout: decode a record batch and fold it into the DayGrid."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from ntl.errors import MeterDataError
from ntl.interval.columns import (
    decode_days,
    decode_ids,
    decode_labels,
    decode_numbers,
    decode_stamps,
    nominal_periods,
)
from ntl.interval.grid import DayGrid
from ntl.interval.options import DAY_SECONDS, IntervalOptions

_OFFSET_BIAS = 1 << 17  # seconds: shifts UTC offsets (at most +-14 h) to non-negative numbers


class BatchReader:
    """Shared state of the batch readers: the grid, labels, negatives and error locations."""

    label_name: str | None = None
    timezone: str | None = None
    negative_policy = "missing"
    zoned = False
    capacity_unit = "rows"

    def __init__(self, path: Path, id_name: str) -> None:
        self.path, self.id_name = path, id_name
        self.negatives = 0

    def reset(self, grid: DayGrid) -> None:
        self.grid = grid
        self.negatives = 0

    def _where(self, batch: pa.RecordBatch, row0: int) -> Callable[[int], str]:
        ids = batch.column(self.id_name)

        def where(row: int) -> str:
            customer = ids[row].as_py()
            return f"data row {row0 + row + 1} (customer {customer!r})"

        return where

    def _values(self, values: np.ndarray, describe: Callable[[int], str]) -> np.ndarray:
        """Negative readings become missing (counted) or stop the load, per policy."""
        negative = values < 0
        if negative.any():
            if self.negative_policy == "error":
                row = int(np.flatnonzero(negative)[0])
                raise MeterDataError(
                    f"{self.path}: negative reading {values[row]:g} at {describe(row)} "
                    "(negative_readings='missing' sets them to NaN)"
                )
            self.negatives += int(np.count_nonzero(negative))
            values = np.where(negative, np.float32(np.nan), values)
        return values

    def _labels(self, batch: pa.RecordBatch, codes: np.ndarray, where) -> None:
        if self.label_name:
            labels = decode_labels(batch.column(self.label_name), self.label_name, where, self.path)
            self.grid.add_labels(codes, labels)


class StampReader(BatchReader):
    """Long rows with timestamps: detects the interval, checks the grid, folds into days."""

    def __init__(
        self,
        path: Path,
        id_name: str,
        date_column: str,
        value_column: str,
        options: IntervalOptions,
    ) -> None:
        super().__init__(path, id_name)
        self.date_column, self.value_column, self.options = date_column, value_column, options

    def reset(self, grid: DayGrid) -> None:
        super().reset(grid)
        self.interval = 0
        self.phase = 0
        self.pending: list[tuple] = []
        self.zoned = False
        self.zoned_known = False

    def stamps_description(self) -> str:
        if self.options.interval_stamps == "end":
            return "interval-ending (a stamp closes its interval; 00:00/24:00 ends the day)"
        return "interval-starting (a stamp opens its interval)"

    def add(self, batch: pa.RecordBatch, row0: int) -> None:
        if batch.num_rows == 0:
            return
        where = self._where(batch, row0)
        codes = decode_ids(batch.column(self.id_name), self.grid, self.id_name, where, self.path)
        wall, absolute, zoned = decode_stamps(
            batch.column(self.date_column),
            self.options.timezone,
            self.options.interval_stamps,
            self.date_column,
            where,
            self.path,
        )
        if self.zoned_known and zoned != self.zoned:
            raise MeterDataError(
                f"{self.path}: stamps with and without a UTC offset are mixed in one file, "
                f"{where(0)}"
            )
        self.zoned, self.zoned_known = zoned, True
        values = decode_numbers(
            batch.column(self.value_column), self.value_column, where, self.path
        )
        values = self._values(values, where)
        self._labels(batch, codes, where)
        stamp_text = batch.column(self.date_column)
        self.pending.append((codes, wall, absolute, values, stamp_text, where))
        if not self.interval:
            self._detect_interval()
        if self.interval:
            self.finish_pending()

    def _detect_interval(self) -> None:
        """The file's interval: the most common gap between a customer's consecutive readings."""
        codes = np.concatenate([p[0] for p in self.pending])
        absolute = np.concatenate([p[2] for p in self.pending])
        order = np.lexsort((absolute, codes))
        same = codes[order][1:] == codes[order][:-1]
        gaps = np.diff(absolute[order])[same]
        gaps = gaps[gaps > 0]
        if len(gaps) == 0:
            return
        values, counts = np.unique(gaps, return_counts=True)
        interval = int(values[np.argmax(counts)])
        if interval < 60 or DAY_SECONDS % interval:
            raise MeterDataError(
                f"{self.path}: readings are most often {interval / 60:g} minutes apart, which "
                "does not divide a day into whole intervals (15, 30 or 60 minutes expected)"
            )
        self.interval = interval
        wall = np.concatenate([p[1] for p in self.pending])
        phases, counts = np.unique(wall % interval, return_counts=True)
        self.phase = int(phases[np.argmax(counts)])
        self.grid.slots_per_day = DAY_SECONDS // interval

    def finish_pending(self) -> None:
        """Fold the batches held back while the interval was unknown."""
        if not self.interval:
            if self.pending:  # no customer has two readings: a day apart is all one can say
                self.interval = DAY_SECONDS
                wall = self.pending[0][1]
                self.phase = int(wall[0] % DAY_SECONDS)
                self.grid.slots_per_day = 1
            else:
                return
        for codes, wall, absolute, values, stamp_text, where in self.pending:
            self._fold(codes, wall, absolute, values, stamp_text, where)
        self.pending = []

    def _fold(self, codes, wall, absolute, values, stamp_text, where) -> None:
        interval = self.interval
        if self.options.interval_stamps == "end":
            wall = wall - interval
            absolute = absolute - interval
        shifted = wall - self.phase

        def describe(row: int) -> str:
            return f"timestamp {stamp_text[row].as_py()!s} at {where(row)}"

        off_grid = np.flatnonzero(shifted % interval)
        if len(off_grid):
            row = int(off_grid[0])
            raise MeterDataError(
                f"{self.path}: irregular interval: {describe(row)} is not on the file's "
                f"{interval / 60:g}-minute grid (readings are {interval / 60:g} minutes apart, "
                f"this one {(shifted[row] % interval) / 60:g} minutes off)"
            )
        days = np.floor_divide(shifted, DAY_SECONDS)
        self.grid.add_readings(codes, days, values)
        slots = (
            np.floor_divide(absolute - self.phase, interval) if self.zoned else shifted // interval
        )
        self.grid.mark_seen(codes, slots, describe, self.path)
        if self.zoned:
            self._track_day_offsets(days, shifted, wall - absolute)

    def _track_day_offsets(
        self, days: np.ndarray, shifted: np.ndarray, offsets: np.ndarray
    ) -> None:
        """Per day, the UTC offset at its earliest and latest reading (the day's length follows)."""
        grid = self.grid
        local_days = days - grid.day0
        time_of_day = shifted - days * DAY_SECONDS
        keys = (time_of_day << 18) | (offsets + _OFFSET_BIAS)
        np.minimum.at(grid.day_first_key, local_days, keys)
        np.maximum.at(grid.day_last_key, local_days, keys)

    def day_lengths(self, grid: DayGrid) -> tuple[np.ndarray, int]:
        """Intervals each day holds: from the time zone, else from the stamps' own offsets."""
        nominal = DAY_SECONDS // self.interval
        if self.options.timezone:
            seconds = zone_day_seconds(grid.day0, grid.n_days, self.options.timezone)
        elif self.zoned:
            mask = (1 << 18) - 1
            first = (grid.day_first_key & mask) - _OFFSET_BIAS
            last = (grid.day_last_key & mask) - _OFFSET_BIAS
            seen = grid.day_last_key >= 0
            seconds = np.where(seen, DAY_SECONDS + first - last, DAY_SECONDS)
        else:
            seconds = np.full(grid.n_days, DAY_SECONDS)
        expected = np.maximum(seconds // self.interval, 1)
        used = grid.used_days()
        return expected, int(np.count_nonzero((expected != nominal) & used))


class PeriodReader(BatchReader):
    """Long rows of day + period number (1..48, 49-50 on a long daylight-saving day).

    The day and the period come from two columns, or from one DDDHH code (the Irish trial's:
    day 1 is `origin_day`, ``19503`` is the 3rd half hour of day 195).
    """

    origin_day: int | None = None

    def __init__(
        self,
        path: Path,
        id_name: str,
        date_column: str,
        period_column: str | None,
        value_column: str,
    ) -> None:
        super().__init__(path, id_name)
        self.date_column, self.period_column = date_column, period_column
        self.value_column = value_column

    def reset(self, grid: DayGrid) -> None:
        super().reset(grid)
        self.interval = 0
        self.periods = 0

    def stamps_description(self) -> str:
        where = self.period_column or self.date_column
        return f"interval numbers 1..{self.periods} in {where!r}"

    def finish_pending(self) -> None:
        return

    def add(self, batch: pa.RecordBatch, row0: int) -> None:
        if batch.num_rows == 0:
            return
        where = self._where(batch, row0)
        codes = decode_ids(batch.column(self.id_name), self.grid, self.id_name, where, self.path)
        if self.origin_day is None:
            days = decode_days(batch.column(self.date_column), self.date_column, where, self.path)
            period = decode_numbers(
                batch.column(self.period_column), self.period_column, where, self.path
            )
        else:
            days, period = self._day_codes(batch, where)
        if not self.periods:
            self.periods = nominal_periods(
                int(np.nanmax(period)) if np.isfinite(period).any() else 48
            )
            self.interval = DAY_SECONDS // self.periods
            self.grid.slots_per_day = self.periods + self.periods // 24
        bad = np.flatnonzero(
            ~np.isfinite(period)
            | (period < 1)
            | (period > self.grid.slots_per_day)
            | (period % 1 != 0)
        )
        if len(bad):
            row = int(bad[0])
            column = self.period_column or self.date_column
            raise MeterDataError(
                f"{self.path}: interval number {period[row]:g} in {column!r} at {where(row)} "
                f"is not one of 1..{self.grid.slots_per_day} "
                f"({self.periods} intervals a day, {self.periods + self.periods // 24} on a "
                "daylight-saving day)"
            )
        slot = period.astype(np.int64) - 1
        values = decode_numbers(
            batch.column(self.value_column), self.value_column, where, self.path
        )
        values = self._values(values, where)
        self._labels(batch, codes, where)
        self.grid.add_readings(codes, days, values)
        present = ~np.isnan(values)

        def describe(row: int) -> str:
            day = (pd.Timestamp(0) + pd.Timedelta(days=int(days[row]))).strftime("%Y-%m-%d")
            return f"{day} interval {int(period[row])} at {where(row)}"

        self.grid.mark_seen(codes, days * self.grid.slots_per_day + slot, describe, self.path)
        np.maximum.at(self.grid.day_last_slot, days - self.grid.day0, np.where(present, slot, 0))

    def _day_codes(self, batch: pa.RecordBatch, where: Callable[[int], str]):
        """Days and interval numbers of DDDHH codes (an empty or non-integral code is an error)."""
        code = decode_numbers(batch.column(self.date_column), self.date_column, where, self.path)
        bad = np.flatnonzero(~np.isfinite(code) | (code < 101) | (code % 1 != 0))
        if len(bad):
            row = int(bad[0])
            raise MeterDataError(
                f"{self.path}: {batch.column(self.date_column)[row].as_py()!r} in "
                f"{self.date_column!r} at {where(row)} is not a DDDHH day code (day number, then "
                "the interval number in two digits, e.g. 19503)"
            )
        whole = code.astype(np.int64)
        return self.origin_day + whole // 100 - 1, (whole % 100).astype(np.float32)

    def day_lengths(self, grid: DayGrid) -> tuple[np.ndarray, int]:
        return period_day_lengths(grid, self.periods, self.timezone)


class WideReader(BatchReader):
    """Rows of one customer-day with a column per interval."""

    capacity_unit = "readings"

    def __init__(
        self,
        path: Path,
        id_name: str,
        date_column: str,
        interval_names: list[str],
        positions: np.ndarray,
    ) -> None:
        super().__init__(path, id_name)
        self.date_column, self.interval_names = date_column, interval_names
        self.positions = positions
        self.periods = nominal_periods(len(interval_names))
        self.interval = DAY_SECONDS // self.periods

    def add(self, batch: pa.RecordBatch, row0: int) -> None:
        if batch.num_rows == 0:
            return
        where = self._where(batch, row0)
        grid = self.grid
        codes = decode_ids(batch.column(self.id_name), grid, self.id_name, where, self.path)
        days = decode_days(batch.column(self.date_column), self.date_column, where, self.path)
        block = np.empty((batch.num_rows, len(self.interval_names)), dtype=np.float32)
        for position, name in zip(self.positions, self.interval_names, strict=True):
            block[:, position] = decode_numbers(batch.column(name), name, where, self.path)
        negative = block < 0
        if negative.any():
            row, position = np.argwhere(negative)[0]
            if self.negative_policy == "error":
                column = self.interval_names[int(np.flatnonzero(self.positions == position)[0])]
                raise MeterDataError(
                    f"{self.path}: negative reading {block[row, position]:g} in column "
                    f"{column!r} at {where(int(row))} (negative_readings='missing' sets them to NaN)"
                )
            self.negatives += int(np.count_nonzero(negative))
            block[negative] = np.nan
        self._labels(batch, codes, where)
        present = ~np.isnan(block)
        counts = np.count_nonzero(present, axis=1)
        grid.add_rows(codes, days, np.nansum(block, axis=1, dtype=np.float64), counts)
        last_slot = np.where(
            counts > 0, block.shape[1] - 1 - np.argmax(present[:, ::-1], axis=1), 0
        )
        np.maximum.at(grid.day_last_slot, days - grid.day0, last_slot)

    def day_lengths(self, grid: DayGrid, timezone: str | None) -> tuple[np.ndarray, int]:
        return period_day_lengths(grid, self.periods, timezone, len(self.interval_names))


def period_day_lengths(
    grid: DayGrid, periods: int, timezone: str | None, columns: int | None = None
) -> tuple[np.ndarray, int]:
    """Intervals per day for numbered intervals: from the zone, else from the numbers used.

    Without a time zone, a day on which some customer has interval 49 or 50 (of 48) is a long
    daylight-saving day of that many intervals. Clock columns (`columns` given) cannot hold the
    extra hour, so their long days are capped at the number of columns.
    """
    used = grid.used_days()
    if timezone:
        expected = zone_day_seconds(grid.day0, grid.n_days, timezone) // (DAY_SECONDS // periods)
    else:
        expected = np.maximum(grid.day_last_slot + 1, periods)
    if columns is not None:
        expected = np.minimum(expected, columns)
    return expected.astype(np.int64), int(np.count_nonzero((expected != periods) & used))


def zone_day_seconds(day0: int, n_days: int, timezone: str) -> np.ndarray:
    """Seconds in each local day of a time zone (82,800 and 90,000 at daylight-saving changes)."""
    starts = pd.date_range(pd.Timestamp(0) + pd.Timedelta(days=day0), periods=n_days + 1, freq="D")
    local = starts.tz_localize(
        timezone, ambiguous=np.ones(len(starts), dtype=bool), nonexistent="shift_forward"
    )
    return np.diff(local.asi8) // 10**9
