"""One run per folder: a second run refused naming the holder; a dead holder's lock is stale."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from ntl.runlock import LOCK_FILE, RunLock, RunLockedError, check_folder_settled

HOLD = (
    "import sys, time\n"
    "from pathlib import Path\n"
    "from ntl.runlock import RunLock\n"
    "lock = RunLock(Path(sys.argv[1])).acquire()\n"
    "lock.update(stage='02_preprocessing_clustering')\n"
    "print('locked', flush=True)\n"
    "time.sleep(60)\n"
)


@pytest.fixture
def holder(tmp_path):
    """Another process holding the folder's lock."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout.readline().strip() == "locked"
    yield process
    process.kill()
    process.wait(timeout=10)


def test_a_second_run_is_refused_at_once_naming_the_holder(tmp_path, holder):
    started = time.perf_counter()
    with pytest.raises(RunLockedError, match=rf"is in use by another run \(pid {holder.pid}"):
        RunLock(tmp_path).acquire()
    assert time.perf_counter() - started < 1.0
    with pytest.raises(
        RunLockedError, match=rf"being written by a run right now \(pid {holder.pid}"
    ):
        check_folder_settled(tmp_path)


def test_the_lock_of_a_dead_run_is_stale_and_taken_over(tmp_path, holder):
    holder.kill()
    holder.wait(timeout=10)
    with pytest.raises(RunLockedError, match=rf"last run \(pid {holder.pid}.*was interrupted"):
        check_folder_settled(tmp_path)  # a scorer refuses the unfinished folder
    lock = RunLock(tmp_path).acquire()
    assert lock.stale["pid"] == holder.pid and lock.stale["stage"] == "02_preprocessing_clustering"
    lock.release(finished=True)
    assert not (tmp_path / LOCK_FILE).exists()
    check_folder_settled(tmp_path)  # finished: nothing to say


def test_a_failed_run_leaves_its_record(tmp_path):
    lock = RunLock(tmp_path).acquire()
    lock.update(stage="03_modeling")
    lock.release(finished=False)
    record = json.loads((tmp_path / LOCK_FILE).read_text())
    assert record["state"] == "failed" and record["stage"] == "03_modeling"
    with pytest.raises(RunLockedError, match="failed before finishing"):
        check_folder_settled(tmp_path)
