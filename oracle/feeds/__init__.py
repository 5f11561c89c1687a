"""Feeds: Chainlink aggregators, Uniswap v3 TWAPs and exchanges via ccxt, each returning a reading
or a typed failure; `snapshot.aggregate` turns them into one market snapshot with a health verdict.
I/O lives here and nowhere else upstream of the risk engine."""

from oracle.feeds.base import FailureKind, FeedError, Reading, SourceFailure, collect
from oracle.feeds.snapshot import Health, HealthPolicy, MarketSnapshot, aggregate

__all__ = [
    "FailureKind",
    "FeedError",
    "Health",
    "HealthPolicy",
    "MarketSnapshot",
    "Reading",
    "SourceFailure",
    "aggregate",
    "collect",
]
