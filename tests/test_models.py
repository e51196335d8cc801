"""Unit tests of ntl.models building blocks on hand-made values: split, normalisation, ensemble."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from ntl.errors import MeterDataError, ParameterError
from ntl.models import ScoreCalibrator, ScoreNormaliser, choose_weight, combine, split_customers
from ntl.models.ensemble import isotonic_predict, out_of_fold_probability
from ntl.models.isolation import GLOBAL_KEY, fill_missing, fit_isolation, training_medians
from ntl.models.metrics import comparison_table, ranking_metrics
from ntl.split import split_counts, split_mask
from tests.test_models_helpers import make_preprocessed

# -- split -------------------------------------------------------------------------------------


def test_split_counts_round_cumulatively_and_sum_to_n():
    assert split_counts(10, (0.6, 0.2, 0.2)).tolist() == [6, 2, 2]
    assert split_counts(7, (0.6, 0.2, 0.2)).tolist() == [4, 2, 1]
    assert split_counts(2, (0.6, 0.2, 0.2)).tolist() == [1, 1, 0]
    assert split_counts(0, (0.6, 0.2, 0.2)).tolist() == [0, 0, 0]


def _flags(thieves: int, normal: int, unlabelled: int) -> pd.Series:
    values = [1] * thieves + [0] * normal + [pd.NA] * unlabelled
    index = pd.Index([f"C{i:04d}" for i in range(len(values))], name="CONS_NO")
    return pd.Series(pd.array(values, dtype="Int8"), index=index, name="FLAG")


def test_split_is_stratified_on_flag_and_spreads_unlabelled():
    flag = _flags(50, 400, 50)
    split = split_customers(flag, seed=3)["split"]
    assert split.index.equals(flag.index)
    table = pd.crosstab(flag.fillna(-1), split)
    assert table.loc[1].to_dict() == {"train": 30, "validation": 10, "test": 10}
    assert table.loc[0].to_dict() == {"train": 240, "validation": 80, "test": 80}
    assert table.loc[-1].to_dict() == {"train": 30, "validation": 10, "test": 10}


def test_split_is_seeded():
    flag = _flags(20, 180, 0)
    first = split_customers(flag, seed=1)
    assert first.equals(split_customers(flag, seed=1))
    assert not first.equals(split_customers(flag, seed=2))


def test_split_without_two_classes_is_a_plain_shuffle():
    split = split_customers(_flags(0, 0, 100), fractions=(0.5, 0.3, 0.2), seed=0)["split"]
    assert split.value_counts().to_dict() == {"train": 50, "validation": 30, "test": 20}
    one_class = split_customers(_flags(0, 10, 0), seed=0)["split"]
    assert one_class.value_counts().to_dict() == {"train": 6, "validation": 2, "test": 2}


@pytest.mark.parametrize(
    ("fractions", "message"),
    [
        ((0.6, 0.4), "train, validation, test"),
        ((0.6, 0.2, 0.1), "sum to 1"),
        ((0.0, 0.5, 0.5), "must be > 0"),
        ((1.2, -0.1, -0.1), ">= 0"),
    ],
)
def test_split_rejects_bad_fractions(fractions, message):
    with pytest.raises(ParameterError, match=message):
        split_customers(_flags(5, 5, 0), fractions=fractions)


def test_split_rejects_duplicate_customers():
    flag = pd.Series(pd.array([0, 1], dtype="Int8"), index=pd.Index(["A", "A"], name="CONS_NO"))
    with pytest.raises(MeterDataError, match="duplicate CONS_NO"):
        split_customers(flag)


def test_split_mask_names_customers_without_a_split():
    split = split_customers(_flags(2, 8, 0), seed=0)
    assert split_mask(split, "train", split.index).sum() == 6
    with pytest.raises(MeterDataError, match="no split for CONS_NO"):
        split_mask(split, "train", pd.Index(["nobody"]))
    with pytest.raises(ParameterError, match="unknown split"):
        split_mask(split, "holdout", split.index)


# -- normalisation and isolation forests -------------------------------------------------------


def test_normaliser_is_the_interpolated_training_cdf():
    normaliser = ScoreNormaliser.fit(np.array([5.0, 1.0, 3.0, 2.0, 4.0]))
    result = normaliser.transform(np.array([1.0, 3.0, 5.0, 1.5, -9.0, 9.0]))
    np.testing.assert_allclose(result, [0.0, 0.5, 1.0, 0.125, 0.0, 1.0])


def test_normaliser_gives_ties_their_mid_rank():
    normaliser = ScoreNormaliser.fit(np.array([1.0, 1.0, 2.0]))
    np.testing.assert_allclose(normaliser.positions, [0.25, 1.0])
    single = ScoreNormaliser.fit(np.array([7.0]))
    np.testing.assert_allclose(single.transform(np.array([6.0, 7.0, 8.0])), [0.0, 0.5, 1.0])
    with pytest.raises(ValueError, match="finite training score"):
        ScoreNormaliser.fit(np.array([np.nan]))


def test_normaliser_state_round_trip_is_the_same_cdf():
    normaliser = ScoreNormaliser.fit(np.array([5.0, 1.0, 1.0, 3.0]))
    state = normaliser.to_state()
    assert set(state) == {"reference", "positions"}
    again = ScoreNormaliser.from_state({**state, "n_train": 4})  # a detector's extra keys
    probe = np.array([0.0, 1.0, 2.0, 4.0, 9.0])
    np.testing.assert_array_equal(again.transform(probe), normaliser.transform(probe))


def test_medians_fill_missing_values_and_empty_columns_get_zero():
    features = np.array([[1, np.nan, np.nan], [3, 4, np.nan], [5, 8, np.nan]], dtype=np.float32)
    medians = training_medians(features)
    np.testing.assert_array_equal(medians, [3, 6, 0])
    np.testing.assert_array_equal(fill_missing(features, medians)[0], [1, 6, 0])
    assert np.isnan(features[0, 1])  # the input is left untouched


@pytest.fixture(scope="module")
def small_isolation():
    frame = make_preprocessed(800, seed=1)
    features = frame.filter(like="feature_").to_numpy(np.float32)
    clusters = frame["cluster"].to_numpy()
    names = list(frame.filter(like="feature_").columns)
    model = fit_isolation(features, clusters, names, min_cluster_size=100, n_estimators=30, seed=0)
    return model, features, clusters


def test_isolation_has_forests_for_big_clusters_only(small_isolation):
    model, _, clusters = small_isolation
    sizes = pd.Series(clusters).value_counts()
    expected = sorted(str(c) for c, n in sizes.items() if n >= 100 and c != -1)
    assert model.cluster_keys == [*expected, GLOBAL_KEY]
    keys = model.model_keys(np.array([0, -1, 99, int(expected[0])]))
    assert keys.tolist() == [
        "0" if "0" in expected else GLOBAL_KEY,
        GLOBAL_KEY,
        GLOBAL_KEY,
        expected[0],
    ]


def test_isolation_scores_are_uniform_within_each_cluster(small_isolation):
    model, features, clusters = small_isolation
    scores = model.score(features, clusters)
    assert scores.min() >= 0 and scores.max() <= 1
    keys = model.model_keys(clusters)
    for key in model.cluster_keys:
        in_cluster = scores[keys == key]
        if key != GLOBAL_KEY:  # training customers of a cluster span its whole CDF
            assert in_cluster.min() == 0.0 and in_cluster.max() == 1.0
            assert abs(in_cluster.mean() - 0.5) < 0.02


def test_isolation_scores_do_not_depend_on_the_batch(small_isolation):
    model, features, clusters = small_isolation
    together = model.score(features, clusters)
    rows = [0, 5, 17, 300]
    alone = [model.score(features[[r]], clusters[[r]])[0] for r in rows]
    np.testing.assert_allclose(together[rows], alone)


def test_isolation_rejects_bad_parameters():
    features = np.zeros((10, 2), dtype=np.float32)
    with pytest.raises(ParameterError, match="if_min_cluster_size"):
        fit_isolation(features, np.zeros(10), ["a", "b"], min_cluster_size=1)
    with pytest.raises(ParameterError, match=">= 2 training customers"):
        fit_isolation(features[:1], np.zeros(1), ["a", "b"])


# -- ensemble and calibration ------------------------------------------------------------------


def test_combine_is_a_convex_combination():
    np.testing.assert_allclose(
        combine(np.array([1.0, 0.0]), np.array([0.0, 1.0]), 0.25), [0.25, 0.75]
    )
    with pytest.raises(ParameterError, match="ensemble weight"):
        combine(np.zeros(2), np.zeros(2), 1.5)


def test_weight_follows_the_better_score_and_ties_favour_xgboost():
    y = np.array([0, 0, 0, 1, 1])
    good = np.array([0.1, 0.2, 0.3, 0.8, 0.9])
    bad = np.array([0.9, 0.8, 0.7, 0.2, 0.1])
    weight, curve = choose_weight(y, good, bad)
    assert weight == 1.0
    assert list(curve.columns) == ["weight", "pr_auc"] and len(curve) == 21
    weight, curve = choose_weight(y, bad, good)  # perfect only for small weights: largest wins
    perfect = curve.loc[curve["pr_auc"] == 1.0, "weight"]
    assert weight == perfect.max() and 0.0 < weight < 0.5 and perfect.min() == 0.0


def test_isotonic_calibration_on_hand_values():
    """Two normal then two thieves: blocks of n = 2 read 1/4 and 3/4, never 0 or 1."""
    calibrator = ScoreCalibrator.fit(np.array([0.1, 0.2, 0.3, 0.4]), np.array([0, 0, 1, 1]))
    np.testing.assert_allclose(
        calibrator.predict(np.array([0.0, 0.15, 0.35, 2.0])), [0.25, 0.25, 0.75, 0.75]
    )


def test_isotonic_probability_is_never_a_certainty():
    """Observed: probability 1.0 for 30 customers. A pure block gets (k + 1) / (n + 2)."""
    score = np.arange(10, dtype=np.float64)
    y = np.array([0, 0, 0, 0, 1, 0, 1, 1, 1, 1])  # blocks: 4 normal | 1/2 | 4 thieves
    calibrator = ScoreCalibrator.fit(score, y)
    probability = calibrator.predict(np.array([0.0, 4.5, 9.0, 100.0]))
    np.testing.assert_allclose(probability, [1 / 6, 0.5, 5 / 6, 5 / 6])
    assert np.all(np.diff(calibrator.predict(np.linspace(-1, 11, 50))) >= 0)
    import pickle

    reloaded = pickle.loads(pickle.dumps(calibrator))
    np.testing.assert_allclose(reloaded.predict(np.array([0.0, 9.0])), [1 / 6, 5 / 6])
    # a small pure block is not allowed to overtake a larger, less pure one above it
    score = np.arange(6, dtype=np.float64)
    calibrator = ScoreCalibrator.fit(score, np.array([0, 1, 1, 1, 1, 1]))
    low, high = calibrator.predict(np.array([0.0, 5.0]))
    assert low == pytest.approx(1 / 3) and high == pytest.approx(6 / 7) and low < high


def test_isotonic_predict_equals_scikit_learns_predict():
    rng = np.random.default_rng(4)
    score = rng.random(300)
    calibrator = ScoreCalibrator.fit(score, (rng.random(300) < score).astype(int))
    model = calibrator.model
    new = np.concatenate([rng.random(200) * 1.4 - 0.2, score[:20], [model.X_min_, model.X_max_]])
    np.testing.assert_array_equal(isotonic_predict(model, new), model.predict(new))
    np.testing.assert_array_equal(calibrator.predict(new[:1]), model.predict(new[:1]))
    with pytest.raises(ValueError, match="NaN"):  # scikit-learn's own check and message
        isotonic_predict(model, np.array([0.5, np.nan]))


def test_sigmoid_calibration_is_monotone_probability():
    rng = np.random.default_rng(0)
    score = rng.random(400)
    y = (rng.random(400) < score).astype(int)
    calibrator = ScoreCalibrator.fit(score, y, "sigmoid")
    probability = calibrator.predict(np.linspace(0, 1, 11))
    assert np.all(np.diff(probability) > 0) and probability[0] > 0 and probability[-1] < 1
    assert abs(calibrator.predict(np.array([0.5]))[0] - 0.5) < 0.1
    with pytest.raises(ParameterError, match="calibration must be one of"):
        ScoreCalibrator.fit(score, y, "beta")


def test_out_of_fold_probability_needs_two_thieves():
    rng = np.random.default_rng(1)
    score = rng.random(100)
    y = (score > 0.8).astype(int)
    oof = out_of_fold_probability(score, y, "isotonic", folds=5, seed=0)
    assert not np.isnan(oof).any() and oof[score > 0.9].mean() > 0.9
    one_thief = np.zeros(100, dtype=int)
    one_thief[0] = 1
    assert np.isnan(out_of_fold_probability(score, one_thief, "isotonic", folds=5, seed=0)).all()


# -- metrics ------------------------------------------------------------------------------------


def test_ranking_metrics_match_scikit_learn():
    rng = np.random.default_rng(2)
    y = (rng.random(500) < 0.1).astype(int)
    score = y + rng.normal(0, 1, 500)
    metrics = ranking_metrics(y, score)
    assert metrics["roc_auc"] == pytest.approx(roc_auc_score(y, score))
    assert metrics["pr_auc"] == pytest.approx(average_precision_score(y, score))
    table = comparison_table(y, {"model": score})
    assert table.loc["chance", "pr_auc"] == pytest.approx(y.mean())
    assert list(table.columns) == ["roc_auc", "pr_auc", "precision_at_1pct", "precision_at_5pct"]


@pytest.mark.parametrize(
    "column",
    [
        pd.Series([2, 0, -1], dtype=np.int64),
        pd.Series([2, 0, None], dtype="Int64"),
        pd.Series([2.0, 0.0, np.nan]),
    ],
)
def test_cluster_ids_read_every_dtype_with_missing_as_unassigned(column):
    from ntl.models.bundle import cluster_ids

    frame = pd.DataFrame({"cluster": column.to_numpy() if column.dtype == np.int64 else column})
    assert cluster_ids(frame).tolist() == [2, 0, -1]
    assert cluster_ids(frame).dtype == np.int64
    with pytest.raises(MeterDataError, match="preprocessed frame: no 'cluster' column"):
        cluster_ids(frame.rename(columns={"cluster": "group"}))
