"""What the web app serves, loaded once at start: the models, the model's record, the results.

``ModelService`` holds the run's ScoringArtifacts (every file hash-checked against the manifest as
it is read: a tampered artifact stops the start) and calls ``ntl.score`` for every number the app
shows, so the app and ``ntl score`` cannot disagree. Model use is serialised by one lock: an
upload's pass already uses both cores (XGBoost, the preprocessing's threads) and switches the
model's thread setting for its call, which must not interleave. Single customers go through a
``MicroBatcher``: concurrent requests are scored together in one vectorised call
(``ntl.score.score_customers``, identical answers), so many clients do not queue behind one
another's fixed costs.

``ResultStore`` keeps the last few scored uploads in memory, for sorting, paging, downloads and
customer pages, each under a random, unguessable id. It is bounded, so memory stays flat however
many files are uploaded.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from ntl._version import __version__
from ntl.artifacts import MANIFEST, ArtifactStore
from ntl.drift import drift_messages
from ntl.errors import MissingArtifactError, ParameterError
from ntl.frame import ID_COLUMN
from ntl.preprocess import PreprocessConfig
from ntl.score import (
    READ_OPTIONS,
    ScoredInput,
    ScoringArtifacts,
    load_scoring_artifacts,
    score_customers,
    score_input,
)
from ntl.serve.batching import MicroBatcher

# Artifacts the Model page shows besides the models themselves (read, so hash-checked, at start).
RECORD_ARTIFACTS = ("metadata.json", "evaluation.json", "model_card.md", "data_summary.json")
DATA_ARTIFACTS = ("consumption.parquet", "preprocessed.parquet")  # the data the models came from
FEATURE_COLUMNS_KEPT = ("drop_days_ago",)  # preprocessed columns the customer page marks


def check_run_folder(artifacts_dir: str | Path) -> Path:
    """The run folder, or ParameterError telling the user to run the chain first."""
    folder = Path(artifacts_dir)
    if not (folder / MANIFEST).is_file():
        raise ParameterError(
            f"--artifacts {folder}: no finished run there (no {MANIFEST}); "
            "run the chain first: make run-all"
        )
    return folder


@dataclass
class ModelRecord:
    """Which run the models came from and how they did: for the Model page and /api/model."""

    artifacts_dir: str
    run_name: str
    written_at: str
    ntl_version: str
    loaded_at: str
    verified: dict[str, str]  # artifact -> sha256, each checked when it was loaded
    data_sha256: dict[str, str]
    thresholds: dict[str, Any]
    evaluation: dict[str, Any] | None
    metadata: dict[str, Any] | None
    model_card: str | None
    data_summary: dict[str, Any] | None


def _run_name(manifest: Mapping[str, Any], folder: Path) -> str:
    """The run's name: its ``run_name`` parameter when recorded, else the folder's name (the
    runner names run folders after the parameter file)."""
    for entry in manifest.get("artifacts", {}).values():
        name = entry.get("parameters", {}).get("run_name")
        if name:
            return str(name)
    return folder.resolve().name


def _written_at(manifest: Mapping[str, Any]) -> str:
    """When the run's last artifact was written (ISO time), or '?' when not recorded."""
    times = [str(e.get("written_at")) for e in manifest.get("artifacts", {}).values()]
    times = [t for t in times if t and t != "None"]
    return max(times) if times else "?"


def load_record(loaded: ScoringArtifacts) -> ModelRecord:
    """Read (hash-checked) what the Model page shows; names every artifact verified."""
    store: ArtifactStore = loaded.store
    manifest = store.manifest()
    entries = manifest.get("artifacts", {})
    texts: dict[str, Any] = {}
    for name in RECORD_ARTIFACTS:
        if store.exists(name):
            texts[name] = store.read_text(name) if name.endswith(".md") else store.read_json(name)
    used = {"preprocessing.json", "preprocessing_clusters.skops", "thresholds.json", *texts}
    used.add("drift_baseline.json")
    used |= {name for name in entries if name.startswith("model_") or name == "calibrator.skops"}
    return ModelRecord(
        artifacts_dir=str(store.root),
        run_name=_run_name(manifest, store.root),
        written_at=_written_at(manifest),
        ntl_version=str(manifest.get("ntl_version", "?")),
        loaded_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        verified={name: entries[name]["sha256"] for name in sorted(used) if name in entries},
        data_sha256={name: entries[name]["sha256"] for name in DATA_ARTIFACTS if name in entries},
        thresholds=loaded.thresholds,
        evaluation=texts.get("evaluation.json"),
        metadata=texts.get("metadata.json"),
        model_card=texts.get("model_card.md"),
        data_summary=texts.get("data_summary.json"),
    )


@dataclass
class ScoredUpload:
    """One scored upload kept for browsing: the ranked list, its readings, its drift summary."""

    result_id: str
    display_name: str
    created: str
    inspection_list: pd.DataFrame
    consumption: pd.DataFrame
    features: (
        pd.DataFrame
    )  # the preprocessed columns the customer page marks (FEATURE_COLUMNS_KEPT)
    drift_document: dict[str, Any]
    drift_messages: list[str]
    notes: list[str]  # history notes and the scoring summary's warnings
    ids: pd.Index = field(default_factory=pd.Index)  # CONS_NO of each inspection_list row

    def row(self, customer_id: str) -> pd.Series | None:
        """The customer's inspection-list row, or None when not in this upload."""
        position = int(self.ids.get_indexer([customer_id])[0])
        return None if position < 0 else self.inspection_list.iloc[position]


class ResultStore:
    """The last `capacity` scored uploads by id, oldest dropped first (thread-safe)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._results: OrderedDict[str, ScoredUpload] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, result: ScoredUpload) -> None:
        with self._lock:
            self._results[result.result_id] = result
            while len(self._results) > self.capacity:
                self._results.popitem(last=False)

    def get(self, result_id: str) -> ScoredUpload | None:
        with self._lock:
            return self._results.get(result_id)

    def __len__(self) -> int:
        with self._lock:
            return len(self._results)


class ModelService:
    """The loaded run and the scoring calls every route goes through."""

    def __init__(
        self, artifacts_dir: str | Path, keep_results: int = 3, scoring_processes: int = 0
    ) -> None:
        """`scoring_processes`: worker processes for single customers (``ntl.serve.workers``);
        0 scores them in this process, on one thread."""
        from ntl.models.bundle import keep_on_one_thread
        from ntl.serve.workers import start_scoring_processes

        folder = check_run_folder(artifacts_dir)
        self.loaded = load_scoring_artifacts(folder)
        if not self.loaded.thresholds:
            raise MissingArtifactError(f"{folder}/thresholds.json is empty: run 03_modeling")
        self.record = load_record(self.loaded)
        self.results = ResultStore(keep_results)
        self._lock = threading.Lock()  # one pass over the models at a time
        keep_on_one_thread(self.loaded.bundle)  # the app's many small calls switch nothing
        self.workers = start_scoring_processes(folder, self.record.verified, scoring_processes)
        scorers = [worker.score for worker in self.workers] or [self._score_waiting]
        self.batcher = MicroBatcher(scorers, name="ntl-score-customers")

    def _score_waiting(self, many_readings) -> list:
        """The batcher's call without scoring processes: every waiting customer in one
        ``score_customers`` pass on the app's own models."""
        with self._lock:
            return score_customers(many_readings, self.loaded)

    def close(self) -> None:
        """Stop the single-customer workers (answering what is queued), then their processes."""
        self.batcher.stop()
        for worker in self.workers:
            worker.stop()

    @property
    def config(self) -> PreprocessConfig:
        """The fitted preprocessing's settings (the reason phrases' windows, the profile shape)."""
        return self.loaded.preprocessor.config

    @property
    def typical_shapes(self):
        """Median weekday/month profile shape per cluster (clusters x 19) from stage 02."""
        return self.loaded.preprocessor.clusters.typical_shapes

    def score_readings(self, readings: Mapping[Any, Any]) -> dict[str, Any]:
        """ntl.score.score_customer's answer on the loaded models (MeterDataError for bad
        readings), scored with whatever other requests are waiting."""
        return self.batcher(readings)

    async def score_readings_async(self, readings: Mapping[Any, Any]) -> dict[str, Any]:
        """`score_readings` for an async route: waits without holding a server thread."""
        return await asyncio.wrap_future(self.batcher.submit(readings))

    def score_path(
        self, path: Path, source: str, read_options: Mapping[str, Any] | None = None
    ) -> ScoredInput:
        """ntl.score.score_input on the loaded models: the same pass as ``ntl score``."""
        options = {key: value for key, value in (read_options or {}).items() if value}
        unknown = sorted(set(options) - set(READ_OPTIONS))
        if unknown:
            raise ParameterError(f"unknown read options {unknown}; known: {list(READ_OPTIONS)}")
        with self._lock:
            return score_input(path, self.loaded, source=source, read_options=options)

    def keep(self, scored: ScoredInput, display_name: str) -> ScoredUpload:
        """Store a scored upload for browsing; returns it with its new id."""
        ranked = scored.inspection_list.reset_index(drop=True)  # every customer of the file
        preprocessed = scored.scored.preprocessed
        kept = [c for c in FEATURE_COLUMNS_KEPT if c in preprocessed.columns]
        result = ScoredUpload(
            result_id=secrets.token_urlsafe(12),
            display_name=display_name,
            created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            inspection_list=ranked,
            consumption=scored.consumption,
            features=preprocessed[kept],
            drift_document=scored.drift_document,
            drift_messages=drift_messages(scored.scored.drift)
            if scored.scored.drift is not None
            else [],
            notes=[*scored.notes, *scored.summary.messages()[1:]],
            ids=pd.Index(ranked[ID_COLUMN].astype(str)),
        )
        self.results.add(result)
        return result

    def health(self) -> dict[str, Any]:
        """Models loaded and verified, for /api/health."""
        return {
            "status": "ok",
            "models_loaded": True,
            "verified": True,
            "artifacts_verified": len(self.record.verified),
            "scoring_processes": len(self.workers),
            "scoring_processes_alive": sum(worker.alive for worker in self.workers),
            "run": self.record.run_name,
            "written_at": self.record.written_at,
            "artifacts_dir": self.record.artifacts_dir,
            "loaded_at": self.record.loaded_at,
            "ntl_version": __version__,
            "supervised": bool(self.loaded.bundle.supervised),
        }


@dataclass(frozen=True)
class Metric:
    """One test metric with its 95 % interval (None where the run recorded none)."""

    name: str
    value: float
    low: float | None = None
    high: float | None = None
    n: int | None = None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def headline_metrics(evaluation: Mapping[str, Any] | None) -> list[Metric]:
    """The headline test metrics of evaluation.json with their intervals, in reading order:
    ROC-AUC, PR-AUC, precision and recall at the operational threshold, then at each k.
    Entries the run did not record are left out."""
    if not evaluation:
        return []
    metrics = []
    for key, name in (("roc_auc", "ROC-AUC"), ("pr_auc", "PR-AUC (average precision)")):
        value, interval = _number(evaluation.get(key)), evaluation.get(f"{key}_ci") or [None, None]
        if value is not None:
            metrics.append(Metric(name, value, _number(interval[0]), _number(interval[1])))
    test = evaluation.get("test", {}) or {}
    threshold = test.get("threshold", {}) or {}
    metrics += _rate_metrics(threshold, "at the operational threshold", "flagged", "thieves")
    for row in test.get("at_k", []) or []:
        metrics += _rate_metrics(row, f"in the top {row.get('k')}", "n_inspected", "thieves_total")
    return metrics


def _rate_metrics(record: dict, where: str, precision_n: str, recall_n: str) -> list[Metric]:
    """Precision and recall of one evaluation record, with their interval and count."""
    metrics = []
    for key, count in (("precision", precision_n), ("recall", recall_n)):
        value = _number(record.get(key))
        if value is not None:
            low, high = _number(record.get(f"{key}_low")), _number(record.get(f"{key}_high"))
            metrics.append(Metric(f"{key} {where}", value, low, high, record.get(count)))
    return metrics
