"""Every market's price history read ahead of the cycle's evaluations, on one pool of threads.

Why: a market's history is a request to its venue (one or two bars with `IncrementalHistory`, a
whole window without); made market by market inside the evaluations, 500 markets wait for 500
(or 1,000, with the tail memory) round trips in turn. Read ahead, they overlap as the feeds do.
Each read's error is kept, not raised, and raised again where the market is evaluated, so one
market's failed history refuses that market alone, exactly as when read in place.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from oracle.feeds.base import FailureKind, FeedError, Late, run_all
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
    """Each (history, memory) pair read on a pool of `workers` threads (`run_all`, the feeds'
    pool and deadline), in input order. A read not answered by the deadline is a TIMEOUT error
    (its thread is left to finish and its answer dropped)."""
    calls = [read for pair in reads for read in pair if read is not None]
    outcomes = iter(run_all(calls, timeout, workers, "history"))

    def next_outcome() -> PriceSeries | Exception:
        outcome = next(outcomes)
        if isinstance(outcome, Late):
            return FeedError(FailureKind.TIMEOUT, f"no history in {timeout} s")
        return outcome

    return [
        Ahead(next_outcome(), None if memory is None else next_outcome()) for _, memory in reads
    ]
