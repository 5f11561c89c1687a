"""Uniswap v3 TWAP and depth against Uniswap's own bytecode (npm @uniswap/v3-core) on Anvil,
checked against independent calculations from the pool's recorded ticks and from a real swap."""

from __future__ import annotations

import math

import pytest

from oracle.feeds import FailureKind, Reading, collect

from .conftest import twap_source


def sell_weth(ctx, governance, amount):
    zero_for_one = ctx["weth_is_token0"]  # selling token0 pushes the price of token0 down
    limit = 4_295_128_740 if zero_for_one else 1461446703485210103287273052203988822378723970341
    ctx["actions"].swap(ctx["pool"].address, zero_for_one, amount, limit, sender=governance)


def test_twap_equals_the_time_weighted_ticks(chain, node, pool, governance):
    ctx = pool
    ticks = []  # (timestamp the tick took effect, tick)
    start = chain.pending_timestamp
    chain.mine(timestamp=start)
    ticks.append((chain.blocks.head.timestamp, ctx["pool"].functions.slot0().call()[1]))
    for i, amount in enumerate((50 * 10**18, 80 * 10**18, 30 * 10**18)):
        chain.mine(timestamp=start + 600 * (i + 1) - 1)
        sell_weth(ctx, governance, amount)
        ticks.append((chain.blocks.head.timestamp, ctx["pool"].functions.slot0().call()[1]))
    end = start + 2_400
    chain.mine(timestamp=end)
    window = 1_800
    # Independent: integrate the tick over [end − window, end] from the recorded changes.
    area = 0
    for (t0, tick), (t1, _) in zip(ticks, [*ticks[1:], (end, None)], strict=True):
        lo, hi = max(t0, end - window), min(t1, end)
        area += tick * max(0, hi - lo)
    expected_tick = math.floor(area / window)
    [r] = collect([twap_source(ctx, node, window)], end, 10.0)
    assert isinstance(r, Reading), r
    p01 = 1.0001**expected_tick * 10 ** (18 - 6 if ctx["weth_is_token0"] else 6 - 18)
    expected = p01 if ctx["weth_is_token0"] else 1 / p01
    assert r.price == pytest.approx(expected, rel=1e-9)
    assert r.price < 2_000  # WETH was sold into the pool
    assert r.timestamp == end and r.block == chain.blocks.head.number


def test_depth_predicts_a_real_swap(chain, node, pool, governance):
    ctx = pool
    chain.mine(timestamp=chain.pending_timestamp + 120)  # 60 s of history for the TWAP window
    [r] = collect([twap_source(ctx, node, 60)], chain.blocks.head.timestamp, 10.0)
    x, y = r.pool  # virtual WETH and USDC reserves
    assert r.pool_fee == pytest.approx(0.003)
    sold = 25.0
    predicted = y * sold * (1 - r.pool_fee) / (x + sold * (1 - r.pool_fee))
    before = ctx["usdc"].balanceOf(governance)
    sell_weth(ctx, governance, int(sold * 10**18))
    received = (ctx["usdc"].balanceOf(governance) - before) / 10**6
    assert received == pytest.approx(predicted, rel=1e-4)


def test_window_longer_than_history_is_a_typed_failure(chain, node, pool):
    [r] = collect([twap_source(pool, node, 86_400)], chain.pending_timestamp, 10.0)
    assert r.kind == FailureKind.BAD_RESPONSE and "observe reverted" in r.detail
