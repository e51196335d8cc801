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
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ntl.errors import MeterDataError
from ntl.io import MISSING_STRINGS, csv_delimiter, parse_day_labels
from ntl.io import _first_line as read_first_line

STAMP_CONVENTIONS = ("start", "end")
DAY_SECONDS = 86_400
CSV_BLOCK_BYTES = 16 << 20  # bytes of CSV per record batch (about 400k half-hour rows)
PARQUET_BATCH_ROWS = 1 << 19
_SNIFF_ROWS = 200
_ZONE_SUFFIX = r"(?:Z|[+-]\d{2}:?\d{2})$"
_ISO_STAMP = r"^\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(?:Z|[+-]\d{2}:?\d{2})?$"
_MIDNIGHT_24 = r"([ T])24:00(?::00(?:\.0+)?)?"
_CLOCK_HEADER = re.compile(r"^\s*(\d{1,2}):(\d{2})(?::00)?\s*$")
_NUMBER_HEADER = re.compile(r"^\s*(\d{1,3})\s*$")
_OFFSET_BIAS = 1 << 17  # seconds: shifts UTC offsets (at most +-14 h) to non-negative numbers
_MAX_LISTED = 5


@dataclass
class IntervalOptions:
    """How interval readings become days; validated before anything is read."""

    timezone: str | None = None
    interval_stamps: str = "start"
    max_missing_share: float = 0.1
    period_column: str | None = None

    def __post_init__(self) -> None:
        if self.interval_stamps not in STAMP_CONVENTIONS:
            raise MeterDataError(
                f"interval_stamps must be one of {STAMP_CONVENTIONS}, got {self.interval_stamps!r}"
            )
        share = self.max_missing_share
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share < 1:
            raise MeterDataError(
                f"max_missing_share must be a number in [0, 1), got {self.max_missing_share!r}"
            )
        if self.timezone is not None:
            try:
                pd.Timestamp("2020-01-01").tz_localize(self.timezone)
            except Exception as exc:  # pytz/zoneinfo raise several kinds
                raise MeterDataError(
                    f"timezone {self.timezone!r} is not a time zone name (e.g. 'Europe/London')"
                ) from exc


@dataclass
class IntervalSummary:
    """What the interval reader found and how it turned intervals into days (for the report)."""

    layout: str
    interval_minutes: float
    stamps: str
    timezone: str
    max_missing_share: float
    readings: int = 0
    customer_days: int = 0
    complete_days: int = 0
    scaled_days: int = 0
    incomplete_days_missing: int = 0
    daylight_saving_days: int = 0
    negative_readings_set_missing: int = 0
    ignored_columns: tuple[str, ...] = ()

    def messages(self) -> list[str]:
        """Sentences for the load report: interval, stamps, calendar, completeness."""
        minutes = f"{self.interval_minutes:g}-minute"
        lines = [
            f"Interval data ({self.layout}): {self.readings:,} {minutes} readings "
            f"aggregated to {self.customer_days:,} customer-days; stamps: {self.stamps}; "
            f"calendar: {self.timezone}.",
            f"Completeness: {self.complete_days:,} complete days summed; "
            f"{self.scaled_days:,} days missing at most {self.max_missing_share:.0%} of their "
            f"intervals scaled up to the whole day; {self.incomplete_days_missing:,} days missing "
            "more set to missing.",
        ]
        if self.daylight_saving_days:
            lines.append(
                f"{self.daylight_saving_days:,} daylight-saving day(s) of 23 or 25 hours counted "
                "complete at their own number of intervals."
            )
        if self.negative_readings_set_missing:
            lines.append(
                f"{self.negative_readings_set_missing:,} negative interval readings set to missing."
            )
        if self.ignored_columns:
            lines.append(f"Columns not used: {', '.join(self.ignored_columns)}.")
        return lines


@dataclass
class IntervalResult:
    """Daily readings built from interval data, ready for the canonical frame."""

    ids: np.ndarray
    readings: np.ndarray
    dates: pd.DatetimeIndex
    flag: pd.api.extensions.ExtensionArray
    summary: IntervalSummary


# ---------------------------------------------------------------------------------------------
# Which layout


def wide_interval_columns(
    header: Sequence[str], exclude: Sequence[str | None]
) -> tuple[list[str], np.ndarray, str] | None:
    """The interval columns of a wide-interval header, their positions in the day and stamps.

    Clock headers (``00:30``, ``1:00`` ...) must step regularly through one day: ending at ``24:00``
    (or ``00:00`` as the last column) they are interval-ending, starting at ``00:00``
    interval-starting. Number headers must be ``1 .. K``. None when the header has neither.
    """
    names = [name for name in header if name not in exclude]
    clocks = [(name, _CLOCK_HEADER.match(name)) for name in names]
    clocks = [(name, int(m.group(1)) * 60 + int(m.group(2))) for name, m in clocks if m]
    if len(clocks) >= 4:
        minutes = np.array([m for _, m in clocks])
        ending = minutes[0] != 0 and minutes[-1] in (0, 1440)
        if ending:
            minutes = np.where(minutes == 0, 1440, minutes)
        step = int(np.min(np.diff(np.sort(minutes)))) if len(set(minutes)) == len(minutes) else 0
        if step <= 0 or 1440 % step:
            return None
        positions = minutes // step - (1 if ending else 0)
        if sorted(positions.tolist()) != list(range(1440 // step)):
            return None
        stamps = "interval-ending clock columns" if ending else "interval-starting clock columns"
        return [name for name, _ in clocks], positions.astype(np.int64), stamps
    numbers = [(name, _NUMBER_HEADER.match(name)) for name in names]
    numbers = [(name, int(m.group(1))) for name, m in numbers if m]
    if len(numbers) >= 4 and sorted(n for _, n in numbers) == list(range(1, len(numbers) + 1)):
        positions = np.array([n - 1 for _, n in numbers], dtype=np.int64)
        return [name for name, _ in numbers], positions, "interval numbers"
    return None


def has_time_of_day(path: Path, file_format: str, date_column: str) -> bool:
    """True when the long file's date column carries times other than midnight, or UTC offsets."""
    if file_format == "parquet":
        column = next(pq.ParquetFile(path).iter_batches(_SNIFF_ROWS, columns=[date_column]))
        values = column.column(0)
        if pa.types.is_timestamp(values.type):
            seconds = pc.cast(values, pa.timestamp("s")).cast(pa.int64()).to_numpy(False)
            return bool(values.type.tz) or bool(np.any(np.nan_to_num(seconds) % DAY_SECONDS))
        if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
            return False
        text = values.to_pylist()
    else:
        text = _csv_sample(path, file_format, date_column)
    clock = re.compile(r"[ T](\d{1,2}):(\d{2})")
    for value in text:
        value = (value or "").strip()
        found = clock.search(value)
        if re.search(_ZONE_SUFFIX, value) and found:
            return True
        if found and (found.group(1), found.group(2)) not in (("00", "00"), ("0", "00")):
            return True
    return False


def _csv_sample(path: Path, file_format: str, column: str) -> list[str]:
    convert = pacsv.ConvertOptions(column_types={column: pa.string()}, include_columns=[column])
    reader = _open_csv(path, file_format, convert, block_size=1 << 16)
    try:
        batch = reader.read_next_batch()
    except StopIteration:
        return []
    return batch.column(0).to_pylist()[:_SNIFF_ROWS]


# ---------------------------------------------------------------------------------------------
# Entry points


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
    names = [id_name, date_column] + ([period_column] if period_column else [])
    names += [value_column] + ([label_name] if label_name else [])
    fast_types: dict[str, pa.DataType] = {id_name: pa.dictionary(pa.int32(), pa.string())}
    fast_types[value_column] = pa.float32()
    if label_name:
        fast_types[label_name] = pa.float32()
    zoned = False
    if period_column:
        fast_types[date_column] = pa.string()
        fast_types[period_column] = pa.float32()
    elif file_format != "parquet":
        zoned = any(
            re.search(_ZONE_SUFFIX, (v or "").strip())
            for v in _csv_sample(path, file_format, date_column)
        )
        if zoned and options.timezone is None:
            fast_types[date_column] = pa.string()  # the wall clock of each offset: from the text
        else:
            fast_types[date_column] = pa.timestamp("ns", tz="UTC" if zoned else None)
    if period_column:
        reader = _PeriodReader(path, id_name, date_column, period_column, value_column)
        reader.timezone = options.timezone
    else:
        reader = _StampReader(path, id_name, date_column, value_column, options)
    reader.label_name = label_name
    reader.negative_policy = negative_policy
    for attempt in ("fast", "careful"):
        grid = _DayGrid()
        reader.reset(grid)
        try:
            for batch, row0 in _batches(path, file_format, names, fast_types, attempt):
                reader.add(batch, row0)
            reader.finish_pending()
        except pa.ArrowInvalid:  # typed CSV parse refused a value: re-read as text, name it
            if attempt == "careful":
                raise
            continue
        break
    if grid.n_customers == 0:
        raise MeterDataError(f"{path}: has a header but no rows")
    expected, dst_days = reader.day_lengths(grid)
    layout = "long, day + period" if period_column else "long, timestamps"
    summary = IntervalSummary(
        layout=layout,
        interval_minutes=reader.interval / 60,
        stamps=reader.stamps_description(),
        timezone=_calendar_description(options.timezone, reader.zoned),
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
    reader = _WideReader(path, id_name, date_column, interval_names, positions)
    reader.label_name = label_name
    reader.negative_policy = negative_policy
    for attempt in ("fast", "careful"):
        grid = _DayGrid()
        reader.reset(grid)
        try:
            for batch, row0 in _batches(path, file_format, names, fast_types, attempt):
                reader.add(batch, row0)
        except pa.ArrowInvalid:
            if attempt == "careful":
                raise
            continue
        break
    if grid.n_customers == 0:
        raise MeterDataError(f"{path}: has a header but no customer rows")
    expected, dst_days = reader.day_lengths(grid, options.timezone)
    summary = IntervalSummary(
        layout="wide-interval",
        interval_minutes=reader.interval / 60,
        stamps=stamps,
        timezone=_calendar_description(options.timezone, False),
        max_missing_share=options.max_missing_share,
        daylight_saving_days=dst_days,
        negative_readings_set_missing=reader.negatives,
        ignored_columns=ignored,
    )
    grid.check_one_row_per_day(path)
    return grid.result(path, expected, options.max_missing_share, summary, "readings")


def _calendar_description(timezone: str | None, zoned: bool) -> str:
    if timezone:
        return f"local days of {timezone}"
    if zoned:
        return "local days at each stamp's own UTC offset (timezone not set)"
    return "days of the clock the stamps are written in (timezone not set)"


# ---------------------------------------------------------------------------------------------
# Reading batches


def _open_csv(
    path: Path, file_format: str, convert: pacsv.ConvertOptions, block_size: int
) -> pacsv.CSVStreamingReader:
    delimiter = csv_delimiter(read_first_line(path, file_format))
    return pacsv.open_csv(
        pa.input_stream(path, compression="gzip" if file_format == "csv.gz" else None),
        read_options=pacsv.ReadOptions(use_threads=True, block_size=block_size),
        parse_options=pacsv.ParseOptions(delimiter=delimiter),
        convert_options=convert,
    )


def _batches(
    path: Path,
    file_format: str,
    names: list[str],
    fast_types: dict[str, pa.DataType],
    attempt: str,
) -> Iterator[tuple[pa.RecordBatch, int]]:
    """Record batches of the named columns with the index of their first data row.

    The fast CSV attempt lets pyarrow type every column (a value it cannot parse raises
    ArrowInvalid, and the caller re-reads); the careful attempt reads every column as text so a
    bad value can be named with its row. Parquet batches come as stored.
    """
    row0 = 0
    if file_format == "parquet":
        try:
            source = pq.ParquetFile(path)
            for batch in source.iter_batches(PARQUET_BATCH_ROWS, columns=names):
                yield batch, row0
                row0 += batch.num_rows
        except (OSError, pa.ArrowException) as exc:
            if isinstance(exc, pa.ArrowInvalid) and attempt == "fast" and row0:
                raise
            raise MeterDataError(f"{path}: unreadable or corrupt parquet file ({exc})") from exc
        return
    if attempt == "fast":
        types = fast_types
    else:
        types = {name: pa.string() for name in names}
    convert = pacsv.ConvertOptions(
        column_types=types,
        include_columns=names,
        null_values=list(MISSING_STRINGS),
        strings_can_be_null=True,
    )
    try:
        reader = _open_csv(path, file_format, convert, CSV_BLOCK_BYTES)
        for batch in reader:
            yield batch, row0
            row0 += batch.num_rows
    except pa.ArrowInvalid as exc:
        if attempt == "fast":
            raise
        raise MeterDataError(f"{path}: cannot parse as CSV ({exc})") from exc


# ---------------------------------------------------------------------------------------------
# Decoding one column of a batch


def _text(values: pa.Array) -> pa.Array:
    if pa.types.is_dictionary(values.type):
        values = values.cast(values.type.value_type)
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        values = values.cast(pa.string())
    return pc.utf8_trim_whitespace(values)


def decode_numbers(
    values: pa.Array, column: str, where: Callable[[int], str], path: Path
) -> np.ndarray:
    """A numeric or text column as float32 with NaN for missing; name the first non-number.

    Text in MISSING_STRINGS (``Null``, ``NA``, ``-``, empty ...) is missing; other text that is not
    a number is an error naming the file, the row, the column and the value.
    """
    if pa.types.is_integer(values.type) or pa.types.is_floating(values.type):
        return values.cast(pa.float32()).to_numpy(zero_copy_only=False)
    if pa.types.is_null(values.type):
        return np.full(len(values), np.nan, dtype=np.float32)
    if pa.types.is_boolean(values.type) or pa.types.is_temporal(values.type):
        raise MeterDataError(f"{path}: column {column!r} holds {values.type}, expected numbers")
    text = _text(values)
    text = pc.if_else(pc.is_in(text, pa.array(MISSING_STRINGS)), pa.scalar(None, pa.string()), text)
    try:
        return pc.cast(text, pa.float32()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        as_text = pd.Series(text.to_pylist(), dtype=object)
        bad = np.flatnonzero(pd.to_numeric(as_text, errors="coerce").isna() & as_text.notna())
        row = int(bad[0])
        raise MeterDataError(
            f"{path}: non-numeric reading {as_text.iloc[row]!r} in column {column!r}, "
            f"{where(row)}; {len(bad)} such value(s) in this batch of rows"
        ) from None


def _decode_labels(
    values: pa.Array, column: str, where: Callable[[int], str], path: Path
) -> np.ndarray:
    labels = decode_numbers(values, column, where, path)
    bad = np.flatnonzero(~np.isnan(labels) & (labels != 0) & (labels != 1))
    if len(bad):
        raise MeterDataError(
            f"{path}: labels in {column!r} must be 0, 1 or empty; found {labels[bad[0]]:g}, "
            f"{where(int(bad[0]))}"
        )
    return labels


def _decode_ids(
    values: pa.Array, grid: _DayGrid, column: str, where: Callable[[int], str], path: Path
) -> np.ndarray:
    """Customer codes (order of first appearance in the file) of a batch's ID column."""
    if not pa.types.is_dictionary(values.type):
        values = pc.dictionary_encode(_text(values))
    indices = values.indices.to_numpy(zero_copy_only=False)
    names = [str(v).strip() if v is not None else "" for v in values.dictionary.to_pylist()]
    empty = values.is_null().to_numpy(zero_copy_only=False)
    if len(names):
        blank = np.array([not name for name in names])
        empty = empty | blank[np.where(empty, 0, indices).astype(np.int64)]
    if empty.any():
        raise MeterDataError(f"{path}: empty {column!r} {where(int(np.flatnonzero(empty)[0]))}")
    lookup = np.array([grid.code(name) for name in names], dtype=np.int64)
    return lookup.take(indices)


def _decode_days(
    values: pa.Array, column: str, where: Callable[[int], str], path: Path
) -> np.ndarray:
    """Day numbers (days since 1970-01-01) of a date column, each distinct value parsed once."""
    if pa.types.is_timestamp(values.type) or pa.types.is_date(values.type):
        seconds = pc.cast(pc.cast(values, pa.timestamp("s")), pa.int64()).to_numpy(False)
        if pc.any(pc.is_null(values)).as_py():
            row = int(np.flatnonzero(values.is_null().to_numpy(zero_copy_only=False))[0])
            raise MeterDataError(f"{path}: empty {column!r} {where(row)}")
        return seconds // DAY_SECONDS
    if not pa.types.is_dictionary(values.type):
        values = pc.dictionary_encode(_text(values))
    if values.null_count:
        row = int(np.flatnonzero(values.is_null().to_numpy(zero_copy_only=False))[0])
        raise MeterDataError(f"{path}: empty {column!r} {where(row)}")
    labels = [str(v).strip() for v in values.dictionary.to_pylist()]
    dates, _ = parse_day_labels(labels)
    bad = np.flatnonzero(dates.isna())
    if len(bad):
        row = int(np.flatnonzero(values.indices.to_numpy(zero_copy_only=False) == bad[0])[0])
        raise MeterDataError(
            f"{path}: {labels[bad[0]]!r} in {column!r} is not a date, {where(row)}"
        )
    day_numbers = (dates.asi8 // (DAY_SECONDS * 10**9)).astype(np.int64)
    return day_numbers[values.indices.to_numpy(zero_copy_only=False).astype(np.int64)]


def decode_stamps(
    values: pa.Array,
    timezone: str | None,
    stamps: str,
    column: str,
    where: Callable[[int], str],
    path: Path,
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Wall-clock and absolute seconds of a timestamp column, and whether stamps carry offsets.

    Wall clock: the local time the day is taken from (in `timezone` when given, else the clock the
    stamps are written in). Absolute: the instant, used to tell two readings apart; for stamps
    without an offset it is the wall clock itself. ``24:00`` is midnight at the end of the day.
    """
    if pa.types.is_timestamp(values.type):
        if values.null_count:
            row = int(np.flatnonzero(values.is_null().to_numpy(zero_copy_only=False))[0])
            raise MeterDataError(f"{path}: empty {column!r} {where(row)}")
        if values.type.tz is None:
            wall = _seconds(values)
            return wall, wall, False
        absolute = _seconds(values)
        local = values if timezone is None else pc.cast(values, _zoned(timezone))
        return _seconds(pc.local_timestamp(local)), absolute, True
    text = _text(values)
    if text.null_count:
        row = int(np.flatnonzero(text.is_null().to_numpy(zero_copy_only=False))[0])
        raise MeterDataError(f"{path}: empty timestamp in {column!r} {where(row)}")
    malformed = pc.invert(pc.match_substring_regex(text, _ISO_STAMP))
    if pc.any(malformed).as_py():
        row = int(np.flatnonzero(malformed.to_numpy(zero_copy_only=False))[0])
        raise MeterDataError(
            f"{path}: timestamp {text[row].as_py()!r} in {column!r} does not parse, {where(row)}; "
            "expected ISO 8601 like 2014-01-01 00:30:00 (optionally with a UTC offset)"
        )
    end_of_day = pc.match_substring_regex(text, _MIDNIGHT_24).to_numpy(zero_copy_only=False)
    if end_of_day.any():
        if stamps != "end":
            row = int(np.flatnonzero(end_of_day)[0])
            raise MeterDataError(
                f"{path}: timestamp {text[row].as_py()!r} {where(row)} marks the end of a day: "
                "24:00 only occurs in interval-ending stamps (set interval_stamps='end')"
            )
        text = pc.replace_substring_regex(text, _MIDNIGHT_24, r"\100:00")
    zoned_rows = pc.match_substring_regex(text, _ZONE_SUFFIX).to_numpy(zero_copy_only=False)
    zoned = bool(zoned_rows.any())
    if zoned and not zoned_rows.all():
        row = int(np.flatnonzero(~zoned_rows if zoned_rows[0] else zoned_rows)[0])
        raise MeterDataError(
            f"{path}: timestamp {text[row].as_py()!r} {where(row)}: stamps with and without a "
            "UTC offset are mixed in one file"
        )
    try:
        if zoned:
            absolute = _seconds(pc.cast(text, pa.timestamp("ns", tz="UTC")))
            if timezone is None:
                wall_text = pc.replace_substring_regex(text, _ZONE_SUFFIX, "")
                wall = _seconds(pc.cast(wall_text, pa.timestamp("ns")))
            else:
                local = pc.cast(pc.cast(text, pa.timestamp("ns", tz="UTC")), _zoned(timezone))
                wall = _seconds(pc.local_timestamp(local))
        else:
            wall = _seconds(pc.cast(text, pa.timestamp("ns")))
            absolute = wall
    except pa.ArrowInvalid:
        parsed = pd.to_datetime(pd.Series(text.to_pylist()), errors="coerce", utc=zoned)
        row = int(np.flatnonzero(parsed.isna().to_numpy())[0])
        raise MeterDataError(
            f"{path}: timestamp {text[row].as_py()!r} in {column!r} does not parse, {where(row)}"
        ) from None
    if end_of_day.any():
        wall = wall + end_of_day * DAY_SECONDS
        absolute = absolute + end_of_day * DAY_SECONDS
    return wall, absolute, zoned


def _zoned(timezone: str) -> pa.DataType:
    return pa.timestamp("ns", tz=timezone)


def _seconds(values: pa.Array) -> np.ndarray:
    nanoseconds = pc.cast(values.cast(pa.timestamp("ns", tz=values.type.tz)), pa.int64())
    return np.floor_divide(nanoseconds.to_numpy(zero_copy_only=False), 10**9)


# ---------------------------------------------------------------------------------------------
# The accumulators


class _DayGrid:
    """Customers x days accumulators that grow as the stream shows new customers and days.

    ``sums`` (kWh of the readings present), ``present`` (readings present), ``rows`` (rows seen,
    missing readings included); per customer the lowest and highest label; one bit per customer
    and interval slot (``seen``) to catch a second reading of the same interval.
    """

    def __init__(self) -> None:
        self.ids: list[str] = []
        self._codes: dict[str, int] = {}
        self.day0 = 0
        self.n_days = 0
        self.slots_per_day = 0
        self.sums = np.zeros((0, 0))
        self.present = np.zeros((0, 0), dtype=np.int32)
        self.rows = np.zeros((0, 0), dtype=np.int32)
        self.seen = np.zeros((0, 0), dtype=np.uint8)
        self.label_low = np.zeros(0, dtype=np.float32)
        self.label_high = np.zeros(0, dtype=np.float32)
        self.day_first_key = np.zeros(0, dtype=np.int64)
        self.day_last_key = np.zeros(0, dtype=np.int64)
        self.day_last_slot = np.zeros(0, dtype=np.int64)
        self.readings = 0

    @property
    def n_customers(self) -> int:
        return len(self.ids)

    def code(self, name: str) -> int:
        """The customer's row, a new one on first sight."""
        found = self._codes.get(name)
        if found is None:
            found = self._codes[name] = len(self.ids)
            self.ids.append(name)
        return found

    def fit(self, days: np.ndarray) -> None:
        """Grow the arrays to hold every customer seen so far and the batch's days."""
        low, high = int(days.min()), int(days.max())
        if self.n_days == 0:
            new_day0, new_n_days = low, high - low + 1
        else:
            new_day0 = min(self.day0, low)
            new_n_days = max(self.day0 + self.n_days, high + 1) - new_day0
        customers_ok = self.n_customers <= len(self.sums)
        if customers_ok and new_day0 == self.day0 and new_n_days == self.n_days:
            return
        capacity = max(len(self.sums), 1)
        while capacity < self.n_customers:
            capacity *= 2
        if new_n_days != self.n_days and self.n_days:  # headroom: time-sorted files grow daily
            spare = max(new_n_days - self.n_days, self.n_days // 2)
            if low < self.day0:
                new_day0 = min(new_day0, self.day0 - spare)
                new_n_days = self.day0 + self.n_days - new_day0
                new_n_days = max(new_n_days, high + 1 - new_day0)
            else:
                new_n_days = max(new_n_days, self.n_days + spare)
        self._regrid(capacity, new_day0, new_n_days)

    def _regrid(self, capacity: int, day0: int, n_days: int) -> None:
        shift = self.day0 - day0 if self.n_days else 0
        old_customers, old_days = self.sums.shape

        def moved(old: np.ndarray, fill: float | int, dtype: type) -> np.ndarray:
            new = np.full((capacity, n_days), fill, dtype=dtype)
            new[:old_customers, shift : shift + old_days] = old
            return new

        self.sums = moved(self.sums, 0.0, np.float64)
        self.present = moved(self.present, 0, np.int32)
        self.rows = moved(self.rows, 0, np.int32)
        spd = self.slots_per_day
        bits = np.zeros((capacity, (n_days + 2) * spd), dtype=bool)
        if self.seen.size:
            old_bits = np.unpackbits(self.seen, axis=1, count=(old_days + 2) * spd).astype(bool)
            bits[:old_customers, shift * spd : (shift + old_days + 2) * spd] = old_bits
        self.seen = np.packbits(bits, axis=1)
        for name, fill in (
            ("day_first_key", np.iinfo(np.int64).max),
            ("day_last_key", -1),
            ("day_last_slot", -1),
        ):
            old = getattr(self, name)
            new = np.full(n_days, fill, dtype=np.int64)
            new[shift : shift + len(old)] = old
            setattr(self, name, new)
        self.day0, self.n_days = day0, n_days

    def _cells(self, codes: np.ndarray, days: np.ndarray) -> tuple[np.ndarray, int, int]:
        """Each row's customer-day, relative to the lowest one of the batch, and the span."""
        self.fit(days)
        cells = codes * self.n_days + (days - self.day0)
        low = int(cells.min())
        span = int(cells.max()) - low + 1
        return cells - low, low, span

    def add_readings(self, codes: np.ndarray, days: np.ndarray, values: np.ndarray) -> None:
        """Fold one reading per row (NaN: a missing reading) into its customer-day."""
        local, low, span = self._cells(codes, days)
        rows = np.bincount(local, minlength=span)
        missing = np.isnan(values)
        n_missing = int(np.count_nonzero(missing))
        if n_missing:
            present = rows - np.bincount(local[missing], minlength=span)
            values = np.where(missing, np.float32(0), values)
        else:
            present = rows
        self.rows.reshape(-1)[low : low + span] += rows.astype(np.int32)
        self.present.reshape(-1)[low : low + span] += present.astype(np.int32)
        self.sums.reshape(-1)[low : low + span] += np.bincount(local, values, minlength=span)
        self.readings += len(values) - n_missing

    def add_rows(
        self, codes: np.ndarray, days: np.ndarray, sums: np.ndarray, counts: np.ndarray
    ) -> None:
        """Fold rows that each carry a day's kWh and its number of readings (wide-interval)."""
        local, low, span = self._cells(codes, days)
        self.rows.reshape(-1)[low : low + span] += np.bincount(local, minlength=span).astype(
            np.int32
        )
        present = np.bincount(local, counts, minlength=span)
        self.present.reshape(-1)[low : low + span] += present.astype(np.int32)
        self.sums.reshape(-1)[low : low + span] += np.bincount(local, sums, minlength=span)
        self.readings += int(counts.sum())

    def used_days(self) -> np.ndarray:
        """True for each day of the grid on which some customer has a row."""
        return self.rows[: self.n_customers].any(axis=0)

    def mark_seen(
        self, codes: np.ndarray, slots: np.ndarray, describe: Callable[[int], str], path: Path
    ) -> None:
        """Set the bit of each (customer, slot); a bit already set is a duplicate reading."""
        columns = slots - (self.day0 - 1) * self.slots_per_day
        width = self.seen.shape[1] * 8
        keys = codes * width + columns
        if len(keys) > 1 and not np.all(keys[1:] > keys[:-1]):
            order = np.argsort(keys, kind="stable")
            keys = keys[order]
            twice = np.flatnonzero(keys[1:] == keys[:-1])
            if len(twice):
                first, second = order[twice[0]], order[twice[0] + 1]
                raise MeterDataError(
                    f"{path}: two readings at the same timestamp: {describe(int(second))}, "
                    f"repeats {describe(int(first))}"
                )
        else:
            order = None
        byte = keys >> 3
        masks = np.left_shift(1, keys & 7).astype(np.uint8)
        starts = np.flatnonzero(np.r_[True, byte[1:] != byte[:-1]])
        combined = np.bitwise_or.reduceat(masks, starts)
        flat = self.seen.reshape(-1)
        clash = flat[byte[starts]] & combined
        if clash.any():
            group = int(np.flatnonzero(clash)[0])
            members = np.arange(
                starts[group], starts[group + 1] if group + 1 < len(starts) else len(keys)
            )
            hit = members[(masks[members] & clash[group]) != 0][0]
            row = int(order[hit]) if order is not None else int(hit)
            raise MeterDataError(
                f"{path}: two readings at the same timestamp: {describe(row)} repeats a reading "
                "earlier in the file"
            )
        flat[byte[starts]] |= combined

    def add_labels(self, codes: np.ndarray, labels: np.ndarray) -> None:
        """Keep each customer's lowest and highest label (they must agree)."""
        if len(self.label_low) < self.n_customers:
            grown = max(2 * len(self.label_low), self.n_customers)
            for name in ("label_low", "label_high"):
                old = getattr(self, name)
                new = np.full(grown, np.nan, dtype=np.float32)
                new[: len(old)] = old
                setattr(self, name, new)
        np.fmin.at(self.label_low, codes, labels)
        np.fmax.at(self.label_high, codes, labels)

    def check_one_row_per_day(self, path: Path) -> None:
        """A wide-interval file has at most one row per customer and day."""
        used = self.rows[: self.n_customers]
        twice = np.argwhere(used > 1)
        if len(twice):
            examples = [f"{self.ids[c]!r} on {self._day_text(d)}" for c, d in twice[:_MAX_LISTED]]
            raise MeterDataError(
                f"{path}: several rows for the same customer and day, e.g. {', '.join(examples)}"
            )

    def _day_text(self, day: int) -> str:
        return (pd.Timestamp(0) + pd.Timedelta(days=int(self.day0 + day))).strftime("%Y-%m-%d")

    def result(
        self,
        path: Path,
        expected: np.ndarray,
        max_missing_share: float,
        summary: IntervalSummary,
        counted: str,
    ) -> IntervalResult:
        """Apply the completeness rule and return the daily readings (report filled in)."""
        n = self.n_customers
        used = np.flatnonzero(self.used_days())
        first, last = int(used[0]), int(used[-1]) + 1
        sums = self.sums[:n, first:last]
        present = self.present[:n, first:last]
        holds = expected[first:last][None, :]
        claimed = (self.rows if counted == "rows" else self.present)[:n, first:last]
        over = np.argwhere(claimed > holds)
        if len(over):
            customer, day = over[0]
            raise MeterDataError(
                f"{path}: customer {self.ids[customer]!r} has {claimed[customer, day]} "
                f"readings on {self._day_text(first + day)}, more intervals than the day holds "
                f"({holds[0, day]} of {summary.interval_minutes:g} minutes)"
            )
        missing_share = 1 - present / holds
        complete = present == holds
        scaled = ~complete & (present > 0) & (missing_share <= max_missing_share + 1e-9)
        with np.errstate(divide="ignore", invalid="ignore"):
            daily = np.where(complete, sums, np.where(scaled, sums * holds / present, np.nan))
        summary.readings = self.readings
        summary.customer_days = int(np.count_nonzero(present))
        summary.complete_days = int(np.count_nonzero(complete))
        summary.scaled_days = int(np.count_nonzero(scaled))
        summary.incomplete_days_missing = summary.customer_days - (
            summary.complete_days + summary.scaled_days
        )
        self.add_labels(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))
        low, high = self.label_low[:n], self.label_high[:n]
        conflicting = np.flatnonzero(low != high)  # NaN != NaN is True: keep known pairs only
        conflicting = conflicting[~np.isnan(low[conflicting])]
        if len(conflicting):
            names = [self.ids[i] for i in conflicting[:_MAX_LISTED]]
            raise MeterDataError(f"{path}: customers with both labels 0 and 1: {names}")
        flag = pd.array(np.where(np.isnan(high), np.nan, high), dtype="Float32").astype("Int8")
        start = pd.Timestamp(0) + pd.Timedelta(days=self.day0 + first)
        dates = pd.date_range(start, periods=last - first, freq="D")
        readings = np.ascontiguousarray(daily, dtype=np.float32)
        return IntervalResult(np.array(self.ids, dtype=object), readings, dates, flag, summary)


class _BatchReader:
    """Shared state of the batch readers: the grid, labels, negatives and error locations."""

    label_name: str | None = None
    timezone: str | None = None
    negative_policy = "missing"
    zoned = False
    capacity_unit = "rows"

    def __init__(self, path: Path, id_name: str) -> None:
        self.path, self.id_name = path, id_name
        self.negatives = 0

    def reset(self, grid: _DayGrid) -> None:
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
            labels = _decode_labels(
                batch.column(self.label_name), self.label_name, where, self.path
            )
            self.grid.add_labels(codes, labels)


class _StampReader(_BatchReader):
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

    def reset(self, grid: _DayGrid) -> None:
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
        codes = _decode_ids(batch.column(self.id_name), self.grid, self.id_name, where, self.path)
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

    def day_lengths(self, grid: _DayGrid) -> tuple[np.ndarray, int]:
        """Intervals each day holds: from the time zone, else from the stamps' own offsets."""
        nominal = DAY_SECONDS // self.interval
        if self.options.timezone:
            seconds = _zone_day_seconds(grid.day0, grid.n_days, self.options.timezone)
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


class _PeriodReader(_BatchReader):
    """Long rows of day + period number (1..48, 49-50 on a long daylight-saving day)."""

    def __init__(
        self, path: Path, id_name: str, date_column: str, period_column: str, value_column: str
    ) -> None:
        super().__init__(path, id_name)
        self.date_column, self.period_column = date_column, period_column
        self.value_column = value_column

    def reset(self, grid: _DayGrid) -> None:
        super().reset(grid)
        self.interval = 0
        self.periods = 0

    def stamps_description(self) -> str:
        return f"interval numbers 1..{self.periods} in {self.period_column!r}"

    def finish_pending(self) -> None:
        return

    def add(self, batch: pa.RecordBatch, row0: int) -> None:
        if batch.num_rows == 0:
            return
        where = self._where(batch, row0)
        codes = _decode_ids(batch.column(self.id_name), self.grid, self.id_name, where, self.path)
        days = _decode_days(batch.column(self.date_column), self.date_column, where, self.path)
        period = decode_numbers(
            batch.column(self.period_column), self.period_column, where, self.path
        )
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
            raise MeterDataError(
                f"{self.path}: interval number {batch.column(self.period_column)[row].as_py()!r} in "
                f"{self.period_column!r} at {where(row)} is not one of 1..{self.grid.slots_per_day} "
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
        date_text = batch.column(self.date_column)

        def describe(row: int) -> str:
            return f"{date_text[row].as_py()!s} interval {int(period[row])} at {where(row)}"

        self.grid.mark_seen(codes, days * self.grid.slots_per_day + slot, describe, self.path)
        np.maximum.at(self.grid.day_last_slot, days - self.grid.day0, np.where(present, slot, 0))

    def day_lengths(self, grid: _DayGrid) -> tuple[np.ndarray, int]:
        return _period_day_lengths(grid, self.periods, self.timezone)


class _WideReader(_BatchReader):
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
        codes = _decode_ids(batch.column(self.id_name), grid, self.id_name, where, self.path)
        days = _decode_days(batch.column(self.date_column), self.date_column, where, self.path)
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

    def day_lengths(self, grid: _DayGrid, timezone: str | None) -> tuple[np.ndarray, int]:
        return _period_day_lengths(grid, self.periods, timezone, len(self.interval_names))


def nominal_periods(largest: int) -> int:
    """Intervals in an ordinary day given the largest interval number seen (50 -> 48, 25 -> 24)."""
    for periods in (1, 2, 3, 4, 6, 8, 12, 24, 48, 96, 144, 288, 1440):
        if largest <= periods + periods // 24:
            return periods
    return largest


def _period_day_lengths(
    grid: _DayGrid, periods: int, timezone: str | None, columns: int | None = None
) -> tuple[np.ndarray, int]:
    """Intervals per day for numbered intervals: from the zone, else from the numbers used.

    Without a time zone, a day on which some customer has interval 49 or 50 (of 48) is a long
    daylight-saving day of that many intervals. Clock columns (`columns` given) cannot hold the
    extra hour, so their long days are capped at the number of columns.
    """
    used = grid.used_days()
    if timezone:
        expected = _zone_day_seconds(grid.day0, grid.n_days, timezone) // (DAY_SECONDS // periods)
    else:
        expected = np.maximum(grid.day_last_slot + 1, periods)
    if columns is not None:
        expected = np.minimum(expected, columns)
    return expected.astype(np.int64), int(np.count_nonzero((expected != periods) & used))


def _zone_day_seconds(day0: int, n_days: int, timezone: str) -> np.ndarray:
    """Seconds in each local day of a time zone (82,800 and 90,000 at daylight-saving changes)."""
    starts = pd.date_range(pd.Timestamp(0) + pd.Timedelta(days=day0), periods=n_days + 1, freq="D")
    local = starts.tz_localize(
        timezone, ambiguous=np.ones(len(starts), dtype=bool), nonexistent="shift_forward"
    )
    return np.diff(local.asi8) // 10**9
