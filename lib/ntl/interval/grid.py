"""The customers x days accumulators that interval readings are folded into, batch by batch."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from ntl.errors import MeterDataError
from ntl.interval.options import IntervalResult, IntervalSummary

MAX_LISTED = 5


class DayGrid:
    """Customers x days accumulators that grow as the stream shows new customers and days.

    ``sums`` (kWh of the readings present), ``present`` (readings present), ``rows`` (rows seen,
    missing readings included); per customer the lowest and highest label; one bit per customer
    and interval slot (``seen``) to catch a second reading of the same interval.
    """

    def __init__(self) -> None:
        self.ids: list[str] = []
        self._codes: dict[str, int] = {}
        self.day0 = 0
        self.n_days = 0
        self.slots_per_day = 0
        self.sums = np.zeros((0, 0))
        self.present = np.zeros((0, 0), dtype=np.int32)
        self.rows = np.zeros((0, 0), dtype=np.int32)
        self.seen = np.zeros((0, 0), dtype=np.uint8)
        self.label_low = np.zeros(0, dtype=np.float32)
        self.label_high = np.zeros(0, dtype=np.float32)
        self.day_first_key = np.zeros(0, dtype=np.int64)
        self.day_last_key = np.zeros(0, dtype=np.int64)
        self.day_last_slot = np.zeros(0, dtype=np.int64)
        self.readings = 0

    @property
    def n_customers(self) -> int:
        return len(self.ids)

    def code(self, name: str) -> int:
        """The customer's row, a new one on first sight."""
        found = self._codes.get(name)
        if found is None:
            found = self._codes[name] = len(self.ids)
            self.ids.append(name)
        return found

    def fit(self, days: np.ndarray) -> None:
        """Grow the arrays to hold every customer seen so far and the batch's days."""
        low, high = int(days.min()), int(days.max())
        if self.n_days == 0:
            new_day0, new_n_days = low, high - low + 1
        else:
            new_day0 = min(self.day0, low)
            new_n_days = max(self.day0 + self.n_days, high + 1) - new_day0
        customers_ok = self.n_customers <= len(self.sums)
        if customers_ok and new_day0 == self.day0 and new_n_days == self.n_days:
            return
        capacity = max(len(self.sums), 1)
        while capacity < self.n_customers:
            capacity *= 2
        if new_n_days != self.n_days and self.n_days:  # headroom: time-sorted files grow daily
            spare = max(new_n_days - self.n_days, self.n_days // 2)
            if low < self.day0:
                new_day0 = min(new_day0, self.day0 - spare)
                new_n_days = self.day0 + self.n_days - new_day0
                new_n_days = max(new_n_days, high + 1 - new_day0)
            else:
                new_n_days = max(new_n_days, self.n_days + spare)
        self._regrid(capacity, new_day0, new_n_days)

    def _regrid(self, capacity: int, day0: int, n_days: int) -> None:
        shift = self.day0 - day0 if self.n_days else 0
        old_customers, old_days = self.sums.shape

        def moved(old: np.ndarray, fill: float | int, dtype: type) -> np.ndarray:
            new = np.full((capacity, n_days), fill, dtype=dtype)
            new[:old_customers, shift : shift + old_days] = old
            return new

        self.sums = moved(self.sums, 0.0, np.float64)
        self.present = moved(self.present, 0, np.int32)
        self.rows = moved(self.rows, 0, np.int32)
        spd = self.slots_per_day
        bits = np.zeros((capacity, (n_days + 2) * spd), dtype=bool)
        if self.seen.size:
            old_bits = np.unpackbits(self.seen, axis=1, count=(old_days + 2) * spd).astype(bool)
            bits[:old_customers, shift * spd : (shift + old_days + 2) * spd] = old_bits
        self.seen = np.packbits(bits, axis=1)
        for name, fill in (
            ("day_first_key", np.iinfo(np.int64).max),
            ("day_last_key", -1),
            ("day_last_slot", -1),
        ):
            old = getattr(self, name)
            new = np.full(n_days, fill, dtype=np.int64)
            new[shift : shift + len(old)] = old
            setattr(self, name, new)
        self.day0, self.n_days = day0, n_days

    def _cells(self, codes: np.ndarray, days: np.ndarray) -> tuple[np.ndarray, int, int]:
        """Each row's customer-day, relative to the lowest one of the batch, and the span."""
        self.fit(days)
        cells = codes * self.n_days + (days - self.day0)
        low = int(cells.min())
        span = int(cells.max()) - low + 1
        return cells - low, low, span

    def add_readings(self, codes: np.ndarray, days: np.ndarray, values: np.ndarray) -> None:
        """Fold one reading per row (NaN: a missing reading) into its customer-day."""
        local, low, span = self._cells(codes, days)
        rows = np.bincount(local, minlength=span)
        missing = np.isnan(values)
        n_missing = int(np.count_nonzero(missing))
        if n_missing:
            present = rows - np.bincount(local[missing], minlength=span)
            values = np.where(missing, np.float32(0), values)
        else:
            present = rows
        self.rows.reshape(-1)[low : low + span] += rows.astype(np.int32)
        self.present.reshape(-1)[low : low + span] += present.astype(np.int32)
        self.sums.reshape(-1)[low : low + span] += np.bincount(local, values, minlength=span)
        self.readings += len(values) - n_missing

    def add_rows(
        self, codes: np.ndarray, days: np.ndarray, sums: np.ndarray, counts: np.ndarray
    ) -> None:
        """Fold rows that each carry a day's kWh and its number of readings (wide-interval)."""
        local, low, span = self._cells(codes, days)
        self.rows.reshape(-1)[low : low + span] += np.bincount(local, minlength=span).astype(
            np.int32
        )
        present = np.bincount(local, counts, minlength=span)
        self.present.reshape(-1)[low : low + span] += present.astype(np.int32)
        self.sums.reshape(-1)[low : low + span] += np.bincount(local, sums, minlength=span)
        self.readings += int(counts.sum())

    def used_days(self) -> np.ndarray:
        """True for each day of the grid on which some customer has a row."""
        return self.rows[: self.n_customers].any(axis=0)

    def mark_seen(
        self, codes: np.ndarray, slots: np.ndarray, describe: Callable[[int], str], path: Path
    ) -> None:
        """Set the bit of each (customer, slot); a bit already set is a duplicate reading."""
        columns = slots - (self.day0 - 1) * self.slots_per_day
        width = self.seen.shape[1] * 8
        keys = codes * width + columns
        if len(keys) > 1 and not np.all(keys[1:] > keys[:-1]):
            order = np.argsort(keys, kind="stable")
            keys = keys[order]
            twice = np.flatnonzero(keys[1:] == keys[:-1])
            if len(twice):
                first, second = order[twice[0]], order[twice[0] + 1]
                raise MeterDataError(
                    f"{path}: two readings at the same timestamp: {describe(int(second))}, "
                    f"repeats {describe(int(first))}"
                )
        else:
            order = None
        byte = keys >> 3
        masks = np.left_shift(1, keys & 7).astype(np.uint8)
        starts = np.flatnonzero(np.r_[True, byte[1:] != byte[:-1]])
        combined = np.bitwise_or.reduceat(masks, starts)
        flat = self.seen.reshape(-1)
        clash = flat[byte[starts]] & combined
        if clash.any():
            group = int(np.flatnonzero(clash)[0])
            members = np.arange(
                starts[group], starts[group + 1] if group + 1 < len(starts) else len(keys)
            )
            hit = members[(masks[members] & clash[group]) != 0][0]
            row = int(order[hit]) if order is not None else int(hit)
            raise MeterDataError(
                f"{path}: two readings at the same timestamp: {describe(row)} repeats a reading "
                "earlier in the file"
            )
        flat[byte[starts]] |= combined

    def add_labels(self, codes: np.ndarray, labels: np.ndarray) -> None:
        """Keep each customer's lowest and highest label (they must agree)."""
        if len(self.label_low) < self.n_customers:
            grown = max(2 * len(self.label_low), self.n_customers)
            for name in ("label_low", "label_high"):
                old = getattr(self, name)
                new = np.full(grown, np.nan, dtype=np.float32)
                new[: len(old)] = old
                setattr(self, name, new)
        np.fmin.at(self.label_low, codes, labels)
        np.fmax.at(self.label_high, codes, labels)

    def check_one_row_per_day(self, path: Path) -> None:
        """A wide-interval file has at most one row per customer and day."""
        used = self.rows[: self.n_customers]
        twice = np.argwhere(used > 1)
        if len(twice):
            examples = [f"{self.ids[c]!r} on {self._day_text(d)}" for c, d in twice[:MAX_LISTED]]
            raise MeterDataError(
                f"{path}: several rows for the same customer and day, e.g. {', '.join(examples)}"
            )

    def _day_text(self, day: int) -> str:
        return (pd.Timestamp(0) + pd.Timedelta(days=int(self.day0 + day))).strftime("%Y-%m-%d")

    def result(
        self,
        path: Path,
        expected: np.ndarray,
        max_missing_share: float,
        summary: IntervalSummary,
        counted: str,
    ) -> IntervalResult:
        """Apply the completeness rule and return the daily readings (report filled in)."""
        n = self.n_customers
        used = np.flatnonzero(self.used_days())
        first, last = int(used[0]), int(used[-1]) + 1
        sums = self.sums[:n, first:last]
        present = self.present[:n, first:last]
        holds = expected[first:last][None, :]
        claimed = (self.rows if counted == "rows" else self.present)[:n, first:last]
        over = np.argwhere(claimed > holds)
        if len(over):
            customer, day = over[0]
            raise MeterDataError(
                f"{path}: customer {self.ids[customer]!r} has {claimed[customer, day]} "
                f"readings on {self._day_text(first + day)}, more intervals than the day holds "
                f"({holds[0, day]} of {summary.interval_minutes:g} minutes)"
            )
        missing_share = 1 - present / holds
        complete = present == holds
        scaled = ~complete & (present > 0) & (missing_share <= max_missing_share + 1e-9)
        with np.errstate(divide="ignore", invalid="ignore"):
            daily = np.where(complete, sums, np.where(scaled, sums * holds / present, np.nan))
        summary.readings = self.readings
        summary.customer_days = int(np.count_nonzero(present))
        summary.complete_days = int(np.count_nonzero(complete))
        summary.scaled_days = int(np.count_nonzero(scaled))
        summary.incomplete_days_missing = summary.customer_days - (
            summary.complete_days + summary.scaled_days
        )
        self.add_labels(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))
        low, high = self.label_low[:n], self.label_high[:n]
        conflicting = np.flatnonzero(low != high)  # NaN != NaN is True: keep known pairs only
        conflicting = conflicting[~np.isnan(low[conflicting])]
        if len(conflicting):
            names = [self.ids[i] for i in conflicting[:MAX_LISTED]]
            raise MeterDataError(f"{path}: customers with both labels 0 and 1: {names}")
        flag = pd.array(np.where(np.isnan(high), np.nan, high), dtype="Float32").astype("Int8")
        start = pd.Timestamp(0) + pd.Timedelta(days=self.day0 + first)
        dates = pd.date_range(start, periods=last - first, freq="D")
        readings = np.ascontiguousarray(daily, dtype=np.float32)
        return IntervalResult(np.array(self.ids, dtype=object), readings, dates, flag, summary)
