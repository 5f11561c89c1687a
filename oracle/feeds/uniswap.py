"""Uniswap v3 pools: a time-weighted average price from `observe()` and the depth in range.

TWAP: with tick cumulatives c(t) from `observe([window, 0])`, the mean tick is
(c(now) − c(now − window)) / window, rounded toward −∞ as Uniswap's OracleLibrary does, and
price(token1 per token0) = 1.0001^tick · 10^(decimals0 − decimals1).

Depth: inside the current tick range a v3 pool trades like x·y = L² with virtual reserves
x = L/√P and y = L·√P (P the raw price, L the in-range liquidity), so the risk engine prices a
liquidation on it as a constant-product pool. Past the edge of the positions in range the real
depth differs; wide ranges (or full-range positions) keep the estimate honest.

Read through the pool's node (`oracle.feeds.onchain`): within a collection the block, `observe`,
`slot0` and `liquidity` come in one Multicall3 request with every other on-chain source on the
node, and the tokens, their decimals and the fee join the first one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import cache
from typing import Any

from eth_utils import to_checksum_address

from oracle.artifacts import load
from oracle.feeds.base import FailureKind, FeedError, Reading, check_time
from oracle.feeds.onchain import Answers, Node, View, answered
from oracle.multicall import AbiFunction, Call

ERC20_DECIMALS_ABI: list[dict[str, Any]] = [
    {
        "name": "decimals",
        "type": "function",
        "stateMutability": "view",
        "inputs": [],
        "outputs": [{"name": "", "type": "uint8"}],
    }
]
DECIMALS = AbiFunction(ERC20_DECIMALS_ABI, "decimals")


@cache
def pool_function(name: str) -> AbiFunction:
    """A function of Uniswap's pool, prepared once (the artifact is read when first needed, so
    importing this module needs no compiled contracts)."""
    return AbiFunction(load("UniswapV3Pool")["abi"], name)


def mean_tick(cumulative_then: int, cumulative_now: int, window: int) -> int:
    """Uniswap's OracleLibrary.consult: truncate, then step down for an inexact negative — which is
    floor division."""
    return (cumulative_now - cumulative_then) // window


class UniswapV3TwapSource:
    """The pool at `pool`, read through `node` (shared by the on-chain sources on it);
    `collateral_is_token0` says which side of the pool is the market's collateral."""

    def __init__(
        self,
        name: str,
        market: str,
        node: Node,
        pool: str,
        *,
        window: int = 1800,
        collateral_is_token0: bool = True,
        max_age: int = 120,
        max_future: int = 30,
    ) -> None:
        self.name, self.market, self.node = name, market, node
        self.address = to_checksum_address(pool)
        self.window, self.collateral_is_token0 = window, collateral_is_token0
        self.max_age, self.max_future = max_age, max_future

        def view(fn: str, *args: Any) -> View:
            return View.of(self.address, pool_function(fn), *args)

        self._observe = view("observe", [window, 0])
        self._slot0, self._liquidity = view("slot0"), view("liquidity")
        self._tokens, self._fee = (view("token0"), view("token1")), view("fee")
        self._static: tuple[int, int, float] | None = None

    @property
    def shared(self) -> Node:
        """What this source reads through with the other on-chain sources on its node
        (`collect_all` opens a collection on it: one request for all of them)."""
        return self.node

    def calls(self, known: Mapping[Call, bytes | None]) -> list[Call]:
        """What a read asks: `observe`, `slot0` and `liquidity`; until they are cached, the
        tokens and the fee too, and each token's decimals once its address is known."""
        out = [self._observe.call, self._slot0.call, self._liquidity.call]
        if self._static is None:
            out += [self._tokens[0].call, self._tokens[1].call, self._fee.call]
            tokens = (answered(known, v) for v in self._tokens)
            out += [View.of(t, DECIMALS).call for t in tokens if t is not None]
        return out

    def _decimals_and_fee(self, answers: Answers) -> tuple[int, int, float]:
        if self._static is None:
            tokens = [answers.value(v) for v in self._tokens]
            dec0, dec1 = (int(answers.value(View.of(t, DECIMALS))) for t in tokens)
            self._static = (dec0, dec1, int(answers.value(self._fee)) / 1_000_000)
        return self._static

    def fetch(self, now: int) -> Reading:
        answers = self.node.answers(self, now)
        number, stamp = answers.number, answers.timestamp
        check_time(stamp, now, self.max_age, self.max_future, f"{self.name} block {number}")
        dec0, dec1, fee = self._decimals_and_fee(answers)
        cumulatives, _ = answers.value(self._observe)
        tick = mean_tick(int(cumulatives[0]), int(cumulatives[1]), self.window)
        price01 = 1.0001**tick * 10 ** (dec0 - dec1)
        sqrt_price_x96 = int(answers.value(self._slot0)[0])
        liquidity = int(answers.value(self._liquidity))
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
