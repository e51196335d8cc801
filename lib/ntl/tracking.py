"""Run tracking with MLflow: every chain run, retraining and monitoring check, from its artifacts.

A chain run (``make run-all``, ``ntl run``, ``ntl retrain``) becomes one MLflow run, logged after
the notebooks finished, from what they wrote:

- **parameters**: every parameter of the run;
- **metrics**: every number of ``evaluation.json`` (flattened: ``test.at_k.100.precision``;
  intervals as ``_low`` / ``_high``), plus the champion comparison of a retraining;
- **tags**: the input data's sha256, the git commit, the ntl version, the run folder;
- **artifacts**: the model card, evaluation.json, thresholds.json, the inspection list, the HTML
  reports, and for a retraining its comparison and label counts;
- **model**: the run's scoring artifacts as an MLflow ``pyfunc`` (``ntl.pyfunc.NtlScoringModel``,
  which scores a consumption frame through ``ntl.score.score_consumption``, the code of ``ntl
  score``), registered as a new version of ``ntl-theft-screening``.

The store is MLflow's own SQLite backend in the project folder (``mlflow.db``, artifacts under
``mlruns/``): no server. ``MLFLOW_TRACKING_URI`` points it elsewhere. MLflow's telemetry is
switched off before it is imported and nothing here calls the network. ``tracking: false`` in a
parameter file, or ``NTL_TRACKING=0`` in the environment, switches tracking off. Tracking never
fails a run: an error is one warning line, and the run folder is untouched (the logger only
reads it, and copies what the model needs to a temporary folder).

MLflow takes seconds to import and to open its store (a fresh store: its table migrations), so
nothing imports it until a run is logged; ``ntl run`` and ``ntl retrain`` start both on a
background thread when the chain starts (``start_warm_up``), so by the time the notebooks
finished only the logging itself is left. A warm-up that fails changes nothing: logging then
imports and opens the store itself, and any error is the usual one warning.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ntl._version import __version__
from ntl.project import ROOT, project_dir

EXPERIMENT = "ntl"
MONITOR_EXPERIMENT = "ntl-monitor"
REGISTERED_MODEL = "ntl-theft-screening"
MODEL_NAME = "model"
TRACKING_ENV = "NTL_TRACKING"
LOGGED_ARTIFACTS = (
    "model_card.md",
    "evaluation.json",
    "thresholds.json",
    "inspection_list.csv",
    "comparison.json",
    "labels.json",
)
# data and per-customer tables: not needed to score, and the bulk of a run folder
NOT_IN_MODEL_SUFFIXES = (".parquet", ".png", ".csv")
RECORD_KEYS = ("k", "group", "variable", "model", "tier", "split", "name", "lower")


def tracking_enabled(params: Mapping[str, Any] | None = None) -> bool:
    """False when the parameters say ``tracking: false`` or ``NTL_TRACKING`` is 0/false/off."""
    if params is not None and params.get("tracking", True) in (False, "false", "off", 0):
        return False
    return os.environ.get(TRACKING_ENV, "1").strip().lower() not in ("0", "false", "off", "no")


def default_tracking_uri() -> str:
    """The embedded store: ``sqlite:///<project>/mlflow.db``."""
    return f"sqlite:///{project_dir() / 'mlflow.db'}"


def tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI`` when set, else the embedded SQLite store."""
    return os.environ.get("MLFLOW_TRACKING_URI", "").strip() or default_tracking_uri()


def _mlflow() -> Any:
    """mlflow, imported with telemetry off and pointed at the store."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import logging

    import mlflow

    logging.getLogger("mlflow").setLevel(logging.ERROR)

    mlflow.set_tracking_uri(tracking_uri())
    return mlflow


_warm_up: threading.Thread | None = None
WARM_UP_WAIT_SECONDS = 120  # the most logging waits for a warm-up still running


def start_warm_up(params: Mapping[str, Any] | None = None) -> threading.Thread | None:
    """Import MLflow and open the store (creating it when new) on a daemon thread, unless
    tracking is off or a warm-up already started. The chain's notebooks run in their own
    kernels, so this process is idle meanwhile and the seconds come for free."""
    global _warm_up
    if not tracking_enabled(params) or _warm_up is not None:
        return _warm_up

    def warm() -> None:
        with contextlib.suppress(Exception):  # logging retries and reports any error itself
            _experiment_id(_mlflow(), EXPERIMENT)
            # log_model checks the pip requirements against the installed packages; the map it
            # builds once per process (every installed distribution's files) takes about 1 s
            from mlflow.utils import requirements_utils

            requirements_utils._init_packages_to_modules_map()

    _warm_up = threading.Thread(target=warm, name="ntl-mlflow-warm-up", daemon=True)
    _warm_up.start()
    return _warm_up


def wait_for_warm_up(timeout: float = WARM_UP_WAIT_SECONDS) -> None:
    """Let a running warm-up finish (so two threads never import MLflow at once)."""
    if _warm_up is not None:
        _warm_up.join(timeout)


def _experiment_id(mlflow: Any, name: str) -> str:
    """The experiment `name`, created with its artifacts beside a local SQLite store."""
    found = mlflow.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    location = None
    uri = tracking_uri()
    if uri.startswith("sqlite:///"):
        location = (Path(uri.removeprefix("sqlite:///")).parent / "mlruns").resolve().as_uri()
    return mlflow.create_experiment(name, artifact_location=location)


def flatten_metrics(document: Any, prefix: str = "") -> dict[str, float]:
    """Every finite number of a JSON document as ``dotted.name -> value``.

    Lists of records are keyed by their identifying field (``k``, ``group``, ``variable``...) or
    position; two-number lists ending in ``_ci`` become ``_low`` / ``_high``; booleans and text
    are left out (they are tags or parameters, not metrics).
    """
    metrics: dict[str, float] = {}
    if isinstance(document, bool) or document is None or isinstance(document, str):
        return metrics
    if isinstance(document, (int, float)):
        if math.isfinite(document) and prefix:
            metrics[prefix] = float(document)
        return metrics
    if isinstance(document, Mapping):
        for key, value in document.items():
            name = _metric_name(f"{prefix}.{key}" if prefix else str(key))
            if str(key).endswith("_ci") and isinstance(value, list) and len(value) == 2:
                metrics |= flatten_metrics(value[0], f"{name}_low")
                metrics |= flatten_metrics(value[1], f"{name}_high")
            else:
                metrics |= flatten_metrics(value, name)
        return metrics
    if isinstance(document, list):
        for position, value in enumerate(document):
            key = next(
                (value[k] for k in RECORD_KEYS if isinstance(value, Mapping) and k in value),
                position,
            )
            metrics |= flatten_metrics(value, _metric_name(f"{prefix}.{key}"))
    return metrics


def _metric_name(name: str) -> str:
    """MLflow allows letters, digits, ``_ - . / :`` and spaces in names; anything else -> ``_``."""
    return "".join(ch if ch.isalnum() or ch in "_-./: " else "_" for ch in name)


def _param_value(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 6000 else text[:5997] + "..."


def git_commit() -> str:
    """The project's git commit (``unknown`` outside a checkout)."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return done.stdout.strip() if done.returncode == 0 else "unknown"


def data_sha256(artifacts_dir: Path, params: Mapping[str, Any]) -> str:
    """sha256 of the input data: the meter file read, or (generated data) consumption.parquet."""
    from ntl.artifacts import ArtifactStore, sha256_file

    if params.get("source") == "file" and params.get("data_path"):
        path = Path(str(params["data_path"]))
        path = path if path.is_absolute() else ROOT / path
        if path.is_file():
            return sha256_file(path)
    store = ArtifactStore(artifacts_dir)
    if not store.exists("consumption.parquet") and store.exists("consumption_dataset.json"):
        return store.record("consumption_dataset.json")["sha256"]  # the Dask path's listing
    return store.record("consumption.parquet")["sha256"]


@contextlib.contextmanager
def scoring_copy(artifacts_dir: Path) -> Iterator[Path]:
    """A temporary copy of the files scoring needs (models, transforms, thresholds, baseline,
    manifest): the model's artifacts, without the run's data tables and figures."""
    from ntl.artifacts import MANIFEST, ArtifactStore

    ArtifactStore(artifacts_dir, notebook="tracking").verify()  # hashes and lineage, whole run
    with tempfile.TemporaryDirectory(prefix="ntl-model-") as tmp:
        target = Path(tmp) / "run"
        target.mkdir()
        for path in artifacts_dir.iterdir():
            if (
                path.is_file()
                and not path.name.startswith(".")
                and (path.suffix not in NOT_IN_MODEL_SUFFIXES)
            ):
                shutil.copy2(path, target / path.name)
        package_manifest(target / MANIFEST, {path.name for path in target.iterdir()})
        yield target


def package_manifest(manifest_path: Path, kept: set[str]) -> None:
    """The model copy's manifest: entries of the files it holds, their lineage restricted to them.

    The whole run's lineage was verified before the copy; the data tables it was made from stay
    behind, so the copy records only what it can check itself (hashes unchanged).
    """
    import json

    manifest = json.loads(manifest_path.read_text())
    manifest["artifacts"] = {
        name: {
            **entry,
            "inputs": {
                source: digest
                for source, digest in (entry.get("inputs") or {}).items()
                if source in kept
            },
        }
        for name, entry in manifest["artifacts"].items()
        if name in kept
    }
    manifest["packaged_model"] = True
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def log_model(mlflow: Any, artifacts_dir: Path, register: bool) -> Any:
    """The run's scoring artifacts as a pyfunc model, registered when `register`."""
    with scoring_copy(artifacts_dir) as run_copy:
        return mlflow.pyfunc.log_model(
            name=MODEL_NAME,
            python_model=str(Path(__file__).with_name("mlflow_model.py")),
            artifacts={"run": str(run_copy)},
            pip_requirements=[f"ntl=={__version__}"],
            registered_model_name=REGISTERED_MODEL if register else None,
        )


def _warn(what: str, exc: BaseException) -> None:
    print(
        f"warning: MLflow tracking failed ({what}: {type(exc).__name__}: {exc}); "
        "the run's artifacts are complete and untouched",
        file=sys.stderr,
    )


def track_chain_run(
    artifacts_dir: str | Path,
    reports_dir: str | Path | None,
    params: Mapping[str, Any],
    *,
    kind: str = "chain",
    extra_metrics: Mapping[str, float] | None = None,
    extra_tags: Mapping[str, str] | None = None,
    register: bool = True,
) -> str | None:
    """Log a finished chain run folder as an MLflow run; its run id, or None (off or failed)."""
    if not tracking_enabled(params):
        return None
    try:
        return _log_chain_run(
            Path(artifacts_dir), reports_dir, params, kind, extra_metrics, extra_tags, register
        )
    except Exception as exc:  # tracking must never fail the run
        _warn(f"logging {artifacts_dir}", exc)
        return None


def _log_chain_run(
    artifacts_dir: Path,
    reports_dir: str | Path | None,
    params: Mapping[str, Any],
    kind: str,
    extra_metrics: Mapping[str, float] | None,
    extra_tags: Mapping[str, str] | None,
    register: bool,
) -> str:
    from ntl.artifacts import ArtifactStore

    store = ArtifactStore(artifacts_dir, notebook="tracking")
    evaluation = store.read_json("evaluation.json") if store.exists("evaluation.json") else {}
    metrics = flatten_metrics(evaluation) | dict(extra_metrics or {})
    tags = {
        "data_sha256": data_sha256(artifacts_dir, params),
        "git_commit": git_commit(),
        "ntl_version": __version__,
        "run_folder": str(artifacts_dir),
        "kind": kind,
        **dict(extra_tags or {}),
    }
    wait_for_warm_up()
    mlflow = _mlflow()
    experiment = _experiment_id(mlflow, EXPERIMENT)
    with mlflow.start_run(experiment_id=experiment, run_name=artifacts_dir.name) as run:
        mlflow.log_params({str(k): _param_value(v) for k, v in params.items()})
        mlflow.set_tags(tags)
        for name in LOGGED_ARTIFACTS:
            if store.exists(name):
                mlflow.log_artifact(str(store.path(name)))
        if reports_dir is not None and Path(reports_dir).is_dir():
            for page in sorted(Path(reports_dir).glob("*.html")):
                mlflow.log_artifact(str(page), artifact_path="reports")
        model = log_model(mlflow, artifacts_dir, register)
        # Metrics after the model, tied to it in the same batch: logged before, MLflow's
        # log_model would read each metric's history back and log it again for the model
        # (700 queries and a second batch, 2.6 s of 7 at SGCC scale).
        mlflow.log_metrics(metrics, model_id=getattr(model, "model_id", None))
        return run.info.run_id


def track_monitor(report: Mapping[str, Any], files: list[Path]) -> str | None:
    """Log a monitoring report (its numbers, its decision and its files) as an MLflow run."""
    if not tracking_enabled():
        return None
    try:
        mlflow = _mlflow()
        experiment = _experiment_id(mlflow, MONITOR_EXPERIMENT)
        with mlflow.start_run(experiment_id=experiment, run_name="monitor") as run:
            numbers = {k: report[k] for k in ("readings", "customers", "capacity", "performance")}
            numbers["psi"] = {v["variable"]: v["psi"] for v in report["drift"]["variables"]}
            mlflow.log_metrics(flatten_metrics(numbers))
            mlflow.log_params({k: _param_value(v) for k, v in report["thresholds"].items()})
            mlflow.set_tags(
                {
                    "retrain_recommended": str(report["retrain"]).lower(),
                    "input": str(report["input"]),
                    "run_folder": str(report["artifacts"]),
                    "ntl_version": __version__,
                    "git_commit": git_commit(),
                }
            )
            for path in files:
                mlflow.log_artifact(str(path))
            return run.info.run_id
    except Exception as exc:  # tracking must never fail the check
        _warn("logging the monitoring report", exc)
        return None
