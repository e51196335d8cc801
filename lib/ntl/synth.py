"""Realistic synthetic daily consumption with electricity theft, shaped like the SGCC data set.

Why not random noise: detectors trained on trivially separable data look perfect and teach
nothing. Here normal customers carry the legitimate patterns that fool real detectors (level
drops when people move out, meter zero-runs, vacant and seasonal premises, noisy households), and
thieves start stealing at an onset date with one of the attack types of Jokar et al. (2016),
"Electricity theft detection in AMI using customers' consumption patterns", adapted to daily
readings. Missing readings come in runs and scattered, more often for thieves.

The customers x days matrix is built with array operations only: loops run over the handful of
archetypes and attack types, never over customers or days.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ntl.errors import ParameterError
from ntl.frame import ID_COLUMN, build_frame

# ---------------------------------------------------------------------------------------------
# Normal customers


@dataclass(frozen=True)
class Archetype:
    """How one kind of premises consumes; per-customer values are drawn around these."""

    share: float  # fraction of customers of this kind
    level_median: float  # median daily consumption across customers, kWh
    level_sigma: float  # lognormal spread of levels across customers (heavy right tail)
    saturday: float  # consumption multiplier on Saturdays
    sunday: float  # ... and on Sundays
    heating: float  # upper bound of the heating sensitivity (fraction of level per 10 degree-days)
    cooling: float  # upper bound of the cooling sensitivity (fraction of level per 4 degree-days)
    holiday: float  # multiplier on public holidays
    noise_low: float  # range of the day-to-day lognormal noise sigma
    noise_high: float
    theft_propensity: float  # relative chance of being a thief


ARCHETYPES: dict[str, Archetype] = {
    "residential": Archetype(0.70, 7.0, 0.75, 1.08, 1.12, 0.6, 0.7, 1.10, 0.15, 0.45, 1.0),
    "commercial": Archetype(0.14, 35.0, 0.90, 0.75, 0.55, 0.35, 0.8, 0.50, 0.12, 0.35, 1.3),
    "small_industrial": Archetype(0.06, 120.0, 1.00, 0.80, 0.45, 0.2, 0.3, 0.30, 0.12, 0.40, 1.6),
    # Holiday homes (used in summer and on holidays) and vacant premises (used now and then):
    # outside use they draw a standby load, see _occupancy.
    "seasonal": Archetype(0.06, 6.0, 0.80, 1.15, 1.15, 0.4, 0.6, 1.30, 0.20, 0.50, 0.6),
    "vacant": Archetype(0.04, 1.0, 0.80, 1.00, 1.00, 0.1, 0.1, 1.00, 0.30, 0.70, 0.3),
}

MIN_DAY_FACTOR = 0.05  # weekend and holiday factors never take a day below this share of its level
LEVEL_SHIFT_PROBABILITY = 0.25  # legitimate move-in/out or new appliance
METER_ZERO_RUN_PROBABILITY = 0.12  # meter faults or empty stretches recorded as zeros
METER_ZERO_SCATTER_PROBABILITY = 0.08  # meters that store some failed reads as 0
VACANT_VISIT_PROBABILITY = 0.04  # a vacant premises is used on about one day in 25
THIEF_MISSING_RATIO = (
    1.5  # from its onset, tampering makes a meter miss readings this much more often
)
MIN_THEFT_DAYS = 30  # the latest onset leaves this many days of theft before the period ends
NOISE_SMOOTH_WINDOW = 7  # days over which part of the noise is persistent

# Chinese New Year (first day), for the Spring Festival holiday week; SGCC is a Chinese utility.
LUNAR_NEW_YEAR = {
    2010: "2010-02-14", 2011: "2011-02-03", 2012: "2012-01-23", 2013: "2013-02-10",
    2014: "2014-01-31", 2015: "2015-02-19", 2016: "2016-02-08", 2017: "2017-01-28",
    2018: "2018-02-16", 2019: "2019-02-05", 2020: "2020-01-25", 2021: "2021-02-12",
    2022: "2022-02-01", 2023: "2023-01-22", 2024: "2024-02-10", 2025: "2025-01-29",
    2026: "2026-02-17", 2027: "2027-02-06", 2028: "2028-01-26", 2029: "2029-02-13",
    2030: "2030-02-03", 2031: "2031-01-23", 2032: "2032-02-11", 2033: "2033-01-31",
    2034: "2034-02-19", 2035: "2035-02-08",
}  # fmt: skip


def public_holidays(dates: pd.DatetimeIndex) -> np.ndarray:
    """True on Chinese public holidays: New Year, Spring Festival week, Qingming, Labour Day
    (1-3 May) and National Day week (1-7 Oct). Spring Festival is known for 2010-2035."""
    month, day = dates.month.to_numpy(), dates.day.to_numpy()
    fixed = (
        ((month == 1) & (day == 1))
        | ((month == 4) & (day == 5))
        | ((month == 5) & (day <= 3))
        | ((month == 10) & (day <= 7))
    )
    new_years = pd.DatetimeIndex(
        [LUNAR_NEW_YEAR[y] for y in np.unique(dates.year) if y in LUNAR_NEW_YEAR]
    )
    if len(new_years) == 0:
        return fixed
    # Spring Festival: New Year's Eve and the six days after New Year's Day.
    offset = (dates.to_numpy()[:, None] - new_years.to_numpy()[None, :]) // np.timedelta64(1, "D")
    spring_festival = ((offset >= -1) & (offset <= 5)).any(axis=1)
    return fixed | spring_festival


def daily_temperature(dates: pd.DatetimeIndex, rng: np.random.Generator) -> np.ndarray:
    """A continental daily mean temperature (degC): annual cycle plus shared weather spells."""
    day_of_year = dates.day_of_year.to_numpy()
    seasonal = 13.0 - 15.0 * np.cos(2 * np.pi * (day_of_year - 15) / 365.25)
    spells = rolling_mean_noise(rng.standard_normal((1, len(dates) + 4)), 5)[0]
    return (seasonal + 3.0 * spells * np.sqrt(5)).astype(np.float32)


def rolling_mean_noise(noise: np.ndarray, window: int) -> np.ndarray:
    """Means of `window` consecutive values along axis 1 (output is window - 1 shorter).

    A float32 `noise` is overwritten with its cumulative sum, to save memory on large matrices.
    """
    cumulative = np.cumsum(
        noise, axis=1, dtype=np.float32, out=noise.astype(np.float32, copy=False)
    )
    n_out = cumulative.shape[1] - window + 1
    means = np.empty((cumulative.shape[0], n_out), dtype=np.float32)
    means[:, 0] = cumulative[:, window - 1]
    np.subtract(cumulative[:, window:], cumulative[:, : n_out - 1], out=means[:, 1:])
    means /= np.float32(window)
    return means


def draw_archetypes(n_customers: int, rng: np.random.Generator) -> np.ndarray:
    """Archetype index per customer (into ARCHETYPES), in the archetypes' shares."""
    shares = np.array([a.share for a in ARCHETYPES.values()])
    return rng.choice(len(ARCHETYPES), size=n_customers, p=shares / shares.sum())


def _per_customer(archetype_codes: np.ndarray, attribute: str) -> np.ndarray:
    """An Archetype attribute looked up for every customer."""
    values = np.array([getattr(a, attribute) for a in ARCHETYPES.values()], dtype=np.float64)
    return values[archetype_codes]


def windows_mask(starts: np.ndarray, lengths: np.ndarray, n_days: int) -> np.ndarray:
    """rows x n_days mask, True inside [start, start + length) of any window of that row.

    `starts` and `lengths` are rows x k integer arrays (length 0 = no window). Built from a
    difference array and a cumulative sum, so it costs O(rows x days) whatever k is.
    """
    starts = np.clip(np.asarray(starts, dtype=np.int64), 0, n_days)
    ends = np.clip(starts + np.maximum(np.asarray(lengths, dtype=np.int64), 0), 0, n_days)
    n_rows = starts.shape[0]
    change = np.zeros((n_rows, n_days + 1), dtype=np.int16)
    row_index = np.broadcast_to(np.arange(n_rows)[:, None], starts.shape)
    used = ends > starts
    np.add.at(change, (row_index[used], starts[used]), 1)
    np.add.at(change, (row_index[used], ends[used]), -1)
    return np.cumsum(change[:, :n_days], axis=1, dtype=np.int16) > 0


def normal_consumption(
    n_customers: int, dates: pd.DatetimeIndex, rng: np.random.Generator
) -> tuple[np.ndarray, pd.DataFrame]:
    """True daily consumption of customers with no theft, and what was drawn for each.

    Returns a customers x days float32 array (kWh) and a table with columns archetype, level,
    level_shift (factor, 1 = none), level_shift_date and meter_zero_days.
    """
    n_days = len(dates)
    codes = draw_archetypes(n_customers, rng)
    level = rng.lognormal(
        np.log(_per_customer(codes, "level_median")), _per_customer(codes, "level_sigma")
    )
    info: dict[str, np.ndarray] = {}
    consumption = _weekly_and_climate(codes, level, dates, rng)
    consumption *= _trend_and_shift(n_customers, n_days, rng, info)
    _occupancy(consumption, codes, dates, rng)
    consumption *= _daily_noise(codes, n_days, rng)
    info["meter_zero_days"] = _meter_zeros(consumption, rng)
    table = pd.DataFrame(
        {
            "archetype": np.array(list(ARCHETYPES))[codes],
            "level": level.astype(np.float32),
            "level_shift": info["level_shift"],
            "level_shift_date": _dates_or_nat(dates, info["level_shift_day"]),
            "meter_zero_days": info["meter_zero_days"],
        }
    )
    return consumption, table


def _weekly_and_climate(
    codes: np.ndarray, level: np.ndarray, dates: pd.DatetimeIndex, rng: np.random.Generator
) -> np.ndarray:
    """level x weekday factor x heating/cooling response x holiday factor, customers x days."""
    n_customers = len(codes)
    # Weekday factors: the archetype's weekend effect, stronger or weaker per customer.
    strength = rng.uniform(0.4, 1.6, n_customers)
    weekly = np.ones((n_customers, 7), dtype=np.float32)
    weekly[:, 5] = 1 + (_per_customer(codes, "saturday") - 1) * strength
    weekly[:, 6] = 1 + (_per_customer(codes, "sunday") - 1) * strength
    np.maximum(weekly, MIN_DAY_FACTOR, out=weekly)
    consumption = weekly[:, dates.day_of_week.to_numpy()]
    consumption *= level[:, None].astype(np.float32)
    temperature = daily_temperature(dates, rng)
    heating_days = (np.maximum(0, 14.0 - temperature) / 10).astype(np.float32)
    cooling_days = (np.maximum(0, temperature - 22.0) / 4).astype(np.float32)
    heating = (rng.uniform(0, 1, n_customers) * _per_customer(codes, "heating")).astype(np.float32)
    cooling = (rng.uniform(0, 1, n_customers) * _per_customer(codes, "cooling")).astype(np.float32)
    climate = heating[:, None] * heating_days[None, :]
    climate += np.float32(1)
    hot = cooling_days > 0  # cooling only matters on hot days: update those columns alone
    climate[:, hot] += cooling[:, None] * cooling_days[None, hot]
    consumption *= climate
    del climate
    holiday = public_holidays(dates)
    holiday_factor = 1 + (_per_customer(codes, "holiday") - 1) * rng.uniform(0.5, 1.5, n_customers)
    # A strong holiday drop (0.30 x 1.5) would go below zero: keep a standby load instead.
    holiday_factor = np.maximum(holiday_factor, MIN_DAY_FACTOR)
    consumption[:, holiday] *= holiday_factor[:, None].astype(np.float32)
    return consumption


def _trend_and_shift(
    n_customers: int, n_days: int, rng: np.random.Generator, info: dict
) -> np.ndarray:
    """Slow trend times one legitimate level shift (for some customers), customers x days."""
    years = np.arange(n_days, dtype=np.float32) / np.float32(365.25)
    slope = rng.normal(0, 0.08, n_customers).astype(np.float32)
    factor = slope[:, None] * years[None, :]
    np.exp(factor, out=factor)
    shifted = rng.random(n_customers) < LEVEL_SHIFT_PROBABILITY
    magnitude = rng.uniform(0.2, 1.2, n_customers) * rng.choice([-1.0, 1.0], n_customers)
    shift = np.where(shifted, np.exp(magnitude), 1.0)
    shift_day = np.where(shifted, rng.integers(1, max(n_days, 2), n_customers), -1)
    after = np.arange(n_days)[None, :] >= np.where(shifted, shift_day, n_days)[:, None]
    factor *= np.where(after, shift[:, None].astype(np.float32), np.float32(1))
    info["level_shift"] = shift.astype(np.float32)
    info["level_shift_day"] = shift_day
    return factor


def _occupancy(
    consumption: np.ndarray, codes: np.ndarray, dates: pd.DatetimeIndex, rng: np.random.Generator
) -> None:
    """Holiday homes are used in summer and over holidays; vacant premises now and then.

    Outside use both draw a small standby load. Modifies `consumption` in place.
    """
    names = list(ARCHETYPES)
    day_of_year = dates.day_of_year.to_numpy()
    holiday = public_holidays(dates)
    seasonal = np.flatnonzero(codes == names.index("seasonal"))
    if len(seasonal):
        season_start = rng.integers(140, 190, len(seasonal))[:, None]
        season_length = rng.integers(50, 110, len(seasonal))[:, None]
        in_use = (day_of_year >= season_start) & (day_of_year < season_start + season_length)
        in_use |= holiday[None, :]
        standby = rng.uniform(0.03, 0.2, len(seasonal))[:, None]
        consumption[seasonal] *= np.where(in_use, 1.0, standby).astype(np.float32)
    vacant = np.flatnonzero(codes == names.index("vacant"))
    if len(vacant):
        visits = rng.random((len(vacant), len(dates))) < VACANT_VISIT_PROBABILITY
        boost = rng.uniform(3, 10, (len(vacant), len(dates)))
        consumption[vacant] *= np.where(visits, boost, 1.0).astype(np.float32)


def _daily_noise(codes: np.ndarray, n_days: int, rng: np.random.Generator) -> np.ndarray:
    """Mean-one lognormal day-to-day noise, part white and part persistent over about a week."""
    n_customers = len(codes)
    sigma = rng.uniform(
        _per_customer(codes, "noise_low"), _per_customer(codes, "noise_high")
    ).astype(np.float32)[:, None]
    window = NOISE_SMOOTH_WINDOW
    persistent = rolling_mean_noise(
        rng.standard_normal((n_customers, n_days + window - 1), dtype=np.float32), window
    )
    noise = rng.standard_normal((n_customers, n_days), dtype=np.float32)
    noise *= np.float32(0.8)
    persistent *= np.float32(0.6 * np.sqrt(window))
    noise += persistent
    noise *= sigma
    noise -= sigma**2 / 2
    return np.exp(noise, out=noise)


def _meter_zeros(consumption: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Zero readings that are not theft: some meters record runs of zeros (faults, empty
    stretches), others scattered zero days (failed reads stored as 0). Modifies `consumption`
    in place; returns the zeroed days per customer."""
    n_customers, n_days = consumption.shape
    zero_days = np.zeros(n_customers, dtype=np.int32)
    rows = np.flatnonzero(rng.random(n_customers) < METER_ZERO_RUN_PROBABILITY)
    if len(rows):
        n_runs = rng.integers(1, 4, len(rows))
        lengths = np.minimum(
            np.ceil(rng.lognormal(np.log(5), 1.0, (len(rows), 3))), max(1, n_days // 3)
        ).astype(np.int64)
        lengths[np.arange(3)[None, :] >= n_runs[:, None]] = 0
        starts = rng.integers(0, n_days, (len(rows), 3))
        zeroed = windows_mask(starts, lengths, n_days)
        consumption[rows] = np.where(zeroed, np.float32(0), consumption[rows])
        zero_days[rows] += zeroed.sum(axis=1, dtype=np.int32)
    rows = np.flatnonzero(rng.random(n_customers) < METER_ZERO_SCATTER_PROBABILITY)
    if len(rows):
        probability = rng.uniform(0.02, 0.3, len(rows))[:, None]
        zeroed = (rng.random((len(rows), n_days)) < probability) & (consumption[rows] > 0)
        consumption[rows] = np.where(zeroed, np.float32(0), consumption[rows])
        zero_days[rows] += zeroed.sum(axis=1, dtype=np.int32)
    return zero_days


def _dates_or_nat(dates: pd.DatetimeIndex, day: np.ndarray) -> pd.DatetimeIndex:
    """dates[day], NaT where day is negative."""
    values = dates.to_numpy()[np.clip(day, 0, len(dates) - 1)]
    return pd.DatetimeIndex(np.where(day >= 0, values, np.datetime64("NaT")))


# ---------------------------------------------------------------------------------------------
# Theft attacks (each: true readings of the thieves, onset day per thief -> reported, parameter)


def after_onset(onset: np.ndarray, n_days: int) -> np.ndarray:
    """thieves x days mask, True from each thief's onset day on."""
    return np.arange(n_days)[None, :] >= np.asarray(onset)[:, None]


def _post_onset_mean(true: np.ndarray, onset: np.ndarray) -> np.ndarray:
    """Mean true consumption of each thief from the onset on (what a flat report would show)."""
    attacked = after_onset(onset, true.shape[1])
    total = np.where(attacked, true, 0).sum(axis=1, dtype=np.float64)
    return (total / np.maximum(attacked.sum(axis=1), 1)).astype(np.float32)


def attack_h1(true: np.ndarray, onset: np.ndarray, rng: np.random.Generator) -> tuple:
    """h1: every reading times a constant factor alpha in [0.1, 0.8]. Parameter: alpha."""
    alpha = rng.uniform(0.1, 0.8, len(onset)).astype(np.float32)
    factor = np.where(after_onset(onset, true.shape[1]), alpha[:, None], np.float32(1))
    return true * factor, alpha


def attack_h2(true: np.ndarray, onset: np.ndarray, rng: np.random.Generator) -> tuple:
    """h2: readings zeroed in 1-6 random windows after the onset, each 5-25 % of the attacked
    period. Parameter: the share of attacked days zeroed."""
    n_thieves, n_days = true.shape
    attacked_days = n_days - np.asarray(onset)
    n_windows = rng.integers(1, 7, n_thieves)
    share = rng.uniform(0.05, 0.25, (n_thieves, 6))
    lengths = np.maximum(1, np.round(share * attacked_days[:, None])).astype(np.int64)
    lengths[np.arange(6)[None, :] >= n_windows[:, None]] = 0
    starts = onset[:, None] + np.floor(rng.random((n_thieves, 6)) * attacked_days[:, None])
    zeroed = windows_mask(starts, lengths, n_days)
    return np.where(zeroed, np.float32(0), true), zeroed.sum(axis=1) / attacked_days


def attack_h3(true: np.ndarray, onset: np.ndarray, rng: np.random.Generator) -> tuple:
    """h3: each reading times its own random factor in [0.1, 0.8]. Parameter: the mean factor."""
    attacked = after_onset(onset, true.shape[1])
    factor = rng.uniform(0.1, 0.8, true.shape).astype(np.float32)
    factor[~attacked] = 1
    return true * factor, _mean_where(factor, attacked)


def attack_h4(true: np.ndarray, onset: np.ndarray, rng: np.random.Generator) -> tuple:
    """h4: each reading replaced by a random factor in [0.1, 0.8] times the thief's mean
    post-onset consumption. Parameter: the mean factor."""
    attacked = after_onset(onset, true.shape[1])
    factor = rng.uniform(0.1, 0.8, true.shape).astype(np.float32)
    mean = _post_onset_mean(true, onset)
    return np.where(attacked, factor * mean[:, None], true), _mean_where(factor, attacked)


def attack_h5(true: np.ndarray, onset: np.ndarray, rng: np.random.Generator) -> tuple:
    """h5: a flat reading at the thief's mean post-onset consumption (the profile is hidden,
    the total is not reduced, as in Jokar et al.). Parameter: that mean."""
    mean = _post_onset_mean(true, onset)
    return np.where(after_onset(onset, true.shape[1]), mean[:, None], true), mean


def attack_h6(true: np.ndarray, onset: np.ndarray, rng: np.random.Generator) -> tuple:
    """h6: readings reversed within each 7-day block counted from the onset (a shorter last
    block is reversed within itself). Parameter: 1 for every thief."""
    n_thieves, n_days = true.shape
    day = np.arange(n_days)[None, :]
    onset = np.asarray(onset)[:, None]
    since = day - onset
    block_start = onset + (since // 7) * 7
    block_length = np.minimum(7, n_days - block_start)
    source = np.where(since >= 0, 2 * block_start + block_length - 1 - day, day)
    return np.take_along_axis(true, source, axis=1), np.ones(n_thieves, dtype=np.float32)


def attack_gradual(true: np.ndarray, onset: np.ndarray, rng: np.random.Generator) -> tuple:
    """Gradual: the factor falls linearly from 1 to alpha in [0.1, 0.6] over a ramp of 30-180
    days (at most the attacked period), then stays. Parameter: alpha."""
    n_thieves, n_days = true.shape
    alpha = rng.uniform(0.1, 0.6, n_thieves)
    attacked_days = n_days - np.asarray(onset)
    ramp = np.maximum(1, np.minimum(rng.integers(30, 181, n_thieves), attacked_days))
    since = np.arange(n_days)[None, :] - np.asarray(onset)[:, None]
    progress = np.clip((since + 1) / ramp[:, None], 0, 1)
    factor = 1 - (1 - alpha[:, None]) * progress
    return (true * factor.astype(np.float32)).astype(np.float32), alpha.astype(np.float32)


def attack_cap(true: np.ndarray, onset: np.ndarray, rng: np.random.Generator) -> tuple:
    """Cap: readings after the onset clipped at a fraction c in [0.2, 0.6] of the thief's
    maximum true reading over that period (so the cap always bites). Parameter: c."""
    fraction = rng.uniform(0.2, 0.6, len(onset)).astype(np.float32)
    attacked = after_onset(onset, true.shape[1])
    peak = np.where(attacked, true, 0).max(axis=1)
    capped = np.minimum(true, (fraction * peak)[:, None])
    return np.where(attacked, capped, true), fraction


def attack_intermittent_zeros(
    true: np.ndarray, onset: np.ndarray, rng: np.random.Generator
) -> tuple:
    """Intermittent zeros: each day after the onset is zeroed with probability p in [0.2, 0.6].
    Parameter: p."""
    probability = rng.uniform(0.2, 0.6, len(onset)).astype(np.float32)
    zeroed = (rng.random(true.shape) < probability[:, None]) & after_onset(onset, true.shape[1])
    return np.where(zeroed, np.float32(0), true), probability


def _mean_where(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    total = np.where(mask, values, 0).sum(axis=1, dtype=np.float64)
    return (total / np.maximum(mask.sum(axis=1), 1)).astype(np.float32)


ATTACKS: dict[str, Callable[..., tuple[np.ndarray, np.ndarray]]] = {
    "h1": attack_h1,
    "h2": attack_h2,
    "h3": attack_h3,
    "h4": attack_h4,
    "h5": attack_h5,
    "h6": attack_h6,
    "gradual": attack_gradual,
    "cap": attack_cap,
    "intermittent_zeros": attack_intermittent_zeros,
}

# What each attack does, in words a reviewer reads beside its code (Jokar et al. 2016 for h1-h6).
ATTACK_DESCRIPTIONS: dict[str, str] = {
    "h1": "every reading cut by one constant factor (10-80 % kept)",
    "h2": "readings zeroed in a few windows after the onset",
    "h3": "each reading cut by its own random factor",
    "h4": "each reading replaced by a random share of the thief's mean",
    "h5": "a flat reading at the thief's mean: the profile hidden, the total not reduced",
    "h6": "readings reversed within each week: the total not reduced",
    "gradual": "use lowered step by step over 1-6 months, then held",
    "cap": "readings clipped at a ceiling",
    "intermittent_zeros": "random days zeroed after the onset",
}

DEFAULT_ATTACK_MIX: dict[str, float] = {
    "h1": 0.14,
    "h2": 0.10,
    "h3": 0.12,
    "h4": 0.10,
    "h5": 0.06,
    "h6": 0.06,
    "gradual": 0.16,
    "cap": 0.12,
    "intermittent_zeros": 0.14,
}


def apply_attack(
    name: str, true: np.ndarray, onset: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Apply attack `name` to thieves' true readings (thieves x days) from their onset days.

    Returns the reported float32 readings (identical to `true` before each onset) and the
    attack's parameter per thief (see each attack_* function).
    """
    if name not in ATTACKS:
        raise ParameterError(f"unknown attack {name!r}; known attacks: {list(ATTACKS)}")
    true = np.asarray(true, dtype=np.float32)
    onset = np.asarray(onset, dtype=np.int64)
    if true.ndim != 2 or len(onset) != true.shape[0]:
        raise ParameterError(
            f"true must be thieves x days with one onset per thief, got {true.shape}"
        )
    if len(onset) and (onset.min() < 0 or onset.max() >= true.shape[1]):
        raise ParameterError(f"onset days must lie in [0, {true.shape[1] - 1}]")
    reported, parameter = ATTACKS[name](true, onset, rng)
    return np.asarray(reported, dtype=np.float32), np.asarray(parameter, dtype=np.float32)


def validate_attack_mix(attack_mix: Mapping[str, float] | None) -> dict[str, float]:
    """The attack mix normalised to sum 1 (None = DEFAULT_ATTACK_MIX); ParameterError if bad."""
    if attack_mix is None:
        attack_mix = DEFAULT_ATTACK_MIX
    unknown = sorted(set(attack_mix) - set(ATTACKS))
    if unknown:
        raise ParameterError(f"attack_mix: unknown attack(s) {unknown}; known: {list(ATTACKS)}")
    weights = {name: float(weight) for name, weight in attack_mix.items()}
    if any(not np.isfinite(w) or w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
        raise ParameterError(f"attack_mix weights must be >= 0 and not all 0, got {weights}")
    total = sum(weights.values())
    return {name: weight / total for name, weight in weights.items() if weight > 0}


def choose_thieves(
    archetype_codes: np.ndarray, theft_rate: float, rng: np.random.Generator
) -> np.ndarray:
    """Rows of the thieves: round(theft_rate x customers), drawn by archetype propensity."""
    n_thieves = round(theft_rate * len(archetype_codes))
    weights = _per_customer(archetype_codes, "theft_propensity")
    chosen = rng.choice(len(archetype_codes), n_thieves, replace=False, p=weights / weights.sum())
    return np.sort(chosen)


def draw_onsets(n_thieves: int, n_days: int, rng: np.random.Generator) -> np.ndarray:
    """Onset day per thief, uniform from 10 % of the period to MIN_THEFT_DAYS before its end.

    Recent onsets matter: an inspector meets thieves who started weeks ago, so the last onset
    leaves only about a month of theft (a quarter of the period when that is shorter). Never
    the first day, and every thief steals on at least one day.
    """
    first = max(1, int(0.1 * n_days))
    last = n_days - max(1, min(MIN_THEFT_DAYS, n_days // 4))
    last = min(max(first, last), n_days - 1)
    return rng.integers(first, last + 1, n_thieves)


# ---------------------------------------------------------------------------------------------
# Missing readings


def missing_mask(rates: np.ndarray, n_days: int, rng: np.random.Generator) -> np.ndarray:
    """customers x days mask of missing readings, each customer missing about `rates[i]` of days.

    Missingness comes as a late start (meter installed or first read later) for a quarter of the
    customers, as outage runs, on a few system-wide outage days, and scattered; the scattered
    part tops each customer up to its rate, so the rates hold on average whatever overlaps.
    """
    rates = np.clip(np.asarray(rates, dtype=np.float64), 0, 0.9)
    n_customers = len(rates)
    target_days = rates * n_days
    late = rng.random(n_customers) < 0.25
    lead = np.where(late, np.floor(target_days * rng.uniform(0.3, 0.9, n_customers)), 0)
    missing = np.arange(n_days)[None, :] < lead[:, None]
    runs_days = (target_days - lead) * rng.uniform(0.5, 0.95, n_customers)
    n_runs = 3
    split = rng.dirichlet(np.ones(n_runs), n_customers)
    lengths = np.round(split * runs_days[:, None]).astype(np.int64)
    starts = rng.integers(0, n_days, (n_customers, n_runs))
    missing |= windows_mask(starts, lengths, n_days)
    outage_days = rng.random(n_days) < 0.004
    missing |= outage_days[None, :] & (rng.random((n_customers, 1)) < 0.9)
    remaining = np.maximum(0, target_days - missing.sum(axis=1))
    free_days = np.maximum(1, n_days - missing.sum(axis=1))
    scatter = (remaining / free_days).astype(np.float32)
    missing |= rng.random((n_customers, n_days), dtype=np.float32) < scatter[:, None]
    return keep_one_reading(missing, rng)


def keep_one_reading(missing: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """In place and returned: a customer missing every day gets one random day back (an
    all-missing customer is in no export)."""
    silent = np.flatnonzero(missing.all(axis=1))
    missing[silent, rng.integers(0, missing.shape[1], len(silent))] = False
    return missing


def draw_missing_rates(
    n_customers: int, missing_rate: float, rng: np.random.Generator
) -> np.ndarray:
    """Per-customer missing fraction of a meter nobody tampers with: Beta-distributed (many near
    zero, a few high) with mean `missing_rate`. The same for thieves: their extra missing readings
    come with the attack, from its onset (`tampering_gaps`)."""
    if missing_rate <= 0:
        return np.zeros(n_customers)
    mean = float(np.clip(missing_rate, 1e-6, 0.95))
    concentration = 1.5
    return rng.beta(mean * concentration, (1 - mean) * concentration, size=n_customers)


def tampering_gaps(
    rates: np.ndarray, onset: np.ndarray, n_days: int, rng: np.random.Generator
) -> np.ndarray:
    """thieves x days mask of the readings a tampered meter loses on top of its own rate r: from
    the onset on, scattered days with probability (THIEF_MISSING_RATIO - 1) r / (1 - r), so that
    with its own gaps it misses about THIEF_MISSING_RATIO x r of the days after the onset (at
    most all); before the onset nothing."""
    own = np.clip(np.asarray(rates, dtype=np.float64), 0.0, 0.99)
    extra = np.clip((THIEF_MISSING_RATIO - 1.0) * own / (1.0 - own), 0.0, 1.0).astype(np.float32)
    draws = rng.random((len(extra), n_days), dtype=np.float32)
    return (draws < extra[:, None]) & after_onset(onset, n_days)


# ---------------------------------------------------------------------------------------------
# The whole data set


def generate_consumption(
    n_customers: int = 10_000,
    *,
    n_days: int = 1035,
    start: str = "2014-01-01",
    theft_rate: float = 0.085,
    missing_rate: float = 0.25,
    attack_mix: Mapping[str, float] | None = None,
    seed: int = 42,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A canonical consumption frame with thieves, and the ground truth behind it.

    Ground truth (index CONS_NO): archetype, attack ("none" for normal customers), onset
    (NaT for normal), attack_parameter (see the attack_* functions), stolen_fraction (share of
    true post-onset energy not reported), level, level_shift, level_shift_date,
    meter_zero_days and missing_fraction.

    Independent random streams drive normal consumption, theft, attacks and missingness, so
    with missing_rate=0 the same seed gives the same normal consumption whatever the theft
    settings.
    """
    _check_generator_parameters(n_customers, n_days, theft_rate, missing_rate)
    mix = validate_attack_mix(attack_mix)
    normal_rng, theft_rng, attack_rng, missing_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4)
    )
    dates = pd.date_range(pd.Timestamp(start), periods=n_days, freq="D")
    consumption, truth = normal_consumption(n_customers, dates, normal_rng)
    codes = pd.Categorical(truth["archetype"], categories=list(ARCHETYPES)).codes
    thieves = choose_thieves(codes, theft_rate, theft_rng)
    attack = np.full(n_customers, "none", dtype=object)
    attack[thieves] = theft_rng.choice(list(mix), len(thieves), p=list(mix.values()))
    onset_day = np.full(n_customers, -1)
    onset_day[thieves] = draw_onsets(len(thieves), n_days, theft_rng)
    parameter = np.full(n_customers, np.nan, dtype=np.float32)
    stolen = np.full(n_customers, np.nan, dtype=np.float32)
    for name in mix:
        rows = thieves[attack[thieves] == name]
        if len(rows) == 0:
            continue
        true = consumption[rows]
        reported, parameter[rows] = apply_attack(name, true, onset_day[rows], attack_rng)
        stolen[rows] = _stolen_fraction(true, reported, onset_day[rows])
        consumption[rows] = reported
    is_thief = attack != "none"
    rates = draw_missing_rates(n_customers, missing_rate, missing_rng)
    missing = missing_mask(rates, n_days, missing_rng)
    missing[thieves] |= tampering_gaps(rates[thieves], onset_day[thieves], n_days, missing_rng)
    keep_one_reading(missing, missing_rng)
    consumption[missing] = np.nan
    np.round(consumption, 2, out=consumption)
    ids = _customer_ids(n_customers)
    frame = build_frame(ids, consumption, dates[0], flag=is_thief.astype(np.int8))
    truth.index = pd.Index(ids, name=ID_COLUMN, dtype=object)
    truth.insert(1, "attack", attack.astype(str))
    truth.insert(2, "onset", _dates_or_nat(dates, onset_day))
    truth.insert(3, "attack_parameter", parameter)
    truth.insert(4, "stolen_fraction", stolen)
    truth["missing_fraction"] = missing.mean(axis=1).astype(np.float32)
    return frame, truth


def _stolen_fraction(true: np.ndarray, reported: np.ndarray, onset: np.ndarray) -> np.ndarray:
    """1 - reported / true energy from the onset on (0 when the attack only reshapes)."""
    attacked = after_onset(onset, true.shape[1])
    true_total = np.where(attacked, true, 0).sum(axis=1, dtype=np.float64)
    reported_total = np.where(attacked, reported, 0).sum(axis=1, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        fraction = np.where(true_total > 0, 1 - reported_total / true_total, 0.0)
    return np.round(fraction, 4).astype(np.float32) + np.float32(0)  # + 0 turns -0.0 into 0.0


def _customer_ids(n_customers: int) -> np.ndarray:
    """IDs C000000, C000001, ... (zero-padded to a common width)."""
    return customer_ids(n_customers)


def customer_ids(n_customers: int, *, offset: int = 0, total: int | None = None) -> np.ndarray:
    """IDs of customers offset .. offset + n_customers - 1 of a population of `total`
    (default: offset + n_customers), zero-padded to the width of the largest: C000000, ..."""
    total = offset + n_customers if total is None else total
    width = max(6, len(str(max(total - 1, 0))))
    numbers = np.arange(offset, offset + n_customers).astype(str)
    return np.char.add("C", np.char.zfill(numbers, width)).astype(object)


def _check_generator_parameters(
    n_customers: int, n_days: int, theft_rate: float, missing_rate: float
) -> None:
    if int(n_customers) != n_customers or n_customers < 1:
        raise ParameterError(f"n_customers must be a positive integer, got {n_customers!r}")
    if int(n_days) != n_days or n_days < 14:
        raise ParameterError(f"n_days must be an integer >= 14, got {n_days!r}")
    if not 0 <= theft_rate < 1:
        raise ParameterError(f"theft_rate must be in [0, 1), got {theft_rate!r}")
    if not 0 <= missing_rate < 0.9:
        raise ParameterError(f"missing_rate must be in [0, 0.9), got {missing_rate!r}")
