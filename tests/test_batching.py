"""The pieces that make single-customer scoring fast: the micro-batcher of the web app, the
Isolation Forest evaluation without scikit-learn's per-tree overhead, and the booster that
stays on one thread. Each must give exactly the numbers of the slow path."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from sklearn.ensemble import IsolationForest

from ntl.models.isolation import (
    FLAT_WALK_ROWS,
    FlatForest,
    forest_anomaly_scores,
    tree_by_tree_scores,
)
from ntl.serve.batching import MicroBatcher

WAIT = 10  # seconds any single wait may take before the test fails instead of hanging


def doubled(items):
    return [ValueError(f"negative: {item}") if item < 0 else item * 2 for item in items]


def test_each_caller_gets_its_own_answer_or_its_own_error():
    batcher = MicroBatcher(doubled)
    try:
        futures = [batcher.submit(item) for item in (1, -1, 3)]
        assert futures[0].result(WAIT) == 2
        with pytest.raises(ValueError, match="negative: -1"):
            futures[1].result(WAIT)
        assert futures[2].result(WAIT) == 6
        assert batcher(21, timeout=WAIT) == 42
    finally:
        batcher.stop()


def gated(calls: list[list[int]], gate: threading.Event, started: threading.Event):
    """score_many that records each batch and holds the first one until `gate` opens."""

    def score_many(items):
        calls.append(list(items))
        started.set()
        assert gate.wait(WAIT)
        return doubled(items)

    return score_many


@pytest.mark.parametrize(("max_batch", "expected"), [(64, [[0], list(range(1, 10))]),
                                                     (4, [[0], [1, 2, 3, 4], [5, 6, 7, 8], [9]])])  # fmt: skip
def test_everything_waiting_is_scored_in_one_call_up_to_max_batch(max_batch, expected):
    calls: list[list[int]] = []
    gate, started = threading.Event(), threading.Event()
    batcher = MicroBatcher(gated(calls, gate, started), max_batch=max_batch)
    try:
        first = batcher.submit(0)
        assert started.wait(WAIT)  # the worker holds item 0; the next nine queue up meanwhile
        rest = [batcher.submit(item) for item in range(1, 10)]
        gate.set()
        assert [f.result(WAIT) for f in [first, *rest]] == [2 * i for i in range(10)]
        assert calls == expected
        assert batcher.batches == len(expected)
        assert batcher.largest_batch == max(len(batch) for batch in expected)
    finally:
        gate.set()
        batcher.stop()


def test_a_failing_batch_fails_each_of_its_callers_and_the_worker_goes_on():
    def broken(items):
        if 13 in items:
            raise RuntimeError("models unavailable")
        return doubled(items)

    batcher = MicroBatcher(broken)
    try:
        with pytest.raises(RuntimeError, match="models unavailable"):
            batcher(13, timeout=WAIT)
        assert batcher(4, timeout=WAIT) == 8
    finally:
        batcher.stop()


def test_a_wrong_number_of_answers_is_an_error_not_a_mixup():
    batcher = MicroBatcher(lambda items: [1, 2, 3])
    try:
        with pytest.raises(RuntimeError, match="3 answers for 1 items"):
            batcher(0, timeout=WAIT)
    finally:
        batcher.stop()


def test_stop_answers_what_is_queued_then_refuses_new_items():
    calls: list[list[int]] = []
    gate, started = threading.Event(), threading.Event()
    batcher = MicroBatcher(gated(calls, gate, started))
    first = batcher.submit(1)
    assert started.wait(WAIT)
    second = batcher.submit(2)
    stopper = threading.Thread(target=batcher.stop)
    stopper.start()
    gate.set()
    stopper.join(WAIT)
    assert (first.result(WAIT), second.result(WAIT)) == (2, 4)
    with pytest.raises(RuntimeError, match="stopped"):
        batcher.submit(3)
    with pytest.raises(ValueError, match="max_batch must be >= 1, got 0"):
        MicroBatcher(doubled, max_batch=0)


@pytest.mark.parametrize("max_features", [1.0, 0.5])
def test_forest_scores_equal_scikit_learns_bit_for_bit(max_features):
    rng = np.random.default_rng(3)
    train = rng.normal(size=(400, 12)).astype(np.float32)
    train[:, 3] *= 50
    forest = IsolationForest(
        n_estimators=40, max_features=max_features, random_state=0, n_jobs=1
    ).fit(train)
    new = np.vstack([rng.normal(size=(300, 12)) * 3, train[:5]]).astype(np.float32)
    new[7, 2] = np.nan  # the trees route a missing value as scikit-learn does
    new[8, 3] = np.inf
    flat = FlatForest.of(forest)
    assert flat.steps == max(tree.tree_.max_depth for tree in forest.estimators_)
    # 305 rows go tree by tree, the others walk every tree at once: both equal scikit-learn's
    assert len(new) > FLAT_WALK_ROWS >= 65
    for rows in (new, new[:1], new[10:13], new[:65], new[250:]):
        expected = -forest.score_samples(rows)
        np.testing.assert_array_equal(forest_anomaly_scores(forest, rows), expected)
        np.testing.assert_array_equal(flat.anomaly_scores(rows), expected)
        np.testing.assert_array_equal(tree_by_tree_scores(forest, rows), expected)
    assert forest_anomaly_scores(forest, new).min() > 0  # a real score, not zeros
    assert flat.anomaly_scores(new[:0]).shape == (0,)


def test_flat_walk_takes_the_missing_value_branch_each_node_learned():
    # trained with missing values, the nodes send a missing value left or right as they learned
    rng = np.random.default_rng(5)
    train = rng.normal(size=(300, 4)).astype(np.float32)
    train[rng.random(300) < 0.3, 1] = np.nan
    forest = IsolationForest(n_estimators=30, random_state=1).fit(train)
    flat = FlatForest.of(forest)
    assert flat.missing_left.any() and not flat.missing_left.all()
    rows = rng.normal(size=(40, 4)).astype(np.float32)
    rows[::2, 1] = np.nan
    np.testing.assert_array_equal(flat.anomaly_scores(rows), -forest.score_samples(rows))


def test_forest_scores_fall_back_for_forests_without_the_private_fields():
    class OtherForest:  # another scikit-learn's forest: only the public score_samples
        def score_samples(self, features):
            return -features.sum(axis=1)

    rows = np.arange(6, dtype=np.float32).reshape(3, 2)
    np.testing.assert_array_equal(forest_anomaly_scores(OtherForest(), rows), [1.0, 5.0, 9.0])
