"""What every source returns: a `Reading` or a `SourceFailure`, never an exception.

A source's `fetch` raises `FeedError` with a kind; the collector turns that (and anything
unexpected) into a `SourceFailure` for that source alone, so one bad venue downgrades the feed's
health instead of killing the keeper, and no stale value is silently reused.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from typing import Protocol, TypeVar

from oracle.errors import OracleError

T = TypeVar("T")


class FailureKind(StrEnum):
    TIMEOUT = "timeout"
    UNREACHABLE = "unreachable"  # connection refused, DNS, reset
    RATE_LIMITED = "rate_limited"  # HTTP 429 / 418
    SERVER_ERROR = "server_error"  # HTTP 5xx, venue in maintenance
    BAD_RESPONSE = "bad_response"  # not JSON, missing fields, a revert
    BAD_VALUE = "bad_value"  # NaN, zero, negative
    STALE = "stale"
    FUTURE_TIMESTAMP = "future_timestamp"
    INCOMPLETE_ROUND = "incomplete_round"
    CROSSED_BOOK = "crossed_book"
    OUTLIER = "outlier"  # set by the aggregation, not by a source
    JUMP = "jump"  # set by the aggregation: too far from this source's previous reading


class FeedError(OracleError):
    """One source could not give a usable value; `kind` says why."""

    def __init__(self, kind: FailureKind, detail: str) -> None:
        self.kind = kind
        self.detail = detail
        super().__init__(f"{kind.value}: {detail}")


@dataclass(frozen=True)
class Reading:
    """A source's price for a market (debt-asset units per collateral unit) and when it held.

    `bids` (price, size) best first and `pool` (virtual reserves of collateral and debt) describe
    liquidity when the source knows it; `book_at`, when the book was read.
    """

    source: str
    market: str
    price: float
    timestamp: int  # unix seconds the value refers to
    block: int | None = None
    bids: tuple[tuple[float, float], ...] = ()
    best_ask: float | None = None
    pool: tuple[float, float] | None = None  # virtual reserves (collateral, debt) in range
    pool_fee: float | None = None
    #: unix seconds (the keeper's clock) the depth in `bids` was read: an exchange source reuses a
    #: venue's book for up to 15 minutes while the price stays near it, and the snapshot says how
    #: old the depth it judged was (None: the source reads no book)
    book_at: int | None = None


@dataclass(frozen=True)
class SourceFailure:
    source: str
    market: str
    kind: FailureKind
    detail: str


SourceResult = Reading | SourceFailure


class Source(Protocol):
    """A feed for one market. `fetch` may block (web3) or not; the collector runs it in a thread.

    A source that reads through something other markets' sources read through too (a venue's
    client, a node's) names it in a `shared` attribute with a `sharing(now, sources)` context
    (`Shared`): the collector opens it around a collection, naming the sources in it that read
    through it, so requests the sources have in common are made once.
    """

    name: str
    market: str

    def fetch(self, now: int) -> Reading: ...


class Shared(Protocol):
    """What several sources read through; within `sharing(now, sources)` their common requests
    are made once and the answers are dropped at its end (`oracle.feeds.sharing`)."""

    def sharing(self, now: int, sources: Sequence[object]) -> AbstractContextManager[None]: ...


def check_price(value: object, what: str) -> float:
    """A finite, positive float or a BAD_VALUE error naming what it was."""
    try:
        price = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise FeedError(FailureKind.BAD_VALUE, f"{what} is not a number: {value!r}") from None
    if not math.isfinite(price) or price <= 0:
        raise FeedError(FailureKind.BAD_VALUE, f"{what} is {price}")
    return price


def check_time(timestamp: int, now: int, max_age: int, max_future: int, what: str) -> None:
    if timestamp > now + max_future:
        raise FeedError(
            FailureKind.FUTURE_TIMESTAMP, f"{what} at {timestamp} is {timestamp - now} s ahead"
        )
    if now - timestamp > max_age:
        raise FeedError(FailureKind.STALE, f"{what} is {now - timestamp} s old (max {max_age} s)")


#: Threads reading feeds at once when a cycle reads every market's sources together: dozens of
#: round trips in flight, bounded so 500 markets neither start 1,500 threads nor hit one venue
#: with hundreds of requests at once.
FEED_WORKERS = 32


def collect(sources: Sequence[Source], now: int, timeout: float) -> list[SourceResult]:
    """Fetches every source concurrently (one thread each), all within `timeout` seconds; results
    in input order.

    A source past the deadline is recorded as TIMEOUT and the cycle goes on: its thread is left to
    finish in the background and its answer is discarded (the executor is not waited for, so one
    hung venue cannot stall the cycle).
    """
    return collect_all([sources], now, timeout, workers=max(1, len(sources)))[0]


def collect_all(
    groups: Sequence[Sequence[Source]], now: int, timeout: float, workers: int = FEED_WORKERS
) -> list[list[SourceResult]]:
    """`collect` for several markets' sources at once, on one pool of `workers` threads: a cycle
    over hundreds of markets overlaps their round trips instead of waiting for each market's
    slowest in turn. The deadline is `timeout` for each round of `workers` reads (one round, as
    `collect`'s, when every source has its own thread): reads queued behind others are not
    timed out for waiting, and a venue that hangs costs the cycle its request timeout per round,
    not per market. A source still unanswered at the deadline is a TIMEOUT."""
    flat = [src for group in groups for src in group]
    shared: dict[int, tuple[Shared, list[Source]]] = {}
    for src in flat:
        through = getattr(src, "shared", None)
        if through is not None:
            shared.setdefault(id(through), (through, []))[1].append(src)
    with ExitStack() as collection:
        for through, readers in shared.values():
            collection.enter_context(through.sharing(now, readers))
        outcomes = run_all([partial(src.fetch, now) for src in flat], timeout, workers, "feed")
    results = [_result(src, o, timeout) for src, o in zip(flat, outcomes, strict=True)]
    out, start = [], 0
    for group in groups:
        out.append(results[start : start + len(group)])
        start += len(group)
    return out


class Late:
    """What `run_all` gives for a call that had not answered by its deadline."""


LATE = Late()


def run_all(
    calls: Sequence[Callable[[], T]], timeout: float, workers: int, name: str
) -> list[T | Exception | Late]:
    """Each call on one pool of `workers` threads, in order: its value, the exception it raised,
    or `LATE` when it had not answered by the deadline — `timeout` for each round of `workers`
    calls, so calls queued behind others are not late for waiting. A late call's thread is left
    to finish and its answer dropped (the pool is not waited for: one hung venue cannot stall
    the cycle). The feeds (`collect_all`) and the keeper's history reads share it."""
    workers = max(1, workers)
    rounds = max(1, -(-len(calls) // workers))
    executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
    try:
        futures = [executor.submit(call) for call in calls]
        deadline = time.monotonic() + timeout * rounds
        outcomes: list[T | Exception | Late] = []
        for future in futures:
            try:
                outcomes.append(future.result(timeout=max(0.0, deadline - time.monotonic())))
            except FutureTimeout:
                outcomes.append(LATE)
            except Exception as exc:
                outcomes.append(exc)
        return outcomes
    finally:
        executor.shutdown(wait=False, cancel_futures=True)


def _result(src: Source, outcome: Reading | Exception | Late, timeout: float) -> SourceResult:
    if isinstance(outcome, Reading):
        return outcome
    if isinstance(outcome, FeedError):
        return SourceFailure(src.name, src.market, outcome.kind, outcome.detail)
    if isinstance(outcome, Late):
        return SourceFailure(src.name, src.market, FailureKind.TIMEOUT, f"no answer in {timeout} s")
    detail = f"{type(outcome).__name__}: {outcome}"
    return SourceFailure(src.name, src.market, FailureKind.BAD_RESPONSE, detail)
