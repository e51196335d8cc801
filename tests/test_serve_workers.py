"""Scoring processes of the web app (ntl.serve.workers): single customers scored in worker
processes give exactly the in-process answers, a worker that dies is replaced, a worker refuses
artifacts other than the ones the app verified, and every worker ends with the app."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from ntl import score
from ntl.artifacts import ArtifactStore
from ntl.errors import ArtifactIntegrityError, MeterDataError, ParameterError
from ntl.serve import build_config, create_app
from ntl.serve.batching import MicroBatcher
from ntl.serve.service import ModelService
from ntl.serve.workers import ScoringUnavailable, start_scoring_processes

WAIT = 60  # seconds: a worker process imports the libraries and loads the run


def readings_of(consumption: pd.DataFrame, customer: str) -> dict[str, float]:
    row = consumption.loc[customer].drop("FLAG").dropna()
    return {str(day): float(value) for day, value in row.items()}


def gone(pid: int, seconds: float = 10) -> bool:
    """Whether process `pid` has ended within `seconds` (a bounded wait); a dead child its
    parent has not reaped yet (a zombie, state Z) has ended too."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


@pytest.fixture(scope="module")
def consumption(smoke_artifacts) -> pd.DataFrame:
    return ArtifactStore(smoke_artifacts).read_parquet("consumption.parquet")


@pytest.fixture(scope="module")
def service(smoke_artifacts):
    service = ModelService(smoke_artifacts, scoring_processes=1)
    yield service
    service.close()


def test_a_scoring_process_answers_exactly_as_the_app_itself(service, consumption):
    readings = [readings_of(consumption, customer) for customer in consumption.index[:5]]
    readings.insert(1, {"2016-01-01": 1.0})  # too short: its own error, the others answered
    expected = score.score_customers(readings, service.loaded)
    answers = service.workers[0].score(readings)
    assert answers[0] == expected[0] and answers[2:] == expected[2:]
    assert isinstance(answers[1], MeterDataError)
    assert str(answers[1]) == str(expected[1])
    assert str(answers[1]) == "readings: only 1 day(s) of history, at least 14 are needed"
    assert service.score_readings(readings[0]) == expected[0]  # the route's path: the worker
    assert len({answer["risk_score"] for answer in expected[2:]}) > 1  # not one answer copied


def test_the_api_answers_through_the_worker_and_health_counts_it(service, smoke_artifacts):
    client = TestClient(create_app(build_config(smoke_artifacts, environ={}), service=service))
    health = client.get("/api/health").json()
    assert (health["scoring_processes"], health["scoring_processes_alive"]) == (1, 1)
    readings = {f"2016-01-{day:02d}": 5.0 + day % 3 for day in range(1, 29)}
    answer = client.post("/api/score", json={"customer_id": "c1", "readings": readings})
    assert answer.status_code == 200
    alone = score.score_customer(readings, service.loaded)
    assert answer.json()["risk_score"] == alone["risk_score"]
    assert answer.json()["reasons"] == alone["reasons"]


def test_a_worker_killed_between_requests_is_replaced(service, consumption):
    worker = service.workers[0]
    old_pid, restarts = worker.pid, worker.restarts
    os.kill(old_pid, signal.SIGKILL)
    assert gone(old_pid)
    readings = readings_of(consumption, consumption.index[0])
    assert service.score_readings(readings) == score.score_customer(readings, service.loaded)
    assert worker.restarts == restarts + 1 and worker.pid not in (None, old_pid)
    assert worker.alive


def test_ctrl_c_is_left_to_the_app(service, consumption):
    """Ctrl-C reaches every process of the terminal's group: a worker ignores it (the app stops
    its workers), so it neither dies mid-batch nor prints a traceback of its own."""
    worker = service.workers[0]
    os.kill(worker.pid, signal.SIGINT)
    time.sleep(0.5)
    readings = readings_of(consumption, consumption.index[1])
    restarts = worker.restarts
    assert service.score_readings(readings) == score.score_customer(readings, service.loaded)
    assert worker.restarts == restarts  # the same process answered


def test_a_worker_refuses_artifacts_the_app_did_not_verify(smoke_artifacts):
    expected = ModelService(smoke_artifacts).record.verified  # what the app verified
    changed = {**expected, "thresholds.json": "0" * 64}  # as if the file changed since
    with pytest.raises(ArtifactIntegrityError, match=r"\['thresholds.json'\] changed after the"):
        start_scoring_processes(smoke_artifacts, changed, 1)


def test_closing_the_app_ends_its_worker_processes(smoke_artifacts):
    service = ModelService(smoke_artifacts, scoring_processes=2)
    pids = [worker.pid for worker in service.workers]
    assert len(set(pids)) == 2 and os.getpid() not in pids
    service.close()
    assert all(gone(pid) for pid in pids)
    assert not any(worker.alive for worker in service.workers)


def test_a_dead_worker_is_a_503_with_retry_after(service, smoke_artifacts, monkeypatch):
    def stopped(_readings):
        raise ScoringUnavailable("the scoring process stopped (exit -9) while scoring this request")

    monkeypatch.setattr(service, "score_readings_async", _async(stopped))
    client = TestClient(create_app(build_config(smoke_artifacts, environ={}), service=service))
    answer = client.post("/api/score", json={"readings": {"2016-01-01": 1.0}})
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "5"
    assert answer.json() == {
        "detail": "the scoring process stopped (exit -9) while scoring this request"
    }


def _async(function):
    async def wrapped(*args):
        return function(*args)

    return wrapped


@pytest.mark.parametrize("count", [-1, 17])
def test_scoring_processes_out_of_range_are_refused(smoke_artifacts, count):
    with pytest.raises(
        ParameterError, match=f"--scoring-processes must be between 0 and 16, got {count}"
    ):
        build_config(smoke_artifacts, scoring_processes=count, environ={})


def test_each_scorer_of_the_batcher_takes_batches_while_another_is_busy():
    busy, release = threading.Event(), threading.Event()
    used: list[str] = []

    def scorer(name: str):
        def score_many(items):
            used.append(name)
            if len(used) == 1:  # whichever scorer takes the first item holds it
                busy.set()
                assert release.wait(10)
            return [item * 2 for item in items]

        return score_many

    batcher = MicroBatcher([scorer("first"), scorer("second")])
    try:
        held = batcher.submit(1)
        assert busy.wait(10)  # the first scorer holds item 1
        assert batcher(2, timeout=10) == 4  # answered by the second meanwhile
        release.set()
        assert held.result(10) == 2
        assert sorted(used) == ["first", "second"]  # the other scorer answered item 2
    finally:
        release.set()
        batcher.stop()
    with pytest.raises(ValueError, match="MicroBatcher needs at least one score_many"):
        MicroBatcher([])
