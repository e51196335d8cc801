"""The artifact store: the only way notebooks and the scorer hand files to each other.

Every write is atomic (a temporary file in the same folder, then a rename), so a crash never leaves
a half-written artifact where a good one was. ``manifest.json`` records, per artifact, its sha256,
size, the notebook and parameters that wrote it and when. Every read checks the hash first and
refuses a file that changed since it was written, before anything is unpickled.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import joblib
import pandas as pd

from ntl._version import __version__
from ntl.errors import (
    ArtifactError,
    ArtifactIntegrityError,
    ArtifactVersionError,
    MissingArtifactError,
)

ARTIFACT_FORMAT = 1
MANIFEST = "manifest.json"

NOTEBOOKS = (
    "01_data_generation_eda",
    "02_preprocessing_clustering",
    "03_modeling",
    "04_evaluation_risk",
)

_PRODUCERS = {
    "consumption.parquet": NOTEBOOKS[0],
    "ground_truth.parquet": NOTEBOOKS[0],
    "data_summary.json": NOTEBOOKS[0],
    "preprocessed.parquet": NOTEBOOKS[1],
    "preprocessing.joblib": NOTEBOOKS[1],
    "split.parquet": NOTEBOOKS[1],
    "model_xgb.joblib": NOTEBOOKS[2],
    "model_xgb.json": NOTEBOOKS[2],
    "calibrator.joblib": NOTEBOOKS[2],
    "model_baselines.joblib": NOTEBOOKS[2],
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


def producer_of(name: str) -> str | None:
    """The notebook that writes artifact `name`, or None when no notebook owns it."""
    if name in _PRODUCERS:
        return _PRODUCERS[name]
    if name.startswith("model_isolation_cluster_"):
        return NOTEBOOKS[2]
    return None


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


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Run ``write(tmp)`` on a temporary file beside `path`, then rename it over `path`.

    If `write` raises, the temporary file is removed and whatever was at `path` stays intact.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


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

    # -- manifest -------------------------------------------------------------------------

    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST

    def manifest(self) -> dict[str, Any]:
        """The manifest as a dict (an empty one when nothing was written yet)."""
        if not self.manifest_path.exists():
            return {"artifact_format": ARTIFACT_FORMAT, "ntl_version": __version__, "artifacts": {}}
        try:
            return json.loads(self.manifest_path.read_text())
        except json.JSONDecodeError as exc:
            raise ArtifactIntegrityError(f"{self.manifest_path} is not valid JSON: {exc}") from exc

    def _record(self, name: str, digest: str, size: int) -> None:
        manifest = self.manifest()
        manifest["artifact_format"] = ARTIFACT_FORMAT
        manifest["ntl_version"] = __version__
        manifest["artifacts"][name] = {
            "sha256": digest,
            "size": size,
            "notebook": self.notebook,
            "parameters": self.parameters,
            "ntl_version": __version__,
            "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
        atomic_write(self.manifest_path, lambda tmp: tmp.write_text(text))

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
        atomic_write(path, write)
        self._record(name, sha256_file(path), path.stat().st_size)
        return path

    def read_bytes(self, name: str) -> bytes:
        """The artifact's bytes, after checking them against the manifest's sha256."""
        path = self.path(name)
        if not path.exists():
            raise self._missing(name)
        entry = self.manifest()["artifacts"].get(name)
        if entry is None:
            raise ArtifactIntegrityError(
                f"{path} is not recorded in {self.manifest_path}: refusing to load a file the "
                "chain did not write"
            )
        data = path.read_bytes()
        digest = sha256_bytes(data)
        if digest != entry["sha256"]:
            raise ArtifactIntegrityError(
                f"{path} changed since {entry['notebook']} wrote it (sha256 {digest[:12]}... "
                f"!= recorded {entry['sha256'][:12]}...): refusing to load it"
            )
        return data

    # -- typed readers and writers -------------------------------------------------------

    def write_parquet(self, name: str, frame: pd.DataFrame) -> Path:
        return self._write(name, lambda tmp: frame.to_parquet(tmp, index=True))

    def read_parquet(self, name: str, columns: list[str] | None = None) -> pd.DataFrame:
        return pd.read_parquet(io.BytesIO(self.read_bytes(name)), columns=columns)

    def write_joblib(self, name: str, obj: Any) -> Path:
        return self._write(name, lambda tmp: joblib.dump(obj, tmp))

    def read_joblib(self, name: str) -> Any:
        return joblib.load(io.BytesIO(self.read_bytes(name)))

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
