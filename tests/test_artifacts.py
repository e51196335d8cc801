"""The artifact store: round trips, hashes, atomic writes, helpful errors."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from ntl.artifacts import ARTIFACT_FORMAT, ArtifactStore, producer_of, sha256_file
from ntl.errors import (
    ArtifactError,
    ArtifactIntegrityError,
    ArtifactVersionError,
    MissingArtifactError,
)


@pytest.fixture
def store(tmp_path):
    return ArtifactStore(
        tmp_path / "run", notebook="02_preprocessing_clustering", parameters={"seed": 7}
    )


@pytest.fixture
def frame():
    index = pd.Index(["a", "b", "c"], name="CONS_NO")
    return pd.DataFrame(
        {"FLAG": pd.array([1, 0, None], dtype="Int8"), "2014-01-01": np.float32([1.5, np.nan, 0])},
        index=index,
    )


def test_parquet_round_trip_keeps_index_and_dtypes(store, frame):
    store.write_parquet("preprocessed.parquet", frame)
    back = store.read_parquet("preprocessed.parquet")
    pd.testing.assert_frame_equal(back, frame)


def test_json_text_csv_round_trips(store, frame):
    store.write_json("thresholds.json", {"threshold": np.float32(0.25), "n": np.int64(3)})
    store.write_text("model_card.md", "# card\n")
    store.write_csv("inspection_list.csv", frame.reset_index())
    assert store.read_json("thresholds.json") == {"threshold": 0.25, "n": 3}
    assert store.read_text("model_card.md") == "# card\n"
    assert pd.read_csv(store.path("inspection_list.csv"))["CONS_NO"].tolist() == ["a", "b", "c"]


def test_manifest_records_hash_size_writer_parameters(store, frame):
    path = store.write_parquet("preprocessed.parquet", frame)
    entry = store.record("preprocessed.parquet")
    assert entry["sha256"] == sha256_file(path)
    assert entry["size"] == path.stat().st_size
    assert entry["notebook"] == "02_preprocessing_clustering"
    assert entry["parameters"] == {"seed": 7}
    assert entry["written_at"].endswith("+00:00")
    manifest = json.loads(store.manifest_path.read_text())
    assert manifest["artifact_format"] == ARTIFACT_FORMAT


def test_tampered_artifact_is_refused_before_it_is_read(store):
    store.write_json("preprocessing.json", {"safe": True})
    path = store.path("preprocessing.json")
    path.write_bytes(path.read_bytes() + b"tampered")
    with pytest.raises(ArtifactIntegrityError, match=r"preprocessing\.json changed since"):
        store.read_json("preprocessing.json")


def test_unrecorded_file_is_refused(store):
    store.root.mkdir(parents=True)
    store.path("calibrator.skops").write_bytes(b"not written by the chain")
    with pytest.raises(ArtifactIntegrityError, match="is not recorded in"):
        store.read_bytes("calibrator.skops")


@pytest.mark.parametrize(
    ("name", "maker"),
    [
        ("consumption.parquet", "01_data_generation_eda"),
        ("preprocessed.parquet", "02_preprocessing_clustering"),
        ("model_isolation_cluster_3.skops", "03_modeling"),
        ("evaluation.json", "04_evaluation_risk"),
    ],
)
def test_missing_artifact_names_the_notebook_that_makes_it(store, name, maker):
    assert producer_of(name) == maker
    with pytest.raises(MissingArtifactError, match=f"run {maker} first"):
        store.read_bytes(name)


def test_crash_during_write_leaves_previous_file_intact(store, frame, monkeypatch):
    store.write_parquet("preprocessed.parquet", frame)
    before = store.path("preprocessed.parquet").read_bytes()
    record_before = store.record("preprocessed.parquet")

    def crash_midway(self, path, **kwargs):
        Path(path).write_bytes(b"half a parquet file")
        raise RuntimeError("power cut")

    with monkeypatch.context() as patched:
        patched.setattr(pd.DataFrame, "to_parquet", crash_midway)
        with pytest.raises(RuntimeError, match="power cut"):
            store.write_parquet("preprocessed.parquet", frame)
    assert store.path("preprocessed.parquet").read_bytes() == before
    assert store.record("preprocessed.parquet") == record_before
    assert [p.name for p in store.root.iterdir() if p.name.endswith(".tmp")] == []
    pd.testing.assert_frame_equal(store.read_parquet("preprocessed.parquet"), frame)


def test_figures_are_byte_identical_across_writes(store):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    first = store.path(store.write_figure("feature_importance.png", fig).name).read_bytes()
    second = store.write_figure("feature_importance.png", fig).read_bytes()
    plt.close(fig)
    assert first == second and first[:4] == b"\x89PNG"


def test_check_compatible_refuses_another_format(store, frame):
    with pytest.raises(MissingArtifactError, match="not an ntl artifacts folder"):
        store.check_compatible()
    store.write_parquet("consumption.parquet", frame)
    store.check_compatible()
    manifest = json.loads(store.manifest_path.read_text())
    manifest["artifact_format"] = ARTIFACT_FORMAT + 1
    store.manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(ArtifactVersionError, match=f"artifact format {ARTIFACT_FORMAT + 1}"):
        store.check_compatible()


@pytest.mark.parametrize("name", ["../escape.json", "sub/dir.json", "manifest.json", ""])
def test_names_must_be_plain_files(store, name):
    with pytest.raises(ArtifactError, match="plain file name"):
        store.path(name)
