"""Micro-batching: concurrent single-customer requests scored together by a worker thread.

Scoring one customer is mostly fixed cost (preprocessing, forests, SHAP and pandas set-up are
about the same for one row as for fifty), so under load the app would spend its time repeating
it once per request, one request at a time. Instead each request puts its readings on a queue
and waits; a worker takes everything waiting (at most `max_batch`) and scores it in one call
(``ntl.score.score_customers``), whose answers equal scoring each customer alone. An idle
server scores a lone request at once: nothing waits for a batch to fill.

With several `score_many` callables (one per scoring process, ``ntl.serve.workers``) there is
one worker thread for each, all taking from the same queue: while one process scores a batch,
the next thread takes what arrived meanwhile to the next process.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

Item = TypeVar("Item")
Answer = TypeVar("Answer")

ScoreMany = Callable[[Sequence[Any]], Sequence[Any]]
DEFAULT_MAX_BATCH = 64  # customers per call: enough to drain a burst, small enough to stay quick
_STOP = object()


class MicroBatcher(Generic[Item, Answer]):
    """Queue `Item`s from any thread; one worker answers everything waiting in one call.

    `score_many(items)` returns one answer per item, in order; an answer that is an Exception
    is raised to that item's caller only. An exception of `score_many` itself fails every item
    of that batch (and the worker goes on with the next).
    """

    def __init__(
        self,
        score_many: ScoreMany | Sequence[ScoreMany],
        *,
        max_batch: int = DEFAULT_MAX_BATCH,
        name: str = "ntl-batcher",
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        scorers = [score_many] if callable(score_many) else list(score_many)
        if not scorers:
            raise ValueError("MicroBatcher needs at least one score_many")
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._stopped = threading.Event()
        self._count_lock = threading.Lock()
        self.batches = 0  # calls of score_many so far (for tests and the log)
        self.largest_batch = 0
        self._workers = [
            threading.Thread(target=self._run, args=(scorer,), name=f"{name}-{n}", daemon=True)
            for n, scorer in enumerate(scorers)
        ]
        for worker in self._workers:
            worker.start()

    def submit(self, item: Item) -> Future[Answer]:
        """Queue `item`; the future holds its answer (or raises its error)."""
        if self._stopped.is_set():
            raise RuntimeError("the scoring queue is stopped")
        future: Future[Answer] = Future()
        self._queue.put((item, future))
        return future

    def __call__(self, item: Item, timeout: float | None = None) -> Answer:
        """Score `item` and wait for its answer (raises its error)."""
        return self.submit(item).result(timeout)

    def stop(self, timeout: float = 5.0) -> None:
        """Answer what is queued, then end the workers."""
        self._stopped.set()
        for _ in self._workers:  # one stop mark for each worker thread
            self._queue.put(_STOP)
        for worker in self._workers:
            worker.join(timeout)

    def _take_waiting(self, first: Any) -> tuple[list[Any], bool]:
        """`first` and whatever else is queued now, up to max_batch; and whether to stop."""
        batch, stop = [first], False
        while len(batch) < self.max_batch:
            try:
                entry = self._queue.get_nowait()
            except queue.Empty:
                break
            if entry is _STOP:
                stop = True
                break
            batch.append(entry)
        return batch, stop

    def _run(self, score_many: ScoreMany) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            if first is _STOP:
                break
            batch, stop = self._take_waiting(first)
            self._answer(score_many, batch)

    def _answer(self, score_many: ScoreMany, batch: list[tuple[Item, Future[Answer]]]) -> None:
        with self._count_lock:
            self.batches += 1
            self.largest_batch = max(self.largest_batch, len(batch))
        items = [item for item, _ in batch]
        try:
            answers = list(score_many(items))
            if len(answers) != len(items):
                raise RuntimeError(f"{len(answers)} answers for {len(items)} items")
        except Exception as exc:  # handed to every waiting caller, never lost
            for _, future in batch:
                future.set_exception(exc)
            return
        for (_, future), answer in zip(batch, answers, strict=True):
            if isinstance(answer, Exception):
                future.set_exception(answer)
            else:
                future.set_result(answer)
