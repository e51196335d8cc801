"""Out-of-fold scores of training customers: folds, cross-fitting, train_models, chain_scores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score

from ntl.artifacts import ArtifactStore
from ntl.errors import (
    ArtifactIntegrityError,
    MeterDataError,
    MissingArtifactError,
    NtlError,
    ParameterError,
)
from ntl.models import (
    OOF_ARTIFACT,
    SCORE_COLUMNS,
    chain_scores,
    combine,
    cross_fit_predict,
    describe_ensemble,
    fold_ids,
    load_model_bundle,
    out_of_fold_xgb,
    out_of_sample_rows,
    save_model_bundle,
    split_customers,
    train_models,
)
from ntl.models.crossfit import fold_count
from ntl.models.training import stopping_summary
from tests.test_models_helpers import FAST_TRAINING, make_preprocessed

FAST = FAST_TRAINING


@pytest.fixture(scope="module")
def hard():
    """A weak signal (1.5 SD): XGBoost scores its own training customers far too well."""
    frame = make_preprocessed(2500, seed=4, shift=1.5)
    frame.loc[frame.index[:40], "FLAG"] = pd.NA  # some unlabelled customers in every split
    split = split_customers(frame["FLAG"], seed=4)
    bundle, report = train_models(frame, split, seed=5, **FAST)
    return frame, split, bundle, report


# -- folds and cross-fitting ---------------------------------------------------------------------


def test_fold_ids_cover_each_customer_once_and_are_stratified():
    y = np.array([1] * 12 + [0] * 48)
    fold = fold_ids(y, 5, seed=3)
    assert sorted(np.unique(fold)) == [0, 1, 2, 3, 4]
    assert len(fold) == len(y)  # one fold number per customer: each held out exactly once
    assert np.bincount(fold).tolist() == [12] * 5
    thieves_per_fold = np.bincount(fold[y == 1], minlength=5)
    assert thieves_per_fold.max() - thieves_per_fold.min() <= 1 and thieves_per_fold.sum() == 12
    np.testing.assert_array_equal(fold, fold_ids(y, 5, seed=3))
    assert not np.array_equal(fold, fold_ids(y, 5, seed=4))


def test_fold_count_is_capped_by_the_rarer_class():
    assert fold_count(np.array([1, 1, 1, 0, 0, 0, 0, 0]), 5) == 3
    assert fold_count(np.array([1, 0, 0, 0]), 5) == 1
    with pytest.raises(ParameterError, match="at least 2 folds, got 1"):
        fold_count(np.array([1, 0]), 1)
    with pytest.raises(
        ParameterError, match="at least 2 thieves and 2 normal customers, got 1 and 3"
    ):
        fold_ids(np.array([1, 0, 0, 0]), 5)


def test_cross_fit_predict_never_shows_a_model_its_held_out_rows():
    row_ids = np.arange(6, dtype=np.float64).reshape(-1, 1)  # the feature is the row number
    fold = np.array([0, 0, 1, 1, 2, 2])
    seen: list[tuple[set, set]] = []

    def mean_of_fit_rows(fit_x, fit_y, held_out_x):
        seen.append((set(fit_x[:, 0]), set(held_out_x[:, 0])))
        return np.full(len(held_out_x), fit_x[:, 0].mean())

    result = cross_fit_predict(row_ids, np.zeros(6), fold, mean_of_fit_rows)
    np.testing.assert_allclose(result, [3.5, 3.5, 2.5, 2.5, 1.5, 1.5])  # mean of the other rows
    assert [held for _, held in seen] == [{0, 1}, {2, 3}, {4, 5}]
    assert all(not (fit & held) and (fit | held) == set(range(6)) for fit, held in seen)
    with pytest.raises(ParameterError, match="differ in length: 6, 6, 5"):
        cross_fit_predict(row_ids, np.zeros(6), fold[:5], mean_of_fit_rows)


def test_out_of_fold_xgb_cannot_memorise_its_customers():
    """Random labels on noise: in-sample trees memorise them, out-of-fold stays at chance."""
    rng = np.random.default_rng(0)
    features = rng.normal(size=(600, 8)).astype(np.float32)
    y = (rng.random(600) < 0.2).astype(np.int64)
    params = {"n_estimators": 200, "learning_rate": 0.3, "max_depth": 6, "min_child_weight": 0.5}
    oof, fold = out_of_fold_xgb(features, y, params, n_rounds=200, folds=5, seed=1)
    again, _ = out_of_fold_xgb(features, y, params, n_rounds=200, folds=5, seed=1)
    assert oof.tobytes() == again.tobytes()  # deterministic
    assert not np.isnan(oof).any() and sorted(np.unique(fold)) == [0, 1, 2, 3, 4]
    fold_model_on_own_rows, _ = out_of_fold_xgb(features, y, params, n_rounds=200, folds=2, seed=1)
    assert average_precision_score(y, oof) < y.mean() + 0.1
    assert average_precision_score(y, fold_model_on_own_rows) < y.mean() + 0.1
    from ntl.models.supervised import xgb_classifier

    in_sample = xgb_classifier(params, y, seed=1).fit(features, y).predict_proba(features)[:, 1]
    assert average_precision_score(y, in_sample) > 0.95
    with pytest.raises(ParameterError, match="n_rounds must be >= 1, got 0"):
        out_of_fold_xgb(features, y, params, n_rounds=0, folds=5, seed=1)


# -- train_models --------------------------------------------------------------------------------


def test_oof_scores_cover_the_labelled_training_customers(hard):
    frame, split, bundle, report = hard
    oof = report["oof_scores"]
    labelled_train = frame.index[(split["split"] == "train").to_numpy() & frame["FLAG"].notna()]
    assert oof.index.equals(labelled_train) and list(oof.columns) == list(SCORE_COLUMNS)
    assert report["oof_fold"].index.equals(labelled_train)
    assert report["oof_fold"].value_counts().sort_index().index.tolist() == [0, 1, 2, 3, 4]
    info = bundle.training_info["out_of_fold"]
    assert info["folds"] == 5 and info["customers"] == len(labelled_train)
    assert info["rounds"] == report["best_iteration"] + 1


def test_oof_scores_are_combined_and_calibrated_like_every_score(hard):
    frame, _, bundle, report = hard
    oof = report["oof_scores"]
    final = bundle.score(frame.loc[oof.index])
    np.testing.assert_array_equal(oof["anomaly_score"], final["anomaly_score"])
    expected_risk = combine(oof["xgb_probability"], oof["anomaly_score"], bundle.ensemble_weight)
    np.testing.assert_allclose(oof["risk_score"], expected_risk)
    np.testing.assert_allclose(
        oof["probability"], bundle.calibrator.predict(oof["risk_score"].to_numpy())
    )
    assert (oof["xgb_probability"] != final["xgb_probability"]).mean() > 0.99


def test_oof_ranking_is_as_good_as_validation_not_inflated_like_in_sample(hard):
    """Out-of-fold sits a little under validation (fold models see 80 % of train, and the stopping
    round was picked on validation), far under in-sample."""
    *_, report = hard
    pr_auc = report["oof_table"]["pr_auc"]
    assert pr_auc["train, in-sample"] > 0.9  # the in-sample scores the list must not use
    assert abs(pr_auc["train, out-of-fold"] - pr_auc["validation"]) < 0.1
    assert pr_auc["train, out-of-fold"] < pr_auc["train, in-sample"] - 0.15


def test_oof_scores_are_deterministic(hard):
    frame, split, _, report = hard
    _, again = train_models(frame, split, seed=5, **FAST)
    assert again["oof_scores"].to_numpy().tobytes() == report["oof_scores"].to_numpy().tobytes()
    _, other = train_models(frame, split, seed=6, **FAST)
    assert not other["oof_scores"].equals(report["oof_scores"])


def test_too_few_thieves_for_two_folds_gives_no_oof_scores():
    frame = make_preprocessed(300, seed=1)
    split = split_customers(frame["FLAG"], seed=1)
    train_thieves = frame.index[(split["split"] == "train").to_numpy() & (frame["FLAG"] == 1)]
    frame.loc[train_thieves[1:], "FLAG"] = 0  # one thief left in training
    bundle, report = train_models(frame, split, **FAST)
    assert bundle.supervised and report["oof_scores"] is None
    assert bundle.training_info["out_of_fold"] is None
    with pytest.raises(ParameterError, match="oof_folds must be >= 2, got 1"):
        train_models(frame, split, oof_folds=1)


def test_stopping_summary_says_what_happened():
    assert stopping_summary(99, 150, 1500, 50).startswith(
        "early stopping ended the fit: validation PR-AUC peaked at round 100 and did not improve "
        "in the next 50 rounds (cap 1500)"
    )
    assert "hit the cap of 400 rounds with validation PR-AUC still improving (best round 400)" in (
        stopping_summary(399, 400, 400, 30)
    )
    assert "used all 400 rounds; validation PR-AUC peaked at round 200" in (
        stopping_summary(199, 400, 400, 30)
    )


def test_describe_ensemble_claims_only_what_the_numbers_show():
    numbers = {"ensemble": 0.664, "xgboost": 0.663, "isolation_forest": 0.391}
    text = describe_ensemble(0.95, numbers)
    assert "in effect XGBoost" in text and "+0.001 from adding the anomaly score" in text
    assert "second opinion" in text and "do not show it catching" in text
    assert "in effect the anomaly score" in describe_ensemble(0.05, numbers)
    assert "beats XGBoost alone by +0.001 PR-AUC" in describe_ensemble(0.5, numbers)
    with pytest.raises(ParameterError, match="ensemble weight must be in"):
        describe_ensemble(1.2, numbers)


def test_ensemble_sentence_reads_the_validation_table_rows():
    from types import SimpleNamespace

    from ntl.models.training import ensemble_sentence

    table = pd.DataFrame(
        {"pr_auc": [0.664, 0.663, 0.391]},
        index=["ensemble (risk_score)", "xgboost", "isolation_forest"],
    )
    numbers = {"ensemble": 0.664, "xgboost": 0.663, "isolation_forest": 0.391}
    bundle = SimpleNamespace(ensemble_weight=0.95)
    assert ensemble_sentence(bundle, table) == describe_ensemble(0.95, numbers)


def test_scores_from_needs_one_value_per_customer(hard):
    frame, _, bundle, _ = hard
    index = frame.index[:3]
    with pytest.raises(NtlError, match="2 anomaly scores for 3 customers"):
        bundle.scores_from(np.zeros(2), np.zeros(3), index)
    with pytest.raises(NtlError, match="one XGBoost probability per customer"):
        bundle.scores_from(np.zeros(3), None, index)


# -- chain_scores --------------------------------------------------------------------------------


def _saved_run(tmp_path, frame, split, bundle, report) -> ArtifactStore:
    store = ArtifactStore(tmp_path, notebook="03_modeling")
    store.write_parquet("split.parquet", split)
    save_model_bundle(bundle, store)
    store.write_parquet(OOF_ARTIFACT, out_of_sample_rows(report))
    return store


def test_chain_scores_use_oof_for_training_customers_only(tmp_path, hard):
    frame, split, bundle, report = hard
    store = _saved_run(tmp_path, frame, split, bundle, report)
    scores = chain_scores(load_model_bundle(store), frame, store)
    assert scores.index.equals(frame.index)
    assert list(scores.columns) == [*SCORE_COLUMNS, "split"]
    assert scores["split"].equals(split["split"].reindex(frame.index).astype("str"))
    oof = report["oof_scores"]
    pd.testing.assert_frame_equal(scores.loc[oof.index, list(SCORE_COLUMNS)], oof)
    validation = report["validation_scores"]
    crossfitted = validation.index[validation["probability_out_of_fold"].notna()]
    assert len(crossfitted) > 0 and (scores.loc[crossfitted, "split"] == "validation").all()
    np.testing.assert_array_equal(
        scores.loc[crossfitted, "probability"],
        validation.loc[crossfitted, "probability_out_of_fold"],
    )
    final = bundle.score(frame.loc[crossfitted])  # the final calibrator, fitted on them
    assert not np.allclose(scores.loc[crossfitted, "probability"], final["probability"])
    pd.testing.assert_series_equal(scores.loc[crossfitted, "risk_score"], final["risk_score"])
    others = frame.index.difference(oof.index).difference(crossfitted)
    pd.testing.assert_frame_equal(
        scores.loc[others, list(SCORE_COLUMNS)], bundle.score(frame.loc[others])
    )
    assert (scores.loc[others, "split"] == "test").sum() > 0.9 * len(others)  # + unlabelled
    subset = chain_scores(bundle, frame.iloc[::7], store)
    pd.testing.assert_frame_equal(subset, scores.iloc[::7])


def test_chain_scores_refuse_stale_or_missing_oof_scores(tmp_path, hard):
    frame, split, bundle, report = hard
    store = _saved_run(tmp_path, frame, split, bundle, report)
    test_customer = split.index[split["split"] == "test"][:1]
    stale = pd.concat([report["oof_scores"], bundle.score(frame.loc[test_customer])])
    store.write_parquet(OOF_ARTIFACT, stale)
    with pytest.raises(ArtifactIntegrityError, match="1 customers are not in the training or"):
        chain_scores(bundle, frame, store)
    store.path(OOF_ARTIFACT).unlink()
    with pytest.raises(MissingArtifactError, match="oof_scores.parquet.*03_modeling"):
        chain_scores(bundle, frame, store)
    with pytest.raises(MeterDataError, match="no split for CONS_NO"):
        chain_scores(bundle, frame.rename(index={frame.index[0]: "NEW"}), store)


def test_chain_scores_of_an_unlabelled_run_are_the_bundle_scores(tmp_path):
    frame = make_preprocessed(400, seed=2, labelled=False)
    split = split_customers(frame["FLAG"], seed=2)
    bundle, report = train_models(frame, split, **FAST)
    assert "oof_scores" not in report
    store = ArtifactStore(tmp_path, notebook="03_modeling")
    store.write_parquet("split.parquet", split)
    scores = chain_scores(bundle, frame, store)
    pd.testing.assert_frame_equal(scores.drop(columns="split"), bundle.score(frame))
    assert set(scores["split"]) == {"train", "validation", "test"}
