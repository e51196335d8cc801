"""Runs that cannot mix: lineage checked on every read, stale outputs retired, manifest locked."""

from __future__ import annotations

import json
import multiprocessing

import pandas as pd
import pytest

from ntl.artifacts import ArtifactStore
from ntl.errors import ArtifactIntegrityError, ArtifactLineageError

N01, N02, N03, N04 = (
    "01_data_generation_eda",
    "02_preprocessing_clustering",
    "03_modeling",
    "04_evaluation_risk",
)


def frame(value: float) -> pd.DataFrame:
    return pd.DataFrame({"x": [value]}, index=pd.Index(["a"], name="CONS_NO"))


def chain(folder, seed: float) -> None:
    """A miniature chain: each stage reads the previous stage's artifact and writes its own."""
    ArtifactStore(folder, N01).write_parquet("consumption.parquet", frame(seed))
    s02 = ArtifactStore(folder, N02)
    s02.write_parquet("preprocessed.parquet", s02.read_parquet("consumption.parquet") * 2)
    s03 = ArtifactStore(folder, N03)
    s03.write_json(
        "metadata.json", {"mean": float(s03.read_parquet("preprocessed.parquet")["x"].iloc[0])}
    )
    s04 = ArtifactStore(folder, N04)
    s04.write_json("evaluation.json", s04.read_json("metadata.json"))


def test_each_artifact_records_the_hashes_it_was_made_from(tmp_path):
    chain(tmp_path, 1.0)
    manifest = ArtifactStore(tmp_path).manifest()["artifacts"]
    assert manifest["consumption.parquet"]["inputs"] == {}
    assert manifest["preprocessed.parquet"]["inputs"] == {
        "consumption.parquet": manifest["consumption.parquet"]["sha256"]
    }
    assert set(manifest["evaluation.json"]["inputs"]) == {"metadata.json"}


def test_a_stage_rerun_into_a_finished_folder_retires_the_later_stages(tmp_path):
    chain(tmp_path, 1.0)
    s02 = ArtifactStore(tmp_path, N02)
    s02.write_parquet("preprocessed.parquet", s02.read_parquet("consumption.parquet") * 3)
    names = set(ArtifactStore(tmp_path).manifest()["artifacts"])
    assert names == {"consumption.parquet", "preprocessed.parquet"}
    assert not (tmp_path / "metadata.json").exists()
    assert not (tmp_path / "evaluation.json").exists()


def test_notebook_01_starts_the_folder_clean(tmp_path):
    chain(tmp_path, 1.0)
    ArtifactStore(tmp_path, N01).write_parquet("ground_truth.parquet", frame(0))
    ArtifactStore(tmp_path, N01).write_parquet("consumption.parquet", frame(5))  # own data now
    assert set(ArtifactStore(tmp_path).manifest()["artifacts"]) == {"consumption.parquet"}
    assert not (tmp_path / "ground_truth.parquet").exists()  # the synthetic truth is gone


def test_a_mixed_folder_is_refused_naming_both_files_and_what_to_rerun(tmp_path):
    """Models of one run beside features of another (what a rerun of 02 by hand left before)."""
    chain(tmp_path, 1.0)
    manifest_path = tmp_path / "manifest.json"
    kept = json.loads(manifest_path.read_text())["artifacts"]["metadata.json"]
    metadata_bytes = (tmp_path / "metadata.json").read_bytes()
    s02 = ArtifactStore(tmp_path, N02)
    s02.write_parquet("preprocessed.parquet", s02.read_parquet("consumption.parquet") * 3)
    # Put the old 03 output back, manifest entry included: two runs in one folder.
    (tmp_path / "metadata.json").write_bytes(metadata_bytes)
    manifest = json.loads(manifest_path.read_text())
    manifest["artifacts"]["metadata.json"] = kept
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(ArtifactLineageError) as caught:
        ArtifactStore(tmp_path, "score").read_json("metadata.json")
    message = str(caught.value)
    assert "mixes runs: metadata.json (written by 03_modeling" in message
    assert "was made from preprocessed.parquet" in message
    assert "rerun the chain from 03_modeling (python -m ntl run --from 03" in message


def test_siblings_from_two_executions_of_one_notebook_are_refused(tmp_path):
    ArtifactStore(tmp_path, N01).write_parquet("consumption.parquet", frame(1))
    second = ArtifactStore(tmp_path, N01)
    second.session = "another-execution"
    second._retired = True  # as if written by an older ntl that never retired anything
    second.write_parquet("ground_truth.parquet", frame(0))
    reader = ArtifactStore(tmp_path, N04)
    reader.read_parquet("consumption.parquet")
    with pytest.raises(ArtifactLineageError, match="written by two different executions of 01"):
        reader.read_parquet("ground_truth.parquet")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[]", r"manifest\.json is not an ntl manifest \(a JSON list"),
        ('{"artifacts": 3}', r"is not an ntl manifest \(a JSON dict"),
        ("{not json", r"manifest\.json is not valid JSON"),
        (b"\xff\xfe", r"manifest\.json is not valid JSON"),
    ],
)
def test_a_manifest_that_is_not_one_is_named(tmp_path, content, message):
    path = tmp_path / "manifest.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(ArtifactIntegrityError, match=message):
        ArtifactStore(tmp_path).check_compatible()


def _write_many(folder: str, worker: int) -> None:
    store = ArtifactStore(folder, "unknown")
    for i in range(15):
        store.write_json(f"w{worker}_{i}.json", {"i": i})


def test_concurrent_writers_lose_no_manifest_entry(tmp_path):
    """Read-modify-write under the lock: 4 processes x 15 artifacts, 60 entries."""
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_write_many, args=(str(tmp_path), w)) for w in range(4)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=120)
        assert process.exitcode == 0
    assert len(ArtifactStore(tmp_path).manifest()["artifacts"]) == 60


def test_verify_checks_every_artifact(tmp_path):
    chain(tmp_path, 1.0)
    assert ArtifactStore(tmp_path).verify() == [
        "consumption.parquet",
        "evaluation.json",
        "metadata.json",
        "preprocessed.parquet",
    ]
    (tmp_path / "metadata.json").write_text("{}")
    with pytest.raises(ArtifactIntegrityError, match=r"metadata\.json changed since"):
        ArtifactStore(tmp_path).verify()
