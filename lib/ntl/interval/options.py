"""What the interval readers are told (options) and what they tell back (summary, result)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ntl.errors import MeterDataError

STAMP_CONVENTIONS = ("start", "end")
DAY_SECONDS = 86_400


@dataclass
class IntervalOptions:
    """How interval readings become days; validated before anything is read."""

    timezone: str | None = None
    interval_stamps: str = "start"
    max_missing_share: float = 0.1
    period_column: str | None = None
    day_code_origin: str | None = None  # the date column holds DDDHH codes, day 1 = this date

    def __post_init__(self) -> None:
        if self.interval_stamps not in STAMP_CONVENTIONS:
            raise MeterDataError(
                f"interval_stamps must be one of {STAMP_CONVENTIONS}, got {self.interval_stamps!r}"
            )
        share = self.max_missing_share
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share < 1:
            raise MeterDataError(
                f"max_missing_share must be a number in [0, 1), got {self.max_missing_share!r}"
            )
        if self.day_code_origin is not None:
            if self.period_column is not None:
                raise MeterDataError(
                    "give period_column or day_code_origin, not both: a DDDHH day code already "
                    "holds the interval number"
                )
            try:
                pd.Timestamp(self.day_code_origin)
            except (ValueError, TypeError) as exc:
                raise MeterDataError(
                    f"day_code_origin must be a date like 2009-01-01, got {self.day_code_origin!r}"
                ) from exc
        if self.timezone is not None:
            try:
                pd.Timestamp("2020-01-01").tz_localize(self.timezone)
            except Exception as exc:  # pytz/zoneinfo raise several kinds
                raise MeterDataError(
                    f"timezone {self.timezone!r} is not a time zone name (e.g. 'Europe/London')"
                ) from exc

    @property
    def origin_day(self) -> int | None:
        """Day number (days since 1970-01-01) of day code 1, when the file uses day codes."""
        if self.day_code_origin is None:
            return None
        return int(pd.Timestamp(self.day_code_origin).normalize().value // (DAY_SECONDS * 10**9))


@dataclass
class IntervalSummary:
    """What the interval reader found and how it turned intervals into days (for the report)."""

    layout: str
    interval_minutes: float
    stamps: str
    timezone: str
    max_missing_share: float
    readings: int = 0
    customer_days: int = 0
    complete_days: int = 0
    scaled_days: int = 0
    incomplete_days_missing: int = 0
    daylight_saving_days: int = 0
    negative_readings_set_missing: int = 0
    ignored_columns: tuple[str, ...] = ()

    def messages(self) -> list[str]:
        """Sentences for the load report: interval, stamps, calendar, completeness."""
        minutes = f"{self.interval_minutes:g}-minute"
        lines = [
            f"Interval data ({self.layout}): {self.readings:,} {minutes} readings "
            f"aggregated to {self.customer_days:,} customer-days; stamps: {self.stamps}; "
            f"calendar: {self.timezone}.",
            f"Completeness: {self.complete_days:,} complete days summed; "
            f"{self.scaled_days:,} days missing at most {self.max_missing_share:.0%} of their "
            f"intervals scaled up to the whole day; {self.incomplete_days_missing:,} days missing "
            "more set to missing.",
        ]
        if self.daylight_saving_days:
            lines.append(
                f"{self.daylight_saving_days:,} daylight-saving day(s) of 23 or 25 hours counted "
                "complete at their own number of intervals."
            )
        if self.negative_readings_set_missing:
            lines.append(
                f"{self.negative_readings_set_missing:,} negative interval readings set to missing."
            )
        if self.ignored_columns:
            lines.append(f"Columns not used: {', '.join(self.ignored_columns)}.")
        return lines


@dataclass
class IntervalResult:
    """Daily readings built from interval data, ready for the canonical frame."""

    ids: np.ndarray
    readings: np.ndarray
    dates: pd.DatetimeIndex
    flag: pd.api.extensions.ExtensionArray
    summary: IntervalSummary
