"""Fitted objects to and from files that cannot run code when read.

Nothing read from an artifact folder is unpickled. XGBoost comes back from its native JSON model;
scikit-learn estimators through ``skops.io``, which refuses any type outside `TRUSTED_TYPES`; the
package's own fitted objects (preprocessing settings, clustering, score normalisers, calibrator)
are rebuilt from plain data (JSON and numpy arrays) by the small ``*_to_state`` / ``*_from_state``
pairs below, one pair per object, so a change to an object's fields changes one place.

The manifest's sha256 only catches accidents (a file changed, truncated or copied from another
run); whoever can write the folder can rewrite the manifest too. What keeps such a person from
running code through ``ntl`` is that no reader here can execute what it reads.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import numpy as np

from ntl.errors import ArtifactIntegrityError

if TYPE_CHECKING:
    import xgboost as xgb

    from ntl.artifacts import ArtifactStore
    from ntl.clustering import ShapeClusters
    from ntl.models.ensemble import ScoreCalibrator
    from ntl.models.isolation import IsolationMember
    from ntl.preprocess import Preprocessor

# Every type the chain's skops files may hold beyond skops' own safe defaults. Anything else in a
# file (a function, a class of another package, a planted object) is refused before it is built.
TRUSTED_TYPES = (
    "numpy.dtype",
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._iforest.IsolationForest",
    "sklearn.tree._classes.ExtraTreeRegressor",
    "sklearn.ensemble._forest.RandomForestClassifier",
    "sklearn.tree._classes.DecisionTreeClassifier",
    "sklearn.pipeline.Pipeline",
    "sklearn.impute._base.SimpleImputer",
    "sklearn.preprocessing._data.StandardScaler",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.isotonic.IsotonicRegression",
    "sklearn.cluster._kmeans.KMeans",
    # the One-Class SVM and autoencoder detectors (ntl.models.detectors)
    "sklearn.preprocessing._data.QuantileTransformer",
    "sklearn.kernel_approximation.Nystroem",
    "sklearn.linear_model._stochastic_gradient.SGDOneClassSVM",
    "sklearn.neural_network._multilayer_perceptron.MLPRegressor",
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
)

PREPROCESSING_STATE = "preprocessing.json"
PREPROCESSING_CLUSTERS = "preprocessing_clusters.skops"
XGB_MODEL = "model_xgb.json"
CALIBRATOR = "calibrator.skops"
BASELINES = "model_baselines.skops"
RAW_READINGS_MODEL = "model_raw_readings.json"  # the raw-readings baseline, XGBoost's own JSON


# ------------------------------------------------------------------------------ skops


def sklearn_to_bytes(obj: Any) -> bytes:
    """`obj` (estimators, arrays, dicts and lists of them) in skops' format."""
    import skops.io

    return skops.io.dumps(obj)


def sklearn_from_bytes(data: bytes, source: str) -> Any:
    """Rebuild what `sklearn_to_bytes` wrote; refuse a file holding any type not trusted here.

    One pass: ``skops.io.loads`` checks every type against the trusted list before it builds
    anything and raises for the first untrusted one, whose names the message then lists.
    """
    import skops.io
    from skops.io.exceptions import UntrustedTypesFoundException

    try:
        return skops.io.loads(data, trusted=list(TRUSTED_TYPES))
    except UntrustedTypesFoundException:
        untrusted = skops.io.get_untrusted_types(data=data)
        refused = sorted(set(untrusted) - set(TRUSTED_TYPES))
        raise ArtifactIntegrityError(
            f"{source} holds types ntl does not trust ({', '.join(refused)}): refusing to load it"
        ) from None
    except Exception as exc:  # not a zip, not skops: whatever it is, it is not ours
        raise ArtifactIntegrityError(f"{source} is not a skops file ({exc})") from None


def write_sklearn(store: ArtifactStore, name: str, obj: Any) -> None:
    """Write scikit-learn objects as artifact `name` (skops)."""
    data = sklearn_to_bytes(obj)
    store.write_bytes(name, data)


def read_sklearn(store: ArtifactStore, name: str) -> Any:
    """Read artifact `name` written by `write_sklearn` (hash, lineage and types checked)."""
    return sklearn_from_bytes(store.read_bytes(name), str(store.path(name)))


# ------------------------------------------------------------------------------ XGBoost


def xgb_to_bytes(model: xgb.XGBClassifier) -> bytes:
    """XGBoost's native JSON model (trees, best iteration, objective): data, not code."""
    return bytes(model.get_booster().save_raw(raw_format="json"))


def xgb_from_bytes(data: bytes, source: str) -> xgb.XGBClassifier:
    """An XGBClassifier from its native JSON; ArtifactIntegrityError when the file is not one."""
    import xgboost as xgb

    model = xgb.XGBClassifier()
    try:
        model.load_model(bytearray(data))
    except (xgb.core.XGBoostError, ValueError, TypeError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ArtifactIntegrityError(
            f"{source} is not an XGBoost model ({first_line}); re-run 03_modeling"
        ) from None
    return model


# ------------------------------------------------------------------------------ preprocessing


def clusters_to_state(clusters: ShapeClusters) -> dict[str, Any]:
    """The shape clustering as skops-safe data: estimators, an array, a plain dict."""
    return {
        "scaler": clusters.scaler,
        "kmeans": clusters.kmeans,
        "typical_shapes": np.asarray(clusters.typical_shapes, dtype=np.float64),
        "silhouette_by_k": {str(k): float(v) for k, v in clusters.silhouette_by_k.items()},
    }


def clusters_from_state(state: dict[str, Any]) -> ShapeClusters:
    """Inverse of `clusters_to_state`."""
    from ntl.clustering import ShapeClusters

    return ShapeClusters(
        scaler=state["scaler"],
        kmeans=state["kmeans"],
        typical_shapes=np.asarray(state["typical_shapes"], dtype=np.float64),
        silhouette_by_k={int(k): float(v) for k, v in state["silhouette_by_k"].items()},
    )


def preprocessor_to_state(preprocessor: Preprocessor) -> dict[str, Any]:
    """The Preprocessor's settings and what it was fitted on, as JSON-ready data."""
    return {
        "config": asdict(preprocessor.config),
        "feature_names": list(preprocessor.feature_names),
        "fitted_on": preprocessor.fitted_on,
        "ntl_version": preprocessor.ntl_version,
    }


def preprocessor_from_state(state: dict[str, Any], clusters: ShapeClusters) -> Preprocessor:
    """Inverse of `preprocessor_to_state`, with the clustering read beside it."""
    from ntl.preprocess import PreprocessConfig, Preprocessor

    config = dict(state["config"])
    config["k_range"] = tuple(config["k_range"])
    return Preprocessor(
        config=PreprocessConfig(**config),
        clusters=clusters,
        feature_names=tuple(state["feature_names"]),
        fitted_on=dict(state["fitted_on"]),
        ntl_version=str(state["ntl_version"]),
    )


def save_preprocessor(store: ArtifactStore, preprocessor: Preprocessor) -> list[str]:
    """Write the fitted stage 02 (settings as JSON, clustering as skops); the names written."""
    store.write_json(PREPROCESSING_STATE, preprocessor_to_state(preprocessor))
    write_sklearn(store, PREPROCESSING_CLUSTERS, clusters_to_state(preprocessor.clusters))
    return [PREPROCESSING_STATE, PREPROCESSING_CLUSTERS]


def load_preprocessor(store: ArtifactStore) -> Preprocessor:
    """Read back what `save_preprocessor` wrote."""
    state = store.read_json(PREPROCESSING_STATE)
    clusters = clusters_from_state(read_sklearn(store, PREPROCESSING_CLUSTERS))
    try:
        return preprocessor_from_state(state, clusters)
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactIntegrityError(
            f"{store.path(PREPROCESSING_STATE)} is not a preprocessing state ({exc!r}); "
            "re-run 02_preprocessing_clustering"
        ) from None


# ------------------------------------------------------------------------------ models


def isolation_member_to_state(member: IsolationMember) -> dict[str, Any]:
    """One isolation forest and the ECDF that normalises its scores, skops-safe."""
    return {
        "key": member.key,
        "forest": member.forest,
        **member.normaliser.to_state(),
        "n_train": int(member.n_train),
    }


def isolation_member_from_state(state: dict[str, Any]) -> IsolationMember:
    """Inverse of `isolation_member_to_state`."""
    from ntl.models.isolation import IsolationMember, ScoreNormaliser

    return IsolationMember(
        key=str(state["key"]),
        forest=state["forest"],
        normaliser=ScoreNormaliser.from_state(state),
        n_train=int(state["n_train"]),
    )


def calibrator_to_state(calibrator: ScoreCalibrator) -> dict[str, Any]:
    """The calibration method and its fitted scikit-learn model."""
    return {"method": calibrator.method, "model": calibrator.model}


def calibrator_from_state(state: dict[str, Any]) -> ScoreCalibrator:
    """Inverse of `calibrator_to_state`."""
    from ntl.models.ensemble import ScoreCalibrator

    return ScoreCalibrator(method=str(state["method"]), model=state["model"])
