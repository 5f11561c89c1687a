"""Every market's price history read ahead of the cycle's evaluations, on one pool of threads.

Why: a market's history is a request to its venue (one or two bars with `IncrementalHistory`, a
whole window without); made market by market inside the evaluations, 500 markets wait for 500
(or 1,000, with the tail memory) round trips in turn. Read ahead, they overlap as the feeds do.
Each read's error is kept, not raised, and raised again where the market is evaluated, so one
market's failed history refuses that market alone, exactly as when read in place.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

from oracle.feeds.base import FailureKind, FeedError
from oracle.series import PriceSeries

Read = Callable[[], PriceSeries]


@dataclass(frozen=True)
class Ahead:
    """A market's history and tail memory (None: not read), each the series or the error."""

    history: PriceSeries | Exception
    memory: PriceSeries | Exception | None

    @staticmethod
    def value(outcome: PriceSeries | Exception) -> PriceSeries:
        """The series, or its read's error raised again."""
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def read_ahead(
    reads: Sequence[tuple[Read, Read | None]], timeout: float, workers: int
) -> list[Ahead]:
    """Each (history, memory) pair read on a pool of `workers` threads, in input order. The
    deadline is `timeout` per round of `workers` markets, as for the feeds; a market not read by
    then has a TIMEOUT error for both (its thread is left to finish and its answer dropped)."""
    if not reads:
        return []
    workers = max(1, workers)
    rounds = -(-len(reads) // workers)
    executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="history")
    try:
        futures = [executor.submit(_read, history, memory) for history, memory in reads]
        deadline = time.monotonic() + timeout * rounds
        return [_settle(f, max(0.0, deadline - time.monotonic()), timeout) for f in futures]
    finally:
        executor.shutdown(wait=False, cancel_futures=True)


def _read(history: Read, memory: Read | None) -> Ahead:
    return Ahead(_attempt(history), None if memory is None else _attempt(memory))


def _attempt(read: Read) -> PriceSeries | Exception:
    try:
        return read()
    except Exception as exc:  # kept for the evaluation, which decides what it means
        return exc


def _settle(future: Future[Ahead], remaining: float, timeout: float) -> Ahead:
    try:
        return future.result(timeout=remaining)
    except FutureTimeout:
        late = FeedError(FailureKind.TIMEOUT, f"no history in {timeout} s")
        return Ahead(late, late)
