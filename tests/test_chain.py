"""The whole notebook chain on params/smoke.yaml: contract, metrics, determinism, failures.

These run real notebooks through papermill (a few seconds each), so the runs are shared by the
tests of this module through module-scoped fixtures.
"""

from __future__ import annotations

import json
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
    "preprocessing.joblib",
    "split.parquet",
    "model_xgb.joblib",
    "model_xgb.json",
    "calibrator.joblib",
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
    isolation = [p.name for p in run_a.glob("model_isolation_cluster_*.joblib")]
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
    assert set(ranked["tier"]) <= {"high", "medium", "low", "known theft"}
    # known thieves apart and last; the customers to inspect first, by risk, tiers sized to
    # the capacity among them (observed: 333 of 493 high-tier customers already known thieves)
    known = ranked["label"].eq(1).to_numpy()
    assert (ranked["known_case"].to_numpy() == known).all()
    assert (ranked.loc[known, "tier"] == "known theft").all()
    assert known[: (~known).sum()].sum() == 0  # every known case after every lead
    assert ranked.loc[~known, "risk_score"].is_monotonic_decreasing
    assert ranked.loc[known, "risk_score"].is_monotonic_decreasing
    assert ranked["rank"].tolist() == list(range(1, len(ranked) + 1))
    capacity = thresholds["capacity"]["inspection_share"] * len(ranked)
    assert (ranked["tier"] == "high").sum() == int(np.ceil(capacity - 1e-9))
    assert (ranked.loc[ranked["tier"] == "high", "rank"] <= capacity + 1).all()
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
    from ntl.thresholds import assign_tiers

    # ntl score tiers by 03's threshold; the chain's list re-sizes its tiers to the capacity
    # among customers to inspect (known thieves apart), so compare with the threshold tiers
    expected = assign_tiers(unseen["risk_score"], store.read_json("thresholds.json"))
    assert (scored.loc[unseen.index, "tier"] == expected.astype(str)).all()


def test_unlabeled_export_runs_end_to_end(run_a, tmp_path):
    """A meter export with no FLAG column: ranking by anomaly only, every notebook still runs."""
    consumption = ArtifactStore(run_a).read_parquet("consumption.parquet")
    export = tmp_path / "unlabeled.csv"
    consumption.drop(columns="FLAG").to_csv(export)
    artifacts = smoke_run(tmp_path, source="file", data_path=str(export))
    store = ArtifactStore(artifacts)
    assert store.read_parquet("consumption.parquet")["FLAG"].isna().all()
    assert store.read_json("metadata.json")["supervised"] is False
    assert not (artifacts / "model_xgb.joblib").exists()
    ranked = pd.read_csv(artifacts / "inspection_list.csv")
    assert len(ranked) == len(consumption)
    assert ranked["risk_score"].notna().all()
    assert (artifacts / "model_card.md").exists()


def test_real_chain_fails_fast(tmp_path):
    with pytest.raises(ChainError, match="01_data_generation_eda failed"):
        smoke_run(tmp_path, source="file", data_path=str(tmp_path / "no_such_file.csv"))
    assert (tmp_path / "reports" / "01_data_generation_eda.ipynb").exists()
    assert not (tmp_path / "reports" / "02_preprocessing_clustering.ipynb").exists()
    assert not (tmp_path / "artifacts" / "consumption.parquet").exists()


def test_cli_exit_code_on_failure(tmp_path):
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "ntl",
            "run",
            "--params",
            str(SMOKE),
            "--no-html",
            "--to",
            "01",
            "--set",
            "source=file",
            "--set",
            f"data_path={tmp_path / 'missing.csv'}",
            "--set",
            f"artifacts_dir={tmp_path / 'a'}",
            "--set",
            f"reports_dir={tmp_path / 'r'}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 1
    assert "01_data_generation_eda failed" in completed.stderr
    assert "missing.csv" in completed.stderr
