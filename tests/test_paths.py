"""Project-relative paths: a notebook's files resolve from the project root, not the kernel's cwd."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ntl.paths import PROJECT_ROOT, project_path


def test_project_root_is_the_folder_with_the_notebooks():
    assert (PROJECT_ROOT / "notebooks" / "01_data_generation_eda.ipynb").exists()
    assert (PROJECT_ROOT / "pyproject.toml").exists()


def test_relative_paths_resolve_under_the_root_whatever_the_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert project_path("artifacts/default") == PROJECT_ROOT / "artifacts" / "default"
    monkeypatch.chdir(PROJECT_ROOT / "notebooks")
    assert project_path("artifacts/default") == PROJECT_ROOT / "artifacts" / "default"
    assert project_path("../x", root=tmp_path / "a") == tmp_path / "a" / ".." / "x"


def test_absolute_and_home_paths_are_kept(tmp_path, monkeypatch):
    assert project_path(tmp_path / "run") == tmp_path / "run"
    monkeypatch.setenv("HOME", str(tmp_path))
    assert project_path("~/exports/m.csv") == tmp_path / "exports" / "m.csv"
    assert project_path(Path(os.sep) / "data" / "m.csv") == Path(os.sep) / "data" / "m.csv"


def test_an_empty_path_is_refused():
    with pytest.raises(ValueError, match="empty path"):
        project_path("  ")
