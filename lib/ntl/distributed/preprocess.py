"""Stage 02 on a cluster: quality, cleaning and features per customer partition, clusters fitted
on a seeded sample and assigned everywhere -- through ``ntl.preprocess``'s own functions.

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
from ntl.frame import LABEL_COLUMN
from ntl.preprocess import (
    HIGH,
    MIN_HIGH_TO_CLUSTER,
    CustomerDescriptions,
    PreprocessConfig,
    Preprocessor,
    describe_customers,
    fit_on_shapes,
)

if TYPE_CHECKING:
    from distributed import Client, Future

PREPROCESSED = "preprocessed"


def describe_part(
    root: str, part: Mapping[str, Any], config: PreprocessConfig
) -> CustomerDescriptions:
    """``describe_customers`` of one consumption part, keeping FLAG but not the readings (the pass is
    held on the worker until the clustering is fitted)."""
    frame = read_part(root, part)
    computed = describe_customers(frame, config, n_threads=1)  # one task per core already
    return dataclasses.replace(computed, frame=computed.frame[[LABEL_COLUMN]])


def fit_counts(computed: CustomerDescriptions) -> tuple[int, int, int]:
    """Customers of one part that are HIGH quality, HIGH with a shape, and with a shape."""
    high = (computed.quality["quality_flag"] == HIGH).to_numpy()
    valid = has_shape(computed.shapes)
    return int(high.sum()), int((high & valid).sum()), int(valid.sum())


def eligible_shapes(
    computed: CustomerDescriptions, positions: np.ndarray, high_only: bool
) -> np.ndarray:
    """Shapes at `positions` among the part's customers the clustering may be fitted on."""
    rows = np.asarray(
        computed.quality["quality_flag"] == HIGH
        if high_only
        else np.ones(len(computed.shapes), dtype=bool)
    )
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


def preprocess_partitions(
    client: Client,
    consumption: PartitionedDataset,
    out_root: str | Path,
    config: PreprocessConfig,
    seed: int,
) -> DistributedPreprocessing:
    """Fit stage 02 on a partitioned consumption dataset and write the preprocessed one.

    Equal to ``ntl.preprocess.fit_transform`` on the concatenated parts: same quality flags,
    cleaning and features per customer, the clustering fitted on the same seeded sample.
    """
    root = str(consumption.root)
    passes: list[Future] = client.map(
        describe_part, [root] * len(consumption.parts), list(consumption.parts), config=config
    )
    counts = np.asarray(client.gather(client.map(fit_counts, passes)), dtype=np.int64)
    n_high, n_high_valid, n_valid = counts.T
    high_only = int(n_high.sum()) >= MIN_HIGH_TO_CLUSTER  # the rule of cluster_fit_rows
    eligible = n_high_valid if high_only else n_valid
    positions = sample_positions(eligible, config.cluster_sample_size, seed)
    shapes = np.concatenate(
        client.gather(client.map(eligible_shapes, passes, positions, high_only=high_only))
    )
    first, last = consumption.info["first_day"], consumption.info["last_day"]
    preprocessor = fit_on_shapes(
        shapes,
        config,
        seed,
        customers=consumption.n_customers,
        dates=pd.date_range(first, last, freq="D"),
        customers_clustered=int(n_high.sum()) if high_only else consumption.n_customers,
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
    del passes
    return DistributedPreprocessing(
        preprocessor, open_dataset(out_root, PREPROCESSED), _quality_counts(quality), cleaning
    )


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
