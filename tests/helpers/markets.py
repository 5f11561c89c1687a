"""Market names and ids the tests use."""

from __future__ import annotations

from oracle.markets import market_id

ETH = market_id("ETH/USD")
BTC = market_id("BTC/USD")
USDC = market_id("USDC/USD")

#: The market the keeper tests run (the emulated venues quote ETH/USDT).
MARKET = "ETH/USDT"

E18 = 10**18
#: ETH in USD with 8 decimals, as a Chainlink aggregator answers; the lending-pool fixture's price.
ETH_PRICE = 2000 * 10**8
