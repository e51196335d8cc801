"""Split customers into train / validation / test, stratified on FLAG.

The split is by customer (one row each), so no customer's behaviour leaks from training into
evaluation. Notebook 02 draws it before anything is fitted; the test part is reserved for notebook 04.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ntl.errors import MeterDataError, ParameterError
from ntl.frame import ID_COLUMN, has_both_classes

SPLITS = ("train", "validation", "test")
SPLIT_COLUMN = "split"


def check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    """Return `fractions` as three floats, or raise ParameterError naming what is wrong."""
    values = tuple(float(f) for f in fractions)
    if len(values) != 3:
        raise ParameterError(f"split fractions must be (train, validation, test), got {fractions}")
    if any(not np.isfinite(f) or f < 0 for f in values):
        raise ParameterError(f"split fractions must be finite and >= 0, got {fractions}")
    if values[0] <= 0 or values[1] <= 0:
        raise ParameterError(f"train and validation fractions must be > 0, got {fractions}")
    if abs(sum(values) - 1.0) > 1e-6:
        raise ParameterError(f"split fractions must sum to 1, got {fractions} (sum {sum(values)})")
    return values  # type: ignore[return-value]


def split_counts(n: int, fractions: Sequence[float]) -> np.ndarray:
    """How many of `n` customers go to each split: cumulative rounding, so counts sum to `n`.

    >>> split_counts(10, (0.6, 0.2, 0.2)).tolist()
    [6, 2, 2]
    """
    edges = np.rint(np.cumsum(fractions) * n).astype(np.int64)
    edges[-1] = n
    return np.diff(np.concatenate([[0], edges]))


def split_customers(
    flag: pd.Series, *, fractions: Sequence[float] = (0.6, 0.2, 0.2), seed: int = 42
) -> pd.DataFrame:
    """Assign every customer to train / validation / test.

    Stratified on FLAG when both classes exist: thieves, normal customers and unlabeled customers
    are each shuffled and cut in the same proportions, so every split has the same theft rate.
    Without both classes it is a plain seeded shuffle. Returns a frame indexed like `flag` with
    one string column ``split``.
    """
    fractions = check_fractions(fractions)
    if flag.index.has_duplicates:
        dupes = flag.index[flag.index.duplicated()].unique()[:5].tolist()
        raise MeterDataError(f"split_customers: duplicate {ID_COLUMN} values, e.g. {dupes}")
    codes = split_codes(flag, fractions, seed)
    names = np.asarray(SPLITS, dtype=object)[codes]
    index = pd.Index(flag.index.astype(str), name=ID_COLUMN)
    return pd.DataFrame({SPLIT_COLUMN: pd.array(names, dtype="str")}, index=index)


def split_codes(flag: pd.Series, fractions: Sequence[float], seed: int) -> np.ndarray:
    """Position in SPLITS (0 train, 1 validation, 2 test) of each customer, in `flag`'s order:
    the rule of `split_customers` on the labels alone (the Dask path gathers only FLAG)."""
    fractions = check_fractions(fractions)
    flag = pd.Series(flag).astype("Int8")
    rng = np.random.default_rng(seed)
    codes = np.empty(len(flag), dtype=np.int64)
    if has_both_classes(flag):
        groups = flag.fillna(-1).to_numpy(dtype=np.int64)
        group_ids = [1, 0, -1]
    else:
        groups = np.zeros(len(flag), dtype=np.int64)
        group_ids = [0]
    for group in group_ids:  # at most three groups: thieves, normal, unlabeled
        positions = np.flatnonzero(groups == group)
        shuffled = rng.permutation(positions)
        codes[shuffled] = np.repeat(np.arange(3), split_counts(len(positions), fractions))
    return codes


def split_mask(split: pd.DataFrame, name: str, index: pd.Index) -> np.ndarray:
    """Boolean mask over `index` of the customers that `split` puts in split `name`."""
    if name not in SPLITS:
        raise ParameterError(f"unknown split {name!r}; expected one of {SPLITS}")
    aligned = split[SPLIT_COLUMN].reindex(index)
    if aligned.isna().any():
        missing = index[aligned.isna().to_numpy()][:5].tolist()
        raise MeterDataError(f"split.parquet: no split for {ID_COLUMN} {missing}")
    return (aligned == name).to_numpy(dtype=bool)
