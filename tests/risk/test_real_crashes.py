"""The model on real crashes: Black Thursday (ETH, March 2020) and the USDC depeg (March 2023)."""

from __future__ import annotations

from oracle.risk import compute_market
from tests.helpers.series import pool_input
from tests.helpers.time import ts

HALF_YEAR = 180 * 86_400


def eth_params(eth_1h, at: str):
    window = eth_1h.until(ts(at)).last(HALF_YEAR)
    return compute_market(pool_input(window, reserve=50_000.0, size=1_000.0))


def test_eth_threshold_falls_on_12_march_before_the_low_and_recovers_slowly(eth_1h):
    lt = {
        at: eth_params(eth_1h, at).liquidation_threshold_bps
        for at in (
            "2020-03-01T00:00:00",
            "2020-03-11T00:00:00",
            "2020-03-12T12:00:00",  # the slide is under way; the low (86) is at 02:00 on the 13th
            "2020-03-13T01:00:00",
            "2020-03-20T00:00:00",
            "2020-04-15T00:00:00",
            "2020-06-15T00:00:00",
        )
    }
    before = lt["2020-03-11T00:00:00"]
    assert lt["2020-03-12T12:00:00"] < before - 2_000, lt  # a deep cut hours before the low
    assert lt["2020-03-13T01:00:00"] <= lt["2020-03-12T12:00:00"] + 500, lt
    # A week later prices have stabilised but the threshold is still far below its old level ...
    assert lt["2020-03-20T00:00:00"] < before - 1_000, lt
    # ... and it climbs back over the following months, not at once.
    assert (
        lt["2020-03-20T00:00:00"] < lt["2020-04-15T00:00:00"] <= lt["2020-06-15T00:00:00"] + 300
    ), lt
    assert abs(lt["2020-06-15T00:00:00"] - lt["2020-03-01T00:00:00"]) < 1_000, lt


def test_eth_worst_scenarios_are_shocks_out_of_calm(eth_1h):
    # Filtered historical simulation ranks shocks by their size against the volatility of the day:
    # the -20 % hours of 24 September 2019, after a quiet summer, outrank Black Thursday, when
    # volatility was already high.
    e = eth_params(eth_1h, "2020-03-20T00:00:00").explanation
    assert e.tail.method == "filtered_historical"
    assert e.worst_scenarios[0][0].startswith("2019-09-24"), e.worst_scenarios
    assert e.worst_scenarios[0][1] >= e.tail.expected_shortfall >= e.tail.value_at_risk


def test_usdc_gets_far_tighter_parameters_during_the_depeg(usdc_usd_1m):
    def params(at):
        window = usdc_usd_1m.until(ts(at))
        return compute_market(pool_input(window, reserve=5e7, size=1e6, fee=0.0001))

    before = params("2023-03-09T00:00:00")
    during = params("2023-03-11T06:00:00")  # USDC at ~0.96 USD, heading for 0.875
    day_after = params("2023-03-12T00:00:00")
    # Calm: the 48-hour buffer (model v2) still leaves a stablecoin over 91 % LTV.
    assert before.liquidation_threshold_bps >= 9_400 and before.ltv_bps >= 9_100
    assert during.ltv_bps < before.ltv_bps - 900
    assert day_after.liquidation_threshold_bps < before.liquidation_threshold_bps - 1_500
    assert day_after.ltv_bps < before.ltv_bps - 2_500
    assert (
        during.explanation.tail.expected_shortfall > 10 * before.explanation.tail.expected_shortfall
    )
