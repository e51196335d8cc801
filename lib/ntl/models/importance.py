"""Global feature importance of a fitted bundle: what drives its ranking."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ntl.models.bundle import ModelBundle


def feature_importance(
    bundle: ModelBundle,
    preprocessed: pd.DataFrame,
    *,
    sample_size: int | None = None,
    seed: int = 42,
) -> tuple[pd.Series, str]:
    """Importance of each feature over `preprocessed` customers, and what it measures.

    Supervised: mean absolute SHAP contribution of XGBoost. Unsupervised: absolute Spearman
    correlation between the feature and the anomaly score (forests have no importances of their
    own; this shows which features move the anomaly ranking). Sorted, largest first. Exact SHAP
    costs milliseconds per customer, so `sample_size` customers (seeded) are enough for an average.
    """
    if sample_size is not None and len(preprocessed) > sample_size:
        rows = np.random.default_rng(seed).choice(len(preprocessed), sample_size, replace=False)
        preprocessed = preprocessed.iloc[np.sort(rows)]
    if bundle.supervised:
        contributions = bundle.xgb_contributions(preprocessed)[bundle.feature_names]
        importance = contributions.abs().mean()
        label = "mean |SHAP contribution| of XGBoost (log-odds)"
    else:
        features = pd.DataFrame(
            bundle.features(preprocessed), index=preprocessed.index, columns=bundle.feature_names
        )
        anomaly = bundle.score(preprocessed)["anomaly_score"]
        importance = features.rank().corrwith(anomaly.rank()).abs().fillna(0.0)
        label = "|Spearman correlation| with the anomaly score"
    importance = importance.sort_values(ascending=False, kind="stable")
    importance.name = "importance"
    return importance, label
