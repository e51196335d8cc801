"""One run at a time per artifacts folder, and a record of a run that did not finish.

``ntl run`` holds an exclusive ``flock`` on ``<artifacts>/.ntl-run.lock`` for its whole life and
writes into the file who holds it (process id, host, start time, current notebook). A second run
into the same folder is refused at once, naming that process. The kernel drops the lock when its
holder dies, so a lock left by a killed run is recognised as stale and taken over; the file itself
stays until a run finishes, so ``ntl score`` can tell a folder whose last run was interrupted (and
is therefore incomplete) from a finished one, and refuse it with what to rerun.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ntl.errors import NtlError

LOCK_FILE = ".ntl-run.lock"


class RunLockedError(NtlError):
    """Another run holds the folder, or the folder's last run did not finish."""


def _holder(path: Path) -> dict[str, Any]:
    """What the lock file says about its holder ({} when unreadable)."""
    try:
        holder = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


def _describe(holder: dict[str, Any]) -> str:
    pid = holder.get("pid", "?")
    where = f" on {holder['host']}" if holder.get("host") else ""
    since = f", started {holder['started']}" if holder.get("started") else ""
    stage = f", in {holder['stage']}" if holder.get("stage") else ""
    return f"pid {pid}{where}{since}{stage}"


@dataclass
class RunLock:
    """The exclusive lock of one run on its artifacts folder (use as a context manager)."""

    folder: Path
    _handle: Any = None
    stale: dict[str, Any] | None = None  # the holder of a lock left by a run that died

    @property
    def path(self) -> Path:
        return self.folder / LOCK_FILE

    def acquire(self) -> RunLock:
        """Take the lock or raise RunLockedError naming the process that holds it."""
        self.folder.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(self.path)
            handle.close()
            raise RunLockedError(
                f"{self.folder} is in use by another run ({_describe(holder)}); wait for it to "
                "finish or stop that process, or run into another folder (artifacts_dir=...)"
            ) from None
        previous = _holder(self.path)
        self.stale = previous or None
        self._handle = handle
        self.update(state="running", stage=None)
        return self

    def update(self, **fields: Any) -> None:
        """Rewrite the lock file with the holder's details and `fields` (stage, state)."""
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        current = _holder(self.path)
        if current.get("pid") == os.getpid():
            record["started"] = current.get("started", record["started"])
            record.update({k: v for k, v in current.items() if k not in record})
        record.update(fields)
        self._handle.seek(0)
        self._handle.truncate()
        self._handle.write(json.dumps(record) + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def release(self, finished: bool) -> None:
        """Drop the lock; a finished run removes the file, an unfinished one leaves its record."""
        if self._handle is None:
            return
        if finished:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        else:
            self.update(state="failed")
        fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
        self._handle.close()
        self._handle = None


def check_folder_settled(folder: str | os.PathLike) -> None:
    """Raise RunLockedError when a run is writing into `folder` now, or its last run stopped
    before finishing (the folder may hold only part of that run)."""
    path = Path(folder) / LOCK_FILE
    if not path.exists():
        return
    try:
        handle = open(path, encoding="utf-8")
    except OSError:
        return
    with handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunLockedError(
                f"{folder} is being written by a run right now ({_describe(_holder(path))}); "
                "score after it finishes"
            ) from None
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    holder = _holder(path)
    how = "failed" if holder.get("state") == "failed" else "was interrupted"
    raise RunLockedError(
        f"{folder}: its last run ({_describe(holder)}) {how} before finishing, so the folder may "
        "hold only part of a run; rerun the chain into it (make run-all / python -m ntl run)"
    )
