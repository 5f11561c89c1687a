"""The distributed engine that scores windows and calibration candidates: Dask distributed.

Why Dask and not Ray: the work is a flat map of independent, CPU-bound tasks of seconds each (one
backtest per task) with no actors, no GPUs and no object store to share, which is exactly what
`Client.map` does. A local Dask cluster of two worker processes starts in under a second here and
is pure Python from PyPI; Ray's local cluster starts a GCS, a raylet and a dashboard (several
seconds and hundreds of MB on a 2-core machine) for features this search does not use. The search
algorithm itself is ours (`oracle.evaluation.calibrate`: seeded Latin hypercube, deterministic
ranking), so nothing depends on a tuning framework's scheduling order.

`engine()` starts a `LocalCluster` bound to 127.0.0.1 (worker processes, one thread each, no
dashboard) and stops it, with its worker processes, on exit, also when a task fails; with
`address` it connects to an existing scheduler instead and leaves that cluster running. With one
worker and no address it runs in this process (no cluster), which is the baseline the benchmark
compares against.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from oracle.errors import ConfigError

#: The environment the local cluster's workers start with: Dask's own (one BLAS/OpenMP thread per
#: worker) without its MALLOC_TRIM_THRESHOLD_=65536. Setting that variable at any value turns off
#: glibc's dynamic mmap threshold, so every array above 128 KiB is mmapped and unmapped again and
#: costs page faults: the benchmark's 12 backtests took 3.45 s in a plain process with it and
#: 2.58 s without. A remote cluster is configured by its operator.
WORKER_ENVIRONMENT = {
    "distributed.nanny.pre-spawn-environ": {
        "OMP_NUM_THREADS": 1,
        "MKL_NUM_THREADS": 1,
        "OPENBLAS_NUM_THREADS": 1,
    }
}

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class Engine:
    """`map(fn, items)` returns fn(item) for every item, in order, wherever the work ran."""

    workers: int
    address: str | None
    client: Any = None
    worker_pids: list[int] = field(default_factory=list)

    def map(
        self, fn: Callable[[T], R], items: Sequence[T], cost: Callable[[T], float] | None = None
    ) -> list[R]:
        """`cost`: a task's expected run time (any unit). The costliest are submitted first, so
        that no long task starts last while the other workers idle (longest processing time
        first); results come back in the order of `items` all the same."""
        if self.client is None:
            return [fn(item) for item in items]
        order = list(range(len(items)))
        if cost is not None:
            order.sort(key=lambda i: -cost(items[i]))
        futures = self.client.map(fn, [items[i] for i in order], pure=False)
        results = self.client.gather(futures)
        out: list[R] = [None] * len(items)  # type: ignore[list-item]
        for i, r in zip(order, results, strict=True):
            out[i] = r
        return out

    def everywhere(self, fn: Callable[[], Any]) -> None:
        """Runs fn once in every worker (here, without a cluster), e.g. to read data before a
        measurement."""
        if self.client is None:
            fn()
        else:
            self.client.run(fn)

    @property
    def description(self) -> str:
        if self.client is None:
            return "in-process (1 worker)"
        where = self.address or "local Dask cluster on 127.0.0.1"
        return f"{where}, {self.workers} worker(s)"


@contextmanager
def engine(workers: int = 2, address: str | None = None) -> Iterator[Engine]:
    """A Dask engine for the duration of the block (see the module docstring)."""
    if address is None and workers <= 1:
        yield Engine(1, None)
        return
    import dask
    from dask.distributed import Client, LocalCluster

    cluster = None
    try:
        if address is None:
            with dask.config.set(WORKER_ENVIRONMENT):
                cluster = LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address="127.0.0.1:0",  # its HTTP routes on loopback, any free port
                    silence_logs=logging.ERROR,
                )
            client = Client(cluster)
        else:
            client = Client(address, timeout=10)
    except (OSError, ValueError, TypeError) as exc:
        if cluster is not None:
            cluster.close()
        if address is None:
            raise ConfigError("--workers", f"cannot start a local Dask cluster: {exc}") from None
        reason = f"cannot reach a Dask scheduler at {address}: {exc}"
        raise ConfigError("--address", reason) from None
    try:
        n = len(client.scheduler_info().get("workers", {}))
        if n == 0:
            raise ConfigError("--address", f"the Dask scheduler at {address} has no workers")
        pids = [int(p) for p in client.run(_pid).values()]
        yield Engine(n, address, client, pids)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _pid() -> int:
    import os

    return os.getpid()
