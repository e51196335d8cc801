"""The whole notebook chain on params/smoke.yaml: contract, metrics, determinism, failures.

These run real notebooks through papermill (a few seconds each), so the runs are shared by the
tests of this module through module-scoped fixtures.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ntl.artifacts import ArtifactStore, sha256_file
from ntl.run import ChainError
from tests.conftest import SMOKE, smoke_run

pytestmark = pytest.mark.chain

CONTRACT = [
    "consumption.parquet",
    "ground_truth.parquet",
    "preprocessed.parquet",
    "preprocessing.json",
    "preprocessing_clusters.skops",
    "split.parquet",
    "model_xgb.json",
    "calibrator.skops",
    "model_baselines.skops",
    "oof_scores.parquet",
    "thresholds.json",
    "metadata.json",
    "feature_importance.png",
    "evaluation.json",
    "inspection_list.csv",
    "inspection_list.parquet",
    "drift_baseline.json",
    "model_card.md",
]


def test_scores(artifacts: Path) -> pd.DataFrame:
    """The chain's own scores of the test customers, as the saved bundle gives them."""
    from ntl.models import load_model_bundle

    store = ArtifactStore(artifacts)
    split = store.read_parquet("split.parquet")
    preprocessed = store.read_parquet("preprocessed.parquet")
    test_ids = split.index[split["split"] == "test"]
    return load_model_bundle(store).score(preprocessed.loc[test_ids])


test_scores.__test__ = False  # a helper, not a test


@pytest.fixture(scope="module")
def run_a(smoke_artifacts) -> Path:
    """The session's smoke run (tests/conftest.py), shared with the web app's tests."""
    return smoke_artifacts


@pytest.fixture(scope="module")
def run_b(tmp_path_factory) -> Path:
    """A second run with the same seed, as far as the models (04 only reads them)."""
    return smoke_run(tmp_path_factory.mktemp("smoke_b"), stop="03")


def test_contract_files_exist_and_are_recorded(run_a):
    store = ArtifactStore(run_a)
    manifest = store.manifest()["artifacts"]
    for name in CONTRACT:
        assert (run_a / name).exists(), name
        assert manifest[name]["sha256"] == sha256_file(run_a / name), name
    isolation = [p.name for p in run_a.glob("model_isolation_cluster_*.skops")]
    assert isolation, "no per-cluster isolation forest was written"
    reports = run_a.parent / "reports"
    for stem in ("01_data_generation_eda", "02_preprocessing_clustering", "03_modeling"):
        assert (reports / f"{stem}.html").stat().st_size > 10_000


def test_preprocessed_follows_the_contract(run_a):
    store = ArtifactStore(run_a)
    consumption = store.read_parquet("consumption.parquet")
    preprocessed = store.read_parquet("preprocessed.parquet")
    assert list(preprocessed.columns[:3]) == ["FLAG", "quality_flag", "cluster"]
    assert preprocessed.index.name == "CONS_NO"
    assert preprocessed.index.equals(consumption.index)
    assert set(preprocessed["quality_flag"]) <= {"HIGH", "LOW"}
    assert all(preprocessed[c].dtype == np.float32 for c in preprocessed.columns[3:])


def test_recorded_metrics_are_sane(run_a):
    store = ArtifactStore(run_a)
    evaluation = json.loads(store.read_text("evaluation.json"))
    flat = json.dumps(evaluation)
    assert "roc_auc" in flat and "pr_auc" in flat
    roc = _find(evaluation, "roc_auc")
    assert 0.6 < roc <= 1.0, f"test ROC-AUC {roc} is no better than chance on synthetic data"
    thresholds = store.read_json("thresholds.json")
    assert thresholds, "thresholds.json is empty"
    metadata = store.read_json("metadata.json")
    assert "xgboost" in json.dumps(metadata)
    ranked = pd.read_csv(run_a / "inspection_list.csv", dtype={"CONS_NO": str})
    consumption = store.read_parquet("consumption.parquet", columns=["FLAG"])
    assert len(ranked) == len(consumption)
    assert ranked["risk_score"].is_monotonic_decreasing
    assert set(ranked["tier"]) <= {"high", "medium", "low"}
    card = store.read_text("model_card.md")
    assert "not proof of theft" in card.lower() or "not proof" in card.lower()


def _find(tree, key):
    """First value under `key` anywhere in a nested dict/list (e.g. the test ROC-AUC)."""
    if isinstance(tree, dict):
        if key in tree and isinstance(tree[key], (int, float)):
            return tree[key]
        for value in tree.values():
            found = _find(value, key)
            if found is not None:
                return found
    if isinstance(tree, list):
        for value in tree:
            found = _find(value, key)
            if found is not None:
                return found
    return None


def test_same_seed_same_artifacts(run_a, run_b):
    for name in ("consumption.parquet", "preprocessed.parquet", "split.parquet"):
        assert sha256_file(run_a / name) == sha256_file(run_b / name), name
    pd.testing.assert_frame_equal(test_scores(run_a), test_scores(run_b))


def test_score_cli_reproduces_the_chain(run_a, tmp_path):
    """`ntl score` on the chain's own customers gives the chain's scores -- out of training.

    The chain's list scores training customers out-of-fold (``oof_scores.parquet``: a model that
    never saw their label), while `ntl score` treats every customer as new and scores all of them
    with the final models. The two agree exactly on validation and test customers, whom the final
    models never trained on, so the comparison is made there.
    """
    store = ArtifactStore(run_a)
    consumption = store.read_parquet("consumption.parquet")
    raw = tmp_path / "meter_export.parquet"
    consumption.to_parquet(raw)
    out = tmp_path / "scored.csv"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "ntl",
            "score",
            str(raw),
            "--artifacts",
            str(run_a),
            "--out",
            str(out),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    scored = pd.read_csv(out, dtype={"CONS_NO": str}).set_index("CONS_NO")
    chain = pd.read_csv(run_a / "inspection_list.csv", dtype={"CONS_NO": str}).set_index("CONS_NO")
    split = (
        chain["split"]
        if "split" in chain.columns
        else store.read_parquet("split.parquet")["split"].reindex(chain.index)
    )
    unseen = chain.loc[(split != "train").to_numpy()]
    assert 0 < len(unseen) < len(chain)
    np.testing.assert_allclose(
        scored.loc[unseen.index, "risk_score"], unseen["risk_score"], rtol=1e-6, atol=1e-7
    )
    assert (scored.loc[unseen.index, "tier"] == unseen["tier"]).all()


def test_unlabeled_export_runs_end_to_end(run_a, tmp_path):
    """A meter export with no FLAG column: ranking by anomaly only, every notebook still runs.

    It runs into a copy of a finished synthetic run, as the README's own-data command does after
    `make run-all`: the synthetic ground truth and the old models must not survive into it.
    """
    consumption = ArtifactStore(run_a).read_parquet("consumption.parquet")
    export = tmp_path / "unlabeled.csv"
    consumption.drop(columns="FLAG").to_csv(export)
    shutil.copytree(run_a, tmp_path / "artifacts")
    artifacts = smoke_run(tmp_path, source="file", data_path=str(export))
    assert not (artifacts / "ground_truth.parquet").exists()
    store = ArtifactStore(artifacts)
    store.verify()  # one run: every file present, hashed and of one lineage
    assert "come from synthetic data" not in store.read_text("model_card.md")
    written_by_01 = [
        entry for entry in store.manifest()["artifacts"].values()
        if entry["notebook"] == "01_data_generation_eda"
    ]  # fmt: skip
    assert {entry["parameters"]["source"] for entry in written_by_01} == {"file"}
    assert store.read_parquet("consumption.parquet")["FLAG"].isna().all()
    assert store.read_json("metadata.json")["supervised"] is False
    assert not (artifacts / "model_xgb.json").exists()
    ranked = pd.read_csv(artifacts / "inspection_list.csv")
    assert len(ranked) == len(consumption)
    assert ranked["risk_score"].notna().all()
    assert (artifacts / "model_card.md").exists()


def test_real_chain_fails_fast(tmp_path):
    broken = tmp_path / "broken.csv"
    broken.write_text("CONS_NO,FLAG\n")  # a header and no day columns: 01 cannot load it
    with pytest.raises(ChainError, match="01_data_generation_eda failed"):
        smoke_run(tmp_path, source="file", data_path=str(broken))
    assert (tmp_path / "reports" / "01_data_generation_eda.ipynb").exists()
    assert not (tmp_path / "reports" / "02_preprocessing_clustering.ipynb").exists()
    assert not (tmp_path / "artifacts" / "consumption.parquet").exists()


def _cli_run(tmp_path, *sets: str) -> subprocess.CompletedProcess:
    args = [sys.executable, "-m", "ntl", "run", "--params", str(SMOKE), "--no-html", "--to", "01"]
    for pair in (*sets, f"artifacts_dir={tmp_path / 'a'}", f"reports_dir={tmp_path / 'r'}"):
        args += ["--set", pair]
    return subprocess.run(args, capture_output=True, text=True, check=False)


def test_cli_exit_code_on_failure(tmp_path):
    broken = tmp_path / "broken.csv"
    broken.write_text("CONS_NO,FLAG\n")
    completed = _cli_run(tmp_path, "source=file", f"data_path={broken}")
    assert completed.returncode == 1
    assert "01_data_generation_eda failed" in completed.stderr
    assert "broken.csv" in completed.stderr


def test_a_missing_data_file_is_refused_before_01(tmp_path):
    completed = _cli_run(tmp_path, "source=file", f"data_path={tmp_path / 'missing.csv'}")
    assert completed.returncode == 2
    assert completed.stderr.strip().splitlines() == [
        f"error: invalid parameter(s): data_path {tmp_path / 'missing.csv'} does not exist "
        "(source is 'file')"
    ]
    assert not (tmp_path / "a").exists() and not (tmp_path / "r").exists()
