"""Notebook 04's evaluation functions (ntl.evaluate.record): hand-made cases and a real smoke run."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ntl.artifacts import ArtifactStore
from ntl.errors import ParameterError
from ntl.evaluate import record, wilson_interval
from ntl.evaluate.verdicts import capacity_relation, threshold_lines
from ntl.frame import day_index
from ntl.models import chain_scores, load_model_bundle
from ntl.models.metrics import HEADLINE_MODEL
from ntl.run import load_params, notebook_defaults
from ntl.thresholds import assign_tiers
from tests.conftest import SMOKE

SETTINGS = dict(
    n_bootstrap=50,
    seed=1,
    top_k=[2, 0.5],
    map_k=[3],
    calibration_bins=5,
    lift_groups=2,
    inspection_cost=100.0,
    recovery_per_theft=250.0,
    currency="EUR",
    marginal_batch_share=0.2,
)


def test_settings_refuse_bad_values():
    with pytest.raises(ParameterError, match="n_bootstrap must be at least 1, got 0"):
        record.EvaluationSettings(**{**SETTINGS, "n_bootstrap": 0})
    with pytest.raises(ParameterError, match="calibration_bins and lift_groups"):
        record.EvaluationSettings(**{**SETTINGS, "lift_groups": 0})
    with pytest.raises(ParameterError, match=r"marginal_batch_share must lie in \(0, 1\), got 1.5"):
        record.EvaluationSettings(**{**SETTINGS, "marginal_batch_share": 1.5})


def test_threshold_check_by_hand():
    # by score: 1 0 1 | 1 0 0 (threshold 0.65 flags three customers, two thieves of three)
    y = np.array([1, 0, 1, 1, 0, 0])
    risk = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    thresholds = {"operational_threshold": 0.65, "expected": {"precision": 0.1, "recall": 0.7}}
    at, report = record.threshold_check(y, risk, thresholds)
    assert (at["flagged"], at["true_positive"], at["thieves"]) == (3, 2, 3)
    assert at["precision"] == pytest.approx(2 / 3) and at["recall"] == pytest.approx(2 / 3)
    assert at["validation_precision_verdict"].startswith("outside")  # 0.1 below (0.21-0.94)
    assert at["validation_recall_verdict"].startswith("inside")
    assert report["theft"]["precision"] == pytest.approx(2 / 3)
    assert report["normal"]["support"] == 3
    lines = threshold_lines(at, len(y))
    assert lines[0] == "threshold 0.6500: 3 of 6 test customers flagged, 2 of 3 thieves among them"
    low, high = wilson_interval(2, 3)
    assert f"precision: test 0.667 (95 % CI {low:.3f}-{high:.3f}, n = 3 flagged)" in lines[1]


def test_tier_hit_rates_and_tiers_by_split_by_hand():
    index = pd.Index(list("abcdef"), name="CONS_NO")
    tiers = pd.Series(["high", "high", "medium", "low", "low", "low"], index=index)
    flag = pd.Series(pd.array([1, 0, 1, 0, 0, 1], dtype="Int8"), index=index)
    table = record.tier_hit_rates(tiers, flag).set_index("tier")
    assert table["hit_rate"].tolist() == pytest.approx([0.5, 1.0, 1 / 3])
    assert table.loc["high", "hit_rate_low"] == pytest.approx(wilson_interval(1, 2)[0])
    assert "labelled" not in table.columns
    split = pd.Series(["train", "test", "test", "validation", "train", "train"], index=index)
    by_split = record.tiers_by_split(tiers, split).set_index("tier")
    assert list(by_split.columns) == ["customers", "share", "in train", "in validation", "in test"]
    assert by_split.loc["low"].tolist() == [3, 0.5, 2, 1, 0]


def test_business_value_chooses_on_validation_and_reports_on_test():
    settings = record.EvaluationSettings(**SETTINGS)
    y = np.array([1, 0, 1, 1, 0, 0, 1, 0, 0, 0])
    risk = np.linspace(1.0, 0.1, 10)
    validation = (pd.Series([1, 1, 0, 0]), pd.Series([0.9, 0.8, 0.2, 0.1]))  # optimum: top half
    costs, summary = record.business_value(y, risk, 2, validation, settings)
    assert costs["net_value"].iloc[4] == pytest.approx(3 * 250 - 4 * 100)
    assert summary["optimum"]["share"] == 0.5
    assert summary["optimum"]["n_inspections"] == 5
    assert summary["optimum"]["capacity_multiple"] == 2.5
    assert summary["at_threshold"]["hits"] == 1.0
    assert summary["next_batch"]["n_inspections"] == 2  # 0.2 of the 10 test customers
    assert summary["break_even_hit_rate"] == 0.4
    one_class = (pd.Series([0, 0]), pd.Series([0.3, 0.1]))
    assert record.business_value(y, risk, 2, one_class, settings)[1]["optimum"] is None
    assert capacity_relation(2.5).startswith("Capacity, not the model, limits")
    assert capacity_relation(1.0) == "Capacity sits at the optimum."


def test_ensemble_sentence_and_isolation_better():
    table = pd.DataFrame(
        {
            "group": ["cap", "h2"],
            "recall_isolation_forest": [0.1, 0.6],
            "recall_xgboost": [0.5, 0.4],
        }
    )
    assert record.isolation_better(table) == ["h2"]
    text = record.ensemble_sentence(0.95, ["h2"])
    assert text.startswith("ensemble = 0.95 x XGBoost + 0.05 x anomaly score (the ranking is")
    assert text.endswith("more often than XGBoost: h2")
    assert "in effect" not in record.ensemble_sentence(0.5, [])


@pytest.fixture(scope="module")
def smoke_inputs(smoke_artifacts):
    """What notebook 04 reads from a real smoke run, and the settings it ran with."""
    store = ArtifactStore(smoke_artifacts)
    preprocessed = store.read_parquet("preprocessed.parquet")
    bundle = load_model_bundle(store)
    scores = chain_scores(bundle, preprocessed, store)
    thresholds = store.read_json("thresholds.json")
    parameters = notebook_defaults("04_evaluation_risk") | load_params(SMOKE, {})
    settings = record.EvaluationSettings.from_parameters(parameters)
    return {
        "store": store,
        "preprocessed": preprocessed,
        "bundle": bundle,
        "scores": scores,
        "tiers": assign_tiers(scores["risk_score"], thresholds),
        "thresholds": thresholds,
        "settings": settings,
        "truth": store.read_parquet("ground_truth.parquet"),
        "consumption": store.read_parquet("consumption.parquet"),
        "last_day": day_index(store.read_parquet("consumption.parquet"))[-1],
    }


def test_test_split_evaluation_reproduces_the_recorded_test_section(smoke_inputs):
    """The function notebook 04 calls gives exactly the test section it wrote."""
    inputs = smoke_inputs
    result = record.evaluate_test_split(
        inputs["preprocessed"],
        inputs["scores"],
        inputs["tiers"],
        inputs["thresholds"],
        inputs["bundle"],
        inputs["settings"],
        truth=inputs["truth"],
        last_day=inputs["last_day"],
        consumption=inputs["consumption"],
    )
    recorded = inputs["store"].read_json("evaluation.json")
    assert result.labelled and result.calibrated
    assert result.comparison["model"].iloc[-1] == "raw_readings_xgboost"
    assert json.loads(json.dumps(result.record(), sort_keys=True)) == recorded["test"]
    test = (inputs["scores"]["split"] == "test").to_numpy()
    assert len(result.y) == int(test.sum())
    assert result.comparison.iloc[0]["model"] == HEADLINE_MODEL
    assert recorded["roc_auc"] == result.comparison.iloc[0]["roc_auc"]
    assert set(result.groups) == set(record.GROUP_COLUMNS)


def test_unlabelled_test_split_gives_an_empty_test_section(smoke_inputs):
    inputs = smoke_inputs
    unlabelled = inputs["preprocessed"].assign(
        FLAG=pd.array([pd.NA] * len(inputs["scores"]), "Int8")
    )
    result = record.evaluate_test_split(
        unlabelled,
        inputs["scores"],
        inputs["tiers"],
        inputs["thresholds"],
        inputs["bundle"],
        inputs["settings"],
    )
    assert not result.labelled and result.record() == {}
