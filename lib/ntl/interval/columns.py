"""Interval columns recognised in a header, and one column of a record batch decoded to numpy.

Decoders accept typed columns (the fast CSV read, parquet) and text (the careful CSV re-read,
text parquet); text that is not a number, a date or a timestamp is an error naming its row.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ntl.errors import MeterDataError
from ntl.interval.options import DAY_SECONDS
from ntl.interval.stream import SNIFF_ROWS, csv_sample
from ntl.io import MISSING_STRINGS, parse_day_labels

if TYPE_CHECKING:
    from ntl.interval.grid import DayGrid

ZONE_SUFFIX = r"(?:Z|[+-]\d{2}:?\d{2})$"
_ISO_STAMP = r"^\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(?:Z|[+-]\d{2}:?\d{2})?$"
_MIDNIGHT_24 = r"([ T])24:00(?::00(?:\.0+)?)?"
_CLOCK_HEADER = re.compile(r"^\s*(\d{1,2}):(\d{2})(?::00)?\s*$")
_NUMBER_HEADER = re.compile(r"^\s*(\d{1,3})\s*$")


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
        try:
            batches = pq.ParquetFile(path).iter_batches(SNIFF_ROWS, columns=[date_column])
            values = next(batches).column(0)
        except StopIteration:
            return False
        except (OSError, pa.ArrowException) as exc:
            raise MeterDataError(f"{path}: unreadable or corrupt parquet file ({exc})") from exc
        if pa.types.is_timestamp(values.type):
            if values.type.tz:
                return True
            seconds = pc.cast(values, pa.timestamp("s"), safe=False).cast(pa.int64())
            return bool(np.any(np.nan_to_num(seconds.to_numpy(False)) % DAY_SECONDS))
        if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
            return False
    else:
        values = csv_sample(path, file_format, date_column)
    return stamps_have_time(values)


def stamps_have_time(values: pa.Array) -> bool:
    """True when some text stamp has a time of day other than midnight, or a UTC offset.

    The head of the file is looked at, not its first lines: a file sorted by time starts with
    every customer's midnight reading.
    """
    text = _text(values)
    clock = pc.match_substring_regex(text, r"[ T]\d{1,2}:\d{2}")
    midnight = pc.match_substring_regex(text, r"[ T]0?0:00(?::00(?:\.0+)?)?$")
    zoned = pc.match_substring_regex(text, ZONE_SUFFIX)
    return bool(pc.any(pc.and_(clock, pc.or_(pc.invert(midnight), zoned))).as_py())


def has_zone_offsets(values: pa.Array) -> bool:
    """True when some text stamp carries a UTC offset (``+01:00``, ``Z``)."""
    return bool(pc.any(pc.match_substring_regex(_text(values), ZONE_SUFFIX)).as_py())


def nominal_periods(largest: int) -> int:
    """Intervals in an ordinary day given the largest interval number seen (50 -> 48, 25 -> 24)."""
    for periods in (1, 2, 3, 4, 6, 8, 12, 24, 48, 96, 144, 288, 1440):
        if largest <= periods + periods // 24:
            return periods
    return largest


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


def decode_labels(
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


def decode_ids(
    values: pa.Array, grid: DayGrid, column: str, where: Callable[[int], str], path: Path
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


def decode_days(
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
    zoned_rows = pc.match_substring_regex(text, ZONE_SUFFIX).to_numpy(zero_copy_only=False)
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
                wall_text = pc.replace_substring_regex(text, ZONE_SUFFIX, "")
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
