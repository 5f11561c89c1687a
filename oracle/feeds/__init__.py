"""Feeds: Chainlink aggregators, Uniswap v3 TWAPs and exchanges via ccxt, each returning a reading
or a typed failure, and the recorded market data shipped with the package. The first stage of the
pipeline: I/O lives here and nowhere else upstream of the risk engine; `oracle.snapshot` turns the
readings into one market snapshot with a health verdict."""

from oracle.feeds.base import (
    FailureKind,
    FeedError,
    Reading,
    SourceFailure,
    SourceResult,
    collect,
    collect_all,
)

__all__ = [
    "FailureKind",
    "FeedError",
    "Reading",
    "SourceFailure",
    "SourceResult",
    "collect",
    "collect_all",
]
