"""The notebooks on the Dask path: the run folder's readings as a partitioned dataset, and the
small pieces of it the notebooks gather to show and to hand on.

The daily readings (365-1,095 float32 a customer) never leave the workers. Notebook 01 writes
them straight into ``consumption.parts/`` of the run folder (generated on the workers, or a
meter file converted in pieces) and records the folder's listing as the artifact
``consumption_dataset.json``: its sha256 in the manifest pins the sha256 of every part, so the
folder is checked and its lineage followed like any other artifact. Notebook 02 runs stage 02
per part and gathers the preprocessed frame (about 30 float32 a customer: 1.2 GB at 10 million
customers), which notebooks 03 and 04 read as on the in-memory path. What the notebooks draw
from the readings themselves comes from seeded samples of customers (`take_rows`), the same
customers the in-memory path draws.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ntl.artifacts import DATASET_FOLDERS
from ntl.distributed.partitions import (
    DATASET_FILE,
    PartitionedDataset,
    open_dataset,
    read_part,
)
from ntl.errors import ArtifactIntegrityError
from ntl.frame import LABEL_COLUMN, labels

if TYPE_CHECKING:
    from distributed import Client

    from ntl.artifacts import ArtifactStore
    from ntl.distributed.preprocess import DistributedPreprocessing
    from ntl.preprocess import PreprocessConfig

CONSUMPTION_LISTING = "consumption_dataset.json"  # the artifact that pins the run's readings
CONSUMPTION_PARTS = DATASET_FOLDERS[CONSUMPTION_LISTING]  # their folder (retired with it)
PREPROCESSED_PARTS = ".preprocessed.parts"  # stage 02's parts, gathered and removed
EDA_SAMPLE = 20_000  # customers notebook 01 gathers for its summary and figures


def write_consumption(
    store: ArtifactStore, write: Callable[[Path], PartitionedDataset]
) -> PartitionedDataset:
    """Let `write` put the readings into the run folder's ``consumption.parts/`` (a dataset
    writer: parts appear complete or not at all), then record its listing in the store."""
    store.retire_stale()  # this run's first write: what an earlier run left goes first
    dataset = write(store.root / CONSUMPTION_PARTS)
    store.write_bytes(CONSUMPTION_LISTING, (dataset.root / DATASET_FILE).read_bytes())
    return dataset


def read_consumption(store: ArtifactStore) -> PartitionedDataset:
    """The run's partitioned readings, refused unless the folder's listing is the one the store
    recorded (sha256 and lineage checked by the store; each part's sha256 when it is read)."""
    recorded = store.read_bytes(CONSUMPTION_LISTING)
    folder = store.root / CONSUMPTION_PARTS
    listing = folder / DATASET_FILE
    if not listing.is_file() or listing.read_bytes() != recorded:
        raise ArtifactIntegrityError(
            f"{folder} is not the dataset {store.path(CONSUMPTION_LISTING)} records (replaced or "
            "removed since); re-run notebook 01_data_generation_eda"
        )
    return open_dataset(folder, "consumption")


def calendar(dataset: PartitionedDataset) -> pd.DatetimeIndex:
    """The dataset's days, first to last."""
    return pd.date_range(dataset.info["first_day"], dataset.info["last_day"], freq="D")


def part_labels(root: str, part: dict) -> pd.Series:
    """FLAG of one part's customers, by CONS_NO."""
    return labels(read_part(root, part, columns=[LABEL_COLUMN]))


def gather_labels(client: Client, dataset: PartitionedDataset) -> pd.Series:
    """FLAG of every customer by CONS_NO, in part order (one byte a customer and its ID)."""
    root = str(dataset.root)
    pieces = client.gather(client.map(part_labels, [root] * len(dataset.parts), dataset.parts))
    return pd.concat(pieces)


def sample_rows(n_customers: int, size: int, seed: int) -> np.ndarray:
    """Sorted positions of a seeded sample of `size` customers (all when fewer): the draw the
    notebooks make on the in-memory path, so both paths show the same customers."""
    return np.sort(np.random.default_rng(seed).permutation(n_customers)[:size])


def rows_of_part(root: str, part: dict, positions: np.ndarray) -> pd.DataFrame:
    """The part's rows at `positions` (within the part)."""
    return read_part(root, part).iloc[positions]


def take_rows(client: Client, dataset: PartitionedDataset, rows: np.ndarray) -> pd.DataFrame:
    """The customers at sorted global positions `rows` (in part order), read on the workers."""
    edges = np.cumsum([0, *dataset.part_rows])
    rows = np.asarray(rows, dtype=np.int64)
    wanted = [
        (i, rows[(rows >= start) & (rows < stop)] - start)
        for i, (start, stop) in enumerate(zip(edges[:-1], edges[1:], strict=True))  # parts
    ]
    wanted = [(i, positions) for i, positions in wanted if len(positions)]
    root = str(dataset.root)
    pieces = client.gather(
        client.map(
            rows_of_part,
            [root] * len(wanted),
            [dataset.parts[i] for i, _ in wanted],
            [positions for _, positions in wanted],
        )
    )
    if not pieces:
        return read_part(dataset.root, dataset.parts[0]).iloc[:0]
    return pd.concat(pieces)


def rows_with_ids(root: str, part: dict, customers: list[str]) -> pd.DataFrame:
    """The part's rows of those `customers` it holds."""
    frame = read_part(root, part)
    return frame.loc[frame.index.intersection(pd.Index(customers))]


def take_customers(
    client: Client, dataset: PartitionedDataset, customers: Sequence[str]
) -> pd.DataFrame:
    """The readings of a few `customers` (by CONS_NO), in the order given."""
    wanted = [str(c) for c in customers]
    root = str(dataset.root)
    n = len(dataset.parts)
    found = pd.concat(
        client.gather(client.map(rows_with_ids, [root] * n, dataset.parts, [wanted] * n))
    )
    missing = pd.Index(wanted).difference(found.index)
    if len(missing):
        raise ArtifactIntegrityError(f"{dataset.root}: no readings for {missing[:3].tolist()}")
    return found.loc[wanted]


def calendar_frame(dataset: PartitionedDataset) -> pd.DataFrame:
    """A consumption frame without customers: FLAG and the dataset's day columns (what the
    in-memory path reads from the frame's shape: the calendar and the history's length)."""
    return read_part(dataset.root, dataset.parts[0]).iloc[:0]


def part_last_readings(root: str, part: dict) -> pd.Series:
    """``ntl.frame.last_reading_dates`` of one part."""
    from ntl.frame import last_reading_dates

    return last_reading_dates(read_part(root, part))


def gather_last_readings(client: Client, dataset: PartitionedDataset) -> pd.Series:
    """Each customer's last reading date (one date a customer), computed per part."""
    root = str(dataset.root)
    n = len(dataset.parts)
    return pd.concat(client.gather(client.map(part_last_readings, [root] * n, dataset.parts)))


def training_masks_of(split: pd.DataFrame, dataset: PartitionedDataset, order: pd.Index):
    """Per part, the mask of its training customers under `split` (``split_customers``'
    frame); `order` is every CONS_NO in part order."""
    train = (split["split"].reindex(order) == "train").to_numpy()
    edges = np.cumsum([0, *dataset.part_rows])
    return [train[a:b] for a, b in zip(edges[:-1], edges[1:], strict=True)]  # parts


def preprocess_run(
    client: Client,
    store: ArtifactStore,
    dataset: PartitionedDataset,
    config: PreprocessConfig,
    seed: int,
    split: pd.DataFrame,
    order: pd.Index,
    implausible: Mapping[str, int] | None = None,
) -> tuple[DistributedPreprocessing, pd.DataFrame]:
    """Stage 02 on the cluster, fitted on `split`'s training customers; returns the result and
    the gathered preprocessed frame (its parts, staged in the run folder, are removed).
    `implausible` as in ``describe_customers``."""
    from ntl.distributed.preprocess import preprocess_partitions

    staging = store.root / PREPROCESSED_PARTS
    try:
        result = preprocess_partitions(
            client,
            dataset,
            staging,
            config,
            seed,
            training_masks_of(split, dataset, order),
            implausible,
        )
        frame = result.preprocessed.read_all()
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return result, frame


def listing_summary(dataset: PartitionedDataset) -> dict:
    """Parts, customers and bytes of a dataset, for the notebooks' one-line report."""
    return {
        "parts": len(dataset.parts),
        "customers": dataset.n_customers,
        "megabytes": round(sum(int(p["bytes"]) for p in dataset.parts) / 1e6, 1),
    }


def generate_run(
    client: Client, store: ArtifactStore, n_customers: int, seed: int, **options
) -> tuple[PartitionedDataset, pd.DataFrame]:
    """Synthetic readings generated on the workers into the run's ``consumption.parts/``
    (``generate_partitions``); returns the dataset and the whole ground truth (a few columns a
    customer), its parts staged in the run folder and removed."""
    from ntl.distributed.partitions import generate_partitions

    truth_root = store.root / ".ground_truth.parts"
    try:
        dataset = write_consumption(
            store,
            lambda root: generate_partitions(
                root, n_customers, truth_root=truth_root, seed=seed, client=client, **options
            ),
        )
        truth = open_dataset(truth_root, "ground_truth").read_all()
    finally:
        shutil.rmtree(truth_root, ignore_errors=True)
    return dataset, truth


def convert_run(store: ArtifactStore, path: Path, **options):
    """A meter file converted in pieces into the run's ``consumption.parts/``
    (``convert_meter_file``, the loader's own checks); returns the dataset and the load report."""
    from ntl.distributed.partitions import convert_meter_file

    report = []

    def convert(root: Path) -> PartitionedDataset:
        dataset, load_report = convert_meter_file(path, root, **options)
        report.append(load_report)
        return dataset

    dataset = write_consumption(store, convert)
    return dataset, report[0]


def sample_note(dataset: PartitionedDataset, shown: int) -> str:
    """The sentence notebook 01 prints on the Dask path: where the readings are, what is shown."""
    size = listing_summary(dataset)
    parts = f"{size['parts']} parquet part{'s' if size['parts'] != 1 else ''}"
    return (
        f"Dask path: the readings stay in {parts} ({size['megabytes']:,} MB) in "
        f"{CONSUMPTION_PARTS}/; the summary and figures below show a seeded sample of "
        f"{shown:,} of {dataset.n_customers:,} customers."
    )
