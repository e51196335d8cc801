"""Nothing read from an artifact folder can run code: planted pickles, untrusted skops types."""

from __future__ import annotations

import json
import pickle
import re
from pathlib import Path

import numpy as np
import pytest

from ntl import persist
from ntl.artifacts import ArtifactStore, sha256_file
from ntl.errors import ArtifactIntegrityError
from ntl.run import ROOT

PICKLE_NAMES = (
    "model_xgb.joblib",
    "preprocessing.joblib",
    "calibrator.joblib",
    "model_baselines.joblib",
    "model_isolation_cluster_global.joblib",
)


class _Planted:
    """Unpickling this writes the marker file: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('code ran')",))


def plant_pickles(folder: Path, marker: Path) -> None:
    """Malicious pickles under every name the chain ever used, with sha256s in the manifest."""
    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    for name in PICKLE_NAMES:
        path = folder / name
        path.write_bytes(pickle.dumps(_Planted(marker)))
        manifest["artifacts"][name] = {
            **manifest["artifacts"].get("metadata.json", {}),
            "sha256": sha256_file(path),
            "size": path.stat().st_size,
            "notebook": "03_modeling",
        }
    manifest_path.write_text(json.dumps(manifest, indent=2))


plant_pickles.__test__ = False


def test_no_pickle_loader_in_the_package():
    """The hook's rule, as a test: lib/ntl never calls joblib.load or pickle.load(s)."""
    pattern = re.compile(r"joblib\.load|pickle\.load|cloudpickle|dill\.load")
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "lib" / "ntl").rglob("*.py")
        if pattern.search(path.read_text())
    ]
    assert offenders == []


def test_skops_file_with_an_untrusted_type_is_refused(tmp_path):
    store = ArtifactStore(tmp_path, notebook="03_modeling")
    persist.write_sklearn(store, "calibrator.skops", {"method": "isotonic", "model": exec})
    with pytest.raises(
        ArtifactIntegrityError, match=r"calibrator\.skops holds types ntl does not "
    ):
        persist.read_sklearn(store, "calibrator.skops")


def test_a_pickle_under_a_skops_name_is_refused_not_loaded(tmp_path):
    marker = tmp_path / "marker"
    store = ArtifactStore(tmp_path, notebook="03_modeling")
    store.write_bytes("calibrator.skops", pickle.dumps(_Planted(marker)))
    with pytest.raises(ArtifactIntegrityError, match=r"calibrator\.skops is not a skops file"):
        persist.read_sklearn(store, "calibrator.skops")
    assert not marker.exists()


def test_a_file_that_is_not_an_xgboost_model_is_named(tmp_path):
    with pytest.raises(ArtifactIntegrityError, match=r"model_xgb\.json is not an XGBoost model"):
        persist.xgb_from_bytes(b'{"not": "a model"}', str(tmp_path / "model_xgb.json"))
    with pytest.raises(ArtifactIntegrityError, match=r"is not an XGBoost model"):
        persist.xgb_from_bytes(b"\x80\x04garbage", "model_xgb.json")


def test_sklearn_round_trip_keeps_predictions():
    from sklearn.isotonic import IsotonicRegression

    score = np.linspace(0, 1, 50)
    model = IsotonicRegression(out_of_bounds="clip").fit(score, score > 0.5)
    back = persist.sklearn_from_bytes(persist.sklearn_to_bytes({"model": model}), "x")["model"]
    np.testing.assert_array_equal(back.predict(score), model.predict(score))
