"""ntl.outputs: files complete or absent, never over an input, modes under the umask."""

from __future__ import annotations

import functools
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from ntl.errors import ParameterError
from ntl.outputs import (
    atomic_write,
    check_output_paths,
    current_umask,
    file_mode,
    remove_stale_temporaries,
    write_together,
)


def test_write_together_renames_all_or_none(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.json"
    a.write_text("old a")

    def fail(tmp: Path) -> None:
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_together([(a, lambda tmp: tmp.write_text("new a")), (b, fail)])
    assert a.read_text() == "old a"  # the first output was not moved into place
    assert not b.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv"]  # no temporary left
    write_together([(a, lambda tmp: tmp.write_text("new a")), (b, lambda tmp: tmp.write_text("b"))])
    assert (a.read_text(), b.read_text()) == ("new a", "b")


def test_files_get_the_umask_mode_not_0600(tmp_path):
    old = os.umask(0o022)
    try:
        assert current_umask() == 0o022
        assert file_mode() == 0o644
        atomic_write(tmp_path / "list.csv", lambda tmp: tmp.write_text("x"))
        assert stat.S_IMODE((tmp_path / "list.csv").stat().st_mode) == 0o644
        os.umask(0o077)
        atomic_write(tmp_path / "private.csv", lambda tmp: tmp.write_text("x"))
        assert stat.S_IMODE((tmp_path / "private.csv").stat().st_mode) == 0o600
    finally:
        os.umask(old)


def test_stale_temporaries_of_dead_writers_are_removed(tmp_path):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    dead_pid = int(dead.stdout)
    stale = tmp_path / f".list.csv.{dead_pid}.abc123.tmp"
    live = tmp_path / f".list.csv.{os.getpid()}.def456.tmp"
    other = tmp_path / ".notes.txt.tmp"
    for path in (stale, live, other):
        path.write_text("partial")
    assert remove_stale_temporaries(tmp_path) == [stale]
    assert live.exists() and other.exists()
    stale.write_text("partial")
    atomic_write(tmp_path / "list.csv", lambda tmp: tmp.write_text("x"))  # the next write cleans
    assert not stale.exists()


@pytest.mark.parametrize(
    ("outputs", "message"),
    [
        ([("--out", "v.csv")], r"--out .*v\.csv is the input file"),
        ([("--out", "sub/../v.csv")], r"is the input file"),
        ([("--out", "a.csv"), ("--drift-out", "a.csv")], r"--drift-out .*a\.csv is also the --out"),
        ([("--out", "art/x/drift_baseline.json")], r"is inside the artifacts folder"),
        ([("--out", "art")], r"is inside the artifacts folder"),
        ([("--out", "folder")], r"--out .*folder is a directory"),
        ([("--out", "plain.txt/x.csv")], r"the folder .*plain\.txt is not a directory"),
    ],
)
def test_outputs_that_would_destroy_something_are_refused(tmp_path, outputs, message):
    (tmp_path / "v.csv").write_text("meter data")
    (tmp_path / "sub").mkdir()
    (tmp_path / "folder").mkdir()
    (tmp_path / "art" / "x").mkdir(parents=True)
    (tmp_path / "plain.txt").write_text("a file")
    given = [(what, tmp_path / path) for what, path in outputs]
    with pytest.raises(ParameterError, match=message):
        check_output_paths(given, inputs=[tmp_path / "v.csv"], protected_folders=[tmp_path / "art"])
    assert (tmp_path / "v.csv").read_text() == "meter data"


def test_a_hard_link_to_the_input_is_the_input(tmp_path):
    (tmp_path / "v.csv").write_text("meter data")
    os.link(tmp_path / "v.csv", tmp_path / "link.csv")
    with pytest.raises(ParameterError, match="is the input file"):
        check_output_paths([("--out", tmp_path / "link.csv")], inputs=[tmp_path / "v.csv"])
    check_output_paths([("--out", tmp_path / "new" / "x.csv")], inputs=[tmp_path / "v.csv"])


AS_NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


@functools.cache
def nobody_can_run_ntl() -> bool:
    """True when uid 65534 can import this checkout's ntl (a clone inside a `mktemp -d` folder,
    mode 0700, is unreadable to it)."""
    probe = subprocess.run(
        [*AS_NOBODY, sys.executable, "-c", "import ntl"], capture_output=True, timeout=60
    )
    return probe.returncode == 0


def unprivileged(command: list[str]) -> list[str]:
    """`command` as a user whom file modes bind (root writes into read-only folders anyway).

    As root in a checkout that user cannot read, the test is skipped, saying why."""
    if os.geteuid() != 0:
        return command
    if not nobody_can_run_ntl():
        pytest.skip(
            "running as root in a project folder uid 65534 cannot read (e.g. inside a mode-0700 "
            "`mktemp -d`): a read-only folder binds only an unprivileged user; run from a "
            "readable folder or as a normal user"
        )
    return [*AS_NOBODY, *command]


unprivileged.__test__ = False


@pytest.fixture
def shared_tmp():
    """A folder every user may traverse (pytest's own is private to its user)."""
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="ntl-shared-", dir="/tmp"))
    folder.chmod(0o755)
    yield folder
    for path in folder.rglob("*"):
        if path.is_dir():
            path.chmod(0o755)
    shutil.rmtree(folder)


def test_a_read_only_output_folder_is_refused_before_reading(shared_tmp):
    read_only = shared_tmp / "read_only"
    read_only.mkdir()
    read_only.chmod(0o555)
    completed = subprocess.run(
        unprivileged(
            [
                sys.executable,
                "-m",
                "ntl",
                "score",
                str(shared_tmp / "meter.csv"),
                "--artifacts",
                str(shared_tmp / "artifacts"),
                "--out",
                str(read_only / "list.csv"),
                "--quiet",
            ]
        ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 2, completed.stderr
    assert completed.stderr.strip().splitlines() == [
        f"error: --out {read_only / 'list.csv'}: the folder {read_only} is not writable"
    ]
