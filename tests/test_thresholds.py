"""ntl.thresholds on hand-made scores: capacity, precision / recall there, tiers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ntl.errors import MeterDataError, ParameterError
from ntl.thresholds import (
    assign_tiers,
    capacity_count,
    fit_thresholds,
    tier_codes,
    tier_shares,
)

SCORES = pd.Series(np.arange(10, 0, -1) / 10.0, index=[f"C{i}" for i in range(10)])  # 1.0 .. 0.1
FLAG = pd.Series(pd.array([1, 0, 1, 0, 0, 1, 0, 0, 0, 0], dtype="Int8"), index=SCORES.index)


def test_capacity_count_from_share_or_count():
    assert capacity_count(1000, inspection_share=0.05) == 50
    assert capacity_count(10, inspection_share=0.01) == 1  # at least one
    assert capacity_count(8000, inspection_count=400, population_size=40000) == 80
    assert capacity_count(10, inspection_count=3) == 3
    with pytest.raises(ParameterError, match="inspection_share must be in"):
        capacity_count(10, inspection_share=0)
    with pytest.raises(ParameterError, match="inspection_count must be between 1 and the 10"):
        capacity_count(10, inspection_count=11)


def test_threshold_precision_and_recall_on_hand_values():
    result = fit_thresholds(SCORES, FLAG, inspection_share=0.3)
    assert result["operational_threshold"] == pytest.approx(0.8)
    assert result["high_cutoff"] == result["operational_threshold"]
    assert result["medium_cutoff"] == pytest.approx(0.5)  # the next 3 customers
    assert result["capacity"]["flagged_on_validation"] == 3
    assert result["expected"]["precision"] == pytest.approx(2 / 3)
    assert result["expected"]["recall"] == pytest.approx(2 / 3)
    assert result["medium_tier_precision"] == pytest.approx(1 / 3)
    assert result["labelled"] is True


def test_labels_are_aligned_on_customers_not_rows():
    shuffled = FLAG.iloc[::-1]
    assert fit_thresholds(SCORES, shuffled, inspection_share=0.3)["expected"]["precision"] == (
        pytest.approx(2 / 3)
    )


def test_threshold_hits_the_requested_capacity_on_continuous_scores():
    rng = np.random.default_rng(0)
    scores = pd.Series(rng.random(2000))
    for share, expected in ((0.01, 20), (0.05, 100), (0.123, 246)):
        result = fit_thresholds(scores, None, inspection_share=share)
        assert result["capacity"]["flagged_on_validation"] == expected
        assert (scores >= result["operational_threshold"]).sum() == expected
    by_count = fit_thresholds(scores, None, inspection_count=1000, population_size=10000)
    assert by_count["capacity"]["flagged_on_validation"] == 200


def test_ties_at_the_threshold_are_reported_not_hidden():
    scores = pd.Series([0.9, 0.5, 0.5, 0.5, 0.1])
    result = fit_thresholds(scores, None, inspection_count=2)
    assert result["capacity"]["target_on_validation"] == 2
    assert result["capacity"]["flagged_on_validation"] == 4


def test_unlabelled_or_partly_labelled_validation():
    unlabelled = fit_thresholds(SCORES, pd.Series(pd.array([pd.NA] * 10, dtype="Int8")))
    assert unlabelled["expected"]["precision"] is None and unlabelled["labelled"] is False
    partly = FLAG.copy()
    partly.iloc[1] = pd.NA  # the normal customer at rank 2 is unknown
    result = fit_thresholds(SCORES, partly, inspection_count=3)
    assert result["expected"]["precision"] == pytest.approx(1.0)  # 2 thieves of 2 labelled
    assert result["expected"]["labelled_flagged"] == 2


def test_bad_scores_and_parameters_are_named():
    with pytest.raises(MeterDataError, match="NaN scores"):
        fit_thresholds(pd.Series([0.1, np.nan]), None)
    with pytest.raises(ParameterError, match="watchlist_multiple"):
        fit_thresholds(SCORES, None, watchlist_multiple=-1)


def test_assign_tiers_on_hand_values():
    thresholds = fit_thresholds(SCORES, FLAG, inspection_share=0.2, watchlist_multiple=1.5)
    tiers = assign_tiers(SCORES, thresholds)
    assert tiers.tolist() == ["high"] * 2 + ["medium"] * 3 + ["low"] * 5
    assert list(tiers.cat.categories) == ["low", "medium", "high"] and tiers.cat.ordered
    assert tiers.index.equals(SCORES.index)
    with pytest.raises(MeterDataError, match="NaN scores"):
        assign_tiers(pd.Series([np.nan]), thresholds)
    with pytest.raises(ParameterError, match="above high_cutoff"):
        assign_tiers(SCORES, {"high_cutoff": 0.2, "medium_cutoff": 0.5})
    codes = tier_codes(SCORES.to_numpy(), thresholds)
    assert codes.dtype == np.int8 and codes.tolist() == [2] * 2 + [1] * 3 + [0] * 5
    on_cutoffs = [thresholds["high_cutoff"], thresholds["medium_cutoff"]]  # a cut-off is its tier
    assert tier_codes(np.array(on_cutoffs), thresholds).tolist() == [2, 1]
    with pytest.raises(MeterDataError, match="NaN scores"):
        tier_codes(np.array([0.3, np.nan]), thresholds)


def test_tier_shares_count_each_score_set_against_the_cutoffs():
    thresholds = {"high_cutoff": 0.8, "medium_cutoff": 0.5}
    table = tier_shares({"validation": SCORES, "top three": SCORES.iloc[:3]}, thresholds)
    assert table.index.tolist() == ["validation", "top three"]
    assert table.loc["validation"].to_dict() == {
        "customers": 10,
        "high customers": 3,  # 1.0, 0.9, 0.8
        "high": 0.3,
        "medium": 0.3,  # 0.7, 0.6, 0.5
        "low": 0.4,
    }
    assert table.loc["top three", "high"] == 1.0 and table.loc["top three", "low"] == 0.0
    with pytest.raises(MeterDataError, match="NaN scores cannot be assigned a risk tier"):
        tier_shares({"broken": pd.Series([np.nan, 0.5])}, thresholds)
