"""Interval meter data (readings every 15, 30, 60 ... minutes) aggregated to daily kWh as it streams.

Layouts (``ntl.io.read_meter_data`` chooses, this module reads):

* **long, timestamps**: one row per reading, ``customer, timestamp, kWh[, label]`` (the London
  smart-meter trial's ``LCLid, tstp, energy(kWh/hh)``). The interval is detected per file.
* **long, day + period**: ``customer, date, period, kWh`` with ``period`` the interval number in
  the day (1..48 for half hours; 49 and 50 on a daylight-saving day), as in the Irish trial.
* **wide-interval**: one row per customer and day, one column per interval: ``00:30 ... 24:00``
  (interval-ending), ``00:00 ... 23:30`` (interval-starting) or ``1 ... 48``.

The file is read in record batches (pyarrow's streaming CSV reader, or parquet's
``iter_batches``) and every batch is folded into customers x days accumulators (sum of the
readings, readings present, rows seen) with vectorised numpy: the rows of the file are never held
in memory at once. Duplicate stamps are caught with one bit per customer and interval.

Completeness rule, per customer and day, with E the intervals the day holds (48 for half hours;
46 or 50 on daylight-saving days) and P the readings present: P = E is summed; 0 < P < E with at
most ``max_missing_share`` of E missing is the sum scaled by E / P (the missing intervals counted at
the day's mean); more missing than that, or P = 0, is a missing day (NaN).

Rooms: ``options`` (what the readers are told and report), ``stream`` (record batches of a file),
``columns`` (header recognition and column decoders), ``grid`` (the accumulators), ``readers``
(one per layout); this module holds the two entry points.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa

from ntl.errors import MeterDataError
from ntl.interval.columns import (
    has_time_of_day,
    has_zone_offsets,
    nominal_periods,
    wide_interval_columns,
)
from ntl.interval.grid import DayGrid
from ntl.interval.options import (
    DAY_SECONDS,
    STAMP_CONVENTIONS,
    IntervalOptions,
    IntervalResult,
    IntervalSummary,
)
from ntl.interval.readers import PeriodReader, StampReader, WideReader
from ntl.interval.stream import csv_sample, record_batches

__all__ = [
    "DAY_SECONDS",
    "STAMP_CONVENTIONS",
    "IntervalOptions",
    "IntervalResult",
    "IntervalSummary",
    "has_time_of_day",
    "nominal_periods",
    "read_long_interval",
    "read_wide_interval",
    "wide_interval_columns",
]


def read_long_interval(
    path: Path,
    file_format: str,
    id_name: str,
    label_name: str | None,
    date_column: str,
    value_column: str,
    options: IntervalOptions,
    negative_policy: str,
) -> IntervalResult:
    """Stream a long interval file (timestamps, or day + period) into daily readings."""
    period_column = options.period_column
    day_codes = options.day_code_origin is not None
    names = [id_name, date_column] + ([period_column] if period_column else [])
    names += [value_column] + ([label_name] if label_name else [])
    fast_types: dict[str, pa.DataType] = {id_name: pa.dictionary(pa.int32(), pa.string())}
    fast_types[value_column] = pa.float32()
    if label_name:
        fast_types[label_name] = pa.float32()
    zoned = False
    if day_codes:
        fast_types[date_column] = pa.float32()  # DDDHH: exact in float32 (below 2**24)
    elif period_column:
        fast_types[date_column] = pa.string()
        fast_types[period_column] = pa.float32()
    elif file_format != "parquet":
        zoned = has_zone_offsets(csv_sample(path, file_format, date_column))
        if zoned and options.timezone is None:
            fast_types[date_column] = pa.string()  # the wall clock of each offset: from the text
        else:
            fast_types[date_column] = pa.timestamp("ns", tz="UTC" if zoned else None)
    if period_column or day_codes:
        reader = PeriodReader(path, id_name, date_column, period_column, value_column)
        reader.origin_day = options.origin_day
        reader.timezone = options.timezone
    else:
        reader = StampReader(path, id_name, date_column, value_column, options)
    reader.label_name = label_name
    reader.negative_policy = negative_policy
    for attempt in ("fast", "careful"):
        grid = DayGrid()
        reader.reset(grid)
        try:
            for batch, row0 in record_batches(path, file_format, names, fast_types, attempt):
                reader.add(batch, row0)
            reader.finish_pending()
        except pa.ArrowInvalid as exc:  # typed CSV parse refused a value: re-read as text
            if attempt == "careful":
                raise MeterDataError(f"{path}: cannot read ({exc})") from exc
            continue
        break
    if grid.n_customers == 0:
        raise MeterDataError(f"{path}: has a header but no rows")
    expected, dst_days = reader.day_lengths(grid)
    if day_codes:
        layout = f"long, DDDHH day codes from {options.day_code_origin}"
    else:
        layout = "long, day + period" if period_column else "long, timestamps"
    summary = IntervalSummary(
        layout=layout,
        interval_minutes=reader.interval / 60,
        stamps=reader.stamps_description(),
        timezone=calendar_description(options.timezone, reader.zoned),
        max_missing_share=options.max_missing_share,
        daylight_saving_days=dst_days,
        negative_readings_set_missing=reader.negatives,
    )
    return grid.result(path, expected, options.max_missing_share, summary, reader.capacity_unit)


def read_wide_interval(
    path: Path,
    file_format: str,
    header: Sequence[str],
    id_name: str,
    label_name: str | None,
    date_column: str,
    options: IntervalOptions,
    negative_policy: str,
) -> IntervalResult:
    """Stream a wide-interval file (a row per customer and day) into daily readings."""
    found = wide_interval_columns(header, [id_name, label_name, date_column])
    if found is None:
        raise MeterDataError(
            f"{path}: no interval columns: expected one column per interval named like 00:30, "
            "01:00 ... 24:00, 00:00 ... 23:30, or 1 ... 48"
        )
    interval_names, positions, stamps = found
    used = {id_name, label_name, date_column, *interval_names}
    ignored = tuple(name for name in header if name not in used)
    names = [id_name, date_column, *interval_names] + ([label_name] if label_name else [])
    fast_types: dict[str, pa.DataType] = dict.fromkeys(interval_names, pa.float32())
    fast_types[id_name] = pa.dictionary(pa.int32(), pa.string())
    fast_types[date_column] = pa.dictionary(pa.int32(), pa.string())
    if label_name:
        fast_types[label_name] = pa.float32()
    reader = WideReader(path, id_name, date_column, interval_names, positions)
    reader.label_name = label_name
    reader.negative_policy = negative_policy
    for attempt in ("fast", "careful"):
        grid = DayGrid()
        reader.reset(grid)
        try:
            for batch, row0 in record_batches(path, file_format, names, fast_types, attempt):
                reader.add(batch, row0)
        except pa.ArrowInvalid as exc:
            if attempt == "careful":
                raise MeterDataError(f"{path}: cannot read ({exc})") from exc
            continue
        break
    if grid.n_customers == 0:
        raise MeterDataError(f"{path}: has a header but no customer rows")
    expected, dst_days = reader.day_lengths(grid, options.timezone)
    summary = IntervalSummary(
        layout="wide-interval",
        interval_minutes=reader.interval / 60,
        stamps=stamps,
        timezone=calendar_description(options.timezone, False),
        max_missing_share=options.max_missing_share,
        daylight_saving_days=dst_days,
        negative_readings_set_missing=reader.negatives,
        ignored_columns=ignored,
    )
    grid.check_one_row_per_day(path)
    return grid.result(path, expected, options.max_missing_share, summary, "readings")


def calendar_description(timezone: str | None, zoned: bool) -> str:
    if timezone:
        return f"local days of {timezone}"
    if zoned:
        return "local days at each stamp's own UTC offset (timezone not set)"
    return "days of the clock the stamps are written in (timezone not set)"
