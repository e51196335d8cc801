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


def test_score_without_artifacts_needs_a_champion(project, capsys):
    data = project / "m.csv"
    data.write_text("CONS_NO,FLAG,2026-01-01\nA,0,1.0\n")
    assert cli.main(["score", str(data), "--out", str(project / "out.csv")]) == 2
    assert "no champion yet" in capsys.readouterr().err
    assert not (project / "out.csv").exists()
