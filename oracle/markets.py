"""Market ids: `keccak256(bytes(symbol))`, the convention documented in IMarginParameters."""

from __future__ import annotations

from eth_utils import keccak

from oracle.types import MarketId


def market_id(symbol: str) -> MarketId:
    """The bytes32 id of a market named like "ETH/USD"."""
    if not symbol or symbol != symbol.strip():
        raise ValueError(f"market symbol {symbol!r} must be non-empty without surrounding spaces")
    return MarketId(keccak(text=symbol))
