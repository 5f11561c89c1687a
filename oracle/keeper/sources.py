"""Sources for a market from its configuration (the only place feed classes are chosen)."""

from __future__ import annotations

from oracle.feeds.base import Source
from oracle.feeds.chainlink import ChainlinkSource
from oracle.feeds.exchange import ExchangeSource
from oracle.feeds.onchain import Node
from oracle.feeds.uniswap import UniswapV3TwapSource
from oracle.feeds.venue import Venue
from oracle.keeper.config import FeedsConfig, MarketFeedsConfig
from oracle.snapshot import HealthPolicy


def health_policy(cfg: FeedsConfig) -> HealthPolicy:
    return HealthPolicy(**cfg.health.model_dump())


def sources_for(
    market: str,
    feeds: MarketFeedsConfig,
    node: Node | None,
    timeout: float,
    venues: dict[tuple[str, str | None], Venue] | None = None,
) -> list[Source]:
    """`node` (the configured chain's, made once by the caller for every market: one block and
    one Multicall3 request a cycle for all their on-chain sources) may be None when the market
    has no on-chain source. `venues` holds the ccxt clients already made, by exchange and API
    address: markets given the same dict share one client per venue (one market list, one rate
    budget, one ticker request per cycle)."""
    venues = {} if venues is None else venues
    out: list[Source] = []
    if (feeds.chainlink or feeds.uniswap) and node is None:
        raise ValueError(f"market {market} has on-chain sources but no RPC connection was given")
    for c in feeds.chainlink:
        assert node is not None
        out.append(
            ChainlinkSource(
                c.name,
                market,
                node,
                c.address,
                heartbeat=c.heartbeat,
                max_future=c.max_future,
                invert=c.invert,
            )
        )
    for u in feeds.uniswap:
        assert node is not None
        out.append(
            UniswapV3TwapSource(
                u.name,
                market,
                node,
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
