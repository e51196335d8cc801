"""Stage 02 on a cluster: quality, cleaning and features per customer partition, clusters fitted
on a seeded sample of the training customers and assigned everywhere -- through
``ntl.preprocess``'s own functions.

The split comes first, as in notebook 02: `split_partitions` draws it from FLAG alone (one byte a
customer travels to the client) with ``ntl.split.split_codes``, the in-memory rule, and
`preprocess_partitions` fits the clustering on the training customers only (`fit_on`).

Each part goes through ``describe_customers`` (the in-memory path's one pass over the readings) on a
worker; only small things travel to the client: per-part counts, then the seeded sample of
shapes the clustering is fitted on (``cluster_sample_size`` x 19 numbers, the same sample the
in-memory ``fit_clusters`` would draw from the same customers). The fitted ``Preprocessor`` is
sent back to the workers, whose ``Preprocessor.assemble`` assigns clusters and peer deviation and
writes the preprocessed part. The result equals ``fit_transform`` of the whole frame.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ntl.clustering import has_shape
from ntl.distributed.partitions import (
    DatasetWriter,
    PartitionedDataset,
    open_dataset,
    read_part,
    write_part,
)
from ntl.errors import ParameterError
from ntl.frame import LABEL_COLUMN, labels
from ntl.preprocess import (
    HIGH,
    MIN_HIGH_TO_CLUSTER,
    CustomerDescriptions,
    PreprocessConfig,
    Preprocessor,
    describe_customers,
    fit_on_shapes,
)
from ntl.split import split_codes

if TYPE_CHECKING:
    from distributed import Client, Future

PREPROCESSED = "preprocessed"


def describe_part(
    root: str,
    part: Mapping[str, Any],
    config: PreprocessConfig,
    implausible: Mapping[str, int] | None = None,
) -> CustomerDescriptions:
    """``describe_customers`` of one consumption part, keeping FLAG but not the readings (the pass is
    held on the worker until the clustering is fitted); `implausible` as there."""
    frame = read_part(root, part)
    computed = describe_customers(  # one task per core already
        frame, config, n_threads=1, implausible=implausible
    )
    return dataclasses.replace(computed, frame=computed.frame[[LABEL_COLUMN]])


def part_flags(root: str, part: Mapping[str, Any]) -> np.ndarray:
    """FLAG of one part's customers as int8 (1 theft, 0 normal, -1 unlabelled)."""
    frame = read_part(root, part, columns=[LABEL_COLUMN])
    return labels(frame).fillna(-1).to_numpy(dtype=np.int8)


def split_partitions(
    client: Client, dataset: PartitionedDataset, fractions: Sequence[float], seed: int
) -> list[np.ndarray]:
    """Per part, each customer's position in ``ntl.split.SPLITS`` (0 train, 1 validation,
    2 test): ``split_codes`` on the FLAG of every customer in part order, so the split equals
    ``split_customers`` of the concatenated parts."""
    root = str(dataset.root)
    flags = client.gather(client.map(part_flags, [root] * len(dataset.parts), list(dataset.parts)))
    flag = pd.Series(np.concatenate(flags)).astype("Int8").where(lambda f: f >= 0)
    codes = split_codes(flag, fractions, seed).astype(np.int8)
    edges = np.cumsum([0, *(len(f) for f in flags)])
    return [codes[a:b] for a, b in zip(edges[:-1], edges[1:], strict=True)]  # parts


def training_masks(codes: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Per part, the mask of its training customers (split code 0)."""
    return [np.asarray(part) == 0 for part in codes]


def fit_rows_of(computed: CustomerDescriptions, fit_rows: np.ndarray | None) -> np.ndarray:
    """The part's customers the transforms are fitted on (all when `fit_rows` is None)."""
    n = len(computed.shapes)
    if fit_rows is None:
        return np.ones(n, dtype=bool)
    rows = np.asarray(fit_rows, dtype=bool)
    if rows.shape != (n,):
        raise ParameterError(f"fit_on mask of a part has {rows.shape[0]} entries for {n} customers")
    return rows


def fit_counts(
    computed: CustomerDescriptions, fit_rows: np.ndarray | None = None
) -> tuple[int, int, int, int]:
    """Of one part's customers to fit on: how many, HIGH quality, HIGH with a shape, and with a
    shape."""
    rows = fit_rows_of(computed, fit_rows)
    high = rows & (computed.quality["quality_flag"] == HIGH).to_numpy()
    valid = rows & has_shape(computed.shapes)
    return int(rows.sum()), int(high.sum()), int((high & valid).sum()), int(valid.sum())


def eligible_shapes(
    computed: CustomerDescriptions,
    positions: np.ndarray,
    fit_rows: np.ndarray | None,
    high_only: bool,
) -> np.ndarray:
    """Shapes at `positions` among the part's customers the clustering may be fitted on
    (``cluster_fit_rows``' rule: the HIGH ones among the fit rows, or all fit rows)."""
    rows = fit_rows_of(computed, fit_rows)
    if high_only:
        rows = rows & (computed.quality["quality_flag"] == HIGH).to_numpy()
    eligible = computed.shapes[rows & has_shape(computed.shapes)]
    return eligible[positions]


def assemble_part(
    computed: CustomerDescriptions, preprocessor: Preprocessor, staging: str, position: int
) -> dict[str, Any]:
    """Clusters and peer deviation for one part (``Preprocessor.assemble``), written as part
    `position` of the preprocessed dataset; its record plus the part's quality counts."""
    frame = preprocessor.assemble(computed)
    record = write_part(staging, position, frame)
    reasons = computed.quality["quality_reason"].str.split("; ").explode()
    record["quality"] = {
        "flags": computed.quality["quality_flag"].value_counts().to_dict(),
        "low_because": reasons[reasons != ""].value_counts().to_dict(),
    }
    record["cleaning"] = dict(computed.cleaning)
    return record


def sample_positions(counts: Sequence[int], size: int, seed: int) -> list[np.ndarray]:
    """Per part, the positions (among its eligible customers) of the clustering's seeded sample.

    Drawn exactly as ``ntl.clustering.fit_clusters`` draws from the eligible customers of the
    whole frame in part order, so both paths fit on the same customers.
    """
    total = int(sum(counts))
    if total > size:
        chosen = np.sort(np.random.default_rng(seed).choice(total, size=size, replace=False))
    else:
        chosen = np.arange(total)
    edges = np.concatenate([[0], np.cumsum(counts)])
    return [
        chosen[(chosen >= start) & (chosen < stop)] - start
        for start, stop in zip(edges[:-1], edges[1:], strict=True)  # parts, not customers
    ]


@dataclass
class DistributedPreprocessing:
    """What the Dask stage 02 produced: the fitted stage, the preprocessed dataset, summaries."""

    preprocessor: Preprocessor
    preprocessed: PartitionedDataset
    quality_counts: pd.Series  # customers per quality flag and LOW reason
    cleaning: dict[str, int]
    quality: pd.DataFrame  # describe_customers' quality table of every customer (a few numbers)


def preprocess_partitions(
    client: Client,
    consumption: PartitionedDataset,
    out_root: str | Path,
    config: PreprocessConfig,
    seed: int,
    fit_on: Sequence[np.ndarray] | None = None,
    implausible: Mapping[str, int] | None = None,
) -> DistributedPreprocessing:
    """Fit stage 02 on the `fit_on` customers of a partitioned consumption dataset (per part a
    boolean mask, e.g. ``training_masks(split_partitions(...))``) and write the preprocessed one.

    Equal to ``ntl.preprocess.fit_transform(frame, config, seed, fit_on=...)`` on the
    concatenated parts: same quality flags, cleaning and features per customer, the clustering
    fitted on the same seeded sample of the same training customers. None fits on every
    customer (data without a split, as in memory). `implausible` (CONS_NO -> readings the
    loader set missing above max_daily_kwh) flags those customers' quality, as in memory.
    """
    root = str(consumption.root)
    n_parts = len(consumption.parts)
    masks = [None] * n_parts if fit_on is None else list(fit_on)
    if len(masks) != n_parts:
        raise ParameterError(f"fit_on has {len(masks)} masks for {n_parts} parts")
    passes: list[Future] = client.map(
        describe_part,
        [root] * n_parts,
        list(consumption.parts),
        config=config,
        implausible=dict(implausible or {}),
    )
    counts = np.asarray(client.gather(client.map(fit_counts, passes, masks)), dtype=np.int64)
    n_fit, n_high, n_high_valid, n_valid = counts.T
    if int(n_fit.sum()) == 0:
        raise ParameterError("fit_on selects no customer")
    high_only = int(n_high.sum()) >= MIN_HIGH_TO_CLUSTER  # the rule of cluster_fit_rows
    eligible = n_high_valid if high_only else n_valid
    positions = sample_positions(eligible, config.cluster_sample_size, seed)
    shapes = np.concatenate(
        client.gather(client.map(eligible_shapes, passes, positions, masks, high_only=high_only))
    )
    first, last = consumption.info["first_day"], consumption.info["last_day"]
    preprocessor = fit_on_shapes(
        shapes,
        config,
        seed,
        customers=int(n_fit.sum()),
        dates=pd.date_range(first, last, freq="D"),
        customers_clustered=int(n_high.sum()) if high_only else int(n_fit.sum()),
    )
    fitted = client.scatter(preprocessor, broadcast=True)
    with DatasetWriter(out_root, PREPROCESSED) as writer:
        records = client.gather(
            client.map(
                assemble_part,
                passes,
                [fitted] * len(passes),
                [str(writer.staging)] * len(passes),
                range(len(passes)),
            )
        )
        cleaning = _sum_counts([r.pop("cleaning") for r in records])
        quality = [r.pop("quality") for r in records]
        writer.commit(records, {**consumption.info, "n_clusters": preprocessor.n_clusters})
    table = pd.concat(client.gather(client.map(quality_table, passes)))
    del passes
    return DistributedPreprocessing(
        preprocessor,
        open_dataset(out_root, PREPROCESSED),
        _quality_counts(quality),
        cleaning,
        table,
    )


def quality_table(computed: CustomerDescriptions) -> pd.DataFrame:
    """The part's quality table (flag, reason and the shares behind them)."""
    return computed.quality


def _sum_counts(dicts: Sequence[Mapping[str, int]]) -> dict[str, int]:
    """Key-wise sums of per-part counts."""
    total: dict[str, int] = {}
    for counts in dicts:  # parts
        for key, value in counts.items():
            total[key] = total.get(key, 0) + int(value)
    return total


def _quality_counts(per_part: Sequence[Mapping[str, Mapping[str, int]]]) -> pd.Series:
    """Customers per quality flag and per LOW reason over all parts, as notebook 02 shows them."""
    flags = _sum_counts([part["flags"] for part in per_part])
    reasons = _sum_counts([part["low_because"] for part in per_part])
    return pd.concat(
        [pd.Series(flags, dtype=np.int64), pd.Series(reasons, dtype=np.int64)],
        keys=["flag", "LOW because"],
    ).rename("customers")
