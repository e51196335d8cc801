"""Where the long-lived state of an ntl installation lives: the project folder.

The chain's run folders come and go; a few things outlive them and belong to the project: the
outcome store (``outcomes/``), the champion pointer (``artifacts/champion.json``), the retraining
runs (``artifacts/runs/``) and the MLflow store (``mlflow.db``, ``mlruns/``). They live in the
repository root unless ``NTL_PROJECT_DIR`` names another folder (tests and on-premises installs
that keep their state elsewhere).
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROJECT_ENV = "NTL_PROJECT_DIR"


def project_dir() -> Path:
    """The project folder: ``$NTL_PROJECT_DIR`` when set, otherwise the repository root."""
    given = os.environ.get(PROJECT_ENV, "").strip()
    return Path(given).resolve() if given else ROOT


def outcomes_dir() -> Path:
    """The append-only store of inspection outcomes."""
    return project_dir() / "outcomes"


def runs_dir() -> Path:
    """Where ``ntl retrain`` puts each challenger's versioned run folder."""
    return project_dir() / "artifacts" / "runs"


def champion_file() -> Path:
    """The pointer to the run that serves (``ntl champion``)."""
    return project_dir() / "artifacts" / "champion.json"
