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
import json
import shutil
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ntl import io as meter_io
from ntl._version import __version__
from ntl.artifacts import sha256_file
from ntl.errors import ArtifactIntegrityError, MeterDataError, MissingArtifactError, ParameterError
from ntl.frame import ID_COLUMN, LABEL_COLUMN, day_columns

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


def read_part(
    root: str | Path, part: Mapping[str, Any], columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """One part's frame, after checking its bytes against the sha256 recorded for it."""
    path = Path(root) / part["file"]
    if not path.exists():
        raise MissingArtifactError(f"{path}: part listed in {DATASET_FILE} is missing")
    digest = sha256_file(path)
    if digest != part["sha256"]:
        raise ArtifactIntegrityError(
            f"{path} changed since it was written (sha256 {digest[:12]}... != recorded "
            f"{part['sha256'][:12]}...): refusing to read it"
        )
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
    looks_long = all(name in header for name in long_columns)
    if layout == "long" or (layout == "auto" and looks_long):
        raise ParameterError(
            f"{path}: only the wide layout (one row per customer) is converted in pieces; "
            "a long export (one row per customer and day) has to be pivoted first "
            "(ntl.io.read_meter_data, then write_frame_partitions)"
        )
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
                column_types=column_types, strings_can_be_null=True
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
    source: _WideSource, table: pa.Table, negative_readings: str
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
        ids, readings, source.dates, flag, negative_readings, path, source.report
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
) -> tuple[PartitionedDataset, meter_io.LoadReport]:
    """Write a wide meter export (CSV, csv.gz or parquet) as a partitioned consumption dataset.

    The file is streamed in pieces of `rows_per_part` customers (default: about 64 MB of
    readings), each checked and laid out exactly as ``ntl.io.read_meter_data`` would; customer IDs
    are checked unique across the whole file from an 8-byte hash per customer. Returns the dataset
    and the loader's report summed over the pieces.
    """
    path = Path(path)
    if negative_readings not in meter_io.NEGATIVE_POLICIES:
        raise MeterDataError(
            f"negative_readings must be one of {meter_io.NEGATIVE_POLICIES}, "
            f"got {negative_readings!r}"
        )
    source = _open_wide(path, id_column, label_column, layout, (date_column, value_column))
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
            frame, piece_missing = _piece_frame(source, table, negative_readings)
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
        writer.commit(parts, info | {"dropped_ids": list(report.dropped_ids)})
    return open_dataset(root, "consumption"), report


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
