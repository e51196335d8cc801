"""ntl.tracking: metrics from evaluation.json, tags, artifacts, the registered pyfunc model that
scores like ``ntl score``, switching it off, and failures that never touch the run."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from ntl.artifacts import ArtifactStore
from ntl.tracking import (
    REGISTERED_MODEL,
    flatten_metrics,
    track_chain_run,
    tracking_enabled,
    tracking_uri,
)


def test_flatten_metrics_names_every_number():
    document = {
        "pr_auc": 0.5,
        "pr_auc_ci": [0.4, 0.6],
        "labelled": True,
        "source": "text",
        "missing": None,
        "nan": float("nan"),
        "test": {"at_k": [{"k": 100, "precision": 0.3}, {"k": 0.05, "precision": 0.2}]},
        "plain": [1, 2],
        "odd name(%)": 1,
    }
    assert flatten_metrics(document) == {
        "pr_auc": 0.5,
        "pr_auc_ci_low": 0.4,
        "pr_auc_ci_high": 0.6,
        "test.at_k.100.k": 100.0,
        "test.at_k.100.precision": 0.3,
        "test.at_k.0.05.k": 0.05,
        "test.at_k.0.05.precision": 0.2,
        "plain.0": 1.0,
        "plain.1": 2.0,
        "odd name___": 1.0,
    }


def test_tracking_switches(monkeypatch, tmp_path):
    monkeypatch.delenv("NTL_TRACKING", raising=False)
    assert tracking_enabled({}) and not tracking_enabled({"tracking": False})
    monkeypatch.setenv("NTL_TRACKING", "off")
    assert not tracking_enabled({})
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("NTL_PROJECT_DIR", str(tmp_path))
    assert tracking_uri() == f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert tracking_uri() == "http://127.0.0.1:5000"


def _snapshot(folder):
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def test_a_chain_run_is_logged_registered_and_scores_like_ntl_score(
    smoke_artifacts, tmp_path, monkeypatch
):
    import mlflow

    from ntl.score import score_consumption

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("NTL_TRACKING", raising=False)
    before = _snapshot(smoke_artifacts)
    params = {"seed": 42, "n_customers": 400, "top_k": [100, 0.05]}
    reports = smoke_artifacts.parent / "reports"
    run_id = track_chain_run(smoke_artifacts, reports, params)
    assert run_id is not None
    assert _snapshot(smoke_artifacts) == before

    client = mlflow.MlflowClient(tracking_uri=uri)
    run = client.get_run(run_id)
    store = ArtifactStore(smoke_artifacts)
    evaluation = store.read_json("evaluation.json")
    assert run.data.metrics["pr_auc"] == pytest.approx(evaluation["pr_auc"])
    assert run.data.metrics["pr_auc_ci_low"] == pytest.approx(evaluation["pr_auc_ci"][0])
    assert run.data.params["top_k"] == "[100, 0.05]"
    assert run.data.tags["data_sha256"] == store.record("consumption.parquet")["sha256"]
    assert len(run.data.tags["git_commit"]) in (40, len("unknown"))
    assert run.data.tags["ntl_version"]
    logged = {item.path for item in client.list_artifacts(run_id)}
    assert {"model_card.md", "evaluation.json", "thresholds.json", "inspection_list.csv"} <= logged
    assert {item.path for item in client.list_artifacts(run_id, "reports")} >= {
        "reports/04_evaluation_risk.html"
    }
    versions = client.search_model_versions(f"name='{REGISTERED_MODEL}'")
    assert [int(v.version) for v in versions] == [1]

    mlflow.set_tracking_uri(uri)
    model = mlflow.pyfunc.load_model(f"models:/{REGISTERED_MODEL}/1")
    consumption = store.read_parquet("consumption.parquet").iloc[:60]
    predicted = model.predict(consumption.reset_index())
    expected = score_consumption(consumption, smoke_artifacts).inspection_list
    pd.testing.assert_frame_equal(predicted.reset_index(drop=True), expected.reset_index(drop=True))

    second = track_chain_run(smoke_artifacts, None, params)
    assert second != run_id
    assert len(client.search_model_versions(f"name='{REGISTERED_MODEL}'")) == 2


def test_tracking_off_writes_nothing(smoke_artifacts, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert track_chain_run(smoke_artifacts, None, {"tracking": False}) is None
    assert not (tmp_path / "mlflow.db").exists()


def test_a_tracking_failure_warns_and_leaves_the_run(
    smoke_artifacts, tmp_path, monkeypatch, capsys
):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{blocker / 'mlflow.db'}")
    monkeypatch.delenv("NTL_TRACKING", raising=False)
    before = _snapshot(smoke_artifacts)
    assert track_chain_run(smoke_artifacts, None, {"seed": 1}) is None
    err = capsys.readouterr().err
    assert err.startswith("warning: MLflow tracking failed")
    assert "the run's artifacts are complete and untouched" in err
    assert _snapshot(smoke_artifacts) == before
    assert json.loads((smoke_artifacts / "manifest.json").read_text())["artifacts"]


def test_ntl_run_tracks_a_chain_that_reached_04(monkeypatch, tmp_path):
    from ntl import run, tracking

    calls = []
    result = run.ChainResult(tmp_path / "a", tmp_path / "r")
    monkeypatch.setattr(run, "run_chain", lambda params, **kwargs: result)
    monkeypatch.setattr(tracking, "track_chain_run", lambda *args: calls.append(args))
    assert run.main_run(None, ["seed=3", "tracking=false"], None, None) == 0
    assert calls == [(tmp_path / "a", tmp_path / "r", {"seed": 3, "tracking": False})]
    assert run.main_run(None, [], None, "03") == 0
    assert len(calls) == 1  # a chain stopped before 04 has nothing to log


def test_the_warm_up_opens_the_store_in_the_background_and_logging_then_is_quick(
    smoke_artifacts, tmp_path, monkeypatch
):
    """MLflow's import and the store's creation overlap with the chain; the run logged after
    has its metrics tied to the logged model without MLflow logging them a second time."""
    import mlflow

    from ntl import tracking

    monkeypatch.setattr(tracking, "_warm_up", None)
    monkeypatch.delenv("NTL_TRACKING", raising=False)
    assert tracking.start_warm_up({"tracking": False}) is None  # off: no thread, no store
    assert not (tmp_path / "mlflow.db").exists()
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    thread = tracking.start_warm_up({"seed": 1})
    assert thread is not None and thread.name == "ntl-mlflow-warm-up"
    assert tracking.start_warm_up({"seed": 1}) is thread  # one warm-up per process
    tracking.wait_for_warm_up()
    assert not thread.is_alive()
    assert (tmp_path / "mlflow.db").stat().st_size > 0  # created, tables and all
    client = mlflow.MlflowClient(tracking_uri=uri)
    assert client.get_experiment_by_name(tracking.EXPERIMENT) is not None
    run_id = track_chain_run(smoke_artifacts, None, {"seed": 1})
    run = client.get_run(run_id)
    evaluation = ArtifactStore(smoke_artifacts).read_json("evaluation.json")
    expected = flatten_metrics(evaluation)
    assert run.data.metrics == pytest.approx(expected)
    assert len(client.get_metric_history(run_id, "pr_auc")) == 1  # logged once, not twice
    models = mlflow.search_logged_models(
        experiment_ids=[run.info.experiment_id], output_format="list"
    )
    (model,) = [m for m in models if m.source_run_id == run_id]
    linked = {metric.key: metric.value for metric in model.metrics}
    assert linked["pr_auc"] == pytest.approx(evaluation["pr_auc"])
    assert set(linked) == set(expected)


def test_a_failed_chain_waits_for_the_warm_up_before_exiting(monkeypatch, tmp_path):
    from ntl import run, tracking

    calls = []

    def failing_chain(params, **kwargs):
        if kwargs["on_start"] is not None:
            kwargs["on_start"]()
        raise run.ChainError("03_modeling failed")

    monkeypatch.setattr(run, "run_chain", failing_chain)
    monkeypatch.setattr(tracking, "start_warm_up", lambda params: calls.append(("start", params)))
    monkeypatch.setattr(tracking, "wait_for_warm_up", lambda: calls.append(("wait",)))
    assert run.main_run(None, ["seed=3"], None, None) == 1
    assert calls == [("start", {**calls[0][1]}), ("wait",)] and calls[0][1]["seed"] == 3
    calls.clear()
    assert run.main_run(None, ["seed=3"], None, "02") == 1  # a partial run is not tracked
    assert calls == [("wait",)]
