"""Metrics of ntl.evaluate against scikit-learn and hand-computed values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import average_precision_score, roc_auc_score

from ntl import evaluate
from ntl.errors import ParameterError


@pytest.fixture
def ranked_example() -> tuple[np.ndarray, np.ndarray]:
    """Ten customers; by score the labels read 1 0 1 1 0 0 1 0 0 0."""
    score = np.array([0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1])
    labels = np.array([1, 0, 1, 1, 0, 0, 1, 0, 0, 0])
    shuffle = np.random.default_rng(3).permutation(10)
    return labels[shuffle], score[shuffle]


@pytest.fixture
def noisy_sample() -> tuple[np.ndarray, np.ndarray]:
    """A few hundred customers with a weakly informative score and many ties."""
    rng = np.random.default_rng(7)
    labels = (rng.random(400) < 0.15).astype(int)
    score = np.round(0.3 * labels + rng.random(400), 1)  # rounding creates ties
    return labels, score


def test_rank_order_is_descending_and_stable_on_ties():
    order = evaluate.rank_order([0.2, 0.9, 0.5, 0.9, 0.2])
    assert order.tolist() == [1, 3, 2, 0, 4]


def test_precision_and_recall_at_k_by_hand(ranked_example):
    labels, score = ranked_example
    assert evaluate.precision_at_k(labels, score, 1) == 1.0
    assert evaluate.precision_at_k(labels, score, 4) == 0.75
    assert evaluate.recall_at_k(labels, score, 4) == 0.75
    assert evaluate.recall_at_k(labels, score, 7) == 1.0
    # a share: 30 % of 10 customers = top 3 -> 2 thieves
    assert evaluate.precision_at_k(labels, score, 0.3) == pytest.approx(2 / 3)
    # k beyond the population means everyone
    assert evaluate.precision_at_k(labels, score, 500) == 0.4


def test_precision_at_k_ties_keep_input_order():
    score = [0.5, 0.5, 0.5, 0.1]
    assert evaluate.precision_at_k([0, 1, 1, 0], score, 1) == 0.0
    assert evaluate.precision_at_k([1, 0, 1, 0], score, 1) == 1.0


def test_map_at_k_by_hand(ranked_example):
    labels, score = ranked_example
    # thieves at positions 1, 3, 4 within the top 5: (1/1 + 2/3 + 3/4) / 3
    assert evaluate.average_precision_at_k(labels, score, 5) == pytest.approx(
        (1 + 2 / 3 + 3 / 4) / 3
    )
    # all four thieves: positions 1, 3, 4, 7
    assert evaluate.average_precision_at_k(labels, score, 10) == pytest.approx(
        (1 + 2 / 3 + 3 / 4 + 4 / 7) / 4
    )


def test_map_at_k_with_ties_and_without_hits():
    # all tied: input order decides -> thieves at positions 2 and 3
    assert evaluate.average_precision_at_k([0, 1, 1], [0.5, 0.5, 0.5], 3) == pytest.approx(
        (1 / 2 + 2 / 3) / 2
    )
    assert evaluate.average_precision_at_k([0, 0, 1], [0.9, 0.8, 0.1], 2) == 0.0


def test_map_at_full_length_equals_sklearn_average_precision_without_ties():
    rng = np.random.default_rng(1)
    labels = (rng.random(300) < 0.2).astype(int)
    score = rng.random(300) + 0.4 * labels
    # over the whole list, r = all thieves and MAP@n is average precision
    assert evaluate.average_precision_at_k(labels, score, 300) == pytest.approx(
        average_precision_score(labels, score)
    )


def test_at_k_table_rows(ranked_example):
    labels, score = ranked_example
    table = evaluate.at_k_table(labels, score, [2, 0.5, 100])
    assert table["k"].tolist() == ["2", "50%", "100"]
    assert table["n_inspected"].tolist() == [2, 5, 10]
    assert table["thieves_found"].tolist() == [1, 3, 4]
    assert table["precision"].tolist() == pytest.approx([0.5, 0.6, 0.4])
    assert table["recall"].tolist() == pytest.approx([0.25, 0.75, 1.0])


@pytest.mark.parametrize(
    ("k", "message"),
    [(0, "at least 1"), (1.5, r"share must lie in \(0, 1\)"), ("ten", "count or a share")],
)
def test_bad_k_is_refused(k, message):
    with pytest.raises(ParameterError, match=message):
        evaluate.precision_at_k([1, 0], [0.2, 0.1], k)


def test_bad_labels_and_scores_are_refused():
    with pytest.raises(ValueError, match="1 missing labels"):
        evaluate.precision_at_k(pd.Series([1, None, 0], dtype="Int8"), [0.1, 0.2, 0.3], 1)
    with pytest.raises(ValueError, match="only 0"):
        evaluate.precision_at_k([2, 0], [0.1, 0.2], 1)
    with pytest.raises(ValueError, match="score has 2 values but y_true has 3"):
        evaluate.precision_at_k([1, 0, 0], [0.1, 0.2], 1)
    with pytest.raises(ValueError, match="at least one thief"):
        evaluate.recall_at_k([0, 0], [0.1, 0.2], 1)


@pytest.mark.parametrize("metric", ["roc", "ap"])
def test_weighted_metrics_match_sklearn_on_resamples_with_ties(noisy_sample, metric):
    """A resample as multiplicities over one sort gives scikit-learn's value on the resample."""
    labels, score = noisy_sample
    ascending, weighted = evaluate._WEIGHTED_METRICS[
        evaluate.roc_auc if metric == "roc" else evaluate.pr_auc
    ]
    order = np.argsort(score if ascending else -score, kind="stable")
    groups = evaluate._tie_groups(score[order])
    picks = np.random.default_rng(0).integers(0, labels.size, size=(5, labels.size))
    weights = np.stack([np.bincount(p, minlength=labels.size)[order] for p in picks]).astype(float)
    fast = weighted(labels[order] == 1, groups, weights)
    sklearn_metric = roc_auc_score if metric == "roc" else average_precision_score
    for row, p in enumerate(picks):
        assert fast[row] == pytest.approx(sklearn_metric(labels[p], score[p]), abs=1e-12)


def test_bootstrap_interval_contains_point_and_is_deterministic(noisy_sample):
    labels, score = noisy_sample
    first = evaluate.bootstrap_interval(evaluate.roc_auc, labels, score, n_boot=200, seed=5)
    again = evaluate.bootstrap_interval(evaluate.roc_auc, labels, score, n_boot=200, seed=5)
    other = evaluate.bootstrap_interval(evaluate.roc_auc, labels, score, n_boot=200, seed=6)
    point, low, high = first
    assert first == again
    assert first != other
    assert point == pytest.approx(roc_auc_score(labels, score))
    assert low < point < high
    assert 0.03 < high - low < 0.3


def test_bootstrap_vectorised_path_equals_loop_path(noisy_sample):
    labels, score = noisy_sample

    def ap_by_sklearn(y, s):
        return average_precision_score(y, s)

    fast = evaluate.bootstrap_interval(evaluate.pr_auc, labels, score, n_boot=50, seed=2)
    slow = evaluate.bootstrap_interval(ap_by_sklearn, labels, score, n_boot=50, seed=2)
    assert fast == pytest.approx(slow)


def test_bootstrap_refuses_one_class_and_bad_parameters():
    with pytest.raises(ValueError, match="both thieves and normal"):
        evaluate.bootstrap_interval(evaluate.roc_auc, [0, 0, 0], [0.1, 0.2, 0.3])
    with pytest.raises(ParameterError, match="n_boot"):
        evaluate.bootstrap_interval(evaluate.roc_auc, [0, 1], [0.1, 0.2], n_boot=0)


def test_reliability_table_matches_sklearn_calibration_curve(noisy_sample):
    labels, _ = noisy_sample
    prob = np.clip(np.random.default_rng(4).random(labels.size) * 0.6 + 0.2 * labels, 0, 1)
    prob[:3] = [0.0, 0.1, 1.0]  # edges go where scikit-learn puts them
    table = evaluate.reliability_table(labels, prob, n_bins=10)
    observed, predicted = calibration_curve(labels, prob, n_bins=10, strategy="uniform")
    filled = table[table["n"] > 0]
    assert filled["observed_rate"].to_numpy() == pytest.approx(observed)
    assert filled["mean_probability"].to_numpy() == pytest.approx(predicted)
    assert table["n"].sum() == labels.size


def test_ece_and_brier_by_hand():
    labels = [0, 0, 1, 1, 1]
    prob = [0.1, 0.1, 0.1, 0.9, 0.7]
    # bin (0, 0.1]: 3 customers, mean p 0.1, observed 1/3; bin (0.6, 0.7]: 1, p 0.7, observed 1;
    # bin (0.8, 0.9]: 1, p 0.9, observed 1
    expected = (3 * abs(1 / 3 - 0.1) + 1 * 0.3 + 1 * 0.1) / 5
    assert evaluate.expected_calibration_error(labels, prob) == pytest.approx(expected)
    assert evaluate.brier_score(labels, prob) == pytest.approx(
        (0.01 + 0.01 + 0.81 + 0.01 + 0.09) / 5
    )
    assert evaluate.expected_calibration_error([0, 1], [0.0, 1.0]) == 0.0
    with pytest.raises(ValueError, match=r"prob must lie in \[0, 1\]"):
        evaluate.expected_calibration_error([0, 1], [0.2, 1.2])


def test_cost_benefit_on_hand_made_ranking(ranked_example):
    labels, score = ranked_example
    table = evaluate.cost_benefit(labels, score, inspection_cost=100, recovery_per_theft=250)
    assert table["n_inspections"].tolist() == list(range(11))
    assert table["hits"].tolist() == [0, 1, 1, 2, 3, 3, 3, 4, 4, 4, 4]
    assert table["net_value"].iloc[4] == 3 * 250 - 4 * 100
    best = evaluate.cost_benefit_optimum(table)
    # net: 0, 150, 50, 200, 350, 250, 150, 300, ...
    assert best["n_inspections"] == 4
    assert best["net_value"] == 350


def test_cost_benefit_with_probabilities_and_optimum_ties():
    table = evaluate.cost_benefit(
        [0.5, 0.5, 0.0], [3, 2, 1], inspection_cost=1, recovery_per_theft=2
    )
    assert table["hits"].tolist() == [0.0, 0.5, 1.0, 1.0]
    # net 0, 0, 0, -1 -> fewest inspections wins
    assert evaluate.cost_benefit_optimum(table)["n_inspections"] == 0
    with pytest.raises(ParameterError, match="must not be negative"):
        evaluate.cost_benefit([1], [1], inspection_cost=-1, recovery_per_theft=1)


def test_lift_table_by_hand(ranked_example):
    labels, score = ranked_example
    table = evaluate.lift_table(labels, score, n_bins=5)
    assert table["n"].tolist() == [2, 2, 2, 2, 2]
    assert table["thieves"].tolist() == [1, 2, 0, 1, 0]
    assert table["lift"].tolist() == pytest.approx([1.25, 2.5, 0.0, 1.25, 0.0])
    assert table["cumulative_recall"].tolist() == pytest.approx([0.25, 0.75, 0.75, 1.0, 1.0])
    assert table["cumulative_lift"].iloc[-1] == pytest.approx(1.0)


def test_group_table_per_group(ranked_example):
    labels, score = ranked_example
    groups = np.where(np.arange(10) % 2 == 0, "HIGH", "LOW")
    table = evaluate.group_table(labels, score, groups, threshold=0.65).set_index("group")
    for name in ("HIGH", "LOW"):
        mask = groups == name
        flagged = score[mask] >= 0.65
        assert table.loc[name, "n"] == mask.sum()
        assert table.loc[name, "thieves"] == labels[mask].sum()
        assert table.loc[name, "flagged"] == flagged.sum()
        hits = (flagged & (labels[mask] == 1)).sum()
        assert table.loc[name, "recall"] == pytest.approx(hits / labels[mask].sum())
        if 0 < labels[mask].sum() < mask.sum():
            assert table.loc[name, "roc_auc"] == pytest.approx(
                roc_auc_score(labels[mask], score[mask])
            )


def test_recall_by_group():
    table = evaluate.recall_by_group([True, False, True, True], ["zero", "zero", "scale", "scale"])
    assert table["group"].tolist() == ["scale", "zero"]
    assert table["recall"].tolist() == [1.0, 0.5]


def test_threshold_summary_matches_confusion_counts(ranked_example):
    labels, score = ranked_example
    summary = evaluate.threshold_summary(labels, score, threshold=0.65)
    # flagged: top 4 (0.95, 0.9, 0.8, 0.7) -> 3 thieves, 1 normal
    assert (summary["true_positive"], summary["false_positive"]) == (3, 1)
    assert (summary["false_negative"], summary["true_negative"]) == (1, 5)
    assert summary["precision"] == 0.75
    assert summary["f1"] == pytest.approx(0.75)


def test_model_comparison_rows_match_single_intervals(noisy_sample):
    labels, score = noisy_sample
    scores = pd.DataFrame({"good": score, "random": np.random.default_rng(1).random(labels.size)})
    table = evaluate.model_comparison(labels, scores, n_boot=50, seed=3).set_index("model")
    point, low, high = evaluate.bootstrap_interval(
        evaluate.pr_auc, labels, score, n_boot=50, seed=3
    )
    assert table.loc["good", ["pr_auc", "pr_auc_low", "pr_auc_high"]].tolist() == pytest.approx(
        [point, low, high]
    )
    assert table.loc["good", "roc_auc"] > table.loc["random", "roc_auc"]


def test_onset_age_groups_and_records():
    onset = pd.Series(pd.to_datetime(["2016-10-30", "2016-06-01", "2015-01-01", None]))
    bands = evaluate.onset_age_groups(onset, pd.Timestamp("2016-10-31"))
    assert bands.astype(object).tolist()[:3] == ["0-89 days", "90-179 days", "365+ days"]
    assert pd.isna(bands.iloc[3])
    records = evaluate.to_records(pd.DataFrame({"a": [1.5, np.nan], "b": np.array([2, 3])}))
    assert records == [{"a": 1.5, "b": 2}, {"a": None, "b": 3}]
    assert type(records[0]["b"]) is int
