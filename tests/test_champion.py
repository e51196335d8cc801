"""ntl.champion: one atomic pointer, promotion with history, rollback, and its errors."""

from __future__ import annotations

import json

import pytest

from ntl import champion, cli
from ntl.artifacts import ArtifactStore
from ntl.errors import ArtifactError, NtlError


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.setenv("NTL_PROJECT_DIR", str(tmp_path))
    return tmp_path


def _run(project, name):
    folder = project / "artifacts" / "runs" / name
    ArtifactStore(folder, notebook="test").write_json("thresholds.json", {})
    return folder


def test_promote_then_rollback(project):
    first, second = _run(project, "r1"), _run(project, "r2")
    with pytest.raises(champion.NoChampionError, match="no champion yet"):
        champion.champion_dir()
    champion.promote(first, reason="first")
    assert champion.champion_dir() == first
    champion.promote(second, reason="better")
    state = json.loads((project / "artifacts" / "champion.json").read_text())
    assert state["champion"] == "artifacts/runs/r2"  # relative to the project: movable
    assert [entry["run"] for entry in state["history"]] == ["artifacts/runs/r1"]
    assert "previous champions (newest last): artifacts/runs/r1" in champion.describe()
    champion.rollback()
    assert champion.champion_dir() == first
    with pytest.raises(NtlError, match="is the first champion"):
        champion.rollback()
    assert champion.champion_dir() == first


def test_promote_refuses_a_folder_without_manifest(project):
    (project / "empty").mkdir()
    with pytest.raises(ArtifactError, match="not a finished run folder"):
        champion.promote(project / "empty", reason="x")
    assert not (project / "artifacts" / "champion.json").exists()


def test_a_corrupt_pointer_is_named(project):
    pointer = project / "artifacts" / "champion.json"
    pointer.parent.mkdir(parents=True)
    pointer.write_text("{not json")
    with pytest.raises(ArtifactError, match="champion.json is not valid JSON"):
        champion.champion_dir()


def test_cli_champion_and_rollback(project, capsys):
    assert cli.main(["champion"]) == 0
    assert "no champion yet" in capsys.readouterr().out
    assert cli.main(["rollback"]) == 2
    assert "no champion to roll back" in capsys.readouterr().err
    champion.promote(_run(project, "r1"), reason="first")
    champion.promote(_run(project, "r2"), reason="second")
    assert cli.main(["rollback"]) == 0
    assert f"champion: {project / 'artifacts' / 'runs' / 'r1'}" in capsys.readouterr().out


def test_score_without_artifacts_or_champion_falls_back_to_the_default_run(
    project, monkeypatch, capsys
):
    monkeypatch.setattr(champion, "DEFAULT_RUN", str(project / "no_default_run"))
    data = project / "m.csv"
    data.write_text("CONS_NO,FLAG,2026-01-01\nA,0,1.0\n")
    assert cli.main(["score", str(data), "--out", str(project / "out.csv")]) == 2
    err = capsys.readouterr().err
    assert f"run: {project / 'no_default_run'} (no --artifacts: the champion, else" in err
    assert "no_default_run" in err.splitlines()[-1]  # the error names the folder it tried
    assert not (project / "out.csv").exists()


def test_the_default_run_is_the_champion_else_artifacts_default(project, smoke_artifacts):
    from ntl.paths import PROJECT_ROOT

    assert champion.default_artifacts() == PROJECT_ROOT / "artifacts" / "default"
    champion.promote(smoke_artifacts, reason="first")
    assert champion.default_artifacts() == smoke_artifacts
    (project / "artifacts" / "champion.json").write_text("{broken")
    with pytest.raises(ArtifactError, match="champion.json is not valid JSON"):
        champion.default_artifacts()


def test_score_and_serve_without_artifacts_use_the_champion(
    project, smoke_artifacts, smoke_export, tmp_path, monkeypatch, capsys
):
    from ntl.serve import main as serve_main

    champion.promote(smoke_artifacts, reason="first")
    out = tmp_path / "list.csv"
    assert cli.main(["score", str(smoke_export), "--out", str(out), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert f"run: {smoke_artifacts} (no --artifacts: the champion, else artifacts/default)" in err
    assert out.exists()
    started = []
    monkeypatch.setattr(serve_main, "serve", lambda config, log_level: started.append(config) or 0)
    assert cli.main(["serve"]) == 0
    assert started[0].artifacts_dir == smoke_artifacts
    assert cli.main(["serve", "--artifacts", str(tmp_path / "none")]) == 2
    assert "no finished run there" in capsys.readouterr().err


def test_the_test_session_keeps_mlflow_and_project_state_out_of_the_repository(test_project):
    import os

    from ntl.project import ROOT, project_dir
    from ntl.tracking import tracking_uri

    assert test_project != ROOT and ROOT not in test_project.parents
    assert tracking_uri() == f"sqlite:///{test_project / 'mlflow.db'}"
    assert os.environ["MLFLOW_TRACKING_URI"].startswith("sqlite:///")
    assert project_dir() == test_project  # champion, outcomes, retraining runs
