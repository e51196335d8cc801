"""Which run serves: the champion pointer, its promotion and its rollback.

``artifacts/champion.json`` in the project folder names the run folder that ``ntl score``, ``ntl
monitor`` and the web app use by default, and the champions before it (newest last). It is the
only thing a promotion changes, and it changes by one atomic rename (``ntl.artifacts.
atomic_write``): a crash at any moment leaves the old file or the new one, so there is always
exactly one champion. Run folders are never moved or deleted by a promotion or a rollback.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ntl.artifacts import MANIFEST, atomic_write
from ntl.errors import ArtifactError, NtlError
from ntl.project import champion_file, project_dir

DEFAULT_RUN = "artifacts/default"  # what `make run-all` writes (relative to the project root)


class NoChampionError(NtlError):
    """No run has been promoted yet."""


def _stored(path: Path) -> str:
    """A run folder as written into champion.json: relative to the project when inside it."""
    path = path.resolve()
    try:
        return str(path.relative_to(project_dir()))
    except ValueError:
        return str(path)


def _resolved(text: str) -> Path:
    path = Path(text)
    return path if path.is_absolute() else project_dir() / path


def read_pointer(pointer: Path | None = None) -> dict[str, Any] | None:
    """champion.json as a dict, or None when nothing was promoted yet."""
    pointer = pointer or champion_file()
    if not pointer.exists():
        return None
    try:
        state = json.loads(pointer.read_text())
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{pointer} is not valid JSON: {exc}") from None
    if not isinstance(state, dict) or not isinstance(state.get("champion"), str):
        raise ArtifactError(f"{pointer} names no champion run")
    return state


def champion_dir(pointer: Path | None = None) -> Path:
    """The run folder that serves; NoChampionError when none was promoted."""
    state = read_pointer(pointer)
    if state is None:
        raise NoChampionError(
            f"no champion yet ({pointer or champion_file()} does not exist): train one with "
            "`ntl retrain --data FILE`, or pass --artifacts DIR"
        )
    return _resolved(state["champion"])


def default_artifacts(pointer: Path | None = None) -> Path:
    """The run folder a command uses when not given ``--artifacts``: the champion once one was
    promoted (``ntl retrain``), else the chain's default run (``make run-all``'s
    ``artifacts/default``). The one place this default is decided: ``ntl score``, ``ntl
    serve``, ``ntl monitor`` and ``ntl outcomes add`` all ask here."""
    from ntl.paths import project_path

    state = read_pointer(pointer)
    return _resolved(state["champion"]) if state is not None else project_path(DEFAULT_RUN)


def _write(state: dict[str, Any], pointer: Path) -> None:
    text = json.dumps(state, indent=2) + "\n"
    atomic_write(pointer, lambda tmp: tmp.write_text(text))


def promote(run_dir: str | Path, reason: str, pointer: Path | None = None) -> dict[str, Any]:
    """Make `run_dir` the champion (the current one joins the history); one atomic rename."""
    pointer = pointer or champion_file()
    run_dir = Path(run_dir)
    if not (run_dir / MANIFEST).exists():
        raise ArtifactError(f"{run_dir} is not a finished run folder (no {MANIFEST})")
    state = read_pointer(pointer) or {"history": []}
    history = list(state.get("history", []))
    if "champion" in state:
        history.append({"run": state["champion"], "promoted_at": state.get("promoted_at")})
    new_state = {
        "champion": _stored(run_dir),
        "promoted_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "reason": reason,
        "history": history,
    }
    _write(new_state, pointer)
    return new_state


def rollback(pointer: Path | None = None) -> dict[str, Any]:
    """Return to the previous champion (one atomic rename); NtlError when there is none."""
    pointer = pointer or champion_file()
    state = read_pointer(pointer)
    if state is None:
        raise NoChampionError(f"no champion to roll back ({pointer} does not exist)")
    history = list(state.get("history", []))
    if not history:
        raise NtlError(f"{state['champion']} is the first champion: there is none to return to")
    previous = history.pop()
    new_state = {
        "champion": previous["run"],
        "promoted_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "reason": f"rollback from {state['champion']}",
        "history": history,
    }
    _write(new_state, pointer)
    return new_state


def describe(pointer: Path | None = None) -> str:
    """A few lines for ``ntl champion``: the serving run, when and why, and the ones before."""
    state = read_pointer(pointer)
    if state is None:
        return f"no champion yet ({pointer or champion_file()} does not exist)"
    lines = [
        f"champion: {_resolved(state['champion'])}",
        f"promoted: {state.get('promoted_at', '?')} ({state.get('reason', '')})",
    ]
    history = state.get("history", [])
    if history:
        lines.append(f"previous champions (newest last): {', '.join(h['run'] for h in history)}")
    return "\n".join(lines)
