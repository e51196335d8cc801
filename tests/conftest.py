"""Fixtures shared by several test modules: one finished smoke-chain run for the whole session."""

from __future__ import annotations

from pathlib import Path

import pytest

from ntl.run import ROOT, load_params, run_chain

SMOKE = ROOT / "params" / "smoke.yaml"


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
