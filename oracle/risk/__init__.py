"""Pure, deterministic risk engine: prices, liquidity and size in; LTV, liquidation threshold and
bonus out, with an explanation. No I/O, no clock, no unseeded randomness."""

from oracle.risk.engine import (
    MODEL_VERSION,
    Explanation,
    MarketParameters,
    compute_market,
    compute_markets,
)
from oracle.risk.inputs import (
    ConstantProductPool,
    MarketInput,
    ModelSettings,
    OrderBook,
    liquidity_of,
)

__all__ = [
    "MODEL_VERSION",
    "ConstantProductPool",
    "Explanation",
    "MarketInput",
    "MarketParameters",
    "ModelSettings",
    "OrderBook",
    "compute_market",
    "compute_markets",
    "liquidity_of",
]
