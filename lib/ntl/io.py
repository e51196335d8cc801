"""Read utilities' meter exports into the canonical consumption frame, or say clearly why not.

Two layouts are accepted:

* **wide** (SGCC): one row per customer, an ID column, an optional label column and one column per
  day. ID and label may sit anywhere; date headers may be ``2014/1/1``, ``2014-01-01``,
  ``1/26/2014`` (month/day/year), ``01/02/2014`` or ``20140102``, mixed and in any order.
* **long**: one row per customer and day (``customer_id, date, kwh[, label]``), pivoted.
* **interval data** (15-, 30-, 60-minute readings): long rows with timestamps or day + period, or
  ``wide-interval`` rows (a customer-day with a column per interval), read by ``ntl.interval``
  in batches and aggregated to daily kWh.

Files may be CSV, gzip'd CSV or parquet. Whatever comes in, the result is the canonical frame of
``ntl.frame`` (index ``CONS_NO`` as str, nullable Int8 ``FLAG``, float32 ``YYYY-MM-DD`` columns with
no calendar gaps) plus a :class:`LoadReport` saying what the loader changed on the way.

Speed matters (the scoring CLI reads 42k x 1,035 CSVs in about two seconds): pyarrow parses the
CSV on every core with each day column typed float32 up front, the readings become one
C-contiguous customers x days float32 block (so ``ntl.frame.consumption_matrix`` of the result is
free) and every check is a bulk array operation, never a loop over columns or customers.
"""

from __future__ import annotations

import csv
import gzip
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ntl.errors import MeterDataError
from ntl.frame import DAY_FORMAT, ID_COLUMN, LABEL_COLUMN, build_frame

if TYPE_CHECKING:
    from ntl.interval import IntervalResult, IntervalSummary

LAYOUTS = ("auto", "wide", "long", "wide-interval")
# Cell text that means "no reading" in every layout; any other text that is not a number is an error.
MISSING_STRINGS = ("", "Null", "null", "NULL", "NA", "N/A", "n/a", "NaN", "nan", "-")
NEGATIVE_POLICIES = ("missing", "error")
# The plausible ceiling of one meter's daily consumption: 100,000 kWh a day is a 4 MW load around
# the clock, far above any household or business on a distribution meter. Readings above it are
# unit errors or misreads (1e12 kWh loaded as "HIGH quality" and wrecked the ranking); the loader
# sets them missing and says so. A utility with larger customers raises `max_daily_kwh`.
MAX_DAILY_KWH = 100_000.0
# Used when the configured name is the default and the file does not have it.
ID_FALLBACKS = {ID_COLUMN: ("customer_id",)}
LABEL_FALLBACKS = {LABEL_COLUMN: ("label",)}
_PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")
_GZIP_MAGIC = b"\x1f\x8b"
_PARQUET_MAGIC = b"PAR1"
_TIME_SUFFIX = r"(?:[ T]00:00(?::00(?:\.0+)?)?)?"
_DATE_PATTERNS = {
    # name shown in the report -> (regex, order of the captured groups)
    "year-month-day": (rf"^\s*(\d{{4}})[-/.](\d{{1,2}})[-/.](\d{{1,2}}){_TIME_SUFFIX}\s*$", "ymd"),
    "month/day/year": (rf"^\s*(\d{{1,2}})[-/.](\d{{1,2}})[-/.](\d{{4}}){_TIME_SUFFIX}\s*$", "mdy"),
    "yyyymmdd": (r"^\s*(\d{4})(\d{2})(\d{2})\s*$", "ymd"),
}
_MAX_LISTED = 5


@dataclass
class LoadReport:
    """What the loader found and changed, for the notebook and the CLI to print."""

    source: str
    layout: str
    file_format: str
    n_customers: int = 0
    n_days: int = 0
    days_in_file: int = 0
    first_day: str = ""
    last_day: str = ""
    n_theft: int = 0
    n_normal: int = 0
    n_unlabeled: int = 0
    missing_fraction: float = 0.0
    negative_readings_set_missing: int = 0
    implausible_readings_set_missing: int = 0
    implausible_customers: int = 0
    implausible_example: str = ""
    implausible_by_customer: dict[str, int] = field(default_factory=dict)  # CONS_NO -> readings
    max_daily_kwh: float = MAX_DAILY_KWH
    all_missing_customers_dropped: int = 0
    dropped_ids: list[str] = field(default_factory=list)  # the customers with no reading at all
    calendar_days_inserted: int = 0
    day_columns_reordered: bool = False
    date_formats: list[str] = field(default_factory=list)
    id_column: str = ID_COLUMN
    label_column: str | None = LABEL_COLUMN
    interval: IntervalSummary | None = None  # interval data: interval, stamps, completeness

    @property
    def labeled(self) -> bool:
        """True when at least one customer carries a label."""
        return self.n_theft + self.n_normal > 0

    def messages(self) -> list[str]:
        """Human sentences describing the data and every change the loader made."""
        lines = [
            f"Read {self.n_customers:,} customers x {self.n_days:,} days "
            f"({self.first_day} to {self.last_day}) from {self.source} "
            f"({self.layout} layout, {self.file_format}).",
            f"{self.missing_fraction:.1%} of readings are missing.",
        ]
        if self.labeled:
            lines.append(
                f"Labels: {self.n_theft:,} theft, {self.n_normal:,} normal, "
                f"{self.n_unlabeled:,} unlabeled."
            )
        else:
            lines.append("No labels: every customer is unlabeled (FLAG missing).")
        if self.interval is not None:
            lines.extend(self.interval.messages())
        if self.date_formats:
            lines.append(f"Date formats seen: {', '.join(self.date_formats)}.")
        if self.day_columns_reordered:
            lines.append("Day columns were out of calendar order and have been sorted.")
        if self.calendar_days_inserted:
            lines.append(
                f"{self.calendar_days_inserted:,} calendar day(s) absent from the file "
                "inserted as missing so the calendar is continuous."
            )
        if self.negative_readings_set_missing:
            lines.append(
                f"{self.negative_readings_set_missing:,} negative readings set to missing."
            )
        if self.implausible_readings_set_missing:
            lines.append(
                f"{self.implausible_readings_set_missing:,} implausible reading(s) of "
                f"{self.implausible_customers:,} customer(s) above {self.max_daily_kwh:,.0f} "
                f"kWh/day (max_daily_kwh) set to missing, e.g. {self.implausible_example}: "
                "unit errors or misread meters; check these customers' data."
            )
        if self.all_missing_customers_dropped:
            lines.append(
                f"{self.all_missing_customers_dropped:,} customers with no reading at all dropped."
            )
        return lines


def read_meter_data(
    path: str | Path,
    *,
    layout: str = "auto",
    id_column: str = ID_COLUMN,
    label_column: str | None = LABEL_COLUMN,
    date_column: str = "date",
    value_column: str = "kwh",
    negative_readings: str = "missing",
    min_days: int = 14,
    period_column: str | None = None,
    day_code_origin: str | None = None,
    timezone: str | None = None,
    interval_stamps: str = "start",
    max_missing_share: float = 0.1,
    max_daily_kwh: float = MAX_DAILY_KWH,
) -> tuple[pd.DataFrame, LoadReport]:
    """Read a wide (SGCC), long or interval meter export into the canonical frame and a LoadReport.

    Interval data (several readings per customer and day) is aggregated to daily kWh; see
    ``ntl.interval`` for `period_column`, `day_code_origin`, `timezone` (None: the clock the stamps are written in),
    `interval_stamps` ("start" or "end") and `max_missing_share` (the completeness rule).
    Readings above `max_daily_kwh` are set missing and reported (customer and date).
    Raises MeterDataError naming the file, the column or row and what is wrong.
    """
    if not (isinstance(max_daily_kwh, (int, float)) and max_daily_kwh > 0):
        raise MeterDataError(f"max_daily_kwh must be a number > 0, got {max_daily_kwh!r}")
    from ntl import interval as interval_data

    interval_options = interval_data.IntervalOptions(
        timezone=timezone,
        interval_stamps=interval_stamps,
        max_missing_share=max_missing_share,
        period_column=period_column,
        day_code_origin=day_code_origin,
    )
    if layout not in LAYOUTS:
        raise MeterDataError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    if negative_readings not in NEGATIVE_POLICIES:
        raise MeterDataError(
            f"negative_readings must be one of {NEGATIVE_POLICIES}, got {negative_readings!r}"
        )
    path = Path(path)
    file_format = detect_file_format(path)
    header = read_header(path, file_format)
    _check_unique_header(header, path)
    if layout == "auto":
        layout = detect_layout(header, date_column, value_column, id_column, label_column)
    id_name = _resolve_column(header, id_column, ID_FALLBACKS, path, required=True)
    label_name = _resolve_column(header, label_column, LABEL_FALLBACKS, path, required=False)
    report = LoadReport(
        source=str(path),
        layout=layout,
        file_format=file_format,
        id_column=id_name,
        label_column=label_name,
    )
    if layout == "wide":
        ids, readings, dates, flag = _read_wide(
            path, file_format, header, id_name, label_name, report
        )
    elif layout == "wide-interval":
        if date_column not in header:
            raise MeterDataError(
                f"{path}: wide-interval layout needs a {date_column!r} column; columns seen: "
                f"{_preview(header)}"
            )
        result = interval_data.read_wide_interval(
            path, file_format, header, id_name, label_name, date_column, interval_options,
            negative_readings,
        )  # fmt: skip
        ids, readings, dates, flag, report.interval = _unpack(result)
    else:
        for needed in (date_column, value_column):
            if needed not in header:
                raise MeterDataError(
                    f"{path}: long layout needs a {needed!r} column; columns seen: "
                    f"{_preview(header)}"
                )
        if period_column is not None and period_column not in header:
            raise MeterDataError(
                f"{path}: no period column {period_column!r}; columns seen: {_preview(header)}"
            )
        if (
            period_column
            or day_code_origin
            or interval_data.has_time_of_day(path, file_format, date_column)
        ):
            result = interval_data.read_long_interval(
                path, file_format, id_name, label_name, date_column, value_column,
                interval_options, negative_readings,
            )  # fmt: skip
            ids, readings, dates, flag, report.interval = _unpack(result)
        else:
            ids, readings, dates, flag = _read_long(
                path, file_format, id_name, label_name, date_column, value_column
            )
    report.days_in_file = len(dates)
    check_history_length(path, len(dates), min_days)
    frame, n_missing = canonical_rows(
        ids, readings, dates, flag, negative_readings, path, report, max_daily_kwh=max_daily_kwh
    )
    if len(frame) == 0:
        raise MeterDataError(f"{path}: no customer has a single reading")
    _fill_summary(report, frame, (len(frame), frame.shape[1] - 1), n_missing)
    return frame, report


def canonical_rows(
    ids: np.ndarray,
    readings: np.ndarray,
    dates: pd.DatetimeIndex,
    flag: pd.api.extensions.ExtensionArray,
    negative_readings: str,
    path: str | Path,
    report: LoadReport,
    max_daily_kwh: float = MAX_DAILY_KWH,
) -> tuple[pd.DataFrame, int]:
    """Rows read from a file as a canonical frame: days on a gap-free calendar, negative
    readings handled by `negative_readings`, readings above `max_daily_kwh` set missing,
    customers without any reading dropped.

    Counts what changed into `report` (added, so a file read in pieces sums its pieces) and
    returns the frame and its number of missing readings. The one finishing step of
    `read_meter_data` and of the partitioned writer (``ntl.distributed.partitions``).
    """
    readings, calendar_start, inserted = place_on_calendar(readings, dates)
    report.calendar_days_inserted = inserted
    readings, negatives = handle_negative_readings(
        readings, ids, negative_readings, path, calendar_start
    )
    report.negative_readings_set_missing += negatives
    readings, implausible = set_implausible_missing(readings, ids, max_daily_kwh, calendar_start)
    report.max_daily_kwh = float(max_daily_kwh)
    report.implausible_readings_set_missing += implausible[0]
    report.implausible_customers += implausible[1]
    report.implausible_example = report.implausible_example or implausible[2]
    report.implausible_by_customer.update(implausible[3])
    missing_per_customer = count_missing(readings)
    keep = missing_per_customer < readings.shape[1]
    dropped = len(keep) - int(np.count_nonzero(keep))
    report.all_missing_customers_dropped += dropped
    if dropped:
        report.dropped_ids.extend(str(customer) for customer in ids[~keep])
        ids, readings, flag = ids[keep], readings[keep], flag[keep]
    # build_frame lays out exactly the canonical frame (ids checked unique, calendar gap-free,
    # float32 days, Int8 FLAG), so validate_canonical's per-column checks are not repeated here.
    frame = build_frame(ids, readings, calendar_start, flag=flag)
    return frame, int(missing_per_customer[keep].sum())


def detect_layout(
    header: Sequence[str],
    date_column: str,
    value_column: str,
    id_column: str = ID_COLUMN,
    label_column: str | None = LABEL_COLUMN,
) -> str:
    """'long' with date and value columns; 'wide-interval' with a date column and interval
    columns (``00:30`` ... or ``1`` ... ``48``); otherwise 'wide' (SGCC)."""
    from ntl.interval import wide_interval_columns

    if date_column in header and value_column in header:
        return "long"
    if date_column in header:
        excluded = [date_column, id_column, *ID_FALLBACKS.get(id_column, ())]
        excluded += [label_column, *LABEL_FALLBACKS.get(label_column, ())]
        if wide_interval_columns(header, excluded) is not None:
            return "wide-interval"
    return "wide"


def _unpack(result: IntervalResult) -> tuple:
    return result.ids, result.readings, result.dates, result.flag, result.summary


MISSING_BLOCK_ROWS = 4096  # customers per block when counting missing readings


def count_missing(readings: np.ndarray) -> np.ndarray:
    """Missing (NaN) readings per customer of a customers x days array, as int64.

    Counted block by block into one reused mask instead of a mask of the whole array: on a VM,
    first-touching a fresh 44 MB mask costs several times the counting itself.
    """
    counts = np.empty(readings.shape[0], dtype=np.int64)
    mask = np.empty((min(MISSING_BLOCK_ROWS, readings.shape[0]), readings.shape[1]), dtype=bool)
    for start in range(0, readings.shape[0], MISSING_BLOCK_ROWS):  # fixed-size customer blocks
        block = readings[start : start + MISSING_BLOCK_ROWS]
        block_mask = np.isnan(block, out=mask[: len(block)])
        counts[start : start + len(block)] = np.count_nonzero(block_mask, axis=1)
    return counts


def check_history_length(path: str | Path, n_days: int, min_days: int) -> None:
    """Raise MeterDataError when a file holds fewer than `min_days` days of readings."""
    if n_days < min_days:
        raise MeterDataError(
            f"{path}: only {n_days} day(s) of readings, at least {min_days} are needed"
        )


# ---------------------------------------------------------------------------------------------
# File format and header


def detect_file_format(path: Path) -> str:
    """'parquet', 'csv.gz' or 'csv', from the magic bytes (then the suffix); checks the file."""
    if not path.exists():
        raise MeterDataError(f"{path}: file not found")
    if path.is_dir():
        raise MeterDataError(f"{path}: is a directory, expected a CSV or parquet file")
    if path.stat().st_size == 0:
        raise MeterDataError(f"{path}: file is empty")
    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic == _PARQUET_MAGIC or path.suffix.lower() in _PARQUET_SUFFIXES:
        return "parquet"
    if magic[:2] == _GZIP_MAGIC:
        return "csv.gz"
    return "csv"


def read_header(path: Path, file_format: str) -> list[str]:
    """The column names of the file, without reading its body."""
    if file_format == "parquet":
        try:
            return list(pq.read_schema(path).names)
        except (pa.ArrowException, OSError) as exc:
            raise MeterDataError(f"{path}: unreadable or corrupt parquet file ({exc})") from exc
    line = _first_line(path, file_format)
    first_row = next(csv.reader([line], delimiter=csv_delimiter(line)), None)
    if not first_row or all(not name.strip() for name in first_row):
        raise MeterDataError(f"{path}: file has no header line")
    return [name.strip() for name in first_row]


def _first_line(path: Path, file_format: str) -> str:
    opener = gzip.open if file_format == "csv.gz" else open
    try:
        with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:
            return handle.readline().rstrip("\r\n")
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise MeterDataError(f"{path}: cannot read the header line ({exc})") from exc


def csv_delimiter(header_line: str) -> str:
    """The field separator of a CSV: whichever of , ; tab | occurs most in the header line."""
    candidates = [",", ";", "\t", "|"]
    return max(candidates, key=lambda candidate: (header_line.count(candidate), candidate == ","))


def _check_unique_header(header: Sequence[str], path: Path) -> None:
    if len(set(header)) == len(header):
        return
    seen = pd.Index(header)
    if seen.has_duplicates:
        dupes = seen[seen.duplicated()].unique().tolist()
        raise MeterDataError(f"{path}: duplicate column names {_preview(dupes)}")


def _resolve_column(
    header: Sequence[str],
    wanted: str | None,
    fallbacks: dict[str, tuple[str, ...]],
    path: Path,
    *,
    required: bool,
) -> str | None:
    """The header name to use for `wanted`, trying the documented fallbacks for the defaults."""
    if wanted is None:
        return None
    for name in (wanted, *fallbacks.get(wanted, ())):
        if name in header:
            return name
    if required:
        raise MeterDataError(
            f"{path}: no ID column {wanted!r}; columns seen: {_preview(header)} "
            "(set id_column to the name your export uses)"
        )
    return None


def _preview(values: Sequence, limit: int = 12) -> str:
    values = list(values)
    shown = ", ".join(repr(v) for v in values[:limit])
    return f"[{shown}{', ...' if len(values) > limit else ''}] ({len(values)} in all)"


# ---------------------------------------------------------------------------------------------
# Dates


def parse_day_labels(labels: Sequence[str]) -> tuple[pd.DatetimeIndex, list[str]]:
    """Parse date headers (formats mixed freely) into dates; NaT where a label is not a date.

    Slashed dates with the year last are month/day/year (``1/26/2014``). Returns the dates and
    the names of the formats that occurred.
    """
    text = pd.Series(list(labels), dtype=object).astype(str)
    dates = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
    formats_seen = []
    for format_name, (pattern, order) in _DATE_PATTERNS.items():
        parts = text.str.extract(pattern)
        matched = parts.notna().all(axis=1) & dates.isna()
        if not matched.any():
            continue
        parts = parts[matched].astype(int)
        year, first, second = parts[0], parts[1], parts[2]
        if order == "ymd":
            fields = {"year": year, "month": first, "day": second}
        else:
            fields = {"year": second, "month": year, "day": first}
        dates[matched] = pd.to_datetime(pd.DataFrame(fields), errors="coerce")
        formats_seen.append(format_name)
        if dates.notna().all():
            break
    return pd.DatetimeIndex(dates), formats_seen


def place_on_calendar(
    readings: np.ndarray, dates: pd.DatetimeIndex
) -> tuple[np.ndarray, pd.Timestamp, int]:
    """Put day columns in calendar order on a gap-free calendar (absent days all NaN).

    Returns the customers x calendar-days float32 array (C order, the input itself when the
    days are already in order and gap-free), the first day and how many days were inserted.
    """
    first = dates.min()
    offsets = ((dates - first) // pd.Timedelta(days=1)).to_numpy(dtype=np.int64)
    n_calendar = int(offsets.max()) + 1
    if np.array_equal(offsets, np.arange(n_calendar)):
        return readings, first, 0
    calendar = np.full((readings.shape[0], n_calendar), np.nan, dtype=np.float32)
    calendar[:, offsets] = readings
    return calendar, first, n_calendar - len(dates)


def _day_dates(day_names: Sequence[str], path: Path) -> tuple[pd.DatetimeIndex, list[str]]:
    """Dates of the day headers; error on headers that are not dates or dates seen twice."""
    if not day_names:
        raise MeterDataError(f"{path}: no day columns (only the ID and label columns were found)")
    dates, formats_seen = parse_day_labels(day_names)
    bad = [name for name, date in zip(day_names, dates, strict=True) if pd.isna(date)]
    if bad:
        raise MeterDataError(
            f"{path}: column headers that are not dates: {_preview(bad)}; day columns must be "
            "named like 2014-01-01, 2014/1/1 or 1/26/2014 (set id_column/label_column if one "
            "of these is your ID or label)"
        )
    if dates.has_duplicates:
        twice = [
            name for name, dup in zip(day_names, dates.duplicated(keep=False), strict=True) if dup
        ]
        raise MeterDataError(f"{path}: the same day appears in several columns: {_preview(twice)}")
    return dates, formats_seen


# ---------------------------------------------------------------------------------------------
# Wide layout


def _read_wide(
    path: Path,
    file_format: str,
    header: list[str],
    id_name: str,
    label_name: str | None,
    report: LoadReport,
) -> tuple[np.ndarray, np.ndarray, pd.DatetimeIndex, pd.api.extensions.ExtensionArray]:
    """ids, customers x days readings, their dates (ascending) and the labels of a wide file."""
    file_day_names = [name for name in header if name not in (id_name, label_name)]
    file_dates, report.date_formats = _day_dates(file_day_names, path)
    report.day_columns_reordered = not file_dates.is_monotonic_increasing
    calendar_order = np.argsort(file_dates.asi8, kind="stable")
    day_names = [file_day_names[i] for i in calendar_order]
    dates = file_dates[calendar_order]
    if file_format == "parquet":
        table = _read_parquet(path)
        readings = _numeric_block(table, day_names, path)
    else:
        table = _read_wide_csv(path, header, day_names, id_name, label_name)
        readings = _float_block(table, day_names)  # selected in calendar order: already sorted
    if table.num_rows == 0:
        raise MeterDataError(f"{path}: has a header but no customer rows")
    ids = _customer_ids(table.column(id_name), path, id_name)
    if label_name:
        flag = _labels(table.column(label_name), ids, path, label_name)
    else:
        flag = _no_labels(len(ids))
    return ids, readings, dates, flag


def _read_csv(
    path: Path, column_types: dict[str, pa.DataType], include_columns: list[str] | None = None
) -> pa.Table:
    """pyarrow's multi-threaded CSV reader with fixed column types (gzip handled by pyarrow)."""
    with path.open("rb") as handle:
        file_format = "csv.gz" if handle.read(2) == _GZIP_MAGIC else "csv"
    delimiter = csv_delimiter(_first_line(path, file_format))
    read = pacsv.ReadOptions(use_threads=True, block_size=4 << 20)
    parse = pacsv.ParseOptions(delimiter=delimiter)
    convert = pacsv.ConvertOptions(
        column_types=column_types, null_values=list(MISSING_STRINGS), strings_can_be_null=True
    )
    if include_columns is not None:
        convert.include_columns = include_columns
    try:
        return pacsv.read_csv(
            pa.input_stream(path, compression="gzip" if file_format == "csv.gz" else None),
            read_options=read,
            parse_options=parse,
            convert_options=convert,
        )
    except (OSError, EOFError) as exc:  # a truncated or corrupt gzip stream, a read error
        what = "the gzip file is truncated or corrupt" if file_format == "csv.gz" else "read error"
        raise MeterDataError(f"{path}: cannot read the file: {what} ({exc})") from None


def _read_wide_csv(
    path: Path, header: list[str], day_names: list[str], id_name: str, label_name: str | None
) -> pa.Table:
    """Parse a wide CSV with every day column as float32; name the cell that is not a number."""
    column_types = dict.fromkeys(day_names, pa.float32())
    column_types[id_name] = pa.string()
    if label_name:
        column_types[label_name] = pa.string()
    try:
        return _read_csv(path, column_types)
    except pa.ArrowInvalid as exc:
        raise _csv_conversion_error(exc, path, header, id_name) from exc


def _csv_conversion_error(
    exc: pa.ArrowInvalid, path: Path, header: list[str], id_name: str
) -> MeterDataError:
    """Turn pyarrow's 'In CSV column #k: ... invalid value' into a message naming cell and row."""
    found = re.search(r"column #(\d+)", str(exc))
    if not found or "conversion error" not in str(exc):
        return MeterDataError(f"{path}: cannot parse as CSV ({exc})")
    column = header[int(found.group(1))]
    text = _read_csv(path, {column: pa.string(), id_name: pa.string()}, [id_name, column])
    return _non_numeric_error(text.column(column), text.column(id_name), column, path)


def _non_numeric_error(
    values: pa.ChunkedArray, ids: pa.ChunkedArray | None, column: str, path: Path
) -> MeterDataError:
    """Name the first value of a column that is not a number (with its row and customer)."""
    as_text = pd.Series(values.to_pandas(), dtype=object)
    numbers = pd.to_numeric(as_text, errors="coerce")
    bad = np.flatnonzero((numbers.isna() & as_text.notna()).to_numpy())
    if len(bad) == 0:
        return MeterDataError(f"{path}: column {column!r} has values that are not numbers")
    row = int(bad[0])
    who = f" (customer {ids[row].as_py()!r})" if ids is not None else ""
    return MeterDataError(
        f"{path}: non-numeric reading {as_text.iloc[row]!r} in column {column!r}, "
        f"data row {row + 1}{who}; {len(bad)} such value(s) in this column"
    )


def _read_parquet(path: Path) -> pa.Table:
    try:
        return pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise MeterDataError(f"{path}: unreadable or corrupt parquet file ({exc})") from exc


def _numeric_block(table: pa.Table, names: list[str], path: Path) -> np.ndarray:
    """The named parquet columns as one customers x columns float32 array (NaN for nulls)."""
    columns = table.select(names)
    for name in names:
        column_type = columns.schema.field(name).type
        if not (pa.types.is_integer(column_type) or pa.types.is_floating(column_type)):
            if not (pa.types.is_string(column_type) or pa.types.is_large_string(column_type)):
                if not pa.types.is_null(column_type):
                    raise MeterDataError(
                        f"{path}: column {name!r} holds {column_type}, expected numbers"
                    )
    columns = _missing_strings_to_null(columns)
    schema = pa.schema([pa.field(name, pa.float32()) for name in names])
    try:
        columns = columns.cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        for name in names:
            try:
                pc.cast(columns.column(name), pa.float32())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                raise _non_numeric_error(columns.column(name), None, name, path) from None
        raise
    return _float_block(columns, names)


def _missing_strings_to_null(table: pa.Table) -> pa.Table:
    """Text columns with MISSING_STRINGS (``Null``, ``NA``, ``-`` ...) turned into nulls."""
    missing = pa.array(MISSING_STRINGS)
    for position, column_field in enumerate(table.schema):
        if pa.types.is_string(column_field.type) or pa.types.is_large_string(column_field.type):
            text = pc.utf8_trim_whitespace(table.column(position))
            text = pc.if_else(pc.is_in(text, missing), pa.scalar(None, column_field.type), text)
            table = table.set_column(position, column_field.name, text)
    return table


def _float_block(table: pa.Table, names: list[str]) -> np.ndarray:
    """The named float32 columns as one C-contiguous rows x columns float32 array (NaN = null).

    Row-major is the order every per-customer computation reads, and the canonical frame built
    on it hands its matrix over without another copy. pyarrow turns each record batch (one per
    CSV block) into a small row-major block that is copied into place, on every core (both steps
    release the GIL), so the result is the only large array made here: a column-major
    intermediate such as ``to_pandas`` gives is one more full copy of the readings, and on a VM
    first-touching 175 MB of fresh memory alone costs about half a second.
    """
    columns = table.select(names)
    batches = columns.to_batches()
    block = np.empty((columns.num_rows, len(names)), dtype=np.float32)
    ends = np.cumsum([batch.num_rows for batch in batches], dtype=np.int64)

    def fill(position: int) -> None:
        rows = batches[position].to_tensor(null_to_nan=True, row_major=True).to_numpy()
        block[ends[position] - len(rows) : ends[position]] = rows

    with ThreadPoolExecutor(max_workers=pa.cpu_count()) as pool:
        list(pool.map(fill, range(len(batches))))  # a few dozen batches
    return block


# ---------------------------------------------------------------------------------------------
# IDs, labels and readings checks


def _customer_ids(column: pa.ChunkedArray, path: Path, id_name: str) -> np.ndarray:
    """Customer IDs as a str array; error on empty or duplicate IDs."""
    ids = pd.Series(column.to_pandas(), dtype=object)
    empty = ids.isna() | (ids.astype(str).str.strip() == "")
    if empty.any():
        rows = (np.flatnonzero(empty.to_numpy())[:_MAX_LISTED] + 1).tolist()
        raise MeterDataError(f"{path}: empty {id_name!r} in data row(s) {rows}")
    ids = ids.astype(str).str.strip()
    if ids.duplicated().any():
        dupes = ids[ids.duplicated()].unique().tolist()
        raise MeterDataError(f"{path}: duplicate customer IDs in {id_name!r}: {_preview(dupes, 5)}")
    return ids.to_numpy(dtype=object)


def _no_labels(n_customers: int) -> pd.api.extensions.ExtensionArray:
    """All-missing nullable Int8 labels: the data is unlabeled."""
    return pd.array([pd.NA] * n_customers, dtype="Int8")


def _labels(
    column: pa.ChunkedArray, ids: np.ndarray, path: Path, label_name: str
) -> pd.api.extensions.ExtensionArray:
    """Labels as nullable Int8; error on anything but 0, 1 or empty."""
    raw = pd.Series(column.to_pandas(), dtype=object)
    return _validated_labels(raw, ids, path, label_name).array


def _validated_labels(raw: pd.Series, ids: np.ndarray, path: Path, label_name: str) -> pd.Series:
    text = raw.where(raw.notna(), None)
    numbers = pd.to_numeric(text, errors="coerce")
    present = text.notna() & (text.astype(str).str.strip() != "")
    bad = present & ~numbers.isin([0, 1])
    if bad.any():
        where = np.flatnonzero(bad.to_numpy())[:_MAX_LISTED]
        examples = [f"{ids[i]!r}: {text.iloc[i]!r}" for i in where]
        raise MeterDataError(
            f"{path}: labels in {label_name!r} must be 0, 1 or empty; found "
            f"{int(bad.sum())} other value(s), e.g. {', '.join(examples)}"
        )
    return numbers.where(present).astype("Int8")


def _day_name(first_day: pd.Timestamp | None, day: int) -> str:
    """A calendar column as its date (YYYY-MM-DD), or its position when the calendar is unknown."""
    if first_day is None:
        return f"calendar day {day + 1}"
    return (pd.Timestamp(first_day) + pd.Timedelta(days=int(day))).strftime("%Y-%m-%d")


def handle_negative_readings(
    readings: np.ndarray,
    ids: np.ndarray,
    policy: str,
    path: Path,
    first_day: pd.Timestamp | None = None,
) -> tuple[np.ndarray, int]:
    """Set negative readings to NaN (policy 'missing') or raise (policy 'error').

    Also rejects infinite readings (a float32 overflow: anything above 3.4e38 parses as infinite),
    which no meter produces. Messages name the customer and the date (`first_day` is the date of
    column 0). Returns the readings and how many were set missing. Two NaN-ignoring reductions
    answer the usual case (nothing wrong) without building masks or copying.
    """
    if readings.size == 0:
        return readings, 0
    flat = readings.ravel(order="K")  # a view in memory order: no copy of a transposed array
    largest = np.fmax.reduce(flat)
    smallest = np.fmin.reduce(flat)
    if np.isinf(largest) or np.isinf(smallest):
        infinite = np.isinf(readings)
        row, day = np.argwhere(infinite)[0]
        raise MeterDataError(
            f"{path}: reading for customer {ids[row]!r} on {_day_name(first_day, day)} is "
            "infinite or beyond float32's range (above 3.4e38 kWh); "
            f"{int(np.count_nonzero(infinite))} such reading(s): fix or blank them"
        )
    if not smallest < 0:
        return readings, 0
    negative = readings < 0
    count = int(np.count_nonzero(negative))
    if policy == "error":
        row, day = np.argwhere(negative)[0]
        raise MeterDataError(
            f"{path}: {count} negative reading(s), e.g. {readings[row, day]} for customer "
            f"{ids[row]!r} on {_day_name(first_day, day)} (negative_readings='missing' sets them "
            "to NaN)"
        )
    return np.where(negative, np.float32(np.nan), readings), count


def set_implausible_missing(
    readings: np.ndarray,
    ids: np.ndarray,
    max_daily_kwh: float,
    first_day: pd.Timestamp | None = None,
) -> tuple[np.ndarray, tuple[int, int, str, dict[str, int]]]:
    """Readings above `max_daily_kwh` set to NaN; (how many, customers affected, an example,
    readings set missing per affected customer). The per-customer counts let stage 02 flag those
    customers' quality: once set missing, an implausible reading looks like any gap.

    One NaN-ignoring max answers the usual case (nothing implausible) without a mask or a copy.
    """
    if readings.size == 0 or not np.fmax.reduce(readings.ravel(order="K")) > max_daily_kwh:
        return readings, (0, 0, "", {})
    implausible = readings > max_daily_kwh
    per_customer = np.count_nonzero(implausible, axis=1)
    rows = np.flatnonzero(per_customer)
    by_customer = {str(ids[row]): int(per_customer[row]) for row in rows}  # affected rows only
    row, day = np.argwhere(implausible)[0]
    example = (
        f"{float(readings[row, day]):.6g} kWh for customer {ids[row]!r} on "
        f"{_day_name(first_day, day)}"
    )
    cleaned = np.where(implausible, np.float32(np.nan), readings)
    return cleaned, (int(np.count_nonzero(implausible)), len(rows), example, by_customer)


def _fill_summary(
    report: LoadReport, frame: pd.DataFrame, shape: tuple[int, int], n_missing: int
) -> None:
    flag = frame[LABEL_COLUMN]
    report.n_customers, report.n_days = shape
    report.first_day = str(frame.columns[1])
    report.last_day = str(frame.columns[-1])
    report.n_theft = int((flag == 1).sum())
    report.n_normal = int((flag == 0).sum())
    report.n_unlabeled = int(flag.isna().sum())
    report.missing_fraction = n_missing / (shape[0] * shape[1])


# ---------------------------------------------------------------------------------------------
# Long layout


def _read_long(
    path: Path,
    file_format: str,
    id_name: str,
    label_name: str | None,
    date_column: str,
    value_column: str,
) -> tuple[np.ndarray, np.ndarray, pd.DatetimeIndex, pd.api.extensions.ExtensionArray]:
    """Pivot customer/date/value rows to ids, customers x days readings, dates and labels."""
    wanted = [id_name, date_column, value_column] + ([label_name] if label_name else [])
    if file_format == "parquet":
        table = _read_parquet(path).select(wanted)
        values = _numeric_block(table, [value_column], path)[:, 0]
    else:
        column_types = {name: pa.string() for name in wanted}
        column_types[value_column] = pa.float32()
        try:
            table = _read_csv(path, column_types, wanted)
        except pa.ArrowInvalid as exc:
            raise _long_conversion_error(exc, path, id_name, value_column) from exc
        values = table.column(value_column).to_numpy().astype(np.float32)  # nulls become NaN
    if table.num_rows == 0:
        raise MeterDataError(f"{path}: has a header but no rows")
    customer_codes, unique_ids = _factorize_ids(table.column(id_name), path, id_name)
    day_codes, dates = _factorize_dates(table.column(date_column), path, date_column)
    _check_one_row_per_day(customer_codes, day_codes, unique_ids, dates, path)
    readings = np.full((len(unique_ids), len(dates)), np.nan, dtype=np.float32)
    readings[customer_codes, day_codes] = values
    if label_name:
        label_column = table.column(label_name)
        flag = _long_labels(label_column, customer_codes, unique_ids, path, label_name)
    else:
        flag = _no_labels(len(unique_ids))
    return unique_ids, readings, dates, flag


def _long_conversion_error(
    exc: pa.ArrowInvalid, path: Path, id_name: str, value_column: str
) -> MeterDataError:
    if "conversion error" not in str(exc):
        return MeterDataError(f"{path}: cannot parse as CSV ({exc})")
    wanted = [id_name, value_column]
    text = _read_csv(path, {value_column: pa.string(), id_name: pa.string()}, wanted)
    return _non_numeric_error(text.column(value_column), text.column(id_name), value_column, path)


def _factorize_ids(
    column: pa.ChunkedArray, path: Path, id_name: str
) -> tuple[np.ndarray, np.ndarray]:
    ids = pd.Series(column.to_pandas(), dtype=object)
    empty = ids.isna() | (ids.astype(str).str.strip() == "")
    if empty.any():
        rows = (np.flatnonzero(empty.to_numpy())[:_MAX_LISTED] + 1).tolist()
        raise MeterDataError(f"{path}: empty {id_name!r} in data row(s) {rows}")
    codes, uniques = pd.factorize(ids.astype(str).str.strip())
    return codes, np.asarray(uniques, dtype=object)


def _factorize_dates(
    column: pa.ChunkedArray, path: Path, date_column: str
) -> tuple[np.ndarray, pd.DatetimeIndex]:
    """Row -> index into the distinct dates, and those dates (parsed once per distinct value)."""
    if pa.types.is_timestamp(column.type) or pa.types.is_date(column.type):
        column = pc.strftime(column.cast(pa.timestamp("s")), format=DAY_FORMAT)
    encoded = column.combine_chunks().dictionary_encode()
    if encoded.null_count:
        row = int(np.flatnonzero(encoded.is_null().to_numpy(zero_copy_only=False))[0]) + 1
        raise MeterDataError(f"{path}: empty {date_column!r} in data row {row}")
    labels = encoded.dictionary.to_pylist()
    dates, _ = parse_day_labels(labels)
    bad = [label for label, date in zip(labels, dates, strict=True) if pd.isna(date)]
    if bad:
        raise MeterDataError(
            f"{path}: values in {date_column!r} that are not dates: {_preview(bad)}"
        )
    codes = encoded.indices.to_numpy()
    distinct, codes_to_distinct = np.unique(dates.asi8, return_inverse=True)
    return codes_to_distinct[codes], pd.DatetimeIndex(distinct.astype("datetime64[ns]"))


def _check_one_row_per_day(
    customer_codes: np.ndarray,
    day_codes: np.ndarray,
    unique_ids: np.ndarray,
    dates: pd.DatetimeIndex,
    path: Path,
) -> None:
    keys = customer_codes.astype(np.int64) * len(dates) + day_codes
    ordered = np.sort(keys)
    repeated = ordered[1:][ordered[1:] == ordered[:-1]]
    if len(repeated):
        examples = [
            f"{unique_ids[key // len(dates)]!r} on {dates[key % len(dates)]:%Y-%m-%d}"
            for key in np.unique(repeated)[:_MAX_LISTED]
        ]
        raise MeterDataError(
            f"{path}: several readings for the same customer and day, e.g. {', '.join(examples)}"
        )


def _long_labels(
    column: pa.ChunkedArray,
    customer_codes: np.ndarray,
    unique_ids: np.ndarray,
    path: Path,
    label_name: str,
) -> pd.api.extensions.ExtensionArray:
    """One label per customer; error when a customer's rows disagree."""
    raw = pd.Series(column.to_pandas(), dtype=object)
    row_ids = unique_ids[customer_codes]
    per_row = _validated_labels(raw, row_ids, path, label_name)
    grouped = per_row.astype("float64").groupby(customer_codes)
    low, high = grouped.min(), grouped.max()
    conflicting = np.flatnonzero((low != high).to_numpy())
    if len(conflicting):
        names = [unique_ids[low.index[i]] for i in conflicting[:_MAX_LISTED]]
        raise MeterDataError(
            f"{path}: customers with both labels 0 and 1 in {label_name!r}: {names}"
        )
    per_customer = high.reindex(range(len(unique_ids)))
    return per_customer.astype("Int8").array


# ---------------------------------------------------------------------------------------------
# Summary


def consumption_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """A one-column table describing a canonical frame, for the notebook's first look.

    Size and calendar, missing and zero shares, daily reading quantiles (kWh) and label counts.
    """
    readings = frame.drop(columns=LABEL_COLUMN).to_numpy(dtype=np.float32, na_value=np.nan)
    present = readings[~np.isnan(readings)]
    flag = frame[LABEL_COLUMN]
    n_theft, n_normal = int((flag == 1).sum()), int((flag == 0).sum())
    quantiles = np.quantile(present, [0.5, 0.99]) if present.size else [np.nan, np.nan]
    rows = {
        "customers": len(frame),
        "days": readings.shape[1],
        "first day": str(frame.columns[1]),
        "last day": str(frame.columns[-1]),
        "readings present": int(present.size),
        "missing share": float(np.isnan(readings).mean()),
        "zero share (of present readings)": float((present == 0).mean())
        if present.size
        else np.nan,
        "median daily reading (kWh)": float(quantiles[0]),
        "mean daily reading (kWh)": float(present.mean()) if present.size else np.nan,
        "99th percentile daily reading (kWh)": float(quantiles[1]),
        "largest reading (kWh)": float(present.max()) if present.size else np.nan,
        "theft customers": n_theft,
        "normal customers": n_normal,
        "unlabeled customers": int(flag.isna().sum()),
        "theft share of labeled": n_theft / (n_theft + n_normal) if n_theft + n_normal else np.nan,
    }
    return pd.DataFrame({"value": pd.Series(rows, dtype=object)})
