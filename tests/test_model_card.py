"""model_card.md text from a run's numbers."""

from __future__ import annotations

from ntl.model_card import model_card

METADATA = {
    "supervised": True,
    "ensemble_weight": 0.7,
    "calibration": "isotonic",
    "feature_names": ["mean_kwh", "drop_largest"],
    "versions": {"xgboost": "3.2.0"},
}
THRESHOLDS = {
    "operational_threshold": 0.61234,
    "high_cutoff": 0.61234,
    "medium_cutoff": 0.4,
    "expected": {"precision": 0.5, "recall": 0.25},
    "capacity": {"inspection_share": 0.05, "inspection_count": None},
    "rule": "high: at or above the threshold",
}
LABELLED = {
    "ntl_version": "0.1.0",
    "labelled": True,
    "n_bootstrap": 200,
    "roc_auc": 0.9123,
    "roc_auc_ci": [0.9, 0.93],
    "pr_auc": 0.51,
    "pr_auc_ci": [0.45, 0.57],
    "data": {
        "n_customers": 1000,
        "n_days": 365,
        "labelled": True,
        "n_thieves": 80,
        "n_normal": 920,
    },
    "test": {
        "n_customers": 200,
        "n_thieves": 16,
        "theft_rate": 0.08,
        "calibration": {"brier": 0.05, "ece": 0.021},
        "at_k": [
            {"k": "5%", "n_inspected": 10, "thieves_found": 7, "precision": 0.7, "recall": 0.4375}
        ],
        "map_at_k": {"100": 0.81},
        "models": [{"model": "xgboost", "roc_auc": 0.9, "pr_auc": None}],
        "tiers": [{"tier": "high", "customers": 10, "share": 0.05, "hit_rate": 0.7}],
        "cost_benefit": {
            "inspection_cost": 100,
            "recovery_per_theft": 1500,
            "optimum": {"n_inspections": 31, "net_value": 9200.0, "share": 0.155},
        },
        "groups": {
            "cluster": [{"group": 0, "n": 50, "thieves": 4, "precision": None, "recall": 0.5}]
        },
    },
}


def test_labelled_card_has_use_metrics_with_intervals_and_limits():
    card = model_card(
        evaluation=LABELLED, metadata=METADATA, thresholds=THRESHOLDS, parameters={"seed": 1}
    )
    assert "not proof of theft" in card
    assert "ROC-AUC: 0.912 (95 % CI 0.900-0.930)" in card
    assert "PR-AUC (average precision): 0.510 (95 % CI 0.450-0.570)" in card
    assert "| 5% | 10 | 7 | 0.700 | 0.438 |" in card
    assert "| xgboost | 0.900 | n/a |" in card
    assert "MAP@100 0.810" in card
    assert "Operational threshold on `risk_score`: 0.6123" in card
    assert "best net value 9200 at 31 inspections" in card
    assert "| 0 | 50 | 4 | n/a | 0.500 |" in card
    assert "vacant" in card.lower() and "inspection outcomes" in card.lower()
    assert "seed=1" in card


def test_unlabelled_card_says_so_and_is_deterministic():
    evaluation = {
        "ntl_version": "0.1.0",
        "labelled": False,
        "data": {"n_customers": 10, "n_days": 30},
    }
    metadata = {**METADATA, "supervised": False}
    kwargs = dict(evaluation=evaluation, metadata=metadata, thresholds=THRESHOLDS, parameters={})
    card = model_card(**kwargs)
    assert "No labelled test customers" in card
    assert "No labels: the ranking comes from the label-free anomaly score alone." in card
    assert "Isolation Forests (label-free)" in card
    assert "not proof of theft" in card
    assert card == model_card(**kwargs)
