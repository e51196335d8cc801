"""Record batches of a meter file: pyarrow's streaming CSV reader or parquet ``iter_batches``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ntl.errors import MeterDataError
from ntl.io import MISSING_STRINGS, csv_delimiter, read_header
from ntl.io import _first_line as read_first_line

CSV_BLOCK_BYTES = 16 << 20  # bytes of CSV per record batch (about 400k half-hour rows)
PARQUET_BATCH_ROWS = 1 << 19
SNIFF_ROWS = 1 << 19  # parquet rows looked at to tell timestamps from dates
SNIFF_BYTES = 16 << 20  # the same for CSV: the head of the file (about 400k half-hour rows)


def open_csv(
    path: Path, file_format: str, convert: pacsv.ConvertOptions, block_size: int
) -> pacsv.CSVStreamingReader:
    """pyarrow's streaming CSV reader, the columns named as ``ntl.io.read_header`` names them
    (stripped of padding such as the London trial's ``KWH/hh (per half hour) ``)."""
    delimiter = csv_delimiter(read_first_line(path, file_format))
    names = read_header(path, file_format)
    read = pacsv.ReadOptions(
        use_threads=True, block_size=block_size, column_names=names, skip_rows=1
    )
    return pacsv.open_csv(
        pa.input_stream(path, compression="gzip" if file_format == "csv.gz" else None),
        read_options=read,
        parse_options=pacsv.ParseOptions(delimiter=delimiter),
        convert_options=convert,
    )


def record_batches(
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
        reader = open_csv(path, file_format, convert, CSV_BLOCK_BYTES)
        for batch in reader:
            yield batch, row0
            row0 += batch.num_rows
    except pa.ArrowInvalid as exc:
        if attempt == "fast":
            raise
        raise MeterDataError(f"{path}: cannot parse as CSV ({exc})") from exc


def csv_sample(path: Path, file_format: str, column: str) -> pa.Array:
    """One CSV column's values in the head of the file, as text (to tell timestamps from dates)."""
    convert = pacsv.ConvertOptions(column_types={column: pa.string()}, include_columns=[column])
    try:
        reader = open_csv(path, file_format, convert, block_size=SNIFF_BYTES)
        return reader.read_next_batch().column(0)
    except StopIteration:
        return pa.array([], pa.string())
    except pa.ArrowInvalid as exc:
        raise MeterDataError(f"{path}: cannot parse as CSV ({exc})") from exc
