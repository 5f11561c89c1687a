"""Sources for a market from its configuration (the only place feed classes are chosen)."""

from __future__ import annotations

from web3 import Web3

from oracle.feeds.base import Source
from oracle.feeds.chainlink import ChainlinkSource
from oracle.feeds.exchange import ExchangeSource
from oracle.feeds.uniswap import UniswapV3TwapSource
from oracle.feeds.venue import Venue
from oracle.keeper.config import FeedsConfig, MarketFeedsConfig
from oracle.snapshot import HealthPolicy


def health_policy(cfg: FeedsConfig) -> HealthPolicy:
    return HealthPolicy(**cfg.health.model_dump())


def sources_for(
    market: str,
    feeds: MarketFeedsConfig,
    w3: Web3 | None,
    timeout: float,
    venues: dict[tuple[str, str | None], Venue] | None = None,
) -> list[Source]:
    """`w3` may be None when the market has no on-chain source. `venues` holds the ccxt clients
    already made, by exchange and API address: markets given the same dict share one client per
    venue (one market list, one rate budget, one ticker request per cycle)."""
    venues = {} if venues is None else venues
    out: list[Source] = []
    if (feeds.chainlink or feeds.uniswap) and w3 is None:
        raise ValueError(f"market {market} has on-chain sources but no RPC connection was given")
    for c in feeds.chainlink:
        assert w3 is not None
        out.append(
            ChainlinkSource(
                c.name,
                market,
                w3,
                c.address,
                heartbeat=c.heartbeat,
                max_future=c.max_future,
                invert=c.invert,
            )
        )
    for u in feeds.uniswap:
        assert w3 is not None
        out.append(
            UniswapV3TwapSource(
                u.name,
                market,
                w3,
                u.pool,
                window=u.window,
                collateral_is_token0=u.collateral_is_token0,
                max_age=u.max_age,
            )
        )
    for e in feeds.exchanges:
        if (e.exchange, e.api_url) not in venues:  # built once: a client is not free to make
            venues[(e.exchange, e.api_url)] = Venue(e.exchange, e.api_url, timeout=timeout)
        out.append(
            ExchangeSource(
                e.name,
                market,
                venues[(e.exchange, e.api_url)],
                e.symbol,
                max_age=e.max_age,
                book_max_age=e.book_max_age,
                book_move=e.book_move,
            )
        )
    return out
