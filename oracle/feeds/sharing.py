"""Answers shared within one collection of feeds by what several sources read through.

A venue's ccxt client (`oracle.feeds.venue.Venue`) and a node's RPC client
(`oracle.feeds.onchain.Node`) are each read by many markets' sources. `collect_all` opens a
collection on each (`sharing(now, sources)`) around a cycle's reads: within it a request the
sources have in common is made once and every reader gets the same answer, or the same error; at
its end the answers are dropped, so the next collection asks again and no stale value outlives
its cycle. Outside a collection every call is a request of its own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")


class Memo:
    """Each key's answer computed once, whoever asks first; every other asker (on any thread)
    waits for it and gets the same answer, or the same error. `lock`: a re-entrant lock the owner
    also guards its own state with, so `get`'s `only_if` is judged atomically with that state."""

    def __init__(self, lock: threading.RLock | None = None) -> None:
        self._lock = lock or threading.RLock()
        self._answers: dict[Hashable, Future[Any]] = {}

    def get(
        self, key: Hashable, compute: Callable[[], T], only_if: Callable[[], bool] | None = None
    ) -> T:
        """`key`'s answer; when `only_if` says no (checked under the lock), `compute()` is
        called and nothing is kept."""
        with self._lock:
            if only_if is not None and not only_if():
                future = None
                mine = False
            else:
                future = self._answers.get(key)
                mine = future is None
                if future is None:
                    future = self._answers[key] = Future()
        if future is None:
            return compute()
        if mine:
            try:
                future.set_result(compute())
            except BaseException as exc:  # every asker of this key gets the same error
                future.set_exception(exc)
        return future.result()

    def drop(self, keep: Callable[[Hashable], bool]) -> None:
        """Forgets every answer whose key `keep` refuses."""
        with self._lock:
            self._answers = {k: v for k, v in self._answers.items() if keep(k)}


class SharedAnswers:
    """The collections open on one shared client, who reads through it in each, and the answers
    made once in them. Safe to use from the feed pool's threads; collections may overlap."""

    def __init__(self) -> None:
        self._sharing_lock = threading.RLock()
        self._open: dict[int, int] = {}  # collections open, by moment
        self._members: dict[int, dict[int, object]] = {}  # their sources, by moment and id
        self._answers = Memo(self._sharing_lock)  # keyed by (moment, request)

    @contextmanager
    def sharing(self, now: int, sources: Sequence[object] = ()) -> Iterator[None]:
        """A collection of feeds at moment `now` read by `sources`: within it each request is
        made once and its answer (or error) shared; at its end the answers are dropped."""
        with self._sharing_lock:
            self._open[now] = self._open.get(now, 0) + 1
            self._members.setdefault(now, {}).update((id(s), s) for s in sources)
        try:
            yield
        finally:
            with self._sharing_lock:
                self._open[now] -= 1
                if not self._open[now]:
                    del self._open[now], self._members[now]
                    self._answers.drop(lambda k: k[0] != now)  # type: ignore[index]

    def collecting(self, now: int) -> bool:
        """Whether a collection at moment `now` is open."""
        with self._sharing_lock:
            return now in self._open

    def members(self, now: int) -> list[object]:
        """The sources of the collections open at moment `now` (none outside one)."""
        with self._sharing_lock:
            return list(self._members.get(now, {}).values())

    def _once(self, key: Hashable, now: int, fetch: Callable[[], T]) -> T:
        """`fetch()`'s answer (or error) for `key` in the open collection at moment `now`, asked
        once whoever asks; without one, `fetch()`."""
        return self._answers.get((now, key), fetch, only_if=lambda: now in self._open)
