"""The notebooks on the Dask path: the run folder's readings as a partitioned dataset, and the
small pieces of it the notebooks gather to show and to hand on.

The daily readings (365-1,095 float32 a customer) never leave the workers. Notebook 01 writes
them straight into ``consumption.parts/`` of the run folder (generated on the workers, or a
meter file converted in pieces) and records the folder's listing as the artifact
``consumption_dataset.json``: its sha256 in the manifest pins the sha256 of every part, so the
folder is checked and its lineage followed like any other artifact. Notebook 02 runs stage 02
per part, keeps the preprocessed parts in ``preprocessed.parts/`` (pinned the same way by
``preprocessed_dataset.json``) and also writes them gathered as ``preprocessed.parquet`` (57
float32 a customer: 2.3 GB at 10 million customers), the artifact ``ntl score``, notebook 04,
the monitor and the web app read. Notebook 03 trains on the parts (``train_run``: XGBoost with
``xgboost.dask``) and gathers only labels, samples and scores. What the notebooks draw from the
readings themselves comes from seeded samples of customers (`take_rows`), the same customers the
in-memory path draws.
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
    from ntl.models import ModelBundle
    from ntl.preprocess import PreprocessConfig

CONSUMPTION_LISTING = "consumption_dataset.json"  # the artifact that pins the run's readings
CONSUMPTION_PARTS = DATASET_FOLDERS[CONSUMPTION_LISTING]  # their folder (retired with it)
PREPROCESSED_LISTING = "preprocessed_dataset.json"  # the artifact that pins stage 02's parts
PREPROCESSED_PARTS = DATASET_FOLDERS[PREPROCESSED_LISTING]  # their folder (retired with it)
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
    return read_listed(store, CONSUMPTION_LISTING, "consumption", "01_data_generation_eda")


def read_preprocessed(store: ArtifactStore) -> PartitionedDataset:
    """The run's preprocessed parts (stage 02 on the Dask path), checked as `read_consumption`."""
    return read_listed(store, PREPROCESSED_LISTING, "preprocessed", "02_preprocessing_clustering")


def read_listed(store: ArtifactStore, listing_name: str, kind: str, writer: str):
    """The dataset folder the artifact `listing_name` pins, refused unless its listing is
    byte for byte the recorded one (`writer` is the notebook to re-run)."""
    recorded = store.read_bytes(listing_name)
    folder = store.root / DATASET_FOLDERS[listing_name]
    listing = folder / DATASET_FILE
    if not listing.is_file() or listing.read_bytes() != recorded:
        raise ArtifactIntegrityError(
            f"{folder} is not the dataset {store.path(listing_name)} records (replaced or "
            f"removed since); re-run notebook {writer}"
        )
    return open_dataset(folder, kind)


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


def part_columns(root: str, part: dict, columns: list[str]) -> pd.DataFrame:
    """A few columns of one part, by CONS_NO."""
    return read_part(root, part, columns=columns)


def gather_columns(
    client: Client, dataset: PartitionedDataset, columns: Sequence[str]
) -> pd.DataFrame:
    """A few `columns` of every customer by CONS_NO, in part order (notebook 03 gathers FLAG,
    quality_flag and cluster: a few bytes a customer and its ID)."""
    root, n = str(dataset.root), len(dataset.parts)
    wanted = [list(columns)] * n
    return pd.concat(client.gather(client.map(part_columns, [root] * n, dataset.parts, wanted)))


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
    """Stage 02 on the cluster, fitted on `split`'s training customers, written into the run's
    ``preprocessed.parts/`` and recorded as ``preprocessed_dataset.json`` (what notebook 03
    trains on); returns the result and the gathered preprocessed frame (the notebook writes it
    as ``preprocessed.parquet``). `implausible` as in ``describe_customers``."""
    from ntl.distributed.preprocess import preprocess_partitions

    result = preprocess_partitions(
        client,
        dataset,
        store.root / PREPROCESSED_PARTS,
        config,
        seed,
        training_masks_of(split, dataset, order),
        implausible,
    )
    store.write_bytes(PREPROCESSED_LISTING, (result.preprocessed.root / DATASET_FILE).read_bytes())
    return result, result.preprocessed.read_all()


def split_positions(
    split: pd.DataFrame, dataset: PartitionedDataset, order: pd.Index
) -> list[np.ndarray]:
    """Per part, its customers' positions in SPLITS under `split` (``split_customers``' frame);
    `order` is every CONS_NO in part order. A customer the split does not hold is refused."""
    from ntl.split import SPLITS

    codes = pd.Index(SPLITS).get_indexer(split["split"].reindex(order))
    if (codes < 0).any():
        missing = order[codes < 0]
        raise ArtifactIntegrityError(
            f"split.parquet holds no split for {len(missing)} customers of {dataset.root} "
            f"(e.g. {missing[0]!r}); re-run notebook 02_preprocessing_clustering"
        )
    edges = np.cumsum([0, *dataset.part_rows])
    return [codes[a:b] for a, b in zip(edges[:-1], edges[1:], strict=True)]  # parts


def train_run(
    client: Client,
    dataset: PartitionedDataset,
    split: pd.DataFrame,
    order: pd.Index,
    **params,
) -> tuple[ModelBundle, dict]:
    """Notebook 03 on the Dask path: ``train_partitions`` (XGBoost with ``xgboost.dask``) on
    the preprocessed parts with 02's `split`; returns the bundle and a report with the keys of
    ``train_models``' (``validation_rows``: the sample of validation customers the comparison
    and the figures read). `order` is every CONS_NO in part order; `params` are
    ``ModelParameters`` fields. The bundle's metadata records the trainer and the workers."""
    from ntl.distributed.cluster import describe
    from ntl.distributed.models import train_partitions

    result = train_partitions(
        client, dataset, split=split_positions(split, dataset, order), **params
    )
    result.bundle.training_info["trained_with"]["workers"] = describe(client)["workers"]
    return result.bundle, result.report


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


def training_note(dataset: PartitionedDataset, search_seconds: float) -> str:
    """What notebook 03 says on the Dask path: what ran on the workers and what on samples."""
    from ntl.distributed.models import ISOLATION_SAMPLE, VALIDATION_SAMPLE

    size = listing_summary(dataset)
    search = (
        f" No random search on this path (search_seconds={search_seconds:g} is ignored): "
        "XGBoost uses the given hyperparameters."
        if search_seconds
        else ""
    )
    return (
        f"Dask path: the features stay in {size['parts']} parquet part"
        f"{'s' if size['parts'] != 1 else ''} in {PREPROCESSED_PARTS}/ on the workers. XGBoost "
        "and its out-of-fold models are trained there with xgboost.dask; the Isolation Forests, "
        f"One-Class SVM and autoencoder on a seeded sample of at most {ISOLATION_SAMPLE:,} "
        "training customers, the baselines on a sample of the labelled ones; the comparison and "
        f"figures read a seeded sample of at most {VALIDATION_SAMPLE:,} validation customers. "
        "The raw-readings baseline is not fitted (the readings stay in consumption.parts/)."
        + search
    )
