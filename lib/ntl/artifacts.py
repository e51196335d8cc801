"""The artifact store: the only way notebooks and the scorer hand files to each other.

Every write is atomic (a temporary file in the same folder, then a rename), so a crash never leaves
a half-written artifact where a good one was. ``manifest.json`` records, per artifact, its sha256,
size, the notebook and parameters that wrote it, when, and its lineage: the sha256 of every
artifact of an earlier notebook it was made from (what that notebook's store had read). Every read
checks the hash, then the lineage: an artifact made from a file that has since been replaced is
refused with the names of both and the notebook to rerun, so two runs never mix silently.

A notebook's first write into a folder retires what it would make stale: its own outputs of an
earlier execution and every output of the notebooks after it (01 starts the folder clean).
Read-modify-write of the manifest happens under an exclusive lock on ``.manifest.lock``.

The hashes catch accidents (a file changed, truncated or copied from another run), not an attacker
who can write the folder: they sit in the same folder. Nothing read here can run code (no pickles,
see ``ntl.persist``).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from ntl._version import __version__
from ntl.errors import (
    ArtifactError,
    ArtifactIntegrityError,
    ArtifactLineageError,
    ArtifactVersionError,
    MissingArtifactError,
)
from ntl.outputs import atomic_write

ARTIFACT_FORMAT = 2  # 2: no pickles (skops, native XGBoost JSON, plain data)
MANIFEST = "manifest.json"
MANIFEST_LOCK = ".manifest.lock"

NOTEBOOKS = (
    "01_data_generation_eda",
    "02_preprocessing_clustering",
    "03_modeling",
    "04_evaluation_risk",
)

_PRODUCERS = {
    "consumption.parquet": NOTEBOOKS[0],
    "consumption_dataset.json": NOTEBOOKS[0],  # the Dask path: consumption.parts/ listing
    "ground_truth.parquet": NOTEBOOKS[0],
    "data_summary.json": NOTEBOOKS[0],
    "preprocessed.parquet": NOTEBOOKS[1],
    "preprocessing.json": NOTEBOOKS[1],
    "preprocessing_clusters.skops": NOTEBOOKS[1],
    "split.parquet": NOTEBOOKS[1],
    "preprocessed_dataset.json": NOTEBOOKS[1],  # the Dask path: preprocessed.parts/ listing
    "model_xgb.json": NOTEBOOKS[2],
    "calibrator.skops": NOTEBOOKS[2],
    "model_baselines.skops": NOTEBOOKS[2],
    "model_raw_readings.json": NOTEBOOKS[2],
    "thresholds.json": NOTEBOOKS[2],
    "metadata.json": NOTEBOOKS[2],
    "feature_importance.png": NOTEBOOKS[2],
    "oof_scores.parquet": NOTEBOOKS[2],
    "evaluation.json": NOTEBOOKS[3],
    "inspection_list.csv": NOTEBOOKS[3],
    "inspection_list.parquet": NOTEBOOKS[3],
    "drift_baseline.json": NOTEBOOKS[3],
    "model_card.md": NOTEBOOKS[3],
    **{
        figure: NOTEBOOKS[3]
        for figure in (
            "roc_pr_curves.png",
            "confusion_matrix.png",
            "reliability.png",
            "tiers.png",
            "lift.png",
            "cost_benefit.png",
            "attack_recall.png",
            "importance.png",
            "top_customers.png",
        )
    },
}


# Artifacts that pin a folder of parquet parts (the Dask path); the folder goes with them.
DATASET_FOLDERS = {
    "consumption_dataset.json": "consumption.parts",
    "preprocessed_dataset.json": "preprocessed.parts",
}


def producer_of(name: str) -> str | None:
    """The notebook that writes artifact `name`, or None when no notebook owns it."""
    if name in _PRODUCERS:
        return _PRODUCERS[name]
    if name.startswith(("model_isolation_cluster_", "model_one_class_svm_", "model_autoencoder_")):
        return NOTEBOOKS[2]
    return None


def _rerun_hint(notebook: str) -> str:
    """What to rerun when `notebook`'s outputs are stale."""
    if notebook in NOTEBOOKS:
        number = notebook.split("_")[0]
        return f"rerun the chain from {notebook} (python -m ntl run --from {number} ...)"
    return "rerun the chain (make run-all)"


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of `data`."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in blocks so large files cost no memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _jsonable(value: Any) -> Any:
    """Parameters as plain JSON: containers kept, anything exotic written as its str()."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "item"):  # numpy scalars
        return _jsonable(value.item())
    return str(value)


class ArtifactStore:
    """Read and write the artifacts of one run folder, with hashes checked on every load."""

    def __init__(
        self,
        artifacts_dir: str | os.PathLike,
        notebook: str = "unknown",
        parameters: Mapping[str, Any] | None = None,
    ) -> None:
        self.root = Path(artifacts_dir)
        self.notebook = notebook
        self.parameters = _jsonable(dict(parameters or {}))
        self.session = uuid.uuid4().hex  # one execution of a notebook
        self._reads: dict[str, dict[str, Any]] = {}  # name -> manifest entry when read
        self._retired = False

    # -- manifest -------------------------------------------------------------------------

    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST

    def manifest(self) -> dict[str, Any]:
        """The manifest as a dict (an empty one when nothing was written yet)."""
        if not self.manifest_path.exists():
            return {"artifact_format": ARTIFACT_FORMAT, "ntl_version": __version__, "artifacts": {}}
        try:
            manifest = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ArtifactIntegrityError(f"{self.manifest_path} is not valid JSON: {exc}") from None
        except IsADirectoryError:
            raise ArtifactIntegrityError(f"{self.manifest_path} is a directory") from None
        if not isinstance(manifest, dict) or not isinstance(manifest.get("artifacts"), dict):
            found = type(manifest).__name__
            raise ArtifactIntegrityError(
                f"{self.manifest_path} is not an ntl manifest (a JSON {found} without an "
                "'artifacts' mapping); re-run the chain into a clean folder"
            )
        return manifest

    @contextlib.contextmanager
    def _locked_manifest(self) -> Iterator[dict[str, Any]]:
        """The manifest under an exclusive lock; changes to the dict are saved on exit."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / MANIFEST_LOCK, "a+b") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                manifest = self.manifest()
                yield manifest
                manifest["artifact_format"] = ARTIFACT_FORMAT
                manifest["ntl_version"] = __version__
                text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
                atomic_write(self.manifest_path, lambda tmp: tmp.write_text(text))
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def _lineage(self) -> dict[str, str]:
        """sha256 of every artifact read so far that an earlier notebook wrote."""
        return {
            name: entry["sha256"]
            for name, entry in self._reads.items()
            if entry.get("notebook") != self.notebook
        }

    def _record(self, name: str, digest: str, size: int) -> None:
        with self._locked_manifest() as manifest:
            manifest["artifacts"][name] = {
                "sha256": digest,
                "size": size,
                "notebook": self.notebook,
                "parameters": self.parameters,
                "ntl_version": __version__,
                "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "session": self.session,
                # an artifact updated in place (retraining adds lines to the card) is not its own input
                "inputs": {source: h for source, h in self._lineage().items() if source != name},
            }

    def retire_stale(self) -> list[str]:
        """Remove what this notebook's run makes stale: its own artifacts of an earlier execution
        and all artifacts of the notebooks after it. Returns the names removed.

        Called by the first write of each store; a store of a name outside the chain retires
        nothing.
        """
        self._retired = True
        if self.notebook not in NOTEBOOKS or not self.manifest_path.exists():
            return []
        order = NOTEBOOKS.index(self.notebook)
        removed = []
        with self._locked_manifest() as manifest:
            for name, entry in list(manifest["artifacts"].items()):
                writer = entry.get("notebook")
                later = writer in NOTEBOOKS and NOTEBOOKS.index(writer) >= order
                if later and entry.get("session") != self.session:
                    with contextlib.suppress(FileNotFoundError):
                        self.path(name).unlink()
                    if name in DATASET_FOLDERS:  # the folder of parts its listing pinned
                        shutil.rmtree(self.root / DATASET_FOLDERS[name], ignore_errors=True)
                    del manifest["artifacts"][name]
                    removed.append(name)
        return removed

    def verify(self) -> list[str]:
        """Check every recorded artifact (present, hash, lineage) and return their names.

        Raises the error a read of the first bad artifact would raise; reads nothing for good.
        """
        names = sorted(self.manifest()["artifacts"])
        readers: dict[str, ArtifactStore] = {}
        for name in names:
            writer = self.manifest()["artifacts"][name].get("notebook", "?")
            reader = readers.setdefault(writer, ArtifactStore(self.root, notebook="verify"))
            reader.read_bytes(name)  # one reader per writer: siblings' executions compared too
        return names

    def check_compatible(self) -> None:
        """Raise ArtifactVersionError when the folder was written by an incompatible `ntl`."""
        if not self.manifest_path.exists():
            raise MissingArtifactError(
                f"{self.root} holds no {MANIFEST}: it is not an ntl artifacts folder "
                "(run the chain first: make run-all)"
            )
        manifest = self.manifest()
        found = manifest.get("artifact_format")
        if found != ARTIFACT_FORMAT:
            raise ArtifactVersionError(
                f"{self.root} was written with artifact format {found} by ntl "
                f"{manifest.get('ntl_version', '?')}; this ntl {__version__} reads format "
                f"{ARTIFACT_FORMAT}. Re-run the chain with this version."
            )

    def record(self, name: str) -> dict[str, Any]:
        """The manifest entry of artifact `name` (sha256, size, notebook, parameters, time)."""
        entry = self.manifest()["artifacts"].get(name)
        if entry is None:
            raise self._missing(name)
        return entry

    # -- paths ----------------------------------------------------------------------------

    def path(self, name: str) -> Path:
        """Where artifact `name` lives (it may not exist yet)."""
        if Path(name).name != name or name in ("", ".", "..", MANIFEST):
            raise ArtifactError(f"artifact name must be a plain file name, got {name!r}")
        return self.root / name

    def exists(self, name: str) -> bool:
        """True when `name` was written and recorded in the manifest."""
        return self.path(name).exists() and name in self.manifest()["artifacts"]

    def _missing(self, name: str) -> MissingArtifactError:
        maker = producer_of(name)
        hint = f"run {maker} first" if maker else "no notebook writes it"
        return MissingArtifactError(f"{self.path(name)} does not exist: {hint}")

    # -- raw bytes ------------------------------------------------------------------------

    def _write(self, name: str, write: Callable[[Path], None]) -> Path:
        path = self.path(name)
        if not self._retired:
            self.retire_stale()
        atomic_write(path, write)
        self._record(name, sha256_file(path), path.stat().st_size)
        return path

    def read_bytes(self, name: str) -> bytes:
        """The artifact's bytes, after checking them against the manifest's sha256 and lineage."""
        path = self.path(name)
        if not path.exists():
            raise self._missing(name)
        manifest = self.manifest()
        entry = manifest["artifacts"].get(name)
        if entry is None:
            raise ArtifactIntegrityError(
                f"{path} is not recorded in {self.manifest_path}: refusing to load a file the "
                "chain did not write"
            )
        try:
            data = path.read_bytes()
        except IsADirectoryError:
            raise ArtifactIntegrityError(f"{path} is a directory, not an artifact") from None
        digest = sha256_bytes(data)
        if digest != entry.get("sha256"):
            raise ArtifactIntegrityError(
                f"{path} changed since {entry.get('notebook')} wrote it (sha256 {digest[:12]}... "
                f"!= recorded {str(entry.get('sha256'))[:12]}...): refusing to load it (the hash "
                "catches accidents such as a file copied from another run; rerun "
                f"{entry.get('notebook')})"
            )
        self.check_lineage(name, manifest)
        self._reads[name] = entry
        return data

    def check_lineage(self, name: str, manifest: dict[str, Any] | None = None) -> None:
        """Raise ArtifactLineageError when `name` was made from artifacts that have since been
        replaced or removed, or comes from another execution of a notebook than a sibling read
        before it."""
        manifest = manifest if manifest is not None else self.manifest()
        artifacts = manifest["artifacts"]
        entry = artifacts[name]
        writer = entry.get("notebook", "?")
        rerun = _rerun_hint(writer)
        for source, recorded in sorted((entry.get("inputs") or {}).items()):
            current = artifacts.get(source)
            if current is None or not self.path(source).exists():
                raise ArtifactLineageError(
                    f"{self.root} mixes runs: {name} (written by {writer}) was made from "
                    f"{source}, which is no longer there; {rerun}"
                )
            if current.get("sha256") != recorded:
                raise ArtifactLineageError(
                    f"{self.root} mixes runs: {name} (written by {writer} at "
                    f"{entry.get('written_at')}) was made from {source} {recorded[:12]}..., but "
                    f"{source} is now {str(current.get('sha256'))[:12]}... (written by "
                    f"{current.get('notebook')} at {current.get('written_at')}); {rerun}"
                )
        for sibling, seen in self._reads.items():
            same_writer = seen.get("notebook") == writer and writer in NOTEBOOKS
            if same_writer and seen.get("session") != entry.get("session"):
                raise ArtifactLineageError(
                    f"{self.root} mixes runs: {sibling} and {name} were written by two different "
                    f"executions of {writer} ({seen.get('written_at')} and "
                    f"{entry.get('written_at')}); {_rerun_hint(writer)}"
                )

    # -- typed readers and writers -------------------------------------------------------

    def write_bytes(self, name: str, data: bytes) -> Path:
        """Write `data` as artifact `name` (skops files, XGBoost's JSON model)."""
        return self._write(name, lambda tmp: tmp.write_bytes(data))

    def write_parquet(self, name: str, frame: pd.DataFrame) -> Path:
        return self._write(name, lambda tmp: frame.to_parquet(tmp, index=True))

    def read_parquet(self, name: str, columns: list[str] | None = None) -> pd.DataFrame:
        return pd.read_parquet(io.BytesIO(self.read_bytes(name)), columns=columns)

    def write_json(self, name: str, obj: Any) -> Path:
        text = json.dumps(_jsonable(obj), indent=2, sort_keys=True, allow_nan=True) + "\n"
        return self._write(name, lambda tmp: tmp.write_text(text))

    def read_json(self, name: str) -> Any:
        return json.loads(self.read_bytes(name))

    def write_text(self, name: str, text: str) -> Path:
        return self._write(name, lambda tmp: tmp.write_text(text))

    def read_text(self, name: str) -> str:
        return self.read_bytes(name).decode("utf-8")

    def write_csv(self, name: str, frame: pd.DataFrame, index: bool = False) -> Path:
        return self._write(name, lambda tmp: frame.to_csv(tmp, index=index))

    def write_figure(self, name: str, figure: Any, dpi: int = 120) -> Path:
        """Save a matplotlib figure as PNG, without a timestamp, so reruns are byte-identical."""
        return self._write(
            name,
            lambda tmp: figure.savefig(
                tmp, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None}
            ),
        )
