"""Writing files so that they appear complete or not at all, and never over something we read.

Every file is written to a temporary file beside its destination (``.<name>.<pid>.<random>.tmp``),
synced, then renamed into place; several files of one command are all written first and renamed
together at the end, so a failure leaves none of them. A temporary file whose writer process is
gone (it was killed mid-write) is removed by the next write into that folder. Finished files get
the mode a plain ``open()`` would give them (0666 less the umask), not mkstemp's private 0600.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from ntl.errors import ParameterError

Writer = Callable[[Path], None]
_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.[^.]+\.tmp$")


def current_umask() -> int:
    """The process umask, read without changing it where the system allows (Linux /proc)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode of a newly created file under the current umask (0644 under the usual 022)."""
    return 0o666 & ~current_umask()


def pid_alive(pid: int) -> bool:
    """True when a process with this id exists (it may belong to another user)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(folder: Path, names: Iterable[str] | None = None) -> list[Path]:
    """Delete temporary files of interrupted writes in `folder` (of `names`, or of any file).

    Only files named like ours whose writing process no longer exists are removed, so a write in
    progress in another process is left alone. Returns the files removed.
    """
    wanted = None if names is None else set(names)
    removed = []
    with contextlib.suppress(FileNotFoundError, NotADirectoryError, PermissionError):
        for path in folder.iterdir():
            match = _TEMPORARY.match(path.name)
            if not match or (wanted is not None and match["name"] not in wanted):
                continue
            if pid_alive(int(match["pid"])):
                continue
            with contextlib.suppress(FileNotFoundError, IsADirectoryError, PermissionError):
                path.unlink()
                removed.append(path)
    return removed


def _temporary_beside(path: Path) -> Path:
    fd, name = tempfile.mkstemp(
        prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent
    )
    os.close(fd)
    return Path(name)


def _fill(tmp: Path, write: Writer) -> None:
    write(tmp)
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.chmod(tmp, file_mode())


def write_together(files: Sequence[tuple[Path, Writer]]) -> None:
    """Write every ``(path, write)`` to a temporary file, then rename them all into place.

    ``write(tmp)`` fills one file. If any write raises, every temporary file is removed and no
    destination is touched: the outputs of one call appear together or not at all.
    """
    temporaries: list[Path] = []
    try:
        for path, write in files:
            path.parent.mkdir(parents=True, exist_ok=True)
            remove_stale_temporaries(path.parent, [path.name])
            tmp = _temporary_beside(path)
            temporaries.append(tmp)
            _fill(tmp, write)
        for tmp, (path, _) in zip(temporaries, files, strict=True):
            os.replace(tmp, path)
    except BaseException:
        for tmp in temporaries:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        raise


def atomic_write(path: Path, write: Writer) -> None:
    """Run ``write(tmp)`` on a temporary file beside `path`, then rename it over `path`.

    If `write` raises, the temporary file is removed and whatever was at `path` stays intact.
    """
    write_together([(Path(path), write)])


def _resolved(path: str | os.PathLike) -> Path:
    return Path(os.path.realpath(os.path.abspath(os.fspath(path))))


def _same_file(a: Path, b: Path) -> bool:
    if a == b:
        return True
    with contextlib.suppress(OSError):
        return os.path.samefile(a, b)
    return False


def _writable_folder(path: Path) -> Path | None:
    """The nearest existing ancestor of `path`'s folder when it is not writable, else None."""
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        return folder
    return None if os.access(folder, os.W_OK | os.X_OK) else folder


def check_output_paths(
    outputs: Sequence[tuple[str, str | os.PathLike]],
    inputs: Sequence[str | os.PathLike],
    protected_folders: Sequence[str | os.PathLike] = (),
) -> None:
    """Refuse, before anything is read or written, outputs that would destroy something.

    `outputs` are ``(what, path)`` pairs (``what`` names the option, e.g. ``--out``). Raises
    ParameterError when an output is one of the `inputs`, is another output of the same call,
    lies inside a `protected_folders` (an artifacts folder), is a directory, or sits in a folder
    that cannot be written.
    """
    resolved_inputs = [_resolved(p) for p in inputs]
    protected = [_resolved(p) for p in protected_folders]
    seen: list[tuple[str, Path]] = []
    for what, raw in outputs:
        path = _resolved(raw)
        for source, original in zip(resolved_inputs, inputs, strict=True):
            if _same_file(path, source):
                raise ParameterError(
                    f"{what} {raw} is the input file {original}: refusing to overwrite it "
                    "(choose another output name)"
                )
        for other_what, other in seen:
            if _same_file(path, other):
                raise ParameterError(
                    f"{what} {raw} is also the {other_what} output of this call: choose "
                    "different names"
                )
        for folder, original in zip(protected, protected_folders, strict=True):
            if path == folder or folder in path.parents:
                raise ParameterError(
                    f"{what} {raw} is inside the artifacts folder {original}: writing there "
                    "would corrupt the run; write the output elsewhere"
                )
        if path.is_dir():
            raise ParameterError(f"{what} {raw} is a directory; give a file name")
        blocked = _writable_folder(path)
        if blocked is not None:
            problem = (
                "is not a directory"
                if blocked.exists() and not blocked.is_dir()
                else ("is not writable")
            )
            raise ParameterError(f"{what} {raw}: the folder {blocked} {problem}")
        seen.append((what, path))
