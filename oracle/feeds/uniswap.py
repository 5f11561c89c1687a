"""Uniswap v3 pools: a time-weighted average price from `observe()` and the depth in range.

TWAP: with tick cumulatives c(t) from `observe([window, 0])`, the mean tick is
(c(now) − c(now − window)) / window, rounded toward −∞ as Uniswap's OracleLibrary does, and
price(token1 per token0) = 1.0001^tick · 10^(decimals0 − decimals1).

Depth: inside the current tick range a v3 pool trades like x·y = L² with virtual reserves
x = L/√P and y = L·√P (P the raw price, L the in-range liquidity), so the risk engine prices a
liquidation on it as a constant-product pool. Past the edge of the positions in range the real
depth differs; wide ranges (or full-range positions) keep the estimate honest.
"""

from __future__ import annotations

import math
from typing import Any

from eth_utils import to_checksum_address
from web3 import Web3
from web3.exceptions import Web3Exception

from oracle.artifacts import load
from oracle.feeds.base import FailureKind, FeedError, Reading, check_time
from oracle.feeds.onchain import read

ERC20_DECIMALS_ABI: list[dict[str, Any]] = [
    {
        "name": "decimals",
        "type": "function",
        "stateMutability": "view",
        "inputs": [],
        "outputs": [{"name": "", "type": "uint8"}],
    }
]


def mean_tick(cumulative_then: int, cumulative_now: int, window: int) -> int:
    """Uniswap's OracleLibrary.consult: truncate, then step down for an inexact negative — which is
    floor division."""
    return (cumulative_now - cumulative_then) // window


class UniswapV3TwapSource:
    """`collateral_is_token0` says which side of the pool is the market's collateral."""

    def __init__(
        self,
        name: str,
        market: str,
        w3: Web3,
        pool: str,
        *,
        window: int = 1800,
        collateral_is_token0: bool = True,
        max_age: int = 120,
        max_future: int = 30,
    ) -> None:
        self.name, self.market, self.w3 = name, market, w3
        self.pool = w3.eth.contract(
            address=to_checksum_address(pool), abi=load("UniswapV3Pool")["abi"]
        )
        self.window, self.collateral_is_token0 = window, collateral_is_token0
        self.max_age, self.max_future = max_age, max_future
        self._static: tuple[int, int, float] | None = None

    def _decimals_and_fee(self) -> tuple[int, int, float]:
        if self._static is None:
            decimals = []
            for fn in ("token0", "token1"):
                token = self.w3.eth.contract(
                    address=read(self.name, self.pool, fn), abi=ERC20_DECIMALS_ABI
                )
                decimals.append(int(token.functions.decimals().call()))
            self._static = (
                decimals[0],
                decimals[1],
                int(read(self.name, self.pool, "fee")) / 1_000_000,
            )
        return self._static

    def fetch(self, now: int) -> Reading:
        try:
            block = self.w3.eth.get_block("latest")
        except (Web3Exception, OSError, ValueError) as exc:
            raise FeedError(FailureKind.UNREACHABLE, f"{self.name}: {exc}") from None
        number, stamp = int(block["number"]), int(block["timestamp"])
        check_time(stamp, now, self.max_age, self.max_future, f"{self.name} block {number}")
        dec0, dec1, fee = self._decimals_and_fee()
        cumulatives, _ = read(self.name, self.pool, "observe", [self.window, 0], block=number)
        tick = mean_tick(int(cumulatives[0]), int(cumulatives[1]), self.window)
        price01 = 1.0001**tick * 10 ** (dec0 - dec1)
        sqrt_price_x96 = int(read(self.name, self.pool, "slot0", block=number)[0])
        liquidity = int(read(self.name, self.pool, "liquidity", block=number))
        if liquidity == 0 or sqrt_price_x96 == 0:
            raise FeedError(FailureKind.BAD_VALUE, f"{self.name}: no liquidity in range")
        sqrt_p = sqrt_price_x96 / 2**96
        reserve0 = liquidity / sqrt_p / 10**dec0
        reserve1 = liquidity * sqrt_p / 10**dec1
        if self.collateral_is_token0:
            price, pool = price01, (reserve0, reserve1)
        else:
            price, pool = 1.0 / price01, (reserve1, reserve0)
        if not math.isfinite(price) or price <= 0:
            raise FeedError(FailureKind.BAD_VALUE, f"{self.name}: TWAP price {price}")
        return Reading(self.name, self.market, price, stamp, number, pool=pool, pool_fee=fee)
