"""A synthetic *preprocessed* frame for the model tests (no dependency on stages 01/02)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ntl.frame import ID_COLUMN, feature_columns

N_FEATURES = 20
SIGNAL_FEATURES = ("feature_00", "feature_01", "feature_02")


def make_preprocessed(
    n: int = 1200,
    *,
    theft_rate: float = 0.1,
    seed: int = 0,
    labelled: bool = True,
    shift: float = 4.0,
) -> pd.DataFrame:
    """Customers in 4 clusters (+ some -1) whose thieves sit `shift` SD away in three features.

    Each cluster has its own feature means, so a single forest would confuse "other cluster" with
    "anomalous"; 2 % of values are missing. A small `shift` (1.5) makes a problem hard enough
    that XGBoost scores its own training customers far better than unseen ones.
    """
    rng = np.random.default_rng(seed)
    cluster = rng.choice([0, 1, 2, 3, -1], size=n, p=[0.4, 0.3, 0.15, 0.1, 0.05])
    theft = rng.random(n) < theft_rate
    centres = rng.normal(0, 5, size=(5, N_FEATURES))
    values = centres[cluster + 1] + rng.normal(0, 1, size=(n, N_FEATURES))
    values[theft, :3] += shift * np.array([1.0, -1.0, 1.0])
    values[rng.random(values.shape) < 0.02] = np.nan
    index = pd.Index([f"C{i:05d}" for i in range(n)], name=ID_COLUMN)
    flag = pd.array(theft.astype(int), dtype="Int8") if labelled else pd.array([pd.NA] * n, "Int8")
    frame = pd.DataFrame(
        values.astype(np.float32),
        index=index,
        columns=[f"feature_{j:02d}" for j in range(N_FEATURES)],
    )
    frame.insert(0, "cluster", cluster.astype(np.int64))
    frame.insert(0, "quality_flag", np.where(rng.random(n) < 0.9, "HIGH", "LOW"))
    frame.insert(0, "FLAG", flag)
    return frame


def test_fixture_has_the_promised_shape():
    frame = make_preprocessed(300)
    assert frame.index.name == ID_COLUMN
    assert str(frame["FLAG"].dtype) == "Int8"
    assert len(feature_columns(frame)) == N_FEATURES
    assert (frame["cluster"] == -1).any()
    assert frame[list(SIGNAL_FEATURES)].isna().to_numpy().any()
    thieves = frame["FLAG"] == 1
    assert 0 < thieves.sum() < len(frame)


# Small, quick model settings for unit tests that train the whole bundle.
FAST_TRAINING = {
    "min_cluster_size": 100,
    "if_n_estimators": 40,
    "rf_n_estimators": 30,
    "xgb_params": {"n_estimators": 120, "learning_rate": 0.1},
    "early_stopping_rounds": 15,
    "n_jobs": 1,
}
