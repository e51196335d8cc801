"""The notebook chain on the Dask path: the smoke chain with dask_scheduler=local.

Each notebook starts its own LocalCluster on loopback (one single-threaded worker per core) and
closes it when its kernel exits. 3,000 customers in parts of 1,000, so stage 02 really runs part
by part; the checks: the notebooks say which path ran and on how many workers, the artifacts are
the chain's contract with the readings as a partitioned dataset, and stage 02 on the cluster
equals stage 02 in memory on the same customers (split first, fitted on training customers).
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from ntl.artifacts import ArtifactStore
from ntl.distributed.chain import (
    CONSUMPTION_LISTING,
    CONSUMPTION_PARTS,
    PREPROCESSED_LISTING,
    read_consumption,
    read_preprocessed,
)
from ntl.errors import ArtifactIntegrityError
from ntl.frame import labels, last_reading_dates
from ntl.persist import load_preprocessor
from ntl.preprocess import fit_transform
from ntl.split import split_customers
from tests.conftest import smoke_run
from tests.test_chain import CONTRACT

pytestmark = pytest.mark.chain

N_CUSTOMERS, PART_ROWS = 3000, 1000
NOTEBOOKS = (
    "01_data_generation_eda",
    "02_preprocessing_clustering",
    "03_modeling",
    "04_evaluation_risk",
)


@pytest.fixture(scope="module")
def dask_run(tmp_path_factory):
    """The smoke chain on the Dask path; the artifacts and reports folders."""
    tmp = tmp_path_factory.mktemp("dask_chain")
    artifacts = smoke_run(
        tmp, dask_scheduler="local", dask_workers=2, n_customers=N_CUSTOMERS, part_rows=PART_ROWS
    )
    return artifacts, tmp / "reports"


def outputs(notebook_path) -> str:
    """Every text output of an executed notebook, joined."""
    cells = json.loads(notebook_path.read_text())["cells"]
    texts = []
    for cell in cells:
        for output in cell.get("outputs", []):
            texts.append("".join(output.get("text", "")))
            texts.append("".join(output.get("data", {}).get("text/plain", "")))
    return "\n".join(texts)


def test_the_notebooks_say_which_path_ran(dask_run):
    _, reports = dask_run
    said = {name: outputs(reports / f"{name}.ipynb") for name in NOTEBOOKS}
    workers = 2  # dask_workers; one per core by default
    for name in NOTEBOOKS:
        found = re.search(r"Ran on Dask at tcp://127\.0\.0\.1:\d+: (\d+) workers", said[name])
        assert found, name
        assert int(found.group(1)) == workers
    assert "the features stay in 3 parquet parts in preprocessed.parts/" in said["03_modeling"]
    assert "trained there with xgboost.dask" in said["03_modeling"]
    assert "the readings stay in 3 parquet parts" in said["01_data_generation_eda"]
    assert f"seeded sample of {N_CUSTOMERS:,} of {N_CUSTOMERS:,} customers" in said[NOTEBOOKS[0]]


def test_the_contract_with_the_readings_as_parts(dask_run):
    artifacts, _ = dask_run
    store = ArtifactStore(artifacts)
    expected = [name for name in CONTRACT if name != "consumption.parquet"]
    missing = [name for name in expected if not store.exists(name)]
    assert not missing
    assert not (artifacts / "consumption.parquet").exists()
    assert store.exists(CONSUMPTION_LISTING)
    dataset = read_consumption(ArtifactStore(artifacts, notebook="reader"))
    assert dataset.part_rows == [PART_ROWS] * 3
    hidden = [p.name for p in artifacts.iterdir() if p.name.startswith(".") and p.is_dir()]
    assert hidden == []  # staged ground truth removed, no staging folder left
    assert store.verify()  # hashes and lineage of every artifact
    ranked = pd.read_csv(artifacts / "inspection_list.csv", dtype={"CONS_NO": str})
    assert len(ranked) == N_CUSTOMERS
    frame = dataset.read_all()
    last = last_reading_dates(frame).dt.strftime("%Y-%m-%d")
    shown = ranked.set_index("CONS_NO")["last_reading"]
    pd.testing.assert_series_equal(
        shown.reindex(frame.index).fillna(""), last.fillna(""), check_names=False
    )
    evaluation = json.loads((artifacts / "evaluation.json").read_text())
    assert evaluation["data"]["n_customers"] == N_CUSTOMERS
    assert evaluation["data"]["n_days"] == frame.shape[1] - 1


def test_stage_02_on_the_cluster_equals_the_in_memory_stage(dask_run):
    """Split first, the clustering fitted on the training customers only: the same split and
    the same preprocessed frame as the in-memory functions give on the same readings."""
    artifacts, _ = dask_run
    store = ArtifactStore(artifacts, notebook="reader")
    frame = read_consumption(store).read_all()
    split = store.read_parquet("split.parquet")
    expected_split = split_customers(labels(frame), fractions=(0.6, 0.2, 0.2), seed=42)
    pd.testing.assert_frame_equal(split, expected_split)
    fitted = load_preprocessor(store)
    train = split.index[split["split"] == "train"]
    preprocessor, expected = fit_transform(frame, fitted.config, seed=42, fit_on=train)
    got = store.read_parquet("preprocessed.parquet")
    pd.testing.assert_frame_equal(got, expected, check_index_type=False)
    assert fitted.fitted_on["customers"] == len(train)
    np.testing.assert_array_equal(
        fitted.clusters.kmeans.cluster_centers_, preprocessor.clusters.kmeans.cluster_centers_
    )


def test_03_trained_xgboost_with_xgboost_dask_on_the_parts(dask_run):
    """03 on the Dask path trains on the parts 02 kept (their listing is among its inputs),
    with xgboost.dask, and writes what 04 reads: the out-of-fold scores of the labelled
    training customers and the cross-fitted validation rows."""
    artifacts, _ = dask_run
    store = ArtifactStore(artifacts, notebook="reader")
    parts = read_preprocessed(store)
    assert parts.part_rows == [PART_ROWS] * 3
    pd.testing.assert_frame_equal(parts.read_all(), store.read_parquet("preprocessed.parquet"))
    metadata = store.read_json("metadata.json")
    assert metadata["trained_with"]["xgboost"] == "xgboost.dask"
    assert metadata["trained_with"]["workers"] == 2
    assert metadata["raw_readings"] is None  # the readings stayed on the workers
    assert PREPROCESSED_LISTING in store.record("model_xgb.json")["inputs"]
    split = store.read_parquet("split.parquet")["split"]
    oof = store.read_parquet("oof_scores.parquet")
    flag = store.read_parquet("preprocessed.parquet")["FLAG"]
    labelled = flag.index[flag.notna()]
    expected = split.loc[labelled].isin(["train", "validation"])
    assert sorted(oof.index) == sorted(expected.index[expected])
    evaluation = json.loads((artifacts / "evaluation.json").read_text())
    assert evaluation["data"]["n_customers"] == N_CUSTOMERS
    card = (artifacts / "model_card.md").read_text()
    assert "- Trained on a Dask cluster (2 workers): XGBoost with `xgboost.dask`" in card


def test_a_replaced_parts_folder_is_refused(dask_run, tmp_path):
    import shutil

    artifacts, _ = dask_run
    copy = tmp_path / "artifacts"
    shutil.copytree(artifacts, copy)
    listing = copy / CONSUMPTION_PARTS / "_dataset.json"
    listing.write_text(listing.read_text().replace('"synthetic": true', '"synthetic": false'))
    with pytest.raises(ArtifactIntegrityError, match="is not the dataset"):
        read_consumption(ArtifactStore(copy, notebook="reader"))


def test_the_run_folder_serves_the_scorer_tracking_and_outcomes(dask_run, tmp_path):
    """What reads a run folder after the chain works on one whose readings are parts."""
    from ntl.models import load_model_bundle
    from ntl.outcomes import known_customers
    from ntl.score import score_input
    from ntl.tracking import data_sha256

    artifacts, _ = dask_run
    store = ArtifactStore(artifacts, notebook="reader")
    frame = read_consumption(store).read_all()
    path = tmp_path / "new.parquet"
    frame.iloc[:300].to_parquet(path)
    scored = score_input(path, artifacts)
    ranked = scored.inspection_list.set_index("CONS_NO")
    preprocessed = store.read_parquet("preprocessed.parquet").iloc[:300]
    expected = load_model_bundle(store).score(preprocessed)["risk_score"]
    np.testing.assert_allclose(ranked.loc[expected.index, "risk_score"], expected, rtol=1e-6)
    assert list(known_customers(artifacts)) == list(frame.index)
    assert (
        data_sha256(artifacts, {"source": "synthetic"})
        == store.record(CONSUMPTION_LISTING)["sha256"]
    )


def test_a_rerun_in_memory_retires_the_parts(dask_run, tmp_path):
    """01 rerun in memory into the folder: its first write retires the listing and the parts
    folder it pinned, so no reading of the Dask run is left to mix with the new one."""
    import shutil

    artifacts, _ = dask_run
    shutil.copytree(artifacts, tmp_path / "artifacts")
    smoke_run(tmp_path, stop="01")
    store = ArtifactStore(tmp_path / "artifacts")
    assert store.exists("consumption.parquet")
    assert not store.exists(CONSUMPTION_LISTING)
    assert not (tmp_path / "artifacts" / CONSUMPTION_PARTS).exists()
    assert not store.exists(PREPROCESSED_LISTING)  # 02's parts went with their listing
    assert not (tmp_path / "artifacts" / "preprocessed.parts").exists()
    assert not store.exists("preprocessed.parquet")  # later notebooks' outputs retired too


def test_monitor_reads_the_training_readings_from_the_parts(dask_run, tmp_path, monkeypatch):
    from ntl import cli
    from ntl.monitor import reading_shares

    monkeypatch.setenv("NTL_PROJECT_DIR", str(tmp_path))
    monkeypatch.setenv("NTL_TRACKING", "0")
    artifacts, _ = dask_run
    frame = read_consumption(ArtifactStore(artifacts, notebook="reader")).read_all()
    month = tmp_path / "month.parquet"
    frame.iloc[:1000].to_parquet(month)
    out = tmp_path / "report"
    assert cli.main(["monitor", str(month), "--artifacts", str(artifacts), "--out", str(out)]) in (
        0,
        3,
    )
    report = json.loads((out / "monitor.json").read_text())
    assert report["readings"]["training"] == pytest.approx(reading_shares(frame))
    assert report["customers"]["n_trained"] == N_CUSTOMERS
    assert report["customers"]["vanished"] == N_CUSTOMERS - 1000
