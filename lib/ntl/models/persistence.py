"""Save and load a ModelBundle through the artifact store.

Files written (see DESIGN.md): ``model_isolation_cluster_{k}.joblib`` per cluster forest and
``model_isolation_cluster_global.joblib``; when labels allowed supervised models, also
``model_xgb.joblib`` (+ the native, version-portable ``model_xgb.json``), ``calibrator.joblib`` and
``model_baselines.joblib``; and ``metadata.json`` (library versions, parameters, features, training
sizes, theft rate, sha256 of the input ``preprocessed.parquet``, time per step).
"""

from __future__ import annotations

import platform
from typing import Any

import numpy as np
import pandas as pd
import sklearn
import xgboost as xgb

from ntl._version import __version__
from ntl.artifacts import ArtifactStore
from ntl.errors import ArtifactVersionError
from ntl.models.bundle import ModelBundle
from ntl.models.isolation import ClusterIsolation

BUNDLE_FORMAT = 1
INPUT_ARTIFACT = "preprocessed.parquet"


def isolation_file(key: str) -> str:
    """Artifact name of one isolation forest (``key`` is a cluster id or ``global``)."""
    return f"model_isolation_cluster_{key}.joblib"


def library_versions() -> dict[str, str]:
    """Versions that decide whether saved models can be loaded and give the same numbers."""
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "scikit-learn": sklearn.__version__,
        "xgboost": xgb.__version__,
        "ntl": __version__,
    }


def bundle_metadata(bundle: ModelBundle, store: ArtifactStore) -> dict[str, Any]:
    """metadata.json: versions, parameters, features, sizes, theft rate, input hash, timings."""
    input_hash = store.record(INPUT_ARTIFACT)["sha256"] if store.exists(INPUT_ARTIFACT) else None
    isolation = bundle.isolation
    return {
        "bundle_format": BUNDLE_FORMAT,
        "versions": library_versions(),
        "supervised": bundle.supervised,
        "ensemble_weight": bundle.ensemble_weight,
        "calibration": bundle.calibrator.method if bundle.calibrator else None,
        "feature_names": list(bundle.feature_names),
        "input": {"artifact": INPUT_ARTIFACT, "sha256": input_hash},
        "isolation": {
            "members": isolation.cluster_keys,
            "min_cluster_size": isolation.min_cluster_size,
            "training_customers": {k: m.n_train for k, m in isolation.members.items()},
            "fill_values": [float(v) for v in isolation.fill_values],
        },
        "baselines": sorted(bundle.baselines),
        **bundle.training_info,
    }


def save_model_bundle(bundle: ModelBundle, store: ArtifactStore) -> list[str]:
    """Write the bundle's files through `store`; returns the artifact names written."""
    written = []
    for key, member in bundle.isolation.members.items():
        store.write_joblib(isolation_file(key), member)
        written.append(isolation_file(key))
    if bundle.supervised:
        store.write_joblib("model_xgb.joblib", bundle.xgb)
        raw = bundle.xgb.get_booster().save_raw(raw_format="json")
        store.write_text("model_xgb.json", bytes(raw).decode("utf-8"))
        store.write_joblib("calibrator.joblib", bundle.calibrator)
        store.write_joblib("model_baselines.joblib", bundle.baselines)
        written += ["model_xgb.joblib", "model_xgb.json", "calibrator.joblib"]
        written.append("model_baselines.joblib")
    store.write_json("metadata.json", bundle_metadata(bundle, store))
    return [*written, "metadata.json"]


def load_model_bundle(store: ArtifactStore) -> ModelBundle:
    """Read back what `save_model_bundle` wrote (hashes checked by the store before unpickling)."""
    metadata = store.read_json("metadata.json")
    if metadata.get("bundle_format") != BUNDLE_FORMAT:
        raise ArtifactVersionError(
            f"{store.path('metadata.json')}: model bundle format {metadata.get('bundle_format')} "
            f"is not {BUNDLE_FORMAT}; re-run notebook 03_modeling"
        )
    info = metadata["isolation"]
    isolation = ClusterIsolation(
        feature_names=list(metadata["feature_names"]),
        fill_values=np.asarray(info["fill_values"], dtype=np.float32),
        min_cluster_size=int(info["min_cluster_size"]),
        members={key: store.read_joblib(isolation_file(key)) for key in info["members"]},
    )
    supervised = bool(metadata["supervised"])
    known = {"bundle_format", "versions", "calibration", "input", "isolation", "baselines"}
    known |= {"supervised", "ensemble_weight", "feature_names"}
    return ModelBundle(
        feature_names=list(metadata["feature_names"]),
        supervised=supervised,
        ensemble_weight=metadata["ensemble_weight"],
        isolation=isolation,
        xgb=store.read_joblib("model_xgb.joblib") if supervised else None,
        calibrator=store.read_joblib("calibrator.joblib") if supervised else None,
        baselines=store.read_joblib("model_baselines.joblib") if supervised else {},
        training_info={k: v for k, v in metadata.items() if k not in known},
    )
