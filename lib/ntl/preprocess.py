"""Stage 02: data quality flags, gap filling, outlier capping, features and shape clusters.

``fit_preprocessor`` learns the only things 02 learns — the shape clustering (scaler, KMeans and
the typical shape of each cluster), on the training customers only — and returns a
``Preprocessor`` whose ``transform`` turns any canonical consumption frame (the training export,
next month's export, a shorter history, a single customer) into the preprocessed frame. Everything else is computed from each customer's own
row, and nothing reads ``FLAG`` except to copy it through.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

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
    set_peer_deviation,
    true_runs,
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

if TYPE_CHECKING:
    pass

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


def capped_copy(values: np.ndarray, present: np.ndarray, sigma: float) -> tuple[np.ndarray, int]:
    """`values` with each reading above its customer's mean + sigma * std set to that cap, and
    the number capped; mean and std over the `present` readings (as in Zheng et al. 2018, who
    used sigma = 2). ``math.inf`` disables capping."""
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


@dataclass
class CleanedReadings:
    """One block of readings after stage 02's cleaning, with the masks features reuse."""

    cleaned: np.ndarray  # short gaps filled, peaks capped (float32, NaN = still missing)
    present: np.ndarray  # cleaned is not NaN
    missing: np.ndarray  # the raw reading is NaN
    missing_runs: tuple[np.ndarray, np.ndarray, np.ndarray]  # true_runs(missing)
    counts: dict[str, int]  # readings, missing, interpolated, left_missing, capped


def clean_readings(raw: np.ndarray, config: PreprocessConfig) -> CleanedReadings:
    """Stage 02's cleaning of a float32 customers x days block: gaps of at most
    ``interpolation_limit_days`` between two readings interpolated linearly (longer and edge gaps
    stay NaN, never zero), then each reading above the customer's own mean +
    ``outlier_sigma`` x std capped (only high readings: a low one may be the theft).

    The one cleaning path: the chain's pass over blocks calls it, and so do the notebook's
    examples. The runs of missing days are found once, for filling and for the gap features.
    """
    raw = np.asarray(raw, dtype=np.float32)
    if raw.ndim != 2:
        raise MeterDataError(f"readings must be 2-D customers x days, got {raw.ndim} dimension(s)")
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
    return CleanedReadings(cleaned, present, missing, runs, counts)


IMPLAUSIBLE_REASON = "implausible readings (above max_daily_kwh) set missing"


QUALITY_COLUMNS = (
    "present_share",
    "gap_longest",
    "zero_share",
    "quality_flag",
    "quality_reason",
    "implausible_readings",
)


def quality_flags(
    present_share: np.ndarray,
    gap_longest: np.ndarray,
    zero_share: np.ndarray,
    config: PreprocessConfig,
    implausible_readings: np.ndarray | None = None,
    index: pd.Index | None = None,
) -> pd.DataFrame:
    """quality_flag (HIGH/LOW) and the reason of each LOW flag from the quality measures.

    `implausible_readings` counts, per customer, the readings the loader set missing for being
    above ``max_daily_kwh``: any such reading makes the customer LOW, since a meter reporting
    1e12 kWh a day says its other readings may be corrupt too. `index` labels the rows (default
    0, 1, ..).

    The reason of a customer is the texts of its failed rules joined by "; ", in rule order:
    one of the 16 texts a combination of the four rules gives, taken from those texts made once
    per config (building a str column from Python strings costs more than the rest of a small
    block's description).
    """
    if implausible_readings is None:
        implausible_readings = np.zeros(len(present_share), dtype=np.int64)
    failed = (
        np.asarray(present_share) < config.min_present_share,
        np.asarray(gap_longest) > config.max_gap_days,
        np.asarray(zero_share) > config.max_zero_share,
        np.asarray(implausible_readings) > 0,
    )
    code = np.zeros(len(present_share), dtype=np.intp)  # bit i set: rule i failed
    for bit, rule_failed in enumerate(failed):  # four rules
        code |= rule_failed.astype(np.intp) << bit
    texts, flags = _quality_texts(
        (
            f"present share < {config.min_present_share:g}",
            f"longest gap > {config.max_gap_days} days",
            f"zero share > {config.max_zero_share:g}",
            IMPLAUSIBLE_REASON,
        )
    )
    columns = (  # copies, so the frame may hold them as they are
        np.array(present_share),
        np.array(gap_longest),
        np.array(zero_share),
        flags.take(np.minimum(code, 1)),
        texts.take(code),
        np.array(implausible_readings, dtype=np.int64),
    )
    return frame_of_columns(columns, _QUALITY_INDEX.copy(), index)


_QUALITY_INDEX = pd.Index(QUALITY_COLUMNS)  # copied for each frame: an Index's name is settable


def frame_of_columns(
    columns: Sequence[np.ndarray | pd.api.extensions.ExtensionArray],
    names: pd.Index,
    index: pd.Index | None = None,
) -> pd.DataFrame:
    """The frame of `columns` (fresh arrays of one length, which it holds without a copy) named
    `names`: ``pd.DataFrame(dict(zip(names, columns)), index=index)``, in a fifth of the time
    for a few rows through pandas' own constructor from arrays (``DataFrame._from_arrays``,
    not public: the public path when a pandas lacks it; a test checks both give one frame)."""
    from_arrays = getattr(pd.DataFrame, "_from_arrays", None)
    if from_arrays is None:
        return pd.DataFrame(dict(zip(names, columns, strict=True)), index=index, copy=False)
    if index is None:
        index = pd.RangeIndex(len(columns[0]))
    return from_arrays(list(columns), columns=names, index=index, verify_integrity=False)


@functools.lru_cache(maxsize=32)
def _quality_texts(
    rules: tuple[str, ...],
) -> tuple[pd.api.extensions.ExtensionArray, pd.api.extensions.ExtensionArray]:
    """The reason text of every combination of failed `rules` (position: bit i set = rule i
    failed; "" when none), and the flags HIGH and LOW, as str arrays to take from."""
    reasons = [
        "; ".join(text for bit, text in enumerate(rules) if code >> bit & 1)
        for code in range(2 ** len(rules))
    ]
    return pd.array(reasons, dtype="str"), pd.array([HIGH, LOW], dtype="str")


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


@dataclass
class CustomerDescriptions:
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
    """`clean_readings` of one block of rows, and the Block its features are computed from."""
    cleaned = clean_readings(raw, config)
    block = Block.of(
        raw,
        cleaned.cleaned,
        dates,
        cleaned.present,
        raw_missing=cleaned.missing,
        missing_runs=cleaned.missing_runs,
    )
    return block, cleaned.counts


def describe_customers(
    consumption: pd.DataFrame,
    config: PreprocessConfig,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    n_threads: int | None = None,
    implausible: Mapping[str, int] | None = None,
) -> CustomerDescriptions:
    """Clean, flag and describe every customer in one pass over blocks of rows.

    The one path of stage 02 for every customer, the chain's and the scorer's alike: quality
    measures and flags, the profile shapes the clustering uses, and the features (except
    ``peer_deviation``, which needs the fitted clusters: ``Preprocessor.assemble`` adds it).

    Each block is gap-filled, capped, summarised and turned into features while it is small
    enough to stay in cache; no value depends on another customer, so blocks run on
    `n_threads` threads (default: the available cores, at most 8) with the same result.
    `implausible` (CONS_NO -> readings the loader set missing above ``max_daily_kwh``, its
    ``LoadReport.implausible_by_customer``) flags those customers' quality.
    """
    frame = canonical_days(consumption)
    return describe_matrix(
        frame,
        consumption_matrix(frame),
        day_index(frame),
        config,
        chunk_rows,
        n_threads,
        implausible,
    )


def describe_matrix(
    frame: pd.DataFrame,
    raw: np.ndarray,
    dates: pd.DatetimeIndex,
    config: PreprocessConfig,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    n_threads: int | None = None,
    implausible: Mapping[str, int] | None = None,
) -> CustomerDescriptions:
    """`describe_customers` of readings already laid out: `raw` the customers x days float32
    matrix (C-contiguous, NaN missing) on the consecutive days `dates`, `frame` the customers
    (index CONS_NO, FLAG; the canonical frame itself or only its FLAG column).

    For a caller that holds the matrix already (the single-customer scorer places each
    request's readings on its calendar): no frame of day columns is built and parsed back,
    which for a few customers cost more than describing them."""
    check_history(dates, config)
    if len(frame) == 0:
        raise MeterDataError("consumption: has no customers")
    shapes, table, quality_measures, cleaning = describe_rows(
        raw, dates, config, chunk_rows, n_threads
    )
    present_share, gap_longest, zero_share = quality_measures.T
    implausible_readings = implausible_counts(frame.index, implausible)
    quality = quality_flags(
        present_share,
        gap_longest.astype(np.int64),
        zero_share,
        config,
        implausible_readings,
        frame.index,
    )
    return CustomerDescriptions(frame, dates, quality, shapes, table, cleaning)


def check_history(dates: pd.DatetimeIndex | CalendarLayout, config: PreprocessConfig) -> None:
    """MeterDataError unless `dates` span at least the preprocessing's min_history_days."""
    days = dates.n_days if isinstance(dates, CalendarLayout) else len(dates)
    if days < config.min_history_days:
        raise MeterDataError(
            f"consumption: needs at least {config.min_history_days} days of history, got {days}"
        )


def describe_rows(
    raw: np.ndarray,
    dates: pd.DatetimeIndex | CalendarLayout,
    config: PreprocessConfig,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    n_threads: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, int]]:
    """What `describe_matrix` measures of each row of `raw` before its quality flags: profile
    shapes (customers x 19), features (customers x FEATURE_NAMES float32, peer_deviation NaN),
    the quality measures (present share, longest gap, zero share) and the cleaning counts.

    The single-customer scorer's answers need no quality flag, so it stops here."""
    check_history(dates, config)
    check_feature_knobs(config.recent_days, config.drop_window_days, chunk_rows)
    layout = dates if isinstance(dates, CalendarLayout) else CalendarLayout.of(dates)
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
    return shapes, table, quality_measures, cleaning


def implausible_counts(index: pd.Index, implausible: Mapping[str, int] | None) -> np.ndarray:
    """Per customer of `index`, the implausible readings set missing (0 for the customers absent
    from the mapping)."""
    if not implausible:
        return np.zeros(len(index), dtype=np.int64)
    counts = pd.Series(implausible, dtype=np.int64)
    return counts.reindex(index.astype(str)).fillna(0).to_numpy(dtype=np.int64)


def default_threads() -> int:
    """Threads for the blocks of `describe_customers`: the cores this process may use, at most 8."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_THREADS))


FEATURE_POSITION = {name: position for position, name in enumerate(FEATURE_NAMES)}


@dataclass
class Preprocessor:
    """Fitted stage 02: the config and the shape clustering, applied to any consumption frame."""

    config: PreprocessConfig
    clusters: ShapeClusters
    feature_names: tuple[str, ...] = FEATURE_NAMES
    fitted_on: dict = field(default_factory=dict)  # customers fitted on, days, first/last day, seed
    ntl_version: str = __version__

    @property
    def n_clusters(self) -> int:
        """Number of shape clusters."""
        return self.clusters.n_clusters

    def transform(
        self, consumption: pd.DataFrame, implausible: Mapping[str, int] | None = None
    ) -> pd.DataFrame:
        """The preprocessed frame: FLAG, quality_flag, cluster, then float32 features
        (`implausible`: as in `describe_customers`)."""
        return self.assemble(describe_customers(consumption, self.config, implausible=implausible))

    def assemble(self, computed: CustomerDescriptions) -> pd.DataFrame:
        """Assign clusters and peer deviation to described customers and lay them out as the
        preprocessed frame."""
        return self.assemble_rows(
            computed.frame,
            computed.quality["quality_flag"].to_numpy(),
            computed.shapes,
            computed.features,
        )

    def assemble_rows(
        self,
        frame: pd.DataFrame,
        quality_flag: np.ndarray,
        shapes: np.ndarray,
        features: np.ndarray,
    ) -> pd.DataFrame:
        """`assemble` from the parts of descriptions: the customers' index and FLAG (`frame`),
        quality flags, profile shapes and features (peer_deviation still NaN; set in place).

        Every step is per row, so the parts of customers described on different calendars can
        be stacked and assembled in one call."""
        cluster = self.assign_rows(shapes, features)
        index = frame.index
        meta = pd.DataFrame(
            {LABEL_COLUMN: labels(frame), "quality_flag": quality_flag, "cluster": cluster},
            index=index,
        )
        table = pd.DataFrame(features, index=index, columns=list(FEATURE_NAMES))
        return pd.concat([meta, table[list(self.feature_names)]], axis=1)

    def assign_rows(self, shapes: np.ndarray, features: np.ndarray) -> np.ndarray:
        """The cluster of each row by its profile shape, with its peer_deviation written into
        `features` (customers x FEATURE_NAMES, in place): `assemble_rows` without the frame,
        for the single-customer scorer, which needs no frame of these rows."""
        cluster = assign_clusters(self.clusters, shapes)
        set_peer_deviation(features, peer_deviation(shapes, cluster, self.clusters.typical_shapes))
        return cluster

    def feature_frame(self, features: np.ndarray, index: pd.Index) -> pd.DataFrame:
        """The feature columns of the preprocessed frame (this preprocessor's `feature_names`)
        of customers x FEATURE_NAMES `features`."""
        positions = [FEATURE_POSITION[name] for name in self.feature_names]
        columns = pd.Index(self.feature_names, dtype=object)
        return pd.DataFrame(features[:, positions], index=index, columns=columns)

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


MIN_HIGH_TO_CLUSTER = 3  # fewer HIGH-quality customers: the clustering is fitted on all of fit_rows


def cluster_fit_rows(quality_flag: np.ndarray, fit_rows: np.ndarray | None = None) -> np.ndarray:
    """Customers the shape clustering is fitted on: the HIGH-quality ones among `fit_rows` (the
    training customers; every customer when None), all of `fit_rows` when too few are HIGH."""
    flags = np.asarray(quality_flag)
    rows = np.ones(len(flags), dtype=bool) if fit_rows is None else np.asarray(fit_rows, bool)
    high = rows & (flags == HIGH)
    return high if high.sum() >= MIN_HIGH_TO_CLUSTER else rows


def fit_rows_mask(index: pd.Index, fit_on: pd.Index | np.ndarray | None) -> np.ndarray:
    """Boolean mask of the customers of `index` the transforms are fitted on.

    `fit_on` is the training customers (their CONS_NO, or a boolean mask over `index`); None fits
    on every customer (only for data without a split, e.g. a unit test).
    """
    if fit_on is None:
        return np.ones(len(index), dtype=bool)
    if isinstance(fit_on, np.ndarray) and fit_on.dtype == bool:
        if fit_on.shape != (len(index),):
            raise ParameterError(
                f"fit_on mask has {fit_on.shape[0]} entries for {len(index)} customers"
            )
        return fit_on
    wanted = pd.Index(fit_on)
    unknown = wanted.difference(index)
    if len(unknown):
        raise MeterDataError(
            f"fit_on names {len(unknown)} customers not in the consumption (e.g. "
            f"{unknown[:3].tolist()})"
        )
    mask = index.isin(wanted)
    if not mask.any():
        raise ParameterError("fit_on selects no customer")
    return mask


def fit_on_descriptions(
    computed: CustomerDescriptions,
    config: PreprocessConfig,
    seed: int,
    fit_on: pd.Index | np.ndarray | None = None,
) -> Preprocessor:
    """Fit the shape clustering (scaler, KMeans, typical shapes) on the HIGH-quality customers
    among `fit_on` (the training customers; all of them when fewer than 3 are HIGH).

    Nothing about the other customers enters the fit, so changing their readings changes none of
    the fitted transforms.
    """
    fit_rows = fit_rows_mask(computed.frame.index, fit_on)
    clustered = cluster_fit_rows(computed.quality["quality_flag"].to_numpy(), fit_rows)
    return fit_on_shapes(
        computed.shapes[clustered],
        config,
        seed,
        customers=int(fit_rows.sum()),
        dates=computed.dates,
    )


def fit_on_shapes(
    fit_shapes: np.ndarray,
    config: PreprocessConfig,
    seed: int,
    *,
    customers: int,
    dates: pd.DatetimeIndex,
    customers_clustered: int | None = None,
) -> Preprocessor:
    """The fitted stage 02 from the shapes of the customers chosen to fit the clustering on.

    `customers` is how many customers the fit was for (the training customers); `fit_shapes` may
    already be the clustering's seeded sample (the Dask path gathers only that),
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
    }
    return Preprocessor(config=config, clusters=clusters, fitted_on=fitted_on)


def fit_preprocessor(
    consumption: pd.DataFrame,
    config: PreprocessConfig,
    seed: int,
    fit_on: pd.Index | np.ndarray | None = None,
) -> Preprocessor:
    """Fit stage 02 on the `fit_on` customers of a consumption frame (see fit_on_descriptions)."""
    return fit_on_descriptions(describe_customers(consumption, config), config, seed, fit_on)


def fit_transform(
    consumption: pd.DataFrame,
    config: PreprocessConfig,
    seed: int,
    fit_on: pd.Index | np.ndarray | None = None,
) -> tuple[Preprocessor, pd.DataFrame]:
    """Fit on the `fit_on` customers, then transform every customer, reading the matrix once."""
    computed = describe_customers(consumption, config)
    preprocessor = fit_on_descriptions(computed, config, seed, fit_on)
    return preprocessor, preprocessor.assemble(computed)
