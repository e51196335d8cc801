"""Scoring processes: single customers scored beside the app's own process, one batch at a time.

One Python process runs its Python on one core at a time (the GIL): with the HTTP side and the
scoring in one process, the app used one core of the machine's two while 20 clients waited. Each
`ScoringProcess` is a worker process started with the ``spawn`` method that loads the run's
models itself (``load_scoring_artifacts``: every artifact read is hash-checked) and then checks
that it holds the very artifacts the app verified at start (their sha256 equal the app's
record), so a file swapped between the two loads is refused. The app sends a batch of
customers' readings over a pipe and gets ``score_customers``' answers back (the same function,
the same numbers). The uploads and pages keep using the app's own models.

A worker found dead (killed, out of memory) is replaced and the batch it held is sent to the
new one (scoring changes nothing); a batch that loses two workers fails with
`ScoringUnavailable` (503, "retry"). A worker whose app is
gone reads the end of its pipe and exits.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from collections.abc import Mapping, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from ntl.errors import ArtifactIntegrityError, NtlError

START_SECONDS = 120  # importing the libraries and loading a large run's models takes a few seconds


class ScoringUnavailable(NtlError):
    """The scoring process stopped while it held this request: retry (HTTP 503)."""


def default_scoring_processes() -> int:
    """Worker processes for single customers: one per core the app may use, at most 2 (the app's
    own process needs a core's share for HTTP), and none on a single core (nothing to gain)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return 0 if cores < 2 else 2


def _load_verified(folder: str, expected_sha256: Mapping[str, str]):
    """The run's scoring artifacts, refused unless their manifest holds `expected_sha256`."""
    from ntl.models.bundle import keep_on_one_thread
    from ntl.score import load_scoring_artifacts

    loaded = load_scoring_artifacts(folder)
    entries = loaded.store.manifest().get("artifacts", {})
    changed = sorted(
        name for name, sha in expected_sha256.items() if entries.get(name, {}).get("sha256") != sha
    )
    if changed:
        raise ArtifactIntegrityError(
            f"{folder}: {changed[:5]} changed after the app verified them at start; "
            "restart the app to load the run as it is now"
        )
    keep_on_one_thread(loaded.bundle)  # a few customers at a time: never switch XGBoost threads
    return loaded


def _portable(exc: BaseException) -> Exception:
    """`exc` as the app can receive it: ntl's own errors (made from their message) as they are,
    any other as a RuntimeError with its type and text (its class may not rebuild from args)."""
    if isinstance(exc, NtlError) and exc.args == (str(exc),):
        return exc
    return RuntimeError(f"{type(exc).__name__}: {exc}")


def _serve_batches(conn: Connection, folder: str, expected_sha256: dict[str, str]) -> None:
    """The worker process: load, say ready (or why not), then answer batches until told to stop
    (None) or the app's end of the pipe closes. Ctrl-C in a terminal reaches the whole process
    group: the worker leaves it to the app, which stops its workers (no traceback from each)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from ntl.score import score_customers

    try:
        loaded = _load_verified(folder, expected_sha256)
    except Exception as exc:
        conn.send(("error", _portable(exc)))
        return
    conn.send(("ready", os.getpid()))
    while True:  # one batch at a time, for as long as the app runs
        try:
            batch = conn.recv()
        except (EOFError, OSError):  # the app is gone
            return
        if batch is None:
            return
        try:
            conn.send(("answers", [_portable_answer(a) for a in score_customers(batch, loaded)]))
        except Exception as exc:  # handed to every caller of the batch
            conn.send(("error", _portable(exc)))


def _portable_answer(answer: Any) -> Any:
    return _portable(answer) if isinstance(answer, BaseException) else answer


class ScoringProcess:
    """One worker process with the run's models; `score` sends it a batch and waits."""

    def __init__(self, folder: Path, expected_sha256: Mapping[str, str], name: str) -> None:
        self._folder = str(folder)
        self._expected = dict(expected_sha256)
        self._name = name
        self._lock = threading.Lock()  # one batch in flight per process
        self._conn: Connection | None = None
        self._process: multiprocessing.process.BaseProcess | None = None
        self.pid: int | None = None
        self.restarts = 0

    def start(self) -> None:
        """Start the process (does not wait for it: see `wait_ready`)."""
        context = multiprocessing.get_context("spawn")  # no fork of a threaded server
        parent, child = context.Pipe()
        process = context.Process(
            target=_serve_batches,
            args=(child, self._folder, self._expected),
            name=self._name,
            daemon=True,
        )
        process.start()
        child.close()
        self._conn, self._process = parent, process

    def wait_ready(self, timeout: float = START_SECONDS) -> None:
        """Wait until the worker has loaded the models; raises its load error (a tampered
        artifact: ArtifactIntegrityError) or NtlError when it did not start in time."""
        assert self._conn is not None and self._process is not None, "start() first"
        try:
            if not self._conn.poll(timeout):
                self._kill()
                raise NtlError(f"{self._name}: did not load the models in {timeout:.0f} s")
            status, payload = self._conn.recv()
        except (EOFError, OSError) as exc:
            code = self._process.exitcode
            self._kill()
            raise NtlError(f"{self._name}: stopped while loading the models (exit {code})") from exc
        if status == "error":
            self._kill()
            raise payload
        self.pid = int(payload)

    @property
    def alive(self) -> bool:
        """Whether the worker is running and has loaded its models."""
        return self.pid is not None and self._process is not None and self._process.is_alive()

    def score(self, many_readings: Sequence[Any]) -> list:
        """``score_customers(many_readings)`` in the worker: one answer per customer (an
        NtlError for a customer it refuses).

        A dead worker is replaced first. Scoring changes nothing, so a batch whose worker is
        found dead while it is sent or scored (a pipe cannot tell which) is sent once more to a
        new worker; only a batch that loses that one too raises ScoringUnavailable.
        """
        from ntl.score import pack_readings

        batch = [pack_readings(readings) for readings in many_readings]  # one per request
        with self._lock:
            for attempt in (1, 2):
                if not self.alive:
                    self._restart()
                assert self._conn is not None
                try:
                    self._conn.send(batch)
                    status, payload = self._conn.recv()
                    break
                except (EOFError, OSError) as exc:
                    code = self._process.exitcode if self._process is not None else None
                    self._kill()
                    if attempt == 2:
                        raise ScoringUnavailable(
                            f"the scoring process stopped (exit {code}) twice while scoring "
                            "this request; a new one is starting: retry in a few seconds"
                        ) from exc
        if status == "error":
            raise payload
        return payload

    def _restart(self) -> None:
        self._kill()
        self.restarts += 1
        try:
            self.start()
            self.wait_ready()
        except NtlError as exc:
            raise ScoringUnavailable(f"no scoring process: {exc}; retry in a few seconds") from exc

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the worker to end, then make sure it has."""
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.send(None)
                except (OSError, ValueError):  # already gone
                    pass
            if self._process is not None:
                self._process.join(timeout)
            self._kill()

    def _kill(self) -> None:
        if self._process is not None and self._process.is_alive():
            self._process.kill()
            self._process.join(5)
        if self._conn is not None:
            self._conn.close()
        self._conn, self._process, self.pid = None, None, None


def start_scoring_processes(
    folder: Path, expected_sha256: Mapping[str, str], count: int
) -> list[ScoringProcess]:
    """`count` workers, started together and waited for; if one cannot load the run, all are
    stopped and its error is raised (the app does not start)."""
    workers = [
        ScoringProcess(folder, expected_sha256, f"ntl-scoring-{n + 1}") for n in range(count)
    ]
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.wait_ready()
    except BaseException:
        for worker in workers:
            worker.stop(timeout=1.0)
        raise
    return workers
