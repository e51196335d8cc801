"""The make targets the scheduled workflows call: arguments passed on, drift-check's branching."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ntl.project import ROOT

STUB = """#!/bin/sh
echo "$@" >> "{log}"
case "$3" in monitor) exit {monitor_code};; *) exit 0;; esac
"""


def _make(tmp_path: Path, target: str, *variables: str, monitor_code: int = 0):
    log = tmp_path / "calls.log"
    stub = tmp_path / "python"
    stub.write_text(STUB.format(log=log, monitor_code=monitor_code))
    stub.chmod(0o755)
    done = subprocess.run(
        ["make", "-s", target, f"PY={stub}", *variables],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    calls = log.read_text().splitlines() if log.exists() else []
    return done, calls


def test_drift_check_retrains_only_when_the_monitor_says_3(tmp_path):
    done, calls = _make(tmp_path, "drift-check", "INPUT=m.csv", monitor_code=3)
    assert done.returncode == 0, done.stderr
    assert calls == [
        "-m ntl monitor m.csv",
        "-m ntl retrain --data m.csv --params params/default.yaml",
    ]
    done, calls = _make(tmp_path / "", "drift-check", "INPUT=m.csv", "RUN=runs/x", monitor_code=0)
    assert done.returncode == 0 and calls[-1] == "-m ntl monitor m.csv --artifacts runs/x"


@pytest.mark.parametrize("code", [1, 2])
def test_drift_check_fails_with_the_monitor_and_does_not_retrain(tmp_path, code):
    done, calls = _make(tmp_path, "drift-check", "INPUT=m.csv", monitor_code=code)
    assert done.returncode != 0
    assert calls == ["-m ntl monitor m.csv"]


def test_retrain_and_monitor_pass_their_arguments(tmp_path):
    done, calls = _make(tmp_path, "retrain", "DATA=d.csv", "PARAMS=p.yaml", "SEED=7")
    assert done.returncode == 0, done.stderr
    assert calls == ["-m ntl retrain --data d.csv --params p.yaml --set seed=7"]
    done, calls = _make(tmp_path, "monitor", "INPUT=n.csv", monitor_code=3)
    assert done.returncode != 0 and calls[-1] == "-m ntl monitor n.csv"


@pytest.mark.parametrize(
    ("target", "usage"),
    [("retrain", "usage: make retrain DATA="), ("monitor", "usage: make monitor INPUT=")],
)
def test_targets_without_their_file_print_usage(tmp_path, target, usage):
    done, calls = _make(tmp_path, target)
    assert done.returncode != 0 and usage in done.stdout and calls == []


def test_score_and_serve_pass_artifacts_only_when_given(tmp_path):
    """Without ARTIFACTS the commands choose the default run (the champion, else
    artifacts/default) themselves; make must not pin artifacts/default."""
    out = f"OUT={tmp_path / 'list.csv'}"
    done, calls = _make(tmp_path, "score", "INPUT=n.csv", out)
    assert done.returncode == 0, done.stderr
    assert calls == [f"-m ntl score n.csv --out {tmp_path / 'list.csv'}"]
    done, calls = _make(tmp_path, "score", "INPUT=n.csv", out, "ARTIFACTS=runs/x")
    assert calls[-1] == f"-m ntl score n.csv --artifacts runs/x --out {tmp_path / 'list.csv'}"
    done, calls = _make(tmp_path, "serve")
    assert done.returncode == 0 and calls[-1] == "-m ntl serve --host 127.0.0.1 --port 8000"
    done, calls = _make(tmp_path, "serve", "ARTIFACTS=runs/x", "PORT=9000")
    assert calls[-1] == "-m ntl serve --artifacts runs/x --host 127.0.0.1 --port 9000"
