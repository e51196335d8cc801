"""Runs killed at a random point: the folder is the old run, refused clearly, or the new run.

Each case copies the session's finished smoke run (seed 42), starts ``ntl run --from NN`` with
another seed into the copy, SIGKILLs the runner and its kernels at a random moment of stage NN,
checks what ``ntl score`` makes of the folder, then reruns the same command to the end and checks
that the folder is one consistent new run. The seed of the random moments is printed on failure.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ntl.artifacts import NOTEBOOKS, ArtifactStore, producer_of
from ntl.run import ROOT
from ntl.runlock import LOCK_FILE
from tests.test_persist import plant_pickles

pytestmark = pytest.mark.chain

SMOKE = ROOT / "params" / "smoke.yaml"
CHAOS_SEED = int(os.environ.get("NTL_CHAOS_SEED", time.time_ns() % 100_000))
KILL_WITHIN_SECONDS = 4.0  # a stage of the smoke chain takes a few seconds


def _run_command(artifacts: Path, reports: Path, start: str) -> list[str]:
    return [
        sys.executable, "-m", "ntl", "run", "--params", str(SMOKE), "--no-html", "--from", start,
        "--set", "seed=7", "--set", f"artifacts_dir={artifacts}", "--set", f"reports_dir={reports}",
    ]  # fmt: skip


def _descendants(pid: int) -> list[int]:
    """Every process below `pid` (its papermill kernels), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _stage_started(artifacts: Path, stem: str) -> bool:
    try:
        return json.loads((artifacts / LOCK_FILE).read_text()).get("stage") == stem
    except (OSError, ValueError):
        return False


def _kill_during(command: list[str], artifacts: Path, stem: str, delay: float) -> bool:
    """Start `command`, SIGKILL it and its kernels `delay` s into stage `stem`; True if killed."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not _stage_started(artifacts, stem) and process.poll() is None:
        assert time.monotonic() < deadline, f"{stem} never started"
        time.sleep(0.02)
    time.sleep(delay)
    if process.poll() is not None:
        return False
    tree = [process.pid, *_descendants(process.pid)]
    for pid in tree:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait(timeout=30)
    return True


def _score(artifacts: Path, export: Path, out: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "ntl", "score", str(export), "--artifacts", str(artifacts)]
    return subprocess.run(
        [*command, "--out", str(out), "--quiet"], capture_output=True, text=True, timeout=300
    )


def _seeds_by_stage(artifacts: Path) -> dict[str, set]:
    seeds: dict[str, set] = {}
    for name, entry in ArtifactStore(artifacts).manifest()["artifacts"].items():
        seeds.setdefault(entry["notebook"], set()).add(entry["parameters"].get("seed"))
        assert producer_of(name) in (entry["notebook"], None), name
    return seeds


@pytest.fixture
def finished(smoke_artifacts, tmp_path) -> tuple[Path, Path]:
    """A private copy of a finished smoke run, and a meter export of its customers."""
    artifacts = tmp_path / "artifacts"
    shutil.copytree(smoke_artifacts, artifacts)
    export = tmp_path / "meter.parquet"
    ArtifactStore(artifacts).read_parquet("consumption.parquet").to_parquet(export)
    return artifacts, export


@pytest.mark.parametrize("stage", NOTEBOOKS)
def test_a_run_killed_in_any_stage_never_leaves_a_silent_mix(finished, tmp_path, stage):
    artifacts, export = finished
    old = ArtifactStore(artifacts).manifest()["artifacts"]
    rng = random.Random(f"{CHAOS_SEED}-{stage}")
    delay = rng.uniform(0.0, KILL_WITHIN_SECONDS)
    context = f"(NTL_CHAOS_SEED={CHAOS_SEED}, killed {delay:.2f} s into {stage})"
    command = _run_command(artifacts, tmp_path / "reports", stage.split("_")[0])
    killed = _kill_during(command, artifacts, stage, delay)

    scored = _score(artifacts, export, tmp_path / "after_kill.csv")
    if killed:  # an interrupted run: refused, in one line that says so
        assert scored.returncode == 2, context + scored.stderr
        lines = scored.stderr.strip().splitlines()
        assert len(lines) == 1 and "before finishing" in lines[0], context + scored.stderr
    else:  # it finished before the kill: a complete new run
        assert scored.returncode == 0, context + scored.stderr
    assert not list(artifacts.glob(".*.tmp")) or killed  # leftovers only from the kill
    now = ArtifactStore(artifacts).manifest()["artifacts"]
    first = NOTEBOOKS.index(stage)
    for name, entry in old.items():  # earlier stages: the old run, untouched
        if NOTEBOOKS.index(entry["notebook"]) < first:
            assert now.get(name) == entry, f"{name} changed {context}"

    rerun = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, context + rerun.stderr
    assert not (artifacts / LOCK_FILE).exists()
    assert not list(artifacts.glob(".*.tmp")), context
    ArtifactStore(artifacts).verify()  # every file present, hashed and of one lineage
    seeds = _seeds_by_stage(artifacts)
    for position, stem in enumerate(NOTEBOOKS):
        assert seeds[stem] == ({7} if position >= first else {42}), (stem, seeds, context)
    scored = _score(artifacts, export, tmp_path / "after_rerun.csv")
    assert scored.returncode == 0, context + scored.stderr


def test_planted_pickles_never_run_in_notebook_04(finished, tmp_path):
    """`--from 04` on a folder with malicious pickles (sha256s in the manifest) runs no code."""
    artifacts, _ = finished
    marker = tmp_path / "marker"
    plant_pickles(artifacts, marker)
    command = _run_command(artifacts, tmp_path / "reports", "04")
    command[command.index("seed=7")] = "seed=42"
    completed = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr
    assert not marker.exists()
