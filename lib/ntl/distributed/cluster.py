"""The ``dask_scheduler`` parameter: no Dask, a LocalCluster sized to the machine, or an address.

Dask is imported only when a scheduler is asked for, so the in-memory path (the default, an empty
value) neither imports it nor starts anything. A bad address fails within `connect_timeout`
seconds with one line naming it, never a hang.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ntl.errors import NtlError, ParameterError

if TYPE_CHECKING:
    from distributed import Client

LOCAL = "local"
CONNECT_TIMEOUT_SECONDS = 5.0
LOCAL_MEMORY_SHARE = 0.8  # of the machine's memory, split between the local workers
_ADDRESS = re.compile(r"^(?:(tcp|tls|ucx)://)?([A-Za-z0-9._\-\[\]:]+?)(?::(\d{1,5}))?/?$")


class SchedulerError(NtlError):
    """A Dask scheduler that cannot be reached or a cluster that cannot be started."""


@dataclass(frozen=True)
class SchedulerChoice:
    """What a ``dask_scheduler`` value asks for: ``memory``, ``local`` or ``address``."""

    kind: str
    address: str = ""

    @property
    def distributed(self) -> bool:
        """True when the work runs on Dask (local cluster or a remote scheduler)."""
        return self.kind != "memory"


def parse_scheduler(dask_scheduler: str | None) -> SchedulerChoice:
    """Check a ``dask_scheduler`` value: empty/None, ``local`` or a scheduler address.

    ``host:port`` gets Dask's default ``tcp://``; anything else raises ParameterError naming the
    value, before anything is started or written.
    """
    if dask_scheduler is None:
        return SchedulerChoice("memory")
    if not isinstance(dask_scheduler, str):
        raise ParameterError(
            f"dask_scheduler must be a string ('', 'local' or an address), got {dask_scheduler!r}"
        )
    value = dask_scheduler.strip()
    if not value:
        return SchedulerChoice("memory")
    if value.lower() == LOCAL:
        return SchedulerChoice("local")
    if value.startswith("inproc://"):  # a scheduler in this very process (tests, notebooks)
        return SchedulerChoice("address", value)
    match = _ADDRESS.match(value)
    if not match or not match.group(3):
        raise ParameterError(
            f"dask_scheduler={dask_scheduler!r} is not '', 'local' or a scheduler address such "
            "as tcp://10.0.0.5:8786"
        )
    port = match.group(3)
    if port is not None and not 0 < int(port) < 65536:
        raise ParameterError(f"dask_scheduler={dask_scheduler!r}: port {port} is out of range")
    return SchedulerChoice("address", value if "://" in value else f"tcp://{value}")


def machine_cores() -> int:
    """The cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def local_memory_limit(n_workers: int) -> int:
    """Bytes per local worker: LOCAL_MEMORY_SHARE of the machine's memory, split evenly."""
    import psutil  # a dependency of distributed

    return int(psutil.virtual_memory().total * LOCAL_MEMORY_SHARE / max(n_workers, 1))


def start_local_cluster(
    n_workers: int | None = None,
    *,
    memory_limit: int | str | None = None,
    threads_per_worker: int = 1,
    processes: bool = True,
) -> Client:
    """A client on a new LocalCluster on loopback: one single-threaded worker per core by default.

    One thread per worker: the per-partition work is numpy over large blocks, and one process per
    core gives each its own memory limit (a worker that exceeds it is restarted by its nanny and
    its tasks retried, instead of the whole run swapping).
    """
    from distributed import Client, LocalCluster

    workers = n_workers or machine_cores()
    if workers < 1 or threads_per_worker < 1:
        raise ParameterError(
            f"a local cluster needs >= 1 worker and thread, got {workers} and {threads_per_worker}"
        )
    limit = local_memory_limit(workers) if memory_limit is None else memory_limit
    network = {"host": "127.0.0.1", "scheduler_port": 0} if processes else {}  # else in-process
    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=threads_per_worker,
        memory_limit=limit,
        processes=processes,
        dashboard_address=None,
        silence_logs=logging.ERROR,
        **network,
    )
    return Client(cluster, set_as_default=False)


def connect(address: str, timeout: float = CONNECT_TIMEOUT_SECONDS) -> Client:
    """A client of the scheduler at `address`, or SchedulerError within about `timeout` seconds."""
    from distributed import Client

    try:
        return Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise SchedulerError(
            f"dask_scheduler={address!r}: no Dask scheduler answered within {timeout:g} s "
            f"({type(exc).__name__}: {exc}). Start one (`dask scheduler`, then `dask worker "
            f"{address}` on each machine) or use dask_scheduler=local"
        ) from None


@contextmanager
def dask_client(
    dask_scheduler: str | None,
    *,
    n_workers: int | None = None,
    memory_limit: int | str | None = None,
    connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
) -> Iterator[Client | None]:
    """The client a ``dask_scheduler`` value asks for, closed (with its local cluster) on exit.

    Yields None for the in-memory path without importing Dask. `n_workers` and `memory_limit`
    (bytes or a Dask size such as "3GiB" per worker) size a ``local`` cluster.
    """
    choice = parse_scheduler(dask_scheduler)
    if not choice.distributed:
        yield None
        return
    if choice.kind == "local":
        client = start_local_cluster(n_workers, memory_limit=memory_limit)
    else:
        client = connect(choice.address, connect_timeout)
    try:
        yield client
    finally:
        cluster = client.cluster
        client.close()
        if cluster is not None and choice.kind == "local":
            cluster.close()


def describe(client: Client | None) -> dict[str, Any]:
    """Which path ran, for notebooks and reports: ``path``, ``workers``, ``threads``, memory."""
    if client is None:
        return {"path": "in memory", "workers": 0, "threads": 0, "memory_limit_gb": None}
    workers = client.scheduler_info(n_workers=-1)["workers"]
    limits = [w.get("memory_limit") or 0 for w in workers.values()]
    return {
        "path": "dask",
        "scheduler": client.scheduler.address,
        "workers": len(workers),
        "threads": int(sum(w.get("nthreads", 0) for w in workers.values())),
        "memory_limit_gb": round(min(limits) / 1e9, 2) if limits else None,
    }


def describe_text(client: Client | None) -> str:
    """One sentence saying which path ran and with how many workers."""
    info = describe(client)
    if info["path"] == "in memory":
        return "Ran in memory on this machine (dask_scheduler empty)."
    limit = f", {info['memory_limit_gb']:g} GB each" if info["memory_limit_gb"] else ""
    return (
        f"Ran on Dask at {info['scheduler']}: {info['workers']} workers, "
        f"{info['threads']} threads{limit}."
    )


@contextmanager
def worker_losses_as_errors(what: str) -> Iterator[None]:
    """Turn Dask's KilledWorker (a task whose workers kept dying, after its retries) into one
    SchedulerError naming `what` was running; callers' writers then leave nothing behind."""
    from distributed import KilledWorker

    try:
        yield
    except KilledWorker as exc:
        worker = getattr(getattr(exc, "last_worker", None), "address", "?")
        raise SchedulerError(
            f"{what}: Dask workers kept dying while running task {getattr(exc, 'task', '?')!r} "
            f"(last on {worker}); usually a worker ran out of memory: give workers more memory "
            "or use smaller parts. Nothing was written"
        ) from None


def notebook_client(dask_scheduler: str | None, n_workers: int | None = None) -> Client | None:
    """The client a notebook's ``dask_scheduler`` asks for (None: in memory, Dask not imported),
    closed with its local cluster when the kernel exits or `close_client` is called.
    `n_workers` sizes a ``local`` cluster (None: one per core)."""
    choice = parse_scheduler(dask_scheduler)
    if not choice.distributed:
        return None
    if choice.kind == "local":
        client = start_local_cluster(n_workers)
    else:
        client = connect(choice.address)
    atexit.register(close_client, client)
    return client


def close_client(client: Client | None) -> None:
    """Close `client` and the local cluster it started (nothing for None or a remote one)."""
    if client is None or client.status == "closed":
        return
    cluster = client.cluster
    client.close()
    if cluster is not None:
        cluster.close()
