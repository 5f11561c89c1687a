"""The realistic lending market: against a plain event loop written from the rules, on scenarios
small enough to work out by hand, and on real data."""

from __future__ import annotations

import math
import time
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oracle.backtest.realistic import RealisticSettings, pool_proceeds, simulate_realistic
from oracle.backtest.reference import max_drop, simulate_reference
from oracle.feeds.marketdata import shipped_bars
from oracle.risk.inputs import ConstantProductPool
from oracle.risk.liquidity import slippage
from tests.helpers.time import ts

# One position a bar, each with $100,000 (± 0.0004 %) of debt at 90 % of an LTV of 80 %, none
# repaid within a test (a mean term of a million bars), no top-ups, no gas, a venue too deep to
# move: the hand-worked scenarios below.
D = 100_000.0
HAND = RealisticSettings(
    market_debt_usd=D * 1e6,
    reference_ltv_bps=8_000,  # the scenarios' LTV: each position then borrows exactly D
    arrivals_per_bar=1,
    mean_term_bars=1e6,
    warm_start=False,
    leverage_a=9e9,
    leverage_b=1e9,
    size_sigma=0.0,
    topup_share=0.0,
    gas_usd=0.0,
)
DEEP = 1e12  # units traded a bar: a pool of ~$1e14


def run(low, close, lt=8300, ltv=8000, lb=500, s=HAND, volume=DEEP, high=None):
    low, close = np.asarray(low, dtype=float), np.asarray(close, dtype=float)
    n = len(close)

    def per_bar(v):
        return np.full(n, v) if np.isscalar(v) else np.asarray(v)

    high = np.maximum(low, close) if high is None else np.asarray(high, dtype=float)
    return simulate_realistic(
        low, high, close, per_bar(volume), per_bar(lt), per_bar(ltv), per_bar(lb), None, s
    )


# ---------------------------------------------------------------- the rules, position by position


def event_loop(low, high, close, volume, lt_bps, ltv_bps, lb_bps, s):
    """The module docstring's rules, bar by bar and position by position (no vectorisation); the
    pool is tracked by its reserves rather than by cumulative sales."""
    n, k = len(close), s.arrivals_per_bar
    stock = round(k * s.mean_term_bars) if s.warm_start else 0
    total = stock + n * k
    rng = np.random.default_rng(s.seed)  # the draws, in the documented order
    use = np.clip(rng.beta(s.leverage_a, s.leverage_b, total), 1e-6, 1.0)
    size = np.exp(s.size_sigma * rng.standard_normal(total) - s.size_sigma**2 / 2)
    active = rng.random(total) < s.topup_share
    term = rng.geometric(1.0 / s.mean_term_bars, total)
    mean_use = s.leverage_a / (s.leverage_a + s.leverage_b)
    base = s.market_debt_usd / (k * s.mean_term_bars * mean_use * s.reference_ltv_bps / 10_000)
    g = 1.0 - s.pool_fee
    book: list[dict] = []
    drawn = 0
    out = dict.fromkeys(("bad", "liq", "param", "pen", "orig", "debt", "power"), 0.0)
    out.update(count=0, skipped=0, topups=0)
    for t in range(n):
        price, lt, lb = low[t], lt_bps[t] / 10_000, lb_bps[t] / 10_000
        # (a)
        cands = []
        for p in book:
            if p["flag"] is not None and p["flag"] + s.delay_bars <= t:
                hf = p["coll"] * price * lt / p["debt"]
                if hf >= 1:
                    p["flag"] = None
                else:
                    p["cf"] = 1.0 if hf <= s.full_close_hf else s.close_factor
                    p["need"] = p["cf"] * p["debt"] * (1 + lb) / price
                    p["qmax"] = min(p["need"], p["coll"])
                    cands.append(p)
        cands.sort(key=lambda p: -p["qmax"])
        depth = max(
            s.depth_floor_usd, s.depth_multiple * volume[t] * (high[t] + low[t] + close[t]) / 3
        )

        def sell(sellers, depth=depth, price=price, lb=lb):
            x, y = depth / price, depth
            kk = x * y
            stop = math.sqrt(kk * g * (1 + lb) / price)  # where a unit sold fetches price/(1+lb)
            result = {}
            for p in sellers:
                q = min(p["qmax"], max(0.0, (stop - x) / g))
                x_after = x + g * q
                proceeds = y - kk / x_after
                result[id(p)] = (q, proceeds - q * price / (1 + lb) - s.gas_usd)
                x, y = x_after, kk / x_after
            return result

        first = sell(cands)
        keen = [p for p in cands if first[id(p)][1] > 0]
        second = sell(keen)
        out["skipped"] += len(cands) - len(keen)
        closed = set()
        for p in keen:
            q = second[id(p)][0]
            takes_all = q >= p["qmax"] * (1 - 1e-12)
            q = p["qmax"] if takes_all else q
            enough = p["need"] < p["coll"]
            repaid = p["cf"] * p["debt"] if takes_all and enough else q * price / (1 + lb)
            bad = p["debt"] - repaid if takes_all and not enough else 0.0
            out["bad"] += bad
            out["liq"] += repaid + bad
            out["param"] += (repaid + bad) if p["cut"] else 0.0
            out["pen"] += repaid * lb
            out["count"] += 1
            p["coll"] -= q
            p["debt"] -= repaid
            p["flag"] = None
            if takes_all and (not enough or p["cf"] >= 1):
                closed.add(id(p))
        # (b)
        book = [
            p for p in book if id(p) not in closed and not (p["repay"] <= t and p["flag"] is None)
        ]
        # (c)
        if t > 0 and lt > 0:
            for p in book:
                seen = close[t - 1] * lt
                hf = p["coll"] / p["debt"] * seen
                if p["active"] and p["next"] <= t and hf < min(s.topup_trigger_hf, p["hf_open"]):
                    p["coll"] = s.topup_target_hf * p["debt"] / seen
                    p["next"] = t + s.topup_cooldown_bars
                    out["topups"] += 1
        # (d)
        for p in book:
            if p["flag"] is None and p["coll"] * price * lt < p["debt"]:
                p["flag"] = t
                p["cut"] = p["coll"] * price * p["lt_open"] >= p["debt"]
        # (e)
        count = (stock if t == 0 else 0) + k
        ltv = ltv_bps[t] / 10_000
        if ltv > 0:
            for i in range(drawn, drawn + count):
                v = base * size[i]  # collateral value brought
                d = use[i] * ltv * v
                out["orig"] += d
                r = v / close[t] / d
                book.append(
                    {
                        "coll": v / close[t],
                        "hf_open": r * (close[t] * lt),
                        "debt": d,
                        "lt_open": lt,
                        "repay": t + term[i],
                        "flag": None,
                        "cut": False,
                        "active": active[i],
                        "next": 0,
                    }
                )
        drawn += count
        out["debt"] += sum(p["debt"] for p in book) / n
        out["power"] += sum(p["coll"] for p in book) * close[t] * ltv / n
    out["bad"] += sum(max(0.0, p["debt"] - p["coll"] * close[-1]) for p in book)
    return out


def random_market(seed, n):
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.standard_t(3, n) * 0.02))
    low = close * (1 - rng.uniform(0, 0.08, n) - (rng.random(n) < 0.03) * 0.25)  # some gaps
    high = close * (1 + rng.uniform(0, 0.03, n))
    volume = rng.uniform(0, 2_000, n) * (rng.random(n) < 0.95)  # a few bars without volume
    lt = np.clip(8000 + np.cumsum(rng.integers(-150, 150, n)), 5000, 9000)
    ltv = lt - rng.integers(200, 1500, n)
    lb = rng.integers(200, 1000, n)
    return low, high, close, volume, lt, ltv, lb


@settings(max_examples=40, deadline=None)
@given(
    st.integers(0, 10_000),
    st.integers(2, 400),
    st.integers(1, 3),
    st.sampled_from([0.0, 0.5, 1.0]),
    st.sampled_from([0.0, 30.0, 3_000.0]),
    st.sampled_from([0.0, 1.5]),
    st.booleans(),
)
def test_vectorised_equals_the_rules_position_by_position(
    seed, n, delay, topup_share, gas, sigma, warm
):
    market = random_market(seed, n)
    s = RealisticSettings(
        market_debt_usd=1e6,
        arrivals_per_bar=2,
        mean_term_bars=48,
        warm_start=warm,
        size_sigma=sigma,
        topup_share=topup_share,
        delay_bars=delay,
        gas_usd=gas,
        depth_floor_usd=1e4,
        seed=seed,
    )
    out = simulate_realistic(*market, None, s)
    loop = event_loop(*market, s)
    assert out.originated == pytest.approx(loop["orig"], rel=1e-12)
    assert out.liquidations == loop["count"]
    assert out.skipped_unprofitable == loop["skipped"]
    assert out.topups == loop["topups"]
    for mine, theirs in (
        (out.bad_debt_usd, loop["bad"]),
        (out.liquidated_usd, loop["liq"]),
        (out.param_liquidated_usd, loop["param"]),
        (out.penalty_usd, loop["pen"]),
        (out.mean_open_debt_usd, loop["debt"]),
        (out.borrowing_power, loop["power"]),
    ):
        assert mine == pytest.approx(theirs, rel=1e-9, abs=1e-6)
    assert out.bad_debt == pytest.approx(out.bad_debt_usd / out.originated)
    assert out.max_lt_drop_7d_bps == max_drop(market[4], 168)


# ------------------------------------------------------------------------------------ by hand


def test_the_pool_prices_a_sale_as_the_liquidity_model_does():
    pool = ConstantProductPool("ETH/USDT", 2_000.0, 2_000.0 * 1_500.0, 0.003)
    for q in (0.5, 30.0, 700.0):
        expected = q * slippage(pool, q).average_price
        assert pool_proceeds(2_000.0 * 1_500.0, 1_500.0, 0.003, np.array(q)) == pytest.approx(
            expected, rel=1e-12
        )


def test_same_seed_same_outcome_another_seed_another():
    market = random_market(7, 600)
    s = RealisticSettings(market_debt_usd=5e6, depth_floor_usd=1e5)
    first = simulate_realistic(*market, None, s).to_dict()
    assert simulate_realistic(*market, None, s).to_dict() == first
    other = simulate_realistic(*market, None, replace(s, seed=1)).to_dict()
    assert other != first and other["originated"] != first["originated"]


def test_the_same_borrowers_whatever_the_parameters():
    # Common random numbers: draws never depend on prices or parameters. Demand is in collateral:
    # the same borrowers bring the same collateral and borrow in proportion to the LTV.
    low, high, close, volume, lt, ltv, lb = random_market(3, 300)
    a = simulate_realistic(low, high, close, volume, lt, ltv, lb)
    b = simulate_realistic(low, high, close, volume, lt - 500, ltv - 1000, lb + 200)
    assert a.positions == b.positions and b.originated < a.originated
    flat = np.full(300, 7_000)
    c = simulate_realistic(low, high, close, volume, lt, flat, lb)
    d = simulate_realistic(low, high, close, volume, lt, flat // 2, lb)
    assert d.originated == pytest.approx(c.originated / 2, rel=1e-12)


def test_a_lower_ltv_lends_less():
    # The borrowing power is what the LTV buys: cutting it costs open debt and capacity, and buys
    # fewer liquidations (ETH 2021, Aave's threshold held fixed).
    eth = shipped_bars("ohlcv/1h/ETHUSDT.csv.gz", "ETH/USDT")
    lo, hi = np.searchsorted(eth.timestamps, [ts("2021-01-01T00:00:00"), ts("2022-01-01T00:00:00")])
    out = {
        ltv: run(eth.low[lo:hi], eth.close[lo:hi], 8300, ltv, 500, RealisticSettings(),
                 eth.volume[lo:hi], eth.high[lo:hi])
        for ltv in (3_000, 5_000, 8_050)
    }  # fmt: skip
    power = [out[v].borrowing_power for v in (3_000, 5_000, 8_050)]
    debt = [out[v].mean_open_debt_usd for v in (3_000, 5_000, 8_050)]
    assert power == sorted(power) and power[0] < 0.5 * power[-1]
    assert debt == sorted(debt) and out[3_000].liquidated < out[8_050].liquidated


def test_a_flat_price_liquidates_nothing_and_holds_the_market_size():
    n = 1_000
    out = run(np.full(n, 100.0), np.full(n, 100.0), 8300, 8050, s=RealisticSettings())
    assert out.liquidations == out.skipped_unprofitable == out.topups == 0
    assert out.bad_debt == out.bad_debt_usd == out.liquidated == out.penalty_usd == 0
    # the warm start and Little's law: about $100M open throughout
    assert out.mean_open_debt_usd == pytest.approx(100e6 * 8050 / 7500, rel=0.15)
    # borrowing power = Σ V · LTV, open debt = Σ u · LTV · V: their ratio is 1 / E[u] = 7/5
    assert out.borrowing_power / out.mean_open_debt_usd == pytest.approx(1.4, rel=0.05)
    assert out.mean_ltv_bps == 8050 and out.max_lt_drop_7d_bps == 0


def test_a_crash_below_the_threshold_liquidates_with_the_bonus_as_penalty():
    # −10 % and flat after: HF = 0.83 · 90 / (80 u) < 1 for u > 0.934; collateral still covers
    # debt plus bonus (80 u · 1.05 < 90), so no bad debt, and the penalty is exactly LB × repaid.
    n = 100
    close = np.r_[np.full(50, 100.0), np.full(n - 50, 90.0)]
    s = replace(RealisticSettings(), topup_share=0.0)
    out = run(close, close, 8300, 8000, 500, s)
    assert out.liquidations > 0 and 0 < out.liquidated < 1
    assert out.bad_debt == 0 and out.open_shortfall_usd == 0
    assert out.param_liquidated == 0  # the same threshold throughout: the price did it
    assert out.penalty_usd == pytest.approx(0.05 * out.liquidated_usd, rel=1e-12)
    assert out.penalty == pytest.approx(out.penalty_usd / out.originated)


@pytest.mark.parametrize(
    ("flag_low", "expected"),
    [
        (86.0, 0.5 * D),  # HF = 0.83 · 86 / 72 = 0.991: half the debt
        (80.0, D),  # HF = 0.83 · 80 / 72 = 0.922 ≤ 0.95: all of it
    ],
)
def test_the_close_factor(flag_low, expected):
    # Bar 0 opens $100k at 0.9 × 80 % of 100 (collateral D/72); bar 1's low flags it, bar 2
    # liquidates it at the same low. The later arrivals (at 90) stay safe at that low.
    out = run([100, flag_low, flag_low, 90], [100, 90, 90, 90])
    assert out.liquidations == 1 and out.bad_debt_usd == 0
    assert out.liquidated_usd == pytest.approx(expected, rel=1e-5)
    assert out.penalty_usd == pytest.approx(0.05 * out.liquidated_usd, rel=1e-12)
    assert out.liquidated == pytest.approx(out.liquidated_usd / out.originated)


def test_half_first_then_the_rest_as_the_price_keeps_falling():
    # At 86 the position loses half its debt and is healthy again (HF 2 · 0.991 − 0.83 · 1.05 =
    # 1.11); at 75 it is below 1 again (collateral D/72 − 0.525 D/86 ≈ 0.007784 D, debt D/2:
    # HF 0.969), so half of what is left goes too. Bars 1–2's arrivals (collateral D/64.8, HF
    # 0.961 at 75) lose half each at bar 4; bar 3's is flagged at bar 4, too late.
    out = run([100, 86, 86, 75, 75], [100, 90, 90, 90, 90])
    assert out.liquidations == 4
    assert out.liquidated_usd == pytest.approx(0.5 * D + 0.25 * D + 0.5 * D + 0.5 * D, rel=1e-3)
    assert out.bad_debt_usd == 0


def test_a_gap_below_the_debt_is_bad_debt():
    # Flagged at 85 (HF 0.98), liquidated at 50: collateral D/72 is worth 0.694 D, less than the
    # debt, so the liquidator takes all of it for 0.694 D / 1.05 of debt and the rest is bad debt.
    out = run([100, 85, 50], [100, 85, 90])
    coll = D / 72
    repaid = coll * 50 / 1.05
    assert out.liquidations == 1
    assert out.bad_debt_usd == pytest.approx(D - repaid, rel=1e-3)
    assert out.bad_debt_usd == pytest.approx(out.bad_debt * out.originated, rel=1e-12)
    assert out.liquidated_usd == pytest.approx(D, rel=1e-5)  # the whole debt left the book
    assert out.penalty_usd == pytest.approx(0.05 * repaid, rel=1e-3)
    assert out.daily_bad_debt_p99 > 0  # one day, all of it


def test_an_insolvent_position_still_open_at_the_end_is_bad_debt():
    # Flagged at 50 on the last bar: no liquidation in the window, but 0.694 D of collateral.
    out = run([100, 50], [100, 50])
    assert out.liquidations == 0
    assert out.open_shortfall_usd == pytest.approx(D - D / 72 * 50, rel=1e-3)
    assert out.bad_debt_usd >= out.open_shortfall_usd


def test_no_liquidation_when_the_price_is_back_above_the_threshold():
    out = run([100, 86, 95, 95], [100, 96, 96, 96])
    assert out.liquidations == out.skipped_unprofitable == 0 and out.liquidated == 0


def test_the_delay():
    assert run([100, 86, 86], [100, 90, 90]).liquidations == 1
    slow = replace(HAND, delay_bars=2)
    assert run([100, 86, 86], [100, 90, 90], s=slow).liquidations == 0
    assert run([100, 86, 86, 86], [100, 90, 90, 90], s=slow).liquidations == 1


def test_no_liquidator_acts_when_gas_eats_the_bonus():
    n = 60
    close = np.r_[np.full(20, 100.0), np.full(n - 20, 85.0)]
    out = run(close, close, s=replace(HAND, gas_usd=1e12))
    assert out.liquidations == 0 and out.liquidated == out.penalty_usd == 0
    assert out.skipped_unprofitable >= n - 21  # offered again every bar, declined every bar
    cheap = run(close, close)
    assert cheap.liquidations > 0 and cheap.skipped_unprofitable == 0


def test_price_impact_caps_what_a_liquidator_sells():
    # A $1M pool at 80 (x = 12,500 units, no volume): the liquidator stops selling where the pool's
    # collateral reserve reaches x·√(0.997 · 1.05), far short of the 1,312.5 units the close
    # factor allows, so it repays only what that fetches, and the rest waits for the next bar.
    out = run([100, 80, 80], [100, 90, 90], volume=0.0)
    x = 1e6 / 80
    sold = x * (math.sqrt(0.997 * 1.05) - 1) / 0.997
    assert out.liquidations == 1
    assert out.liquidated_usd == pytest.approx(sold * 80 / 1.05, rel=1e-9)
    assert out.liquidated_usd < 0.25 * D


def test_a_threshold_cut_liquidates_and_is_counted_as_the_parameters_doing():
    # A flat price; the threshold in force falls from 83 % to 70 % at bar 2: the positions opened
    # at 72 % of their collateral's value fall to HF 0.97 and lose half their debt at bar 3.
    flat = np.full(5, 100.0)
    cut = run(flat, flat, [8300, 8300, 7000, 7000, 7000], [8000, 8000, 6500, 6500, 6500])
    assert cut.liquidations == 2
    assert cut.param_liquidated_usd == pytest.approx(cut.liquidated_usd)
    assert cut.liquidated_usd == pytest.approx(D, rel=1e-5)
    assert cut.param_liquidated > 0 and cut.max_lt_drop_7d_bps == 1300
    unchanged = run(flat, flat, 8300, 8000)
    assert unchanged.liquidations == 0 and unchanged.param_liquidated == 0


def test_active_borrowers_top_up_before_the_fall_reaches_them():
    # Bar 1 closes at 90: position 0's HF is 1.04 < 1.1, so at bar 2 its borrower restores 1.5 at
    # that price, and bar 2's low of 80 leaves it at 1.33; a passive borrower is flagged (0.92).
    low = close = [100, 90, 80, 80]
    active = run(low, close, s=replace(HAND, topup_share=1.0))
    passive = run(low, close)
    assert active.topups == 2 and active.liquidations == 0  # bar 1's position tops up at bar 3
    assert passive.topups == 0 and passive.liquidations == 1
    assert active.mean_collateral_usd > passive.mean_collateral_usd


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="one value per bar"):
        run([100.0], [100.0])
    with pytest.raises(ValueError, match="one value per bar"):
        simulate_realistic(*(np.ones(3),) * 6, np.ones(2), None)
    with pytest.raises(ValueError, match="close_factor"):
        RealisticSettings(close_factor=0.0)
    with pytest.raises(ValueError, match="delay_bars"):
        RealisticSettings(delay_bars=0)


# ------------------------------------------------------------------------------------ real data


@pytest.fixture(scope="module")
def eth_2021():
    eth = shipped_bars("ohlcv/1h/ETHUSDT.csv.gz", "ETH/USDT")
    keep = (eth.timestamps >= ts("2021-01-01T00:00:00")) & (
        eth.timestamps < ts("2022-01-01T00:00:00")
    )
    return tuple(a[keep] for a in (eth.low, eth.high, eth.close, eth.volume, eth.timestamps))


def test_eth_2021_under_aave_static_parameters(eth_2021):
    low, high, close, volume, stamps = eth_2021
    n = len(close)
    aave = (np.full(n, 8300), np.full(n, 8050), np.full(n, 500))
    started = time.perf_counter()
    out = simulate_realistic(low, high, close, volume, *aave, stamps)
    elapsed = time.perf_counter() - started
    assert n > 8_700 and elapsed < 5  # about 0.3 s; generous for a loaded machine
    assert 0 < out.liquidated < 1 and out.liquidations > 0 and out.penalty_usd > 0
    assert out.bad_debt_usd > 0  # 19 May 2021: −20 % within the hour
    assert out.bad_debt_usd == pytest.approx(out.bad_debt * out.originated)
    assert out.param_liquidated == 0 and out.max_lt_drop_7d_bps == 0
    assert out.mean_ltv_bps == 8050
    assert out.mean_open_debt_usd == pytest.approx(100e6, rel=0.2)
    days = {day for day, _, bad in out.liquidation_days if bad > 0}
    assert "2021-05-19" in days


def test_the_largest_7_day_threshold_fall_is_the_reference_markets(eth_2021):
    low, high, close, volume, stamps = (a[:2_000] for a in eth_2021)
    rng = np.random.default_rng(5)
    lt = np.clip(8300 + np.cumsum(rng.integers(-40, 40, len(close))), 6000, 9000)
    ltv = lt - 250
    out = simulate_realistic(low, high, close, volume, lt, ltv, np.full(len(close), 500), stamps)
    reference = simulate_reference(low, close, lt, ltv, stamps)
    assert out.max_lt_drop_7d_bps == reference.max_lt_drop_7d_bps == max_drop(lt, 168) > 0
