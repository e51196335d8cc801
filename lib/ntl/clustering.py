"""Clusters of load-profile shape: who consumes like whom, whatever their level.

A customer's shape is the mean by weekday divided by its average (7 values) followed by the mean
by month of the year divided by its average (12 values). Both are calendar-independent, so the
clusters fitted on one export assign customers of the next export, or of a shorter history, the
same way. Months a customer has no readings for are NaN in the shape and count as neutral (1.0)
for the clustering. A customer without any positive reading has no shape: cluster -1.
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import silhouette_score
from sklearn.metrics.pairwise import euclidean_distances
from sklearn.preprocessing import StandardScaler
from threadpoolctl import ThreadpoolController

from ntl.errors import MeterDataError, ParameterError
from ntl.features import CalendarSums

WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
SHAPE_NAMES: tuple[str, ...] = tuple(f"weekday_{d}" for d in WEEKDAY_NAMES) + tuple(
    f"month_{m}" for m in MONTH_NAMES
)
UNASSIGNED = -1
N_INIT = 3  # KMeans restarts; the fit runs on a sample, so a few are cheap


def _normalise(means: np.ndarray) -> np.ndarray:
    """Divide each row by the average of its non-NaN values; NaN rows when that is not positive."""
    valid = ~np.isnan(means)
    with np.errstate(invalid="ignore", divide="ignore"):
        centre = np.where(valid, means, 0).sum(axis=1) / valid.sum(axis=1)
        return np.where(centre[:, None] > 0, means / centre[:, None], np.nan)


def shapes_from_calendar(calendar: CalendarSums) -> np.ndarray:
    """Profile shapes (rows x 19) from weekday and calendar-month sums already computed."""
    return np.hstack(
        [_normalise(calendar.weekday_means()), _normalise(calendar.month_of_year_means())]
    )


def has_shape(shapes: np.ndarray) -> np.ndarray:
    """True for customers whose shape is defined (some reading, positive average)."""
    return ~np.isnan(shapes).all(axis=1)


def shape_design(shapes: np.ndarray) -> np.ndarray:
    """Shapes ready for KMeans: a missing weekday or month counts as neutral (1.0)."""
    return np.where(np.isnan(shapes), 1.0, shapes)


def choose_k(
    design: np.ndarray,
    k_range: tuple[int, int],
    seed: int,
    silhouette_sample_size: int = 3000,
) -> dict[int, float]:
    """Silhouette score of KMeans for every k in `k_range` (inclusive) that the data allows.

    `design` is the scaled shape matrix (already a sample when the data is large). KMeans is fitted
    on all of it; the silhouette is computed on a seeded sample of `silhouette_sample_size` rows,
    whose distances are computed once for all k. k values that need more distinct shapes than
    there are are skipped, so the result may be empty.
    """
    return _fit_k_range(design, k_range, seed, silhouette_sample_size)[0]


def _fit_k_range(
    design: np.ndarray, k_range: tuple[int, int], seed: int, silhouette_sample_size: int
) -> tuple[dict[int, float], dict[int, KMeans]]:
    """choose_k's silhouette by k, and the KMeans fitted for each k (reused by fit_clusters)."""
    low, high = k_range
    n_distinct = len(np.unique(design, axis=0))
    rng = np.random.default_rng(seed)
    sample = np.arange(len(design))
    if len(design) > silhouette_sample_size:
        sample = np.sort(rng.choice(len(design), size=silhouette_sample_size, replace=False))
    distances = euclidean_distances(design[sample])
    models = {
        k: _kmeans(design, k, seed)
        for k in range(max(low, 2), min(high, n_distinct - 1) + 1)  # a handful of k values
    }
    sample_labels = {k: model.labels_[sample] for k, model in models.items()}
    scored = [k for k, labels in sample_labels.items() if 2 <= len(np.unique(labels)) < len(sample)]
    silhouettes = {  # the sample's distances are computed once and shared by every k
        k: float(silhouette_score(distances, sample_labels[k], metric="precomputed"))
        for k in scored
    }
    return silhouettes, models


def best_k(scores: dict[int, float]) -> int:
    """The k with the highest silhouette (the smallest on ties); 1 when no k could be scored."""
    if not scores:
        return 1
    return max(scores, key=lambda k: (scores[k], -k))


def _kmeans(design: np.ndarray, k: int, seed: int) -> KMeans:
    """A seeded KMeans fitted on `design` (duplicate points allowed), on one thread.

    One thread is faster than OpenMP's spinning threads on a busy 2-core machine for a fit this
    small, and it makes the result independent of the core count.
    """
    with warnings.catch_warnings(), single_threaded():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return KMeans(n_clusters=k, n_init=N_INIT, random_state=seed).fit(design)


@functools.cache
def _thread_controller() -> ThreadpoolController:
    """The BLAS/OpenMP thread pools of this process, inspected once (inspecting costs ~10 ms)."""
    return ThreadpoolController()


def single_threaded() -> contextlib.AbstractContextManager:
    """A context in which BLAS and OpenMP run on one thread."""
    return _thread_controller().limit(limits=1)


@dataclass
class ShapeClusters:
    """The fitted shape clustering: scaler, KMeans, typical shape per cluster, silhouette by k."""

    scaler: StandardScaler
    kmeans: KMeans
    typical_shapes: np.ndarray  # n_clusters x 19, unscaled, NaN where no member had a value
    silhouette_by_k: dict[int, float] = field(default_factory=dict)

    @property
    def n_clusters(self) -> int:
        """Number of clusters."""
        return int(self.kmeans.n_clusters)


def fit_clusters(
    shapes: np.ndarray,
    seed: int,
    n_clusters: int | None = None,
    k_range: tuple[int, int] = (2, 8),
    sample_size: int = 10000,
    silhouette_sample_size: int = 3000,
) -> ShapeClusters:
    """Fit the shape clustering: scaler and KMeans on a seeded sample, k by silhouette unless fixed.

    Customers without a shape are ignored. The typical shape of a cluster is the median shape
    of its members in the sample, so the fit reads `sample_size` shapes however many customers
    there are (the Dask path gathers just that sample).
    """
    if n_clusters is not None and n_clusters < 1:
        raise ParameterError(f"n_clusters must be >= 1 or None, got {n_clusters}")
    valid = has_shape(shapes)
    if not valid.any():
        raise MeterDataError(
            "no customer has a positive reading, so no load profile can be clustered"
        )
    fitted = shapes[valid]
    rng = np.random.default_rng(seed)
    if len(fitted) > sample_size:
        fitted = fitted[np.sort(rng.choice(len(fitted), size=sample_size, replace=False))]
    design = shape_design(fitted)
    scaler = StandardScaler().fit(design)
    scaled = scaler.transform(design)
    scores, models = _fit_k_range(scaled, k_range, seed, silhouette_sample_size)
    if n_clusters is None:
        k = best_k(scores)
    else:
        k = min(n_clusters, len(np.unique(scaled, axis=0)))
    kmeans = models[k] if k in models else _kmeans(scaled, k, seed)  # same data, same seed
    partial = ShapeClusters(scaler, kmeans, np.empty((k, shapes.shape[1])), scores)
    partial.typical_shapes = typical_shapes(fitted, assign_clusters(partial, fitted), k)
    return partial


def assign_clusters(model: ShapeClusters, shapes: np.ndarray) -> np.ndarray:
    """The cluster of each customer by the fitted model; -1 for a customer without a shape."""
    labels = np.full(len(shapes), UNASSIGNED, dtype=np.int64)
    valid = has_shape(shapes)
    if valid.any():
        labels[valid] = nearest_centres(model, shape_design(shapes[valid]))
    return labels


ASSIGN_ROWS = 4096  # customers per step of nearest_centres: rows x clusters x 19 floats at a time


def nearest_centres(model: ShapeClusters, design: np.ndarray) -> np.ndarray:
    """``kmeans.predict(scaler.transform(design))``: the nearest centre of each scaled shape
    (the first of equally near ones), in numpy. scikit-learn's checks and thread-pool setup
    cost ~0.7 ms a call, a tenth of a web request; the scaling is the scaler's own arithmetic and
    the distances are exact squared differences (a test compares the labels)."""
    scaler, centres = model.scaler, model.kmeans.cluster_centers_
    scaled = np.asarray(design, dtype=np.float64)
    if scaler.with_mean:
        scaled = scaled - scaler.mean_
    if scaler.with_std:
        scaled = scaled / scaler.scale_
    labels = np.empty(len(scaled), dtype=np.int64)
    for start in range(0, len(scaled), ASSIGN_ROWS):  # blocks of rows, not customers
        rows = scaled[start : start + ASSIGN_ROWS]
        distances = ((rows[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
        labels[start : start + ASSIGN_ROWS] = distances.argmin(axis=1)
    return labels


def typical_shapes(shapes: np.ndarray, labels: np.ndarray, n_clusters: int) -> np.ndarray:
    """Median shape of each cluster's members (NaN where no member has a value)."""
    typical = np.full((n_clusters, shapes.shape[1]), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns stay NaN
        for cluster in range(n_clusters):  # a handful of clusters
            members = shapes[labels == cluster]
            if len(members):
                typical[cluster] = np.nanmedian(members, axis=0)
    return typical


def peer_deviation(shapes: np.ndarray, labels: np.ndarray, typical: np.ndarray) -> np.ndarray:
    """RMS difference between each shape and its cluster's typical shape, over the values both have.

    NaN for unassigned customers (-1). 0.1 means the profile differs from its peers by about
    10 % of the customer's own average, weekday by weekday and month by month.
    """
    deviation = np.full(len(shapes), np.nan)
    assigned = labels >= 0
    if assigned.any():
        difference = shapes[assigned] - typical[labels[assigned]]
        valid = ~np.isnan(difference)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_square = np.where(valid, difference, 0.0) ** 2
            deviation[assigned] = np.sqrt(mean_square.sum(axis=1) / valid.sum(axis=1))
    return deviation


def cluster_sizes(labels: np.ndarray, n_clusters: int) -> pd.Series:
    """Customers per cluster, -1 (unassigned) included when present."""
    counts = pd.Series(labels).value_counts()
    order = ([UNASSIGNED] if UNASSIGNED in counts.index else []) + list(range(n_clusters))
    return counts.reindex(order, fill_value=0).rename("customers").rename_axis("cluster")


def cluster_summary(preprocessed: pd.DataFrame) -> pd.DataFrame:
    """Per cluster: customers, their share, the share of LOW quality and, for display only, the
    theft rate among labeled customers (NaN without labels). -1 collects unassigned customers.
    """
    flag = preprocessed["FLAG"].astype("Float64")
    grouped = pd.DataFrame(
        {
            "cluster": preprocessed["cluster"].to_numpy(),
            "low": (preprocessed["quality_flag"] == "LOW").to_numpy(dtype=float),
            "labeled": flag.notna().to_numpy(dtype=float),
            "theft": flag.fillna(0).to_numpy(dtype=float),
        }
    ).groupby("cluster")
    table = pd.DataFrame(
        {
            "customers": grouped.size(),
            "low_quality_share": grouped["low"].mean(),
            "labeled": grouped["labeled"].sum().astype(int),
        }
    )
    table.insert(1, "share", table["customers"] / table["customers"].sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        table["theft_rate"] = np.where(
            table["labeled"] > 0, grouped["theft"].sum() / table["labeled"], np.nan
        )
    return table
