"""Meter data at scale: a folder of parquet files, each holding whole customers.

A partitioned dataset is a folder of ``part-NNNNN.parquet`` files and ``_dataset.json``, which
lists every part with its customers, size and sha256, and what the data is (``kind``: consumption,
ground truth, preprocessed, scores) with its calendar. Each part is a frame of the in-memory
layout (canonical consumption frame, preprocessed frame, ...), so the per-customer functions of
the in-memory path read a part as they read a whole file.

Every dataset appears complete or not at all: parts are written into a hidden staging folder
beside the target, ``_dataset.json`` last, and the folder is renamed into place; a failure (bad
input, a lost worker) removes the staging folder and leaves whatever was at the target intact.

Writers never hold the whole input: `convert_meter_file` streams a wide CSV or parquet export
in pieces of `rows_per_part` customers through the loader's own checks (``ntl.io``), and
`generate_partitions` draws synthetic customers part by part (on the cluster's workers when a
client is given).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shutil
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ntl import io as meter_io
from ntl._version import __version__
from ntl.artifacts import sha256_file
from ntl.errors import ArtifactIntegrityError, MeterDataError, MissingArtifactError, ParameterError
from ntl.frame import ID_COLUMN, LABEL_COLUMN, build_frame, day_columns

if TYPE_CHECKING:
    from distributed import Client

DATASET_FILE = "_dataset.json"
DATASET_FORMAT = 1
TARGET_PART_BYTES = 64 << 20  # readings per part: ~64 MB of float32, a few hundred MB of work
MIN_PART_ROWS = 1_000
CSV_BLOCK_BYTES = 16 << 20  # bytes of CSV text parsed per streamed block


def part_name(position: int) -> str:
    """File name of part `position` (0-based)."""
    return f"part-{position:05d}.parquet"


def default_part_rows(n_days: int, target_bytes: int = TARGET_PART_BYTES) -> int:
    """Customers per part so that a part's float32 readings are about `target_bytes`."""
    if n_days < 1:
        raise ParameterError(f"n_days must be >= 1, got {n_days}")
    return max(MIN_PART_ROWS, int(target_bytes // (4 * n_days)))


# ---------------------------------------------------------------------------------------------
# Reading


@dataclass(frozen=True)
class PartitionedDataset:
    """An existing partitioned dataset: its folder, kind, parts and description."""

    root: Path
    kind: str
    parts: tuple[dict[str, Any], ...]
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def paths(self) -> list[Path]:
        """The part files, in order."""
        return [self.root / part["file"] for part in self.parts]

    @property
    def part_rows(self) -> list[int]:
        """Customers in each part."""
        return [int(part["customers"]) for part in self.parts]

    @property
    def n_customers(self) -> int:
        """Customers in all parts."""
        return int(sum(self.part_rows))

    def read_part(self, position: int, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """Part `position` as a frame (its sha256 checked first)."""
        return read_part(self.root, self.parts[position], columns)

    def read_all(self, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """Every part in one frame: for data that fits in memory (tests, samples, small runs)."""
        frames = [self.read_part(i, columns) for i in range(len(self.parts))]
        return frames[0] if len(frames) == 1 else pd.concat(frames)


# Parts this process has hashed, by (path, recorded sha256): the file's identity and times then.
# A part read again unchanged is not hashed again (04 reads the readings three times); any
# write changes its change time (ctime, which no user call can set back), a replaced file its
# inode, a new listing its recorded sha256, and a new process (a new run's workers) starts empty.
_VERIFIED: dict[tuple[str, str], tuple[int, int, int, int, int]] = {}
SETTLED_SECONDS = 2.0  # parts changed more recently are hashed on every read (coarse clocks)


def _identity(path: Path) -> tuple[int, int, int, int, int]:
    """What changes when a file is written or replaced: device, inode, size, mtime and ctime."""
    stat = path.stat()
    return (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)


def verify_part(path: Path, recorded: str) -> None:
    """Raise unless the bytes at `path` have the `recorded` sha256; hashes once per process
    while the file stays as it was (see `_VERIFIED`)."""
    key = (str(path.resolve()), recorded)
    before = _identity(path)
    if _VERIFIED.get(key) == before:
        return
    digest = sha256_file(path)
    if digest != recorded:
        _VERIFIED.pop(key, None)
        raise ArtifactIntegrityError(
            f"{path} changed since it was written (sha256 {digest[:12]}... != recorded "
            f"{recorded[:12]}...): refusing to read it"
        )
    settled = time.time_ns() - before[4] > SETTLED_SECONDS * 1e9
    if settled and _identity(path) == before:  # not written while it was hashed
        _VERIFIED[key] = before


def read_part(
    root: str | Path, part: Mapping[str, Any], columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """One part's frame, after checking its bytes against the sha256 recorded for it."""
    path = Path(root) / part["file"]
    if not path.exists():
        raise MissingArtifactError(f"{path}: part listed in {DATASET_FILE} is missing")
    verify_part(path, part["sha256"])
    return pd.read_parquet(path, columns=list(columns) if columns is not None else None)


def is_dataset(root: str | Path) -> bool:
    """True when `root` is a partitioned dataset folder written by ntl."""
    return (Path(root) / DATASET_FILE).is_file()


def open_dataset(root: str | Path, kind: str | None = None) -> PartitionedDataset:
    """The partitioned dataset at `root`; MissingArtifactError when it is not one, MeterDataError
    when it holds another `kind` of data."""
    root = Path(root)
    listing = root / DATASET_FILE
    if not listing.is_file():
        raise MissingArtifactError(
            f"{root}: not a partitioned ntl dataset (no {DATASET_FILE}); write one with "
            "ntl.distributed.partitions.convert_meter_file or generate_partitions"
        )
    try:
        document = json.loads(listing.read_text())
    except json.JSONDecodeError as exc:
        raise ArtifactIntegrityError(f"{listing} is not valid JSON: {exc}") from exc
    if document.get("dataset_format") != DATASET_FORMAT:
        raise ArtifactIntegrityError(
            f"{listing}: dataset format {document.get('dataset_format')} is not {DATASET_FORMAT}"
        )
    if kind is not None and document["kind"] != kind:
        raise MeterDataError(f"{root}: holds {document['kind']} data, expected {kind}")
    return PartitionedDataset(root, document["kind"], tuple(document["parts"]), document["info"])


# ---------------------------------------------------------------------------------------------
# Writing


def write_part(staging: str | Path, position: int, frame: pd.DataFrame) -> dict[str, Any]:
    """Write `frame` as part `position` into a staging folder; its record for ``_dataset.json``.

    Runs wherever the part is computed (a worker writes its own part: nothing large travels back
    to the client).
    """
    path = Path(staging) / part_name(position)
    frame.to_parquet(path, index=True)
    return {
        "file": path.name,
        "customers": len(frame),
        "bytes": path.stat().st_size,
        "sha256": sha256_file(path),
    }


class DatasetWriter:
    """Stage parts beside `root`, then publish them as one dataset (or nothing on failure).

    Refuses a `root` that exists and is not an ntl dataset (nothing a user gave us is
    overwritten); an earlier ntl dataset there is replaced only when the new one is complete.
    """

    def __init__(self, root: str | Path, kind: str) -> None:
        self.root = Path(root)
        self.kind = kind
        if self.root.exists() and not is_dataset(self.root):
            raise ParameterError(
                f"{self.root} exists and is not a partitioned ntl dataset: refusing to overwrite it"
            )
        self.root.parent.mkdir(parents=True, exist_ok=True)
        self.staging = self.root.parent / f".{self.root.name}.partial-{uuid.uuid4().hex[:8]}"

    def __enter__(self) -> DatasetWriter:
        self.staging.mkdir()
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if self.staging.exists():  # not committed: an error, or the caller forgot to commit
            shutil.rmtree(self.staging, ignore_errors=True)

    def commit(self, parts: Sequence[Mapping[str, Any]], info: Mapping[str, Any]) -> Path:
        """Write ``_dataset.json`` and move the staged folder to `root` (replacing an old one)."""
        if not parts:
            raise MeterDataError(f"{self.root}: nothing to write (no customers)")
        document = {
            "dataset_format": DATASET_FORMAT,
            "kind": self.kind,
            "ntl_version": __version__,
            "info": dict(info),
            "parts": [dict(part) for part in parts],
        }
        text = json.dumps(document, indent=2, allow_nan=False) + "\n"
        (self.staging / DATASET_FILE).write_text(text)
        old = None
        if self.root.exists():
            old = self.root.parent / f".{self.root.name}.old-{uuid.uuid4().hex[:8]}"
            self.root.rename(old)
        self.staging.rename(self.root)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return self.root


def calendar_info(frame: pd.DataFrame) -> dict[str, Any]:
    """First day, last day and number of days of a canonical frame."""
    days = day_columns(frame)
    return {"first_day": days[0], "last_day": days[-1], "n_days": len(days)}


def write_frame_partitions(
    frame: pd.DataFrame, root: str | Path, kind: str, rows: int, info: Mapping[str, Any]
) -> PartitionedDataset:
    """An in-memory frame written as a dataset of parts of `rows` customers (in its order)."""
    if rows < 1:
        raise ParameterError(f"rows per part must be >= 1, got {rows}")
    with DatasetWriter(root, kind) as writer:
        parts = [
            write_part(writer.staging, i, frame.iloc[start : start + rows])
            for i, start in enumerate(range(0, len(frame), rows))  # parts, not customers
        ]
        writer.commit(parts, info)
    return open_dataset(root, kind)


# ---------------------------------------------------------------------------------------------
# From a meter export, in pieces


@dataclass
class _WideSource:
    """A wide export opened for streaming: its columns and calendar, resolved once."""

    path: Path
    file_format: str
    header: list[str]
    id_name: str
    label_name: str | None
    day_names: list[str]  # in calendar order
    dates: pd.DatetimeIndex
    report: meter_io.LoadReport


def _open_wide(
    path: Path,
    id_column: str,
    label_column: str | None,
    layout: str,
    long_columns: tuple[str, str] = ("date", "kwh"),
) -> _WideSource:
    """Resolve the ID, label and day columns of a wide export, as ``ntl.io`` does."""
    if layout not in meter_io.LAYOUTS:
        raise MeterDataError(f"layout must be one of {meter_io.LAYOUTS}, got {layout!r}")
    file_format = meter_io.detect_file_format(path)
    header = meter_io.read_header(path, file_format)
    meter_io._check_unique_header(header, path)
    if layout != "wide":
        raise ParameterError(f"{path}: layout {layout!r} is not the wide layout")
    id_name = meter_io._resolve_column(
        header, id_column, meter_io.ID_FALLBACKS, path, required=True
    )
    label_name = meter_io._resolve_column(
        header, label_column, meter_io.LABEL_FALLBACKS, path, required=False
    )
    report = meter_io.LoadReport(
        source=str(path),
        layout="wide",
        file_format=file_format,
        id_column=id_name,
        label_column=label_name,
    )
    file_day_names = [name for name in header if name not in (id_name, label_name)]
    file_dates, report.date_formats = meter_io._day_dates(file_day_names, path)
    report.day_columns_reordered = not file_dates.is_monotonic_increasing
    order = np.argsort(file_dates.asi8, kind="stable")
    return _WideSource(
        path,
        file_format,
        header,
        id_name,
        label_name,
        [file_day_names[i] for i in order],
        file_dates[order],
        report,
    )


def _csv_pieces(source: _WideSource, rows: int) -> Iterator[pa.Table]:
    """The CSV's rows in tables of about `rows` customers, streamed block by block."""
    column_types = dict.fromkeys(source.day_names, pa.float32())
    column_types[source.id_name] = pa.string()
    if source.label_name:
        column_types[source.label_name] = pa.string()
    delimiter = meter_io.csv_delimiter(meter_io._first_line(source.path, source.file_format))
    compression = "gzip" if source.file_format == "csv.gz" else None
    try:
        reader = pacsv.open_csv(
            pa.input_stream(source.path, compression=compression),
            read_options=pacsv.ReadOptions(use_threads=True, block_size=CSV_BLOCK_BYTES),
            parse_options=pacsv.ParseOptions(delimiter=delimiter),
            convert_options=pacsv.ConvertOptions(
                column_types=column_types,
                null_values=list(meter_io.MISSING_STRINGS),  # "Null", "NA", "-" ... as the loader
                strings_can_be_null=True,
            ),
        )
        yield from _exact_pieces(reader, rows)
    except pa.ArrowInvalid as exc:
        raise meter_io._csv_conversion_error(
            exc, source.path, source.header, source.id_name
        ) from exc


def _exact_pieces(batches: Iterator[pa.RecordBatch], rows: int) -> Iterator[pa.Table]:
    """Tables of exactly `rows` rows (the last one shorter) from a stream of record batches."""
    held: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:  # blocks of the file, never the whole file
        held.append(batch)
        count += batch.num_rows
        while count >= rows:
            table = pa.Table.from_batches(held)
            yield table.slice(0, rows)
            rest = table.slice(rows)
            held, count = rest.to_batches(), rest.num_rows
    if count:
        yield pa.Table.from_batches(held)


def _parquet_pieces(source: _WideSource, rows: int) -> Iterator[pa.Table]:
    """The parquet file's rows in tables of `rows` customers, one batch at a time."""
    columns = [source.id_name, *([source.label_name] if source.label_name else [])]
    try:
        handle = pq.ParquetFile(source.path)
        for batch in handle.iter_batches(batch_size=rows, columns=columns + source.day_names):
            yield pa.Table.from_batches([batch])
    except (pa.ArrowException, OSError) as exc:
        raise MeterDataError(f"{source.path}: unreadable or corrupt parquet file ({exc})") from exc


def _piece_frame(
    source: _WideSource, table: pa.Table, negative_readings: str, max_daily_kwh: float
) -> tuple[pd.DataFrame, int]:
    """One piece of the export as a canonical frame, through the loader's own steps."""
    path = source.path
    ids = meter_io._customer_ids(table.column(source.id_name), path, source.id_name)
    if source.file_format == "parquet":
        readings = meter_io._numeric_block(table, source.day_names, path)
    else:
        readings = meter_io._float_block(table, source.day_names)
    if source.label_name:
        flag = meter_io._labels(table.column(source.label_name), ids, path, source.label_name)
    else:
        flag = meter_io._no_labels(len(ids))
    return meter_io.canonical_rows(
        ids, readings, source.dates, flag, negative_readings, path, source.report, max_daily_kwh
    )


def convert_meter_file(
    path: str | Path,
    root: str | Path,
    *,
    rows_per_part: int | None = None,
    layout: str = "auto",
    id_column: str = ID_COLUMN,
    label_column: str | None = LABEL_COLUMN,
    negative_readings: str = "missing",
    min_days: int = 14,
    date_column: str = "date",
    value_column: str = "kwh",
    max_daily_kwh: float = meter_io.MAX_DAILY_KWH,
    **interval_options: Any,
) -> tuple[PartitionedDataset, meter_io.LoadReport]:
    """Write a meter export (CSV, csv.gz or parquet; any layout ``ntl.io`` reads) as a
    partitioned consumption dataset, never holding the whole file.

    A wide file is streamed in pieces of `rows_per_part` customers (default: about 64 MB of
    readings), each checked and laid out exactly as ``ntl.io.read_meter_data`` would; customer IDs
    are checked unique across the whole file from an 8-byte hash per customer. A long or
    wide-interval file (rows of readings, a customer's rows anywhere in the file) goes through
    `convert_rows_file`; `interval_options` (period_column, day_code_origin, timezone,
    interval_stamps, max_missing_share) are the loader's. Returns the dataset and the loader's
    report summed over the pieces.
    """
    path = Path(path)
    if negative_readings not in meter_io.NEGATIVE_POLICIES:
        raise MeterDataError(
            f"negative_readings must be one of {meter_io.NEGATIVE_POLICIES}, "
            f"got {negative_readings!r}"
        )
    if not (isinstance(max_daily_kwh, (int, float)) and max_daily_kwh > 0):
        raise MeterDataError(f"max_daily_kwh must be a number > 0, got {max_daily_kwh!r}")
    if layout not in meter_io.LAYOUTS:
        raise MeterDataError(f"layout must be one of {meter_io.LAYOUTS}, got {layout!r}")
    unknown = set(interval_options) - set(INTERVAL_OPTIONS)
    if unknown:
        raise ParameterError(f"convert_meter_file: unknown option(s) {sorted(unknown)}")
    resolved = _resolve_layout(path, layout, id_column, label_column, date_column, value_column)
    if resolved != "wide":
        return convert_rows_file(
            path,
            root,
            layout=resolved,
            rows_per_part=rows_per_part,
            id_column=id_column,
            label_column=label_column,
            negative_readings=negative_readings,
            min_days=min_days,
            date_column=date_column,
            value_column=value_column,
            max_daily_kwh=max_daily_kwh,
            **interval_options,
        )
    source = _open_wide(path, id_column, label_column, "wide", (date_column, value_column))
    meter_io.check_history_length(path, len(source.dates), min_days)
    rows = rows_per_part or default_part_rows(len(source.dates))
    pieces = _parquet_pieces if source.file_format == "parquet" else _csv_pieces
    report = source.report
    report.days_in_file = len(source.dates)
    hashes, parts, n_missing = [], [], 0
    labels = {"theft": 0, "normal": 0, "unlabeled": 0}
    calendar: dict[str, Any] = {}
    with DatasetWriter(root, "consumption") as writer:
        for table in pieces(source, rows):
            frame, piece_missing = _piece_frame(source, table, negative_readings, max_daily_kwh)
            if not len(frame):
                continue
            hashes.append(pd.util.hash_array(frame.index.to_numpy(dtype=object)))
            parts.append(write_part(writer.staging, len(parts), frame))
            n_missing += piece_missing
            flag = frame[LABEL_COLUMN]
            labels["theft"] += int((flag == 1).sum())
            labels["normal"] += int((flag == 0).sum())
            labels["unlabeled"] += int(flag.isna().sum())
            calendar = calendar_info(frame)
        if not parts:
            raise MeterDataError(f"{path}: no customer has a single reading")
        _check_unique_ids(np.concatenate(hashes), writer.staging, parts, path)
        n_customers = int(sum(part["customers"] for part in parts))
        report.n_customers, report.n_days = n_customers, calendar["n_days"]
        report.first_day, report.last_day = calendar["first_day"], calendar["last_day"]
        report.n_theft, report.n_normal = labels["theft"], labels["normal"]
        report.n_unlabeled = labels["unlabeled"]
        report.missing_fraction = n_missing / (n_customers * calendar["n_days"])
        info = {**calendar, "source": str(path), "labels": labels}
        writer.commit(parts, info | _load_notes(report))
    return open_dataset(root, "consumption"), report


# ---------------------------------------------------------------------------------------------
# From a long or wide-interval export (rows of readings), in pieces

INTERVAL_OPTIONS = (
    "period_column",
    "day_code_origin",
    "timezone",
    "interval_stamps",
    "max_missing_share",
)
PIECE_FILE_ROWS = 16_000_000  # rows of the export per part (about 400 MB of loader work)
HASH_MERGE_BATCHES = 64  # batches between merges of the distinct-ID hashes


def _resolve_layout(
    path: Path,
    layout: str,
    id_column: str,
    label_column: str | None,
    date_column: str,
    value_column: str,
) -> str:
    """The layout ``ntl.io.read_meter_data`` would read `path` with (``detect_layout`` on auto)."""
    if layout != "auto":
        return layout
    header = meter_io.read_header(path, meter_io.detect_file_format(path))
    return meter_io.detect_layout(header, date_column, value_column, id_column, label_column)


def _row_batches(path: Path, file_format: str) -> Iterator[pa.RecordBatch]:
    """The export's rows, block by block: CSV as text (the loader parses it again, as it parses
    the file), parquet in its stored types."""
    if file_format == "parquet":
        try:
            yield from pq.ParquetFile(path).iter_batches(batch_size=1 << 18)
        except (pa.ArrowException, OSError) as exc:
            raise MeterDataError(f"{path}: unreadable or corrupt parquet file ({exc})") from exc
        return
    header = meter_io.read_header(path, file_format)
    delimiter = meter_io.csv_delimiter(meter_io._first_line(path, file_format))
    try:
        yield from pacsv.open_csv(
            pa.input_stream(path, compression="gzip" if file_format == "csv.gz" else None),
            read_options=pacsv.ReadOptions(use_threads=True, block_size=CSV_BLOCK_BYTES),
            parse_options=pacsv.ParseOptions(delimiter=delimiter),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(header, pa.string()), strings_can_be_null=False
            ),
        )
    except (pa.ArrowInvalid, OSError, EOFError) as exc:
        raise MeterDataError(f"{path}: cannot read the file as CSV ({exc})") from None


def _id_hashes(batch: pa.RecordBatch, id_name: str) -> np.ndarray:
    """An 8-byte hash of each row's customer ID, as text trimmed of whitespace (the loader's
    IDs: ` C1` and `C1` are one customer, so their rows go to one piece)."""
    ids = pc.utf8_trim_whitespace(batch.column(id_name).cast(pa.string()))
    return pd.util.hash_array(ids.to_numpy(zero_copy_only=False).astype(object))


def _distinct_hashes(path: Path, file_format: str, id_name: str) -> tuple[np.ndarray, int]:
    """Sorted distinct ID hashes of the export (8 bytes a customer) and its number of rows."""
    merged = np.empty(0, dtype=np.uint64)
    pending: list[np.ndarray] = []
    n_rows = 0
    for batch in _row_batches(path, file_format):  # blocks of the file, never the whole file
        n_rows += batch.num_rows
        pending.append(np.unique(_id_hashes(batch, id_name)))
        if len(pending) >= HASH_MERGE_BATCHES:
            merged = np.unique(np.concatenate([merged, *pending]))
            pending = []
    return np.unique(np.concatenate([merged, *pending])), n_rows


class _PieceFiles:
    """One file per part in a hidden folder: the export's rows routed by customer, written in
    the export's own format (text CSV stays text), so the loader reads each as it reads the file."""

    def __init__(self, folder: Path, file_format: str, schema: pa.Schema) -> None:
        self.folder, self.schema = folder, schema
        self.suffix = "parquet" if file_format == "parquet" else "csv"
        self.writers: dict[int, Any] = {}

    def path(self, piece: int) -> Path:
        return self.folder / f"piece-{piece:05d}.{self.suffix}"

    def write(self, piece: int, table: pa.Table) -> None:
        writer = self.writers.get(piece)
        if writer is None:
            if self.suffix == "parquet":
                writer = pq.ParquetWriter(self.path(piece), self.schema)
            else:
                options = pacsv.WriteOptions(quoting_style="needed")
                writer = pacsv.CSVWriter(self.path(piece), self.schema, write_options=options)
            self.writers[piece] = writer
        writer.write_table(table.cast(self.schema))

    def close(self) -> list[int]:
        """Close every file; the pieces written, in order."""
        for writer in self.writers.values():
            writer.close()
        return sorted(self.writers)


def _route_rows(
    path: Path, file_format: str, id_name: str, distinct: np.ndarray, rows: int, folder: Path
) -> list[Path]:
    """Write each row into the piece of its customer: customers in hash order, `rows` a piece."""
    files: _PieceFiles | None = None
    for batch in _row_batches(path, file_format):  # blocks of the file
        table = pa.Table.from_batches([batch])
        piece = np.searchsorted(distinct, _id_hashes(batch, id_name)) // rows
        order = np.argsort(piece, kind="stable")
        table, piece = table.take(pa.array(order)), piece[order]
        starts = np.flatnonzero(np.r_[True, piece[1:] != piece[:-1]])
        ends = np.r_[starts[1:], len(piece)]
        if files is None:
            files = _PieceFiles(folder, file_format, table.schema)
        for start, end in zip(starts, ends, strict=True):  # pieces in this block
            files.write(int(piece[start]), table.slice(start, end - start))
    if files is None:
        raise MeterDataError(f"{path}: has a header but no rows")
    return [files.path(piece) for piece in files.close()]


def _on_calendar(frame: pd.DataFrame, dates: pd.DatetimeIndex) -> pd.DataFrame:
    """A part's canonical frame on the dataset's whole calendar (NaN before and after its own)."""
    own = day_columns(frame)
    if own == [f"{d:%Y-%m-%d}" for d in dates]:
        return frame
    offset = dates.get_loc(pd.Timestamp(own[0]))
    readings = np.full((len(frame), len(dates)), np.nan, dtype=np.float32)
    readings[:, offset : offset + len(own)] = frame[own].to_numpy(dtype=np.float32)
    return build_frame(frame.index, readings, dates[0], flag=frame[LABEL_COLUMN].array)


def _sum_reports(reports: Sequence[meter_io.LoadReport], path: Path) -> meter_io.LoadReport:
    """The pieces' reports as one: counts summed, lists joined, the rest from the first."""
    total = dataclasses.replace(
        reports[0],
        source=str(path),
        file_format=meter_io.detect_file_format(path),
        dropped_ids=[],
        calendar_days_inserted=max(r.calendar_days_inserted for r in reports),
        implausible_by_customer={
            customer: count
            for r in reports
            for customer, count in r.implausible_by_customer.items()
        },
    )
    for name in (
        "negative_readings_set_missing",
        "implausible_readings_set_missing",
        "implausible_customers",
        "all_missing_customers_dropped",
    ):
        setattr(total, name, sum(getattr(r, name) for r in reports))
    total.dropped_ids = [c for r in reports for c in r.dropped_ids]
    total.implausible_example = next(
        (r.implausible_example for r in reports if r.implausible_example), ""
    )
    if total.interval is not None:
        counts = [f.name for f in dataclasses.fields(total.interval) if f.type in ("int", int)]
        summed = {n: sum(getattr(r.interval, n) for r in reports) for n in counts}
        summed["daylight_saving_days"] = max(r.interval.daylight_saving_days for r in reports)
        total.interval = dataclasses.replace(total.interval, **summed)
    return total


def convert_rows_file(
    path: str | Path,
    root: str | Path,
    *,
    layout: str,
    rows_per_part: int | None = None,
    id_column: str = ID_COLUMN,
    label_column: str | None = LABEL_COLUMN,
    negative_readings: str = "missing",
    min_days: int = 14,
    date_column: str = "date",
    value_column: str = "kwh",
    max_daily_kwh: float = meter_io.MAX_DAILY_KWH,
    **interval_options: Any,
) -> tuple[PartitionedDataset, meter_io.LoadReport]:
    """A long or wide-interval export (daily or interval rows) as a partitioned dataset.

    A customer's rows may be anywhere in the file, so it is read twice, block by block: first
    the distinct customer IDs (an 8-byte hash each), then every row is routed into the piece of
    its customer (`rows_per_part` customers a piece; by default as many as make about
    PIECE_FILE_ROWS rows of the file). Each piece is then read by ``ntl.io.read_meter_data``
    itself, so interval days, daylight saving, completeness, missing strings and every check
    are the loader's, and put on the whole file's calendar. Memory: one piece's rows.
    """
    path = Path(path)
    if layout not in ("long", "wide-interval"):
        raise ParameterError(
            f"convert_rows_file: layout must be long or wide-interval, got {layout!r}"
        )
    file_format = meter_io.detect_file_format(path)
    header = meter_io.read_header(path, file_format)
    meter_io._check_unique_header(header, path)
    id_name = meter_io._resolve_column(
        header, id_column, meter_io.ID_FALLBACKS, path, required=True
    )
    options = dict(
        layout=layout, id_column=id_column, label_column=label_column, date_column=date_column,
        value_column=value_column, negative_readings=negative_readings, min_days=1,
        max_daily_kwh=max_daily_kwh, **interval_options,
    )  # fmt: skip
    scratch = Path(root).parent / f".{Path(root).name}.rows-{uuid.uuid4().hex[:8]}"
    with DatasetWriter(root, "consumption") as writer:
        try:
            scratch.mkdir(parents=True)
            distinct, n_rows = _distinct_hashes(path, file_format, id_name)
            rows = rows_per_part or max(
                MIN_PART_ROWS, PIECE_FILE_ROWS // max(1, n_rows // max(len(distinct), 1))
            )
            pieces = _route_rows(path, file_format, id_name, distinct, rows, scratch)
            reports, firsts, lasts, parts = [], [], [], []
            for piece in pieces:  # parts, not customers
                frame, report = meter_io.read_meter_data(piece, **options)
                piece.unlink()
                reports.append(report)
                days = day_columns(frame)
                firsts.append(days[0])
                lasts.append(days[-1])
                parts.append(write_part(writer.staging, len(parts), frame))
            dates = pd.date_range(min(firsts), max(lasts), freq="D")
            meter_io.check_history_length(path, len(dates), min_days)
            hashes, labels = [], {"theft": 0, "normal": 0, "unlabeled": 0}
            n_missing = 0
            for position, part in enumerate(parts):  # parts: onto the whole calendar
                frame = _on_calendar(read_part(writer.staging, part), dates)
                parts[position] = write_part(writer.staging, position, frame)
                hashes.append(pd.util.hash_array(frame.index.to_numpy(dtype=object)))
                flag = frame[LABEL_COLUMN]
                labels["theft"] += int((flag == 1).sum())
                labels["normal"] += int((flag == 0).sum())
                labels["unlabeled"] += int(flag.isna().sum())
                n_missing += int(np.isnan(frame[day_columns(frame)].to_numpy()).sum())
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        _check_unique_ids(np.concatenate(hashes), writer.staging, parts, path)
        report = _sum_reports(reports, path)
        n_customers = int(sum(part["customers"] for part in parts))
        calendar = {"first_day": f"{dates[0]:%Y-%m-%d}", "last_day": f"{dates[-1]:%Y-%m-%d}"}
        report.n_customers, report.n_days = n_customers, len(dates)
        report.days_in_file = max(r.days_in_file for r in reports)
        report.first_day, report.last_day = calendar["first_day"], calendar["last_day"]
        report.n_theft, report.n_normal = labels["theft"], labels["normal"]
        report.n_unlabeled = labels["unlabeled"]
        report.missing_fraction = n_missing / (n_customers * len(dates))
        info = {**calendar, "n_days": len(dates), "source": str(path), "labels": labels}
        writer.commit(parts, info | _load_notes(report))
    return open_dataset(root, "consumption"), report


def _load_notes(report: meter_io.LoadReport) -> dict[str, Any]:
    """What the loader changed that later steps need: customers dropped for having no reading
    (scored as such) and implausible readings per customer (their quality is LOW)."""
    return {
        "dropped_ids": list(report.dropped_ids),
        "implausible_by_customer": dict(report.implausible_by_customer),
    }


def _check_unique_ids(
    hashes: np.ndarray, staging: Path, parts: Sequence[Mapping[str, Any]], path: Path
) -> None:
    """MeterDataError naming customer IDs that occur in more than one piece of the file."""
    values, counts = np.unique(hashes, return_counts=True)
    repeated = values[counts > 1]
    if not len(repeated):
        return
    names: list[str] = []
    for part in parts:  # only on failure: read the ID column of each part back
        ids = pd.read_parquet(staging / part["file"], columns=[LABEL_COLUMN]).index
        found = np.isin(pd.util.hash_array(ids.to_numpy(dtype=object)), repeated)
        names.extend(ids[found].tolist())
    dupes = sorted(set(names))
    if dupes:  # equal hashes of different IDs (odds ~3e-6 at 10M IDs) are not duplicates
        raise MeterDataError(f"{path}: duplicate customer IDs: {meter_io._preview(dupes, 5)}")


# ---------------------------------------------------------------------------------------------
# Synthetic data, part by part


def _generate_part(
    staging: str,
    truth_staging: str | None,
    position: int,
    offset: int,
    n_rows: int,
    n_total: int,
    seed: int,
    options: Mapping[str, Any],
) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any]]:
    """Generate and write one synthetic part (customers offset .. offset + n_rows - 1)."""
    from ntl.synth import customer_ids, generate_consumption

    frame, truth = generate_consumption(n_rows, seed=seed, **options)
    ids = pd.Index(customer_ids(n_rows, offset=offset, total=n_total), name=ID_COLUMN)
    frame.index, truth.index = ids, ids
    record = write_part(staging, position, frame)
    truth_record = write_part(truth_staging, position, truth) if truth_staging else None
    return record, truth_record, calendar_info(frame)


def generate_partitions(
    root: str | Path,
    n_customers: int,
    *,
    truth_root: str | Path | None = None,
    rows_per_part: int | None = None,
    seed: int = 42,
    client: Client | None = None,
    **options: Any,
) -> PartitionedDataset:
    """Synthetic consumption (``ntl.synth.generate_consumption``) written straight into parts.

    Part i holds customers ``C{offset}..`` drawn with its own seed from ``SeedSequence(seed)``, so
    the data depends on `seed` and the part size, never on the number of workers. `options` are
    generate_consumption's (n_days, start, theft_rate, missing_rate, attack_mix). With a
    `client` the parts are generated on its workers, each writing its own files. The ground truth
    goes to `truth_root` (same parts) when given.
    """
    if int(n_customers) != n_customers or n_customers < 1:
        raise ParameterError(f"n_customers must be a positive integer, got {n_customers!r}")
    n_days = int(options.get("n_days", 1035))
    rows = rows_per_part or default_part_rows(n_days)
    starts = list(range(0, n_customers, rows))
    seeds = [
        int(child.generate_state(1)[0]) for child in np.random.SeedSequence(seed).spawn(len(starts))
    ]
    with contextlib.ExitStack() as stack:
        writer = stack.enter_context(DatasetWriter(root, "consumption"))
        truth_writer = (
            stack.enter_context(DatasetWriter(truth_root, "ground_truth")) if truth_root else None
        )
        arguments = [
            (
                str(writer.staging),
                str(truth_writer.staging) if truth_writer else None,
                position,
                start,
                min(rows, n_customers - start),
                n_customers,
                part_seed,
                options,
            )
            for position, (start, part_seed) in enumerate(zip(starts, seeds, strict=True))
        ]
        results = run_tasks(_generate_part, arguments, client)
        info = {**results[0][2], "synthetic": True, "seed": seed, "rows_per_part": rows}
        if truth_writer is not None:
            truth_writer.commit([r[1] for r in results], info)
        writer.commit([r[0] for r in results], info)
    return open_dataset(root, "consumption")


def run_tasks(
    function: Callable[..., Any], arguments: Sequence[Sequence[Any]], client: Client | None
) -> list[Any]:
    """``function(*args)`` for every args: on the cluster's workers (results gathered in order)
    or, without a client, one after the other in this process."""
    if client is None:
        return [function(*args) for args in arguments]  # parts, not customers
    columns = [list(column) for column in zip(*arguments, strict=True)]
    futures = client.map(function, *columns, pure=False)
    return client.gather(futures)
