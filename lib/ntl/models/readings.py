"""The raw-readings baseline: XGBoost on each customer's daily readings, with no features.

It is the bar the headline model must clear at every history length: if trees on the readings
themselves rank thieves better than the engineered features, the features miss something.

Each customer's readings are laid out from the **end** of the history backwards, so the same
column means the same thing for a four-week export and a three-year one (``day_1`` is the last
day): the last `DAILY_DAYS` days as they are, the weeks before that up to a year back as weekly
means, and older history as four-week means (a 1,035-day history becomes 100 values instead of
1,035). Every value appears relative to the customer's own mean (``rel_``), so the trees can
compare shapes across customers of any size, and the last four weeks also in kWh as read
(``kwh_``), so the level is there too. Missing readings stay missing (XGBoost learns where to
send them); a period without a single reading is NaN.

The model is the headline XGBoost's recipe and hyperparameters, with `RAW_RECIPE` on top: a
larger step, fewer rounds and half the columns per tree, which keeps its fit on 128 columns to a
few seconds at SGCC scale (at 0.05 and 1,500 rounds it took longer than the rest of 03).

The layout is fixed by the training history (`ReadingsLayout.for_history`); a shorter history
scored later leaves the columns it cannot fill NaN.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import xgboost as xgb

from ntl.errors import MeterDataError
from ntl.frame import consumption_matrix

DAILY_DAYS = 28  # the last four weeks, day by day
WEEKLY_UNTIL_DAYS = 364  # weekly means back to a year before the last day
BLOCK_DAYS = 28  # older history: four-week means
RAW_RECIPE = {"learning_rate": 0.2, "n_estimators": 300, "colsample_bytree": 0.5}


@dataclass(frozen=True)
class ReadingsLayout:
    """How many daily, weekly and four-week values describe a history (counted from its end)."""

    daily: int
    weekly: int
    blocks: int

    @classmethod
    def for_history(cls, n_days: int) -> ReadingsLayout:
        """The compact layout of an `n_days` history: every day lands in exactly one value."""
        if n_days < 1:
            raise MeterDataError(f"readings layout: need at least 1 day, got {n_days}")
        daily = min(DAILY_DAYS, n_days)
        weekly = math.ceil(max(0, min(n_days, WEEKLY_UNTIL_DAYS) - DAILY_DAYS) / 7)
        blocks = math.ceil(max(0, n_days - WEEKLY_UNTIL_DAYS) / BLOCK_DAYS)
        return cls(daily, weekly, blocks)

    @property
    def span_days(self) -> int:
        """Days back from the last day that the layout covers."""
        if self.blocks:
            return WEEKLY_UNTIL_DAYS + BLOCK_DAYS * self.blocks
        return self.daily + 7 * self.weekly

    def value_names(self) -> list[str]:
        """Names of the values of one variant: day_1 (last day) .., week_5 .., block_1 .."""
        first_week = DAILY_DAYS // 7 + 1
        return (
            [f"day_{k}" for k in range(1, self.daily + 1)]
            + [f"week_{k}" for k in range(first_week, first_week + self.weekly)]
            + [f"block_{k}" for k in range(1, self.blocks + 1)]
        )

    def names(self) -> list[str]:
        """Column names: the daily values in kWh (``kwh_``), then every value relative to the
        customer's mean (``rel_``)."""
        values = self.value_names()
        return [f"kwh_{v}" for v in values[: self.daily]] + [f"rel_{v}" for v in values]

    def to_dict(self) -> dict[str, int]:
        """JSON-ready form (metadata.json)."""
        return asdict(self)


def _period_means(reversed_days: np.ndarray, length: int, count: int) -> np.ndarray:
    """Means over consecutive periods of `length` columns (`count` of them), NaN when empty."""
    if count == 0:
        return np.empty((len(reversed_days), 0), dtype=np.float64)
    periods = reversed_days[:, : length * count].reshape(len(reversed_days), count, length)
    present = ~np.isnan(periods)
    sums = np.where(present, periods, 0.0).sum(axis=2, dtype=np.float64)
    counts = present.sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / counts, np.nan)


def readings_values(raw: np.ndarray, layout: ReadingsLayout) -> np.ndarray:
    """customers x `layout.names()` float32 from a customers x days float32 block (NaN missing).

    The history is read from its last day backwards and padded with NaN where it is shorter than
    the layout; readings older than the layout's span are not used. ``rel_`` values divide by the
    customer's mean over the readings of the whole block (NaN when that mean is not positive).
    """
    raw = np.asarray(raw, dtype=np.float32)
    if raw.ndim != 2:
        raise MeterDataError(f"readings must be 2-D customers x days, got {raw.ndim} dimension(s)")
    n_rows, n_days = raw.shape
    span = layout.span_days
    backwards = np.full((n_rows, span), np.nan, dtype=np.float64)
    kept = min(span, n_days)
    backwards[:, :kept] = raw[:, ::-1][:, :kept]
    weekly_start = layout.daily
    block_start = WEEKLY_UNTIL_DAYS
    parts = [
        backwards[:, : layout.daily],
        _period_means(backwards[:, weekly_start:], 7, layout.weekly),
        _period_means(backwards[:, block_start:], BLOCK_DAYS, layout.blocks),
    ]
    values = np.concatenate(parts, axis=1)
    present = ~np.isnan(raw)
    counts = present.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(present, raw, 0).sum(axis=1, dtype=np.float64) / counts
        relative = np.where((mean > 0)[:, None], values / mean[:, None], np.nan)
    return np.concatenate([values[:, : layout.daily], relative], axis=1).astype(np.float32)


def readings_frame(consumption: pd.DataFrame, layout: ReadingsLayout) -> pd.DataFrame:
    """`readings_values` of a canonical consumption frame, indexed by CONS_NO."""
    values = readings_values(consumption_matrix(consumption), layout)
    return pd.DataFrame(values, index=consumption.index.copy(), columns=layout.names())


@dataclass
class ReadingsBaseline:
    """The fitted raw-readings model and the layout its columns follow."""

    layout: ReadingsLayout
    model: xgb.XGBClassifier

    def predict(self, consumption: pd.DataFrame) -> pd.Series:
        """Probability of theft from the readings alone, per customer of `consumption`."""
        values = readings_values(consumption_matrix(consumption), self.layout)
        with _threads(self.model.get_booster(), len(values)):
            probability = self.model.predict_proba(values)[:, 1].astype(np.float64)
        return pd.Series(probability, index=consumption.index.copy(), name=RAW_READINGS_MODEL)


RAW_READINGS_MODEL = "raw_readings_xgboost"


def _threads(booster: xgb.Booster, rows: int):
    from ntl.models.bundle import on_all_cores  # bundle imports this module

    return on_all_cores(booster, rows=rows)
