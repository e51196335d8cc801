"""Tier table and inspection list of ntl.risk, on a hand-made ranking."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ntl import evaluate, risk
from ntl.errors import ParameterError
from ntl.preprocess import PreprocessConfig
from ntl.thresholds import assign_tiers


@pytest.fixture
def ranked_population() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Six customers in scrambled order; by risk: E F A B C D (C and D tied)."""
    index = pd.Index(["A", "B", "C", "D", "E", "F"], name="CONS_NO")
    preprocessed = pd.DataFrame(
        {
            "FLAG": pd.array([1, 0, 0, 1, 1, pd.NA], dtype="Int8"),
            "quality_flag": ["HIGH", "LOW", "HIGH", "HIGH", "LOW", "HIGH"],
            "cluster": [0, 1, 0, 2, 1, -1],
            "mean_kwh": np.float32([1, 2, 3, 4, 5, 6]),
        },
        index=index,
    )
    scores = pd.DataFrame(
        {
            "anomaly_score": [0.1] * 6,
            "xgb_probability": [0.5] * 6,
            "probability": [0.6, 0.3, 0.1, 0.1, 0.9, 0.8],
            "risk_score": [0.7, 0.4, 0.2, 0.2, 0.95, 0.9],
        },
        index=index,
    )
    reasons = pd.DataFrame(
        {
            "reason_1": ["fell", "zeros", "", "", "gaps", "trend"],
            "reason_2": ["", "", "", "", "x", ""],
        },
        index=index,
    )
    return preprocessed, scores, reasons


def test_inspection_list_is_ranked_with_all_columns(ranked_population):
    preprocessed, scores, reasons = ranked_population
    tiers = assign_tiers(scores["risk_score"], {"high_cutoff": 0.9, "medium_cutoff": 0.4})
    table = risk.inspection_list(preprocessed, scores, tiers, reasons)
    assert list(table.columns) == [
        "rank",
        "CONS_NO",
        "risk_score",
        "probability",
        "tier",
        "cluster",
        "quality_flag",
        "reason_1",
        "reason_2",
    ]
    assert table["CONS_NO"].tolist() == ["E", "F", "A", "B", "C", "D"]
    assert table["rank"].tolist() == [1, 2, 3, 4, 5, 6]
    assert table["tier"].tolist() == ["high", "high", "medium", "medium", "low", "low"]
    assert table["reason_1"].tolist() == [
        "gaps",
        "trend",
        "fell",
        "zeros",
        risk.NO_STANDOUT,
        risk.NO_STANDOUT,
    ]
    assert table.loc[0, "probability"] == 0.9
    assert table["cluster"].tolist() == [1, -1, 0, 1, 0, 2]
    assert "FLAG" not in table.columns


def test_inspection_list_hit_rate_equals_precision_at_k(ranked_population):
    preprocessed, scores, reasons = ranked_population
    tiers = assign_tiers(scores["risk_score"], {"high_cutoff": 0.9, "medium_cutoff": 0.4})
    labelled = preprocessed["FLAG"].notna()
    table = risk.inspection_list(preprocessed[labelled], scores[labelled], tiers[labelled], reasons)
    flags = preprocessed["FLAG"].reindex(table["CONS_NO"]).to_numpy(dtype=float)
    for k in range(1, 6):
        assert flags[:k].mean() == evaluate.precision_at_k(
            preprocessed.loc[labelled, "FLAG"], scores.loc[labelled, "risk_score"], k
        )


def test_inspection_list_with_partial_reasons_and_bad_alignment(ranked_population):
    preprocessed, scores, reasons = ranked_population
    tiers = assign_tiers(scores["risk_score"], {"high_cutoff": 0.9, "medium_cutoff": 0.4})
    explained = reasons.loc[["E", "C"]]
    table = risk.inspection_list(preprocessed, scores, tiers, explained)
    assert table["reason_1"].tolist() == [
        "gaps",
        risk.NOT_EXPLAINED,
        risk.NOT_EXPLAINED,
        risk.NOT_EXPLAINED,
        risk.NO_STANDOUT,
        risk.NOT_EXPLAINED,
    ]
    assert table["reason_2"].tolist() == ["x", "", "", "", "", ""]
    with pytest.raises(ValueError, match="scores must have the same customers"):
        risk.inspection_list(preprocessed, scores.iloc[::-1], tiers, reasons)
    with pytest.raises(ValueError, match="no 'probability' column"):
        risk.inspection_list(preprocessed, scores.drop(columns="probability"), tiers, reasons)


def test_tier_table_counts_and_hit_rates(ranked_population):
    preprocessed, scores, _ = ranked_population
    tiers = assign_tiers(scores["risk_score"], {"high_cutoff": 0.9, "medium_cutoff": 0.4})
    table = risk.tier_table(tiers, preprocessed["FLAG"]).set_index("tier")
    assert table.index.tolist() == ["high", "medium", "low"]
    assert table["customers"].tolist() == [2, 2, 2]
    assert table["share"].tolist() == pytest.approx([1 / 3] * 3)
    # high: E (1) and F (unlabeled) -> 1 of 1 labelled; medium: A (1), B (0); low: C (0), D (1)
    assert table["labelled"].tolist() == [1, 2, 2]
    assert table["thieves"].tolist() == [1, 1, 1]
    assert table["hit_rate"].tolist() == pytest.approx([1.0, 0.5, 0.5])
    assert table["share_of_thieves"].tolist() == pytest.approx([1 / 3] * 3)


def test_tier_table_without_labels_and_empty_tier():
    tiers = pd.Series(["low", "low", "high"], index=pd.Index(["a", "b", "c"], name="CONS_NO"))
    table = risk.tier_table(tiers)
    assert table["customers"].tolist() == [1, 0, 2]
    assert "hit_rate" not in table.columns
    with pytest.raises(ValueError, match=r"unknown tier names \['urgent'\]"):
        risk.tier_table(pd.Series(["urgent"]))


def test_split_and_label_follow_quality_flag(ranked_population):
    preprocessed, scores, reasons = ranked_population
    tiers = assign_tiers(scores["risk_score"], {"high_cutoff": 0.9, "medium_cutoff": 0.4})
    ranked = risk.inspection_list(preprocessed, scores, tiers, reasons)
    split = pd.Series("test", index=preprocessed.index).mask(preprocessed.index == "E", "train")
    shown = risk.with_split_and_label(ranked, split, preprocessed["FLAG"])
    position = list(shown.columns).index("quality_flag")
    assert list(shown.columns)[position + 1 : position + 3] == ["split", "label"]
    assert shown.loc[shown["CONS_NO"] == "E", "split"].item() == "train"
    assert shown["label"].fillna(-1).tolist() == [1, -1, 1, 0, 0, 1]  # E F A B C D
    assert "split" not in ranked.columns  # a copy: the input list is unchanged


def test_rows_to_explain(ranked_population):
    _, scores, _ = ranked_population
    tiers = assign_tiers(scores["risk_score"], {"high_cutoff": 0.9, "medium_cutoff": 0.4})
    explained = risk.rows_to_explain(scores, tiers, None)  # the high and medium tiers
    assert set(explained) == set(tiers.index[tiers.astype(str).isin(["high", "medium"])])
    assert {"E", "F"} <= set(explained)
    assert risk.rows_to_explain(scores, tiers, 3).tolist() == ["A", "E", "F"]  # data order
    assert risk.rows_to_explain(scores, tiers, 0).tolist() == []
    known_e = tiers.astype(str).where(tiers.index != "E", risk.KNOWN_TIER)
    # E, the riskiest, is a known case listed last: the top 3 a team reads are F, A, B
    assert risk.rows_to_explain(scores, known_e, 3).tolist() == ["A", "B", "F"]
    with pytest.raises(ParameterError, match="reasons_for_top must be >= 0"):
        risk.rows_to_explain(scores, tiers, -1)


def test_inspection_list_treats_missing_reason_text_as_no_reason(ranked_population):
    preprocessed, scores, _ = ranked_population
    tiers = assign_tiers(scores["risk_score"], {"high_cutoff": 0.9, "medium_cutoff": 0.4})
    reasons = pd.DataFrame(
        {"reason_1": [np.nan, "trend"], "reason_2": [None, np.nan]},
        index=pd.Index(["E", "F"], name="CONS_NO"),
    )
    table = risk.inspection_list(preprocessed, scores, tiers, reasons)
    assert table["reason_1"].tolist() == [risk.NO_STANDOUT, "trend"] + [risk.NOT_EXPLAINED] * 4
    assert table["reason_2"].tolist() == [""] * 6
    assert str(table["reason_1"].dtype) == str(pd.Series(["x"]).dtype)  # text, as pandas infers


def test_inspection_tiers_keep_known_thieves_apart_and_size_the_rest_to_capacity():
    """Observed: 333 of 493 high-tier customers were already-labelled thieves."""
    index = pd.Index([f"c{i}" for i in range(10)], name="CONS_NO")
    risk_score = pd.Series([0.9, 0.95, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1], index=index)
    flag = pd.Series([1, 1, 0, pd.NA, 0, 1, 0, 0, pd.NA, 0], index=index, dtype="Int8")
    known = risk.known_thieves(flag)
    assert known.tolist() == [True, True, False, False, False, True, False, False, False, False]
    tiers = risk.inspection_tiers(risk_score, known, capacity=2, watchlist_multiple=1.5)
    assert tiers.tolist() == [
        risk.KNOWN_TIER,
        risk.KNOWN_TIER,
        "high",  # c2, the riskiest customer not already known
        "high",  # c3 (unlabelled)
        "medium",
        risk.KNOWN_TIER,
        "medium",  # ceil(1.5 x 2) = 3 on the watch list: c4, c6, c7
        "medium",
        "low",
        "low",
    ]
    assert (tiers == "high").sum() == 2  # the capacity, all of it on customers to inspect
    with pytest.raises(ParameterError, match="capacity must be >= 0, got -1"):
        risk.inspection_tiers(risk_score, known, capacity=-1)
    with pytest.raises(ValueError, match="same index"):
        risk.inspection_tiers(risk_score, known.iloc[:5], capacity=2)


def test_with_known_cases_lists_customers_to_inspect_first():
    ranked = pd.DataFrame(
        {
            "rank": [1, 2, 3, 4],
            "CONS_NO": ["a", "b", "c", "d"],
            "risk_score": [0.9, 0.8, 0.7, 0.6],
            "tier": [risk.KNOWN_TIER, "high", risk.KNOWN_TIER, "medium"],
            "reason_1": ["", "x", "", "y"],
        }
    )
    known = pd.Series([True, False, True, False], index=["a", "b", "c", "d"])
    shown = risk.with_known_cases(ranked, known)
    assert shown["CONS_NO"].tolist() == ["b", "d", "a", "c"]
    assert shown["known_case"].tolist() == [False, False, True, True]
    assert shown["rank"].tolist() == [1, 2, 3, 4]
    assert list(shown.columns) == [
        "rank",
        "CONS_NO",
        "risk_score",
        "tier",
        "known_case",
        "reason_1",
    ]


def test_list_capacity_follows_the_capacity_given_to_03():
    share = {"capacity": {"inspection_share": 0.05, "inspection_count": None}}
    assert risk.list_capacity(10_000, share) == 500
    count = {
        "capacity": {"inspection_share": 0.05, "inspection_count": 40, "population_size": 1000}
    }
    assert risk.list_capacity(2000, count) == 80


def test_last_reading_dates_by_hand():
    from ntl.frame import build_frame, last_reading_dates

    readings = np.array(
        [[1.0, np.nan, np.nan], [np.nan, np.nan, np.nan], [1.0, 2.0, 3.0]], dtype=np.float32
    )
    frame = build_frame(
        np.array(["a", "b", "c"], dtype=object), readings, pd.Timestamp("2016-01-30")
    )
    last = last_reading_dates(frame)
    assert last["a"] == pd.Timestamp("2016-01-30") and last["c"] == pd.Timestamp("2016-02-01")
    assert pd.isna(last["b"])


def test_recent_window_is_never_longer_than_the_history():
    """Observed: "no reading on 68 % of the last 90 days" on a 60-day file."""
    short = pd.DataFrame(np.ones((2, 61)), columns=["FLAG", *[f"d{i}" for i in range(60)]])
    config = PreprocessConfig()
    assert config.recent_days == 90
    assert risk.phrase_config(config, risk.history_days(short)).recent_days == 60
    assert risk.phrase_config(config, risk.history_days(None)) is config
    assert risk.phrase_config(config, 400).recent_days == 90
