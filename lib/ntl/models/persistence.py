"""Save and load a ModelBundle through the artifact store.

Files written (see DESIGN.md): ``model_isolation_cluster_{k}.skops`` per cluster forest and
``model_isolation_cluster_global.skops``; when labels allowed supervised models, also
``model_xgb.json`` (XGBoost's native model), ``calibrator.skops`` and ``model_baselines.skops``,
and ``model_raw_readings.json`` when 03 fitted the raw-readings baseline;
and ``metadata.json`` (library versions, parameters, features, training sizes, theft rate, sha256
of the input ``preprocessed.parquet``, time per step). No file is a pickle: each object goes
through its ``to_state`` / ``from_state`` pair in ``ntl.persist``.
"""

from __future__ import annotations

import platform
from typing import Any

import numpy as np
import pandas as pd
import sklearn
import xgboost as xgb

from ntl import persist
from ntl._version import __version__
from ntl.artifacts import ArtifactStore
from ntl.errors import ArtifactVersionError
from ntl.models.bundle import ModelBundle
from ntl.models.detectors import DETECTOR_KINDS, detector_from_state, detector_to_state
from ntl.models.isolation import ClusterIsolation
from ntl.models.readings import ReadingsBaseline, ReadingsLayout

BUNDLE_FORMAT = 2  # 2: no pickles
INPUT_ARTIFACT = "preprocessed.parquet"


def isolation_file(key: str) -> str:
    """Artifact name of one isolation forest (``key`` is a cluster id or ``global``)."""
    return f"model_isolation_cluster_{key}.skops"


def detector_file(kind: str, key: str) -> str:
    """Artifact name of one label-free detector beside the forests (``ntl.models.detectors``)."""
    return f"model_{kind}_cluster_{key}.skops"


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
        "detectors": {
            kind: {
                "members": model.cluster_keys,
                "min_cluster_size": model.min_cluster_size,
                "fill_values": [float(v) for v in model.fill_values],
            }
            for kind, model in bundle.detectors.items()
        },
        "raw_readings": bundle.readings.layout.to_dict() if bundle.readings else None,
        **bundle.training_info,
    }


def save_model_bundle(bundle: ModelBundle, store: ArtifactStore) -> list[str]:
    """Write the bundle's files through `store`; returns the artifact names written."""
    written = []
    for key, member in bundle.isolation.members.items():
        persist.write_sklearn(store, isolation_file(key), persist.isolation_member_to_state(member))
        written.append(isolation_file(key))
    for kind, model in bundle.detectors.items():
        for key, member in model.members.items():
            name = detector_file(kind, key)
            persist.write_sklearn(store, name, detector_to_state(member))
            written.append(name)
    if bundle.supervised:
        raw = persist.xgb_to_bytes(bundle.xgb)
        store.write_bytes(persist.XGB_MODEL, raw)
        persist.write_sklearn(
            store, persist.CALIBRATOR, persist.calibrator_to_state(bundle.calibrator)
        )
        persist.write_sklearn(store, persist.BASELINES, dict(bundle.baselines))
        written += [persist.XGB_MODEL, persist.CALIBRATOR, persist.BASELINES]
        if bundle.readings is not None:
            store.write_bytes(
                persist.RAW_READINGS_MODEL, persist.xgb_to_bytes(bundle.readings.model)
            )
            written.append(persist.RAW_READINGS_MODEL)
    store.write_json("metadata.json", bundle_metadata(bundle, store))
    return [*written, "metadata.json"]


def load_model_bundle(store: ArtifactStore, *, baselines: bool = True) -> ModelBundle:
    """Read back what `save_model_bundle` wrote: hashes and lineage checked, nothing unpickled.

    ``baselines=False`` skips the models kept for the reviewer's comparison: the baselines, the
    raw-readings model and the One-Class SVM and autoencoder detectors (scoring never uses
    them; reading them through skops costs about half a second).
    """
    metadata = store.read_json("metadata.json")
    if not isinstance(metadata, dict) or metadata.get("bundle_format") != BUNDLE_FORMAT:
        found = metadata.get("bundle_format") if isinstance(metadata, dict) else None
        raise ArtifactVersionError(
            f"{store.path('metadata.json')}: model bundle format {found} "
            f"is not {BUNDLE_FORMAT}; re-run notebook 03_modeling"
        )
    info = metadata["isolation"]
    members = {
        key: persist.isolation_member_from_state(persist.read_sklearn(store, isolation_file(key)))
        for key in info["members"]
    }
    isolation = ClusterIsolation(
        feature_names=list(metadata["feature_names"]),
        fill_values=np.asarray(info["fill_values"], dtype=np.float32),
        min_cluster_size=int(info["min_cluster_size"]),
        members=members,
    )
    supervised = bool(metadata["supervised"])
    known = {"bundle_format", "versions", "calibration", "input", "isolation", "baselines"}
    known |= {"raw_readings", "detectors"}
    known |= {"supervised", "ensemble_weight", "feature_names"}
    xgb_model = calibrator = None
    baseline_models: dict[str, Any] = {}
    readings = None
    if supervised:
        source = str(store.path(persist.XGB_MODEL))
        xgb_model = persist.xgb_from_bytes(store.read_bytes(persist.XGB_MODEL), source)
        calibrator = persist.calibrator_from_state(persist.read_sklearn(store, persist.CALIBRATOR))
        if baselines:
            baseline_models = persist.read_sklearn(store, persist.BASELINES)
            readings = _load_readings(store, metadata.get("raw_readings"))
    return ModelBundle(
        feature_names=list(metadata["feature_names"]),
        supervised=supervised,
        ensemble_weight=metadata["ensemble_weight"],
        isolation=isolation,
        xgb=xgb_model,
        calibrator=calibrator,
        baselines=baseline_models,
        readings=readings,
        detectors=(
            _load_detectors(store, metadata.get("detectors") or {}, isolation.feature_names)
            if baselines
            else {}
        ),
        training_info={k: v for k, v in metadata.items() if k not in known},
    )


def _load_readings(store: ArtifactStore, layout: dict[str, int] | None) -> ReadingsBaseline | None:
    """The raw-readings baseline from its XGBoost JSON, or None when 03 did not fit one."""
    if layout is None:
        return None
    source = str(store.path(persist.RAW_READINGS_MODEL))
    model = persist.xgb_from_bytes(store.read_bytes(persist.RAW_READINGS_MODEL), source)
    return ReadingsBaseline(ReadingsLayout(**{k: int(v) for k, v in layout.items()}), model)


def _load_detectors(
    store: ArtifactStore, recorded: dict[str, dict], feature_names: list[str]
) -> dict[str, ClusterIsolation]:
    """The label-free detectors beside the forests, as metadata.json lists them."""
    detectors = {}
    for kind in sorted(recorded, key=DETECTOR_KINDS.index):  # 03's order (JSON sorts the keys)
        info = recorded[kind]
        members = {
            key: detector_from_state(persist.read_sklearn(store, detector_file(kind, key)))
            for key in info["members"]
        }
        detectors[kind] = ClusterIsolation(
            feature_names=list(feature_names),
            fill_values=np.asarray(info["fill_values"], dtype=np.float32),
            min_cluster_size=int(info["min_cluster_size"]),
            members=members,
        )
    return detectors
