"""Verdict sentences: what an interval or a number means, in words, for notebooks and card."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from ntl.evaluate.ranking import ArrayLike


def difference_verdict(low: ArrayLike, high: ArrayLike) -> np.ndarray:
    """Read paired-difference intervals (reference minus model): "better" when the whole
    interval is above 0, "worse" when below, "no clear difference" when it holds 0 (or is NaN,
    as for the reference itself: "reference")."""
    lows = np.asarray(low, dtype=np.float64)
    highs = np.asarray(high, dtype=np.float64)
    verdict = np.full(lows.shape, "no clear difference", dtype=object)
    verdict[lows > 0] = "better"
    verdict[highs < 0] = "worse"
    verdict[np.isnan(lows) | np.isnan(highs)] = "reference"
    return verdict


def interval_verdict(value: float | None, low: float, high: float) -> str:
    """Whether an expected value (e.g. validation precision) lies in a measured interval."""
    if value is None or any(math.isnan(v) for v in (float(value), low, high)):
        return "no comparison possible"
    if low <= value <= high:
        return "inside the test interval: the gap is within the test's sampling noise"
    return (
        "outside the test interval: the gap exceeds the test's sampling noise; check whether "
        "the threshold transfers"
    )


def cost_benefit_summary(
    at_capacity: Mapping[str, float],
    next_batch: Mapping[str, float],
    chosen: Mapping[str, float] | None,
    break_even: float,
    currency: str = "EUR",
) -> str:
    """Plain sentences relating the net value at capacity, the next batch of inspections and the
    optimum chosen on validation, for the notebook and the model card."""

    def money(value: float) -> str:
        return f"{value:,.0f} {currency}"

    def count(value: float, word: str) -> str:
        return f"{value:,.0f} {word}" + ("" if round(value) == 1 else "s")

    lines = [
        f"At capacity ({count(at_capacity['n_inspections'], 'inspection')}): "
        f"{count(at_capacity['hits'], 'theft')}, net value {money(at_capacity['net_value'])} "
        f"(95 % CI {money(at_capacity['net_value_low'])} to "
        f"{money(at_capacity['net_value_high'])}).",
    ]
    if next_batch["n_inspections"] > 0:
        pays = next_batch["hit_rate"] > break_even
        lines.append(
            f"The next {count(next_batch['n_inspections'], 'inspection')} beyond capacity would "
            f"find {count(next_batch['hits'], 'theft')} (hit rate {next_batch['hit_rate']:.1%}, "
            "95 % CI "
            f"{next_batch['hit_rate_low']:.1%}-{next_batch['hit_rate_high']:.1%}; break-even "
            f"{break_even:.1%}) and add {money(next_batch['net_value'])}: "
            + ("more inspections would still pay." if pays else "this batch would not pay.")
        )
    if chosen is not None:
        multiple = capacity_multiple(chosen["n_inspections"], at_capacity["n_inspections"])
        lines.append(
            f"The optimum chosen on validation inspects {chosen['share']:.1%} of customers: "
            f"{chosen['n_inspections']:,} test customers, {multiple:.1f} x capacity, netting "
            f"{money(chosen['net_value'])} on test. "
            + capacity_relation(multiple, next_batch_pays(next_batch, break_even))
        )
    return "\n".join(lines)


CAPACITY_BAND = (0.9, 1.1)  # an optimum within this multiple of capacity counts as "at capacity"


def capacity_multiple(n_optimum: float, n_capacity: float) -> float:
    """How many times the capacity the optimum number of inspections is (capacity 0 counts as 1)."""
    return float(n_optimum) / max(float(n_capacity), 1.0)


def next_batch_pays(next_batch: Mapping[str, float] | None, break_even: float) -> bool | None:
    """Whether the test's next batch beyond capacity pays (None: there is no such batch)."""
    if not next_batch or not next_batch.get("n_inspections"):
        return None
    return bool(next_batch["hit_rate"] > break_even and next_batch["net_value"] > 0)


def capacity_relation(multiple: float | None, batch_pays: bool | None = None) -> str:
    """What the optimum's size relative to capacity means for the team, in one sentence.

    `batch_pays` is what the test split says of the next batch beyond capacity: a verdict its
    own numbers contradict ("more inspections would pay" beside a batch that loses money) is
    never printed; the sentence says that the two disagree instead.
    """
    if multiple is None:
        return ""
    low, high = CAPACITY_BAND
    if multiple > high and batch_pays is False:
        return (
            "On validation more inspections than capacity paid, but on test the next batch "
            "beyond capacity does not: the data cannot tell whether inspecting beyond capacity pays."
        )
    if multiple > high:
        return "Capacity, not the model, limits the recovered value: more inspections would pay."
    if multiple < low:
        return (
            "Capacity exceeds what pays: the last inspections within it cost more than they "
            "recover."
        )
    return "Capacity sits at the optimum."


FEW_CASES = 30  # a figure resting on fewer thieves than this is said to rest on too few cases


def few_cases_note(n_thieves: int, n_customers: int, what: str = "test") -> str | None:
    """A plain warning when the evaluation rests on too few thieves to read, else None.

    With 5 test thieves a ROC-AUC of 1.000 (1.000-1.000) says only that 5 customers ranked high;
    every rate and interval here is that thin.
    """
    if n_thieves >= FEW_CASES:
        return None
    return (
        f"Too few cases: the {what} split has {n_thieves:,} thieves among {n_customers:,} "
        f"customers (fewer than {FEW_CASES}). Every figure below rests on them: read the rates "
        "and their intervals as a rough indication only, and an interval of zero width (such as "
        "1.000-1.000) as a sign of too few cases, not of a perfect model."
    )


def threshold_lines(at_threshold: Mapping[str, float], n_customers: int) -> list[str]:
    """The test split at the operational threshold in sentences: how many flagged and found,
    precision and recall with their intervals, and whether 03's validation values lie inside."""
    lines = [
        f"threshold {at_threshold['threshold']:.4f}: {at_threshold['flagged']:,} of "
        f"{n_customers:,} test customers flagged, {at_threshold['true_positive']:,} of "
        f"{at_threshold['thieves']:,} thieves among them"
    ]
    for rate, n_name in (("precision", "flagged"), ("recall", "thieves")):
        expected = at_threshold.get(f"validation_{rate}")
        validation = (
            f"validation {expected:.3f}: {at_threshold[f'validation_{rate}_verdict']}"
            if expected is not None
            else "no validation value"
        )
        lines.append(
            f"{rate}: test {at_threshold[rate]:.3f} (95 % CI {at_threshold[f'{rate}_low']:.3f}-"
            f"{at_threshold[f'{rate}_high']:.3f}, n = {at_threshold[n_name]:,} {n_name}) · "
            + validation
        )
    return lines
