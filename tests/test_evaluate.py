"""Metrics of ntl.evaluate against scikit-learn and hand-computed values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import average_precision_score, roc_auc_score

from ntl import evaluate
from ntl.errors import ParameterError
from ntl.evaluate import intervals


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
    recall = evaluate.at_k_table(labels, score, [4, 7]).set_index("k")["recall"]
    assert recall.tolist() == [0.75, 1.0]
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
    assert table["k"].tolist() == ["2", "50%", "100 (all 10)"]  # k beyond the customers says so
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
    no_thief = evaluate.at_k_table([0, 0], [0.1, 0.2], [1])
    assert np.isnan(no_thief.loc[0, "recall"]) and no_thief.loc[0, "thieves_total"] == 0


@pytest.mark.parametrize("metric", ["roc", "ap"])
def test_weighted_metrics_match_sklearn_on_resamples_with_ties(noisy_sample, metric):
    """A resample as multiplicities over one sort gives scikit-learn's value on the resample."""
    labels, score = noisy_sample
    ascending, weighted = intervals._WEIGHTED_METRICS[
        evaluate.roc_auc if metric == "roc" else evaluate.pr_auc
    ]
    order = np.argsort(score if ascending else -score, kind="stable")
    groups = intervals._tie_groups(score[order])
    picks = np.random.default_rng(0).integers(0, labels.size, size=(5, labels.size))
    weights = np.stack([np.bincount(p, minlength=labels.size)[order] for p in picks]).astype(float)
    fast = weighted(labels[order] == 1, groups, weights)
    sklearn_metric = roc_auc_score if metric == "roc" else average_precision_score
    for row, p in enumerate(picks):
        assert fast[row] == pytest.approx(sklearn_metric(labels[p], score[p]), abs=1e-12)


def bootstrap_interval(metric_fn, labels, score, n_boot, seed):
    """Point estimate and 95 % percentile interval of one metric, through bootstrap_resamples."""
    estimates = evaluate.bootstrap_resamples({"m": metric_fn}, labels, {"s": score}, n_boot, seed)
    return (metric_fn(labels, score), *evaluate.percentile_interval(estimates.iloc[:, 0]))


def test_bootstrap_interval_contains_point_and_is_deterministic(noisy_sample):
    labels, score = noisy_sample
    first = bootstrap_interval(evaluate.roc_auc, labels, score, n_boot=200, seed=5)
    again = bootstrap_interval(evaluate.roc_auc, labels, score, n_boot=200, seed=5)
    other = bootstrap_interval(evaluate.roc_auc, labels, score, n_boot=200, seed=6)
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

    fast = bootstrap_interval(evaluate.pr_auc, labels, score, n_boot=50, seed=2)
    slow = bootstrap_interval(ap_by_sklearn, labels, score, n_boot=50, seed=2)
    assert fast == pytest.approx(slow)


def test_bootstrap_refuses_one_class_and_bad_parameters():
    with pytest.raises(ValueError, match="both thieves and normal"):
        bootstrap_interval(evaluate.roc_auc, [0, 0, 0], [0.1, 0.2, 0.3], n_boot=10, seed=0)
    with pytest.raises(ParameterError, match="n_boot must be at least 1, got 0"):
        bootstrap_interval(evaluate.roc_auc, [0, 1], [0.1, 0.2], n_boot=0, seed=0)
    with pytest.raises(ParameterError, match="n_boot must be at least 1, got 0"):
        evaluate.model_comparison([0, 1], pd.DataFrame({"a": [0.1, 0.2]}), n_boot=0)


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
    point, low, high = bootstrap_interval(evaluate.pr_auc, labels, score, n_boot=50, seed=3)
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


# --------------------------------------------------------------------------- intervals of rates


def test_wilson_interval_known_values():
    # reference values: R prop.test(x, n, correct = FALSE) / binom.confint(method = "wilson")
    assert evaluate.wilson_interval(5, 10) == pytest.approx((0.2365931, 0.7634069), abs=1e-6)
    assert evaluate.wilson_interval(1, 10) == pytest.approx((0.0178762, 0.4041500), abs=1e-6)
    assert evaluate.wilson_interval(0, 10) == pytest.approx((0.0, 0.2775328), abs=1e-6)
    assert evaluate.wilson_interval(10, 10) == pytest.approx((0.7224672, 1.0), abs=1e-6)
    # 9 flagged customers, all thieves: far from a certain precision of 1
    low, high = evaluate.wilson_interval(9, 9)
    assert high == 1.0 and low == pytest.approx(0.7008, abs=1e-4)


def test_wilson_interval_is_vectorised_and_narrows_with_n():
    low, high = evaluate.wilson_interval(np.array([5, 50, 500, 0]), np.array([10, 100, 1000, 0]))
    assert low[0] == pytest.approx(0.2365931, abs=1e-6)
    assert np.all(np.diff(high[:3] - low[:3]) < 0)
    assert np.isnan(low[3]) and np.isnan(high[3])
    # 90 % is narrower than 95 %: z = 1.645 by hand for 5 / 10
    narrow = evaluate.wilson_interval(5, 10, confidence=0.90)
    z = 1.6448536
    half = z / (1 + z**2 / 10) * np.sqrt(0.25 / 10 + z**2 / 400)
    assert narrow == pytest.approx((0.5 - half, 0.5 + half), abs=1e-6)


def test_wilson_interval_refuses_impossible_counts():
    with pytest.raises(ValueError, match="between 0 and n"):
        evaluate.wilson_interval(11, 10)
    with pytest.raises(ValueError, match="between 0 and n"):
        evaluate.wilson_interval(-1, 10)
    with pytest.raises(ParameterError, match="confidence"):
        evaluate.wilson_interval(1, 10, confidence=1.0)


def test_add_wilson_columns_sits_after_the_rate():
    table = pd.DataFrame({"tier": ["a", "b"], "hits": [5, 0], "n": [10, 0], "rate": [0.5, np.nan]})
    table = table[["tier", "rate", "hits", "n"]]
    result = evaluate.add_wilson_columns(table, "rate", "hits", "n")
    assert list(result.columns) == ["tier", "rate", "rate_low", "rate_high", "hits", "n"]
    assert result["rate_low"].iloc[0] == pytest.approx(0.2365931, abs=1e-6)
    assert np.isnan(result["rate_high"].iloc[1])
    assert "rate_low" not in table.columns  # a copy


def test_rate_tables_carry_wilson_intervals(ranked_example):
    labels, score = ranked_example
    at_k = evaluate.at_k_table(labels, score, [2, 0.5])
    assert at_k["thieves_total"].tolist() == [4, 4]
    # 1 of 2 inspected; 1 of 4 thieves
    assert at_k.loc[0, ["precision_low", "precision_high"]].tolist() == pytest.approx(
        evaluate.wilson_interval(1, 2)
    )
    assert at_k.loc[0, ["recall_low", "recall_high"]].tolist() == pytest.approx(
        evaluate.wilson_interval(1, 4)
    )
    summary = evaluate.threshold_summary(labels, score, threshold=0.65)
    assert (summary["flagged"], summary["thieves"]) == (4, 4)
    assert (summary["precision_low"], summary["precision_high"]) == pytest.approx(
        evaluate.wilson_interval(3, 4)
    )
    groups = np.where(np.arange(10) % 2 == 0, "HIGH", "LOW")
    table = evaluate.group_table(labels, score, groups, threshold=0.65).set_index("group")
    for name, row in table.iterrows():
        assert (row["precision_low"], row["precision_high"]) == pytest.approx(
            evaluate.wilson_interval(row["found"], row["flagged"]), nan_ok=True
        )
        assert (row["recall_low"], row["recall_high"]) == pytest.approx(
            evaluate.wilson_interval(row["found"], row["thieves"])
        ), name
    recall = evaluate.recall_by_group([True, False, True, True], ["zero", "zero", "a", "a"])
    assert recall["found"].tolist() == [2, 1]
    assert recall.loc[1, ["recall_low", "recall_high"]].tolist() == pytest.approx(
        evaluate.wilson_interval(1, 2)
    )


# --------------------------------------------------------------------------- paired bootstrap


def test_bootstrap_resamples_share_resamples_across_scores(noisy_sample):
    labels, score = noisy_sample

    def ap_by_sklearn(y, s):
        return average_precision_score(y, s)

    estimates = evaluate.bootstrap_resamples(
        {"fast": evaluate.pr_auc, "slow": ap_by_sklearn},
        labels,
        {"a": score, "b": score.copy(), "c": -score},
        n_boot=30,
        seed=4,
    )
    assert estimates.shape == (30, 6)
    # the same score on the same resamples gives the same estimates, by either path
    np.testing.assert_array_equal(estimates["fast", "a"], estimates["fast", "b"])
    np.testing.assert_allclose(estimates["fast", "a"], estimates["slow", "a"], atol=1e-12)
    assert (estimates["fast", "a"] > estimates["fast", "c"]).all()


def test_model_comparison_paired_differences(noisy_sample):
    labels, score = noisy_sample
    noise = np.random.default_rng(1).random(labels.size)
    scores = pd.DataFrame({"good": score, "same": score, "random": noise})
    table = evaluate.model_comparison(labels, scores, n_boot=60, seed=3).set_index("model")
    assert np.isnan(table.loc["good", "pr_auc_diff"])
    assert table.loc["same", ["pr_auc_diff", "pr_auc_diff_low", "pr_auc_diff_high"]].tolist() == [
        0.0,
        0.0,
        0.0,
    ]
    estimates = evaluate.bootstrap_resamples(
        {"roc_auc": evaluate.roc_auc}, labels, scores, n_boot=60, seed=3
    )
    paired = estimates["roc_auc", "good"] - estimates["roc_auc", "random"]
    assert table.loc["random", ["roc_auc_diff_low", "roc_auc_diff_high"]].tolist() == (
        pytest.approx(list(np.percentile(paired, [2.5, 97.5])))
    )
    assert table.loc["random", "roc_auc_diff"] == pytest.approx(
        roc_auc_score(labels, score) - roc_auc_score(labels, noise)
    )
    assert table.loc["random", "roc_auc_diff_low"] > 0
    with pytest.raises(ValueError, match="reference 'nope'"):
        evaluate.model_comparison(labels, scores, n_boot=5, reference="nope")


def test_difference_and_interval_verdicts():
    verdict = evaluate.difference_verdict([0.01, -0.2, -0.01, np.nan], [0.05, -0.1, 0.02, np.nan])
    assert verdict.tolist() == ["better", "worse", "no clear difference", "reference"]
    assert evaluate.interval_verdict(0.759, 0.681, 0.767).startswith("inside")
    assert evaluate.interval_verdict(0.80, 0.681, 0.767).startswith("outside")
    assert evaluate.interval_verdict(None, 0.1, 0.2) == "no comparison possible"


# --------------------------------------------------------------------------- cost-benefit plan


def test_cost_benefit_value_and_marginal_batch(ranked_example):
    labels, score = ranked_example
    # hits by rank: 1 0 1 1 0 0 1 0 0 0; cost 100, recovery 250
    table = evaluate.cost_benefit(labels, score, inspection_cost=100, recovery_per_theft=250)
    value = evaluate.value_at(table, 4, 100, 250)
    assert (value["n_inspections"], value["hits"], value["net_value"]) == (4, 3.0, 350.0)
    low, high = evaluate.wilson_interval(3, 4)
    assert value["net_value_low"] == pytest.approx(4 * (low * 250 - 100))
    assert value["net_value_high"] == pytest.approx(4 * (high * 250 - 100))
    batch = evaluate.marginal_value(table, 4, 3, 100, 250)
    # ranks 5-7: 0 0 1 -> one theft, net 250 - 300
    assert (batch["after"], batch["n_inspections"], batch["hits"]) == (4, 3, 1.0)
    assert batch["net_value"] == -50.0
    assert evaluate.marginal_value(table, 9, 5, 100, 250)["n_inspections"] == 1  # clipped
    assert evaluate.value_at(table, 50, 100, 250)["n_inspections"] == 10
    with pytest.raises(ParameterError, match="batch"):
        evaluate.marginal_value(table, 4, 0, 100, 250)
    assert evaluate.break_even_rate(100, 1500) == pytest.approx(1 / 15)
    with pytest.raises(ParameterError, match="recovery_per_theft"):
        evaluate.break_even_rate(100, 0)


def test_optimum_share_and_summary(ranked_example):
    labels, score = ranked_example
    # net by n (cost 100, recovery 250): best at 4 inspections of 10
    assert evaluate.optimum_share(labels, score, 100, 250) == 0.4
    table = evaluate.cost_benefit(labels, score, 100, 250)
    capacity = evaluate.value_at(table, 2, 100, 250)
    batch = evaluate.marginal_value(table, 2, 2, 100, 250)
    chosen = evaluate.value_at(table, 4, 100, 250) | {"share": 0.4}
    text = evaluate.cost_benefit_summary(capacity, batch, chosen, 0.4, currency="EUR")
    assert (
        "At capacity (2 inspections): 1 theft, net value 50 EUR (95 % CI -153 EUR to 253 EUR)"
        in text
    )
    assert "The next 2 inspections beyond capacity would find 2 thefts" in text
    assert "more inspections would still pay" in text
    assert "inspects 40.0% of customers: 4 test customers, 2.0 x capacity" in text
    assert (
        "Capacity, not the model, limits the recovered value: more inspections would pay." in text
    )


def test_recall_by_group_per_model_by_hand():
    scores = pd.DataFrame(
        {"a": [0.9, 0.8, 0.1, 0.2, 0.3], "b": [0.1, 0.2, 0.9, 0.8, 0.3]},
    )
    is_thief = [True, True, True, False, False]
    groups = ["zero", "cap", "cap", "none", "none"]
    table = evaluate.recall_by_group_per_model(scores, is_thief, groups, n_flagged=2)
    # a flags customers 0, 1 (zero, cap); b flags 2, 3 (cap, a normal)
    assert table["group"].tolist() == ["cap", "zero"]
    assert table["thieves"].tolist() == [2, 1]
    assert table["found_a"].tolist() == [1, 1]
    assert table["recall_b"].tolist() == [0.5, 0.0]
    with pytest.raises(ValueError, match="at least one thief"):
        evaluate.recall_by_group_per_model(scores, [False] * 5, groups, 2)


# --------------------------------------------------------------------------- display


def test_format_probability_never_prints_certainty():
    text = evaluate.format_probability([1.0, 0.99995, 0.5, 0.0, np.nan, 0.12345, 0.9985])
    assert text.tolist() == ["> 0.999", "> 0.999", "0.5000", "< 0.001", "n/a", "0.1235", "0.9985"]


def test_readable_formats_each_kind_of_column():
    frame = pd.DataFrame(
        {
            "customers": [12345, 7],
            "rate": [0.123456, np.nan],
            "risk_score": [0.99999, 0.5],
            "probability": [1.0, 0.25],
            "tier": ["high", "low"],
        }
    )
    shown = evaluate.readable(frame)
    assert shown["customers"].tolist() == ["12,345", "7"]
    assert shown["rate"].tolist() == ["0.123", "n/a"]
    assert shown["risk_score"].tolist() == ["1.0000", "0.5000"]
    assert shown["probability"].tolist() == ["> 0.999", "0.2500"]
    assert shown["tier"].tolist() == ["high", "low"]
    assert frame["probability"].iloc[0] == 1.0  # the input is untouched


def test_baseline_quantile_table():
    baseline = {
        "scores": {
            "risk_score": {
                "quantiles": {"p05": 0.01, "p50": 0.1, "p95": 0.9},
                "mean": 0.2,
                "missing_share": 0.0,
            }
        }
    }
    table = evaluate.baseline_quantile_table(baseline, "scores", ["risk_score", "probability"])
    assert table["variable"].tolist() == ["risk_score"]
    assert table.loc[0, ["p05", "p50", "p95", "mean"]].tolist() == [0.01, 0.1, 0.9, 0.2]
