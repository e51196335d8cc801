"""Stage 02: data quality flags, gap filling, outlier capping, features and shape clusters.

``fit_preprocessor`` learns the only things 02 learns — the shape clustering (scaler, KMeans and
the typical shape of each cluster) — and returns a ``Preprocessor`` whose ``transform`` turns any
canonical consumption frame (the training export, next month's export, a shorter history, a
single customer) into the preprocessed frame. Everything else is computed from each customer's own
row, and nothing reads ``FLAG`` except to copy it through.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from ntl._version import __version__
from ntl.clustering import (
    SHAPE_NAMES,
    ShapeClusters,
    assign_clusters,
    fit_clusters,
    peer_deviation,
    shapes_from_calendar,
)
from ntl.errors import MeterDataError, ParameterError
from ntl.features import (
    DEFAULT_CHUNK_ROWS,
    FEATURE_NAMES,
    Block,
    CalendarLayout,
    check_feature_knobs,
    feature_block,
    feature_matrix,
    missing_features,
    set_peer_deviation,
    true_runs,
    zero_features,
)
from ntl.frame import (
    DAY_FORMAT,
    LABEL_COLUMN,
    consumption_matrix,
    day_columns,
    day_index,
    labels,
    validate_canonical,
)

HIGH, LOW = "HIGH", "LOW"
MAX_THREADS = 8  # blocks of rows described at once; numpy releases the GIL in its loops


@dataclass
class PreprocessConfig:
    """Every knob of stage 02 (notebook 02's parameters map onto these fields)."""

    min_present_share: float = 0.5  # LOW quality below this share of days with a reading
    max_gap_days: int = 180  # LOW quality when the longest run of missing days is longer
    max_zero_share: float = 0.5  # LOW quality when more readings than this share are zero
    interpolation_limit_days: int = 3  # gaps up to this long (inside the history) are interpolated
    outlier_sigma: float = 3.0  # readings above mean + sigma * std of the customer are capped
    n_clusters: int | None = None  # fixed number of shape clusters; None = choose by silhouette
    k_range: tuple[int, int] = (2, 8)  # k values tried by the silhouette (inclusive)
    recent_days: int = 90  # the recent window of recent_vs_past, missing/zero recent shares
    drop_window_days: int = 30  # days averaged before and after a candidate drop
    cluster_sample_size: int = 10000  # customers the clustering is fitted on (seeded sample)
    silhouette_sample_size: int = 3000  # customers each silhouette score is computed on
    min_history_days: int = 14  # shorter histories are refused

    def __post_init__(self) -> None:
        self.k_range = tuple(int(k) for k in self.k_range)
        problems = []
        if not 0.0 <= self.min_present_share <= 1.0:
            problems.append(f"min_present_share must be in [0, 1], got {self.min_present_share}")
        if not 0.0 <= self.max_zero_share <= 1.0:
            problems.append(f"max_zero_share must be in [0, 1], got {self.max_zero_share}")
        if self.max_gap_days < 0:
            problems.append(f"max_gap_days must be >= 0, got {self.max_gap_days}")
        if self.interpolation_limit_days < 0:
            problems.append(
                f"interpolation_limit_days must be >= 0, got {self.interpolation_limit_days}"
            )
        if not self.outlier_sigma > 0:
            problems.append(
                f"outlier_sigma must be > 0 (math.inf disables capping), got {self.outlier_sigma}"
            )
        if self.n_clusters is not None and self.n_clusters < 1:
            problems.append(f"n_clusters must be >= 1 or None, got {self.n_clusters}")
        if len(self.k_range) != 2 or not 2 <= self.k_range[0] <= self.k_range[1]:
            problems.append(
                f"k_range must be (low, high) with 2 <= low <= high, got {self.k_range}"
            )
        for name in (
            "recent_days",
            "drop_window_days",
            "cluster_sample_size",
            "silhouette_sample_size",
        ):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.min_history_days < 1:
            problems.append(f"min_history_days must be >= 1, got {self.min_history_days}")
        if problems:
            raise ParameterError("PreprocessConfig: " + "; ".join(problems))


def fill_short_gaps(matrix: np.ndarray, limit: int) -> np.ndarray:
    """A float32 copy with gaps of at most `limit` days interpolated linearly between neighbours.

    Only gaps with a reading on both sides are filled; longer gaps and gaps at either end of the
    history stay NaN — never zero.
    """
    if limit < 0:
        raise ParameterError(f"interpolation limit must be >= 0 days, got {limit}")
    filled = np.array(matrix, dtype=np.float32, copy=True)
    if filled.ndim != 2:
        raise MeterDataError(f"matrix must be 2-D customers x days, got {filled.ndim} dimension(s)")
    interpolate_runs(filled, true_runs(np.isnan(filled)), limit)
    return filled


def interpolate_runs(
    filled: np.ndarray, runs: tuple[np.ndarray, np.ndarray, np.ndarray], limit: int
) -> int:
    """Fill, in place, the runs of NaN (`true_runs` of isnan(filled)) of at most `limit` days that
    have a reading on both sides, linearly between those readings; returns the days filled."""
    rows, starts, lengths = runs
    n_days = filled.shape[1]
    short = (lengths <= limit) & (starts > 0) & (starts + lengths < n_days)
    rows, starts, lengths = rows[short], starts[short], lengths[short]
    if not len(rows):
        return 0
    first = rows * n_days + starts  # flat (row-major) position of each gap's first missing day
    left = np.take(filled, first - 1).astype(np.float64)
    right = np.take(filled, first + lengths).astype(np.float64)
    n_cells = int(lengths.sum())
    offset = np.arange(n_cells) - np.repeat(np.cumsum(lengths) - lengths, lengths)  # 0, 1, ..
    fraction = (offset + 1) / np.repeat(lengths + 1, lengths)
    values = np.repeat(left, lengths) + fraction * np.repeat(right - left, lengths)
    np.put(filled, np.repeat(first, lengths) + offset, values)
    return n_cells


def cap_outliers(matrix: np.ndarray, sigma: float) -> tuple[np.ndarray, int]:
    """A float32 copy with each reading above mean + sigma * std of its customer set to that cap.

    Mean and std are the customer's own, over its present readings (as in Zheng et al. 2018,
    who used sigma = 2). Only high readings are capped: a low reading may be the theft. Returns
    the copy and the number of readings capped.
    """
    if not sigma > 0:
        raise ParameterError(f"outlier sigma must be > 0 (math.inf disables capping), got {sigma}")
    values = np.asarray(matrix, dtype=np.float32)
    if values.ndim != 2:
        raise MeterDataError(f"matrix must be 2-D customers x days, got {values.ndim} dimension(s)")
    return capped_copy(values, ~np.isnan(values), sigma)


def capped_copy(values: np.ndarray, present: np.ndarray, sigma: float) -> tuple[np.ndarray, int]:
    """cap_outliers for a float32 matrix whose `present` mask (not NaN) is already known."""
    if math.isinf(sigma):
        return values.copy(), 0
    count = np.count_nonzero(present, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(present, values, np.float32(0)).sum(axis=1, dtype=np.float64) / count
        centred = np.where(present, values - mean[:, None].astype(np.float32), np.float32(0))
        std = np.sqrt(np.square(centred, dtype=np.float64).sum(axis=1) / count)
    cap = (mean + sigma * std).astype(np.float32)
    cap[np.isnan(cap)] = np.inf  # no cap for a customer without readings
    capped = np.minimum(values, cap[:, None])  # NaN stays NaN
    return capped, int(np.count_nonzero(values > cap[:, None]))


def clean_matrix(matrix: np.ndarray, config: PreprocessConfig) -> tuple[np.ndarray, dict[str, int]]:
    """Fill short gaps, then cap outliers; returns the cleaned matrix and what was changed."""
    filled = fill_short_gaps(matrix, config.interpolation_limit_days)
    cleaned, n_capped = cap_outliers(filled, config.outlier_sigma)
    return cleaned, _cleaning_counts(matrix, filled, n_capped)


def _cleaning_counts(raw: np.ndarray, filled: np.ndarray, n_capped: int) -> dict[str, int]:
    """How many readings were missing, interpolated, left missing and capped."""
    n_missing = int(np.isnan(raw).sum())
    n_left = int(np.isnan(filled).sum())
    return {
        "readings": int(raw.size),
        "missing": n_missing,
        "interpolated": n_missing - n_left,
        "left_missing": n_left,
        "capped": n_capped,
    }


def quality_flags(
    present_share: np.ndarray,
    gap_longest: np.ndarray,
    zero_share: np.ndarray,
    config: PreprocessConfig,
) -> pd.DataFrame:
    """quality_flag (HIGH/LOW) and the reason of each LOW flag from the three quality measures."""
    rules = {
        f"present share < {config.min_present_share:g}": present_share < config.min_present_share,
        f"longest gap > {config.max_gap_days} days": gap_longest > config.max_gap_days,
        f"zero share > {config.max_zero_share:g}": zero_share > config.max_zero_share,
    }
    reason = np.full(len(present_share), "", dtype=object)
    for text, failed in rules.items():  # three rules
        reason = np.where(failed, np.where(reason == "", text, reason + "; " + text), reason)
    low = np.logical_or.reduce(list(rules.values()))
    return pd.DataFrame(
        {
            "present_share": present_share,
            "gap_longest": gap_longest,
            "zero_share": zero_share,
            "quality_flag": np.where(low, LOW, HIGH),
            "quality_reason": reason.astype(str),
        }
    )


def quality_from_matrix(matrix: np.ndarray, config: PreprocessConfig) -> pd.DataFrame:
    """present_share, gap_longest, zero_share, quality_flag and reason for a raw matrix."""
    missing = missing_features(matrix, config.recent_days)
    zeros = zero_features(matrix, config.recent_days)
    return quality_flags(
        1.0 - missing["missing_share"], missing["gap_longest"], zeros["zero_share"], config
    )


def canonical_days(consumption: pd.DataFrame, source: str = "consumption") -> pd.DataFrame:
    """The frame with its day columns in calendar order (FLAG first), checked as canonical.

    Accepts day columns in any order and a frame without FLAG (treated as unlabeled), so the
    result never depends on how the columns happened to be ordered.
    """
    days = day_columns(consumption)
    try:
        dates = pd.to_datetime(pd.Index(days, dtype=object), format=DAY_FORMAT)
    except (ValueError, TypeError) as exc:
        raise MeterDataError(f"{source}: day columns must be named YYYY-MM-DD ({exc})") from exc
    ordered = [days[i] for i in np.argsort(dates.to_numpy(), kind="stable")]
    if LABEL_COLUMN not in consumption.columns:
        consumption = consumption.assign(**{LABEL_COLUMN: labels(consumption)})
    if list(consumption.columns) != [LABEL_COLUMN, *ordered]:
        consumption = consumption[[LABEL_COLUMN, *ordered]]
    validate_canonical(consumption, source)
    return consumption


def quality_table(consumption: pd.DataFrame, config: PreprocessConfig) -> pd.DataFrame:
    """Per customer: present_share, gap_longest, zero_share, quality_flag (HIGH/LOW), reason."""
    frame = canonical_days(consumption)
    table = quality_from_matrix(consumption_matrix(frame), config)
    table.index = frame.index
    return table


@dataclass
class StagePass:
    """What one pass over the readings computes: quality, shapes, features, cleaning counts."""

    frame: pd.DataFrame
    dates: pd.DatetimeIndex
    quality: pd.DataFrame
    shapes: np.ndarray  # customers x 19 profile shapes
    features: np.ndarray  # customers x FEATURE_NAMES float32, peer_deviation still NaN
    cleaning: dict[str, int]


def clean_block(
    raw: np.ndarray, dates: pd.DatetimeIndex | CalendarLayout, config: PreprocessConfig
) -> tuple[Block, dict[str, int]]:
    """Fill short gaps and cap peaks of one block of rows; the Block for its features and the
    cleaning counts. The runs of missing days are found once, for filling and for the gap
    features."""
    missing = np.isnan(raw)
    runs = true_runs(missing)
    filled = raw.copy()
    n_interpolated = interpolate_runs(filled, runs, config.interpolation_limit_days)
    present = ~np.isnan(filled) if n_interpolated else ~missing
    cleaned, n_capped = capped_copy(filled, present, config.outlier_sigma)
    n_missing = int(np.count_nonzero(missing))
    counts = {
        "readings": int(raw.size),
        "missing": n_missing,
        "interpolated": n_interpolated,
        "left_missing": n_missing - n_interpolated,
        "capped": n_capped,
    }
    block = Block.of(raw, cleaned, dates, present, raw_missing=missing, missing_runs=runs)
    return block, counts


def stage_pass(
    consumption: pd.DataFrame,
    config: PreprocessConfig,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    n_threads: int | None = None,
) -> StagePass:
    """Clean, flag and describe every customer in one pass over blocks of rows.

    Each block is gap-filled, capped, summarised and turned into features while it is small
    enough to stay in cache; no value depends on another customer, so blocks run on
    `n_threads` threads (default: the available cores, at most 8) with the same result.
    """
    frame = canonical_days(consumption)
    dates = day_index(frame)
    if len(dates) < config.min_history_days:
        raise MeterDataError(
            f"consumption: needs at least {config.min_history_days} days of history, got {len(dates)}"
        )
    if len(frame) == 0:
        raise MeterDataError("consumption: has no customers")
    check_feature_knobs(config.recent_days, config.drop_window_days, chunk_rows)
    raw = consumption_matrix(frame)
    layout = CalendarLayout.of(dates)
    n_rows = len(raw)
    shapes = np.empty((n_rows, len(SHAPE_NAMES)))
    table = np.empty((n_rows, len(FEATURE_NAMES)), dtype=np.float32)
    quality_measures = np.empty((n_rows, 3))  # present share, longest gap, zero share

    def describe(start: int) -> dict[str, int]:
        """Clean one block of rows and write its shapes, features and quality measures."""
        rows = slice(start, start + chunk_rows)
        block, counts = clean_block(raw[rows], layout, config)
        shapes[rows] = shapes_from_calendar(block.calendar)
        values = feature_block(block, config.recent_days, config.drop_window_days)
        table[rows] = feature_matrix(values, len(block.raw))
        quality_measures[rows, 0] = 1.0 - values["missing_share"]
        quality_measures[rows, 1] = values["gap_longest"]
        quality_measures[rows, 2] = values["zero_share"]
        return counts

    starts = range(0, n_rows, chunk_rows)  # blocks of rows, not single customers
    threads = min(n_threads or default_threads(), len(starts))
    if threads > 1:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            block_counts = list(pool.map(describe, starts))
    else:
        block_counts = [describe(start) for start in starts]
    cleaning = {key: sum(counts[key] for counts in block_counts) for key in block_counts[0]}
    present_share, gap_longest, zero_share = quality_measures.T
    quality = quality_flags(present_share, gap_longest.astype(np.int64), zero_share, config)
    quality.index = frame.index
    return StagePass(frame, dates, quality, shapes, table, cleaning)


def default_threads() -> int:
    """Threads for the blocks of a stage pass: the cores this process may use, at most 8."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_THREADS))


@dataclass
class Preprocessor:
    """Fitted stage 02: the config and the shape clustering, applied to any consumption frame."""

    config: PreprocessConfig
    clusters: ShapeClusters
    feature_names: tuple[str, ...] = FEATURE_NAMES
    shape_names: tuple[str, ...] = SHAPE_NAMES
    fitted_on: dict = field(default_factory=dict)  # customers, days, first and last day, seed
    ntl_version: str = __version__

    @property
    def n_clusters(self) -> int:
        """Number of shape clusters."""
        return self.clusters.n_clusters

    def transform(self, consumption: pd.DataFrame) -> pd.DataFrame:
        """The preprocessed frame: FLAG, quality_flag, cluster, then float32 features."""
        return self.assemble(stage_pass(consumption, self.config))

    def assemble(self, computed: StagePass) -> pd.DataFrame:
        """Assign clusters and peer deviation to a stage pass and lay it out as the preprocessed frame."""
        cluster = assign_clusters(self.clusters, computed.shapes)
        set_peer_deviation(
            computed.features,
            peer_deviation(computed.shapes, cluster, self.clusters.typical_shapes),
        )
        index = computed.frame.index
        meta = pd.DataFrame(
            {
                LABEL_COLUMN: labels(computed.frame),
                "quality_flag": computed.quality["quality_flag"].to_numpy(),
                "cluster": cluster,
            },
            index=index,
        )
        features = pd.DataFrame(computed.features, index=index, columns=list(FEATURE_NAMES))
        return pd.concat([meta, features[list(self.feature_names)]], axis=1)

    def summary(self) -> dict:
        """Config, chosen k, silhouette by k and what the fit saw, for metadata and reports."""
        return {
            "config": asdict(self.config),
            "n_clusters": self.n_clusters,
            "silhouette_by_k": {str(k): v for k, v in self.clusters.silhouette_by_k.items()},
            "fitted_on": self.fitted_on,
            "features": list(self.feature_names),
            "ntl_version": self.ntl_version,
        }


MIN_HIGH_TO_CLUSTER = 3  # fewer HIGH-quality customers: the clustering is fitted on everyone


def cluster_fit_rows(quality_flag: np.ndarray) -> np.ndarray:
    """Customers the shape clustering is fitted on: the HIGH-quality ones (all when too few)."""
    high = np.asarray(quality_flag) == HIGH
    return high if high.sum() >= MIN_HIGH_TO_CLUSTER else np.ones(len(high), dtype=bool)


def fit_on_pass(computed: StagePass, config: PreprocessConfig, seed: int) -> Preprocessor:
    """Fit the shape clustering on HIGH-quality customers (on all when fewer than 3 are HIGH)."""
    fit_rows = cluster_fit_rows(computed.quality["quality_flag"].to_numpy())
    return fit_on_shapes(
        computed.shapes[fit_rows],
        config,
        seed,
        customers=len(computed.frame),
        dates=computed.dates,
        cleaning=computed.cleaning,
    )


def fit_on_shapes(
    fit_shapes: np.ndarray,
    config: PreprocessConfig,
    seed: int,
    *,
    customers: int,
    dates: pd.DatetimeIndex,
    cleaning: dict[str, int],
    customers_clustered: int | None = None,
) -> Preprocessor:
    """The fitted stage 02 from the shapes of the customers chosen to fit the clustering on.

    `fit_shapes` may already be the clustering's seeded sample (the Dask path gathers only that);
    `customers_clustered` then says how many customers it was drawn from.
    """
    clusters = fit_clusters(
        fit_shapes,
        seed,
        n_clusters=config.n_clusters,
        k_range=config.k_range,
        sample_size=config.cluster_sample_size,
        silhouette_sample_size=config.silhouette_sample_size,
    )
    fitted_on = {
        "customers": int(customers),
        "customers_clustered": int(
            len(fit_shapes) if customers_clustered is None else customers_clustered
        ),
        "days": len(dates),
        "first_day": dates[0].strftime(DAY_FORMAT),
        "last_day": dates[-1].strftime(DAY_FORMAT),
        "seed": seed,
        "cleaning": dict(cleaning),
    }
    return Preprocessor(config=config, clusters=clusters, fitted_on=fitted_on)


def fit_preprocessor(
    consumption: pd.DataFrame, config: PreprocessConfig, seed: int
) -> Preprocessor:
    """Fit stage 02 on a consumption frame: the shape clustering (k by silhouette unless fixed)."""
    return fit_on_pass(stage_pass(consumption, config), config, seed)


def fit_transform(
    consumption: pd.DataFrame, config: PreprocessConfig, seed: int
) -> tuple[Preprocessor, pd.DataFrame]:
    """fit_preprocessor then transform on the same frame, reading the matrix only once."""
    computed = stage_pass(consumption, config)
    preprocessor = fit_on_pass(computed, config, seed)
    return preprocessor, preprocessor.assemble(computed)
