"""Fixtures shared by several test modules: one finished smoke-chain run for the whole session."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from ntl.run import ROOT, load_params, run_chain

SMOKE = ROOT / "params" / "smoke.yaml"
STATE_VARIABLES = ("NTL_PROJECT_DIR", "MLFLOW_TRACKING_URI")


def pytest_configure(config: pytest.Config) -> None:
    """The session's project state (champion, outcomes, retraining runs, the MLflow store) in a
    temporary folder: tests that run ``ntl run`` or ``ntl retrain``, in this process or in a
    subprocess (which inherits the environment), never log into the project's own mlflow.db, so
    a fresh clone's ``make run-all`` after ``make test`` still registers model version 1."""
    state = Path(tempfile.mkdtemp(prefix="ntl-test-project-"))
    config.stash[STATE_KEY] = (state, {name: os.environ.get(name) for name in STATE_VARIABLES})
    os.environ["NTL_PROJECT_DIR"] = str(state)
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{state / 'mlflow.db'}"


def pytest_unconfigure(config: pytest.Config) -> None:
    """Restore the two variables and remove the session's project state."""
    if STATE_KEY not in config.stash:
        return
    state, before = config.stash[STATE_KEY]
    for name, value in before.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    shutil.rmtree(state, ignore_errors=True)


STATE_KEY = pytest.StashKey[tuple[Path, dict[str, str | None]]]()


@pytest.fixture(scope="session")
def test_project() -> Path:
    """The session's temporary project folder (NTL_PROJECT_DIR)."""
    return Path(os.environ["NTL_PROJECT_DIR"])


def smoke_run(tmp: Path, html: bool = False, stop: str | None = None, **overrides) -> Path:
    """Run the chain on the smoke parameters into `tmp`; return the artifacts folder."""
    params = load_params(SMOKE, overrides)
    params.update(artifacts_dir=str(tmp / "artifacts"), reports_dir=str(tmp / "reports"))
    run_chain(params, stop=stop, html=html, echo=lambda line: None)
    return tmp / "artifacts"


@pytest.fixture(scope="session")
def smoke_artifacts(tmp_path_factory) -> Path:
    """The artifacts of one full smoke-chain run (HTML reports included), run once per session.

    Shared by the chain tests and the web app's tests: treat it as read-only (copy it to change
    a file, e.g. to tamper with an artifact).
    """
    return smoke_run(tmp_path_factory.mktemp("smoke_a"), html=True)


@pytest.fixture(scope="session")
def smoke_export(smoke_artifacts, tmp_path_factory) -> Path:
    """The smoke run's customers as a meter export in the SGCC layout (customer ID first, one
    column per day named like 2014/1/1, FLAG last): what a utility would upload."""
    import pandas as pd

    from ntl.artifacts import ArtifactStore
    from ntl.frame import day_columns

    consumption = ArtifactStore(smoke_artifacts).read_parquet("consumption.parquet")
    frame = consumption[[*day_columns(consumption), "FLAG"]].copy()
    frame.columns = [*pd.to_datetime(frame.columns[:-1]).strftime("%Y/%-m/%-d"), "FLAG"]
    path = tmp_path_factory.mktemp("smoke_export") / "meters.csv"
    frame.to_csv(path)
    return path
