"""From risk measures to parameters, one chain of formulas, each rounded toward safety to whole bps:

    LB  = clamp(slippage(Q) + costs, LB_min, LB_max)                 rounded up
    LT  = min((1 − max(ES_H, M) − slippage(Q)) / (1 + LB), LT_max)   rounded down
    LTV = min(LT · (1 − max(z · σ · √(T_buffer / interval), fall_q)), LT − 1 bps)  rounded down

LB pays the liquidator for the price impact of selling Q plus costs. LT leaves room, after the
bonus, for the worst expected price fall over the liquidation horizon and for the impact: a position
liquidated at LT stays solvent in the α-tail on average. ES_H is the recent tail scaled to today's
volatility; M, the tail memory (`moves.fall_expected_shortfall` over years of daily closes), keeps
the crashes a calm quarter forgets. LTV keeps a new borrower a z-sigma move
over T_buffer, and the q-quantile of the falls the history shows within T_buffer (`moves`), away
from liquidation. By construction LTV < LT and LT · (1 + LB) ≤ 1 (checked again
in integers after rounding).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from oracle.errors import NoSafeParameters
from oracle.risk.inputs import ModelSettings
from oracle.types import BPS, Params, bonus_fits


@dataclass(frozen=True)
class Derived:
    ltv_bps: int
    liquidation_threshold_bps: int
    liquidation_bonus_bps: int
    ltv_raw: float
    liquidation_threshold_raw: float
    liquidation_bonus_raw: float
    ltv_buffer_move: float
    threshold_tail: float  # max(ES_H, M): the fall the threshold leaves room for
    binding: dict[str, str]

    @property
    def params(self) -> Params:
        return Params(self.ltv_bps, self.liquidation_threshold_bps, self.liquidation_bonus_bps)


def derive(
    market: str,
    expected_shortfall: float,
    slippage: float,
    sigma: float,
    interval: int,
    settings: ModelSettings,
    fall_q: float = 0.0,
    memory_loss: float = 0.0,
) -> Derived:
    costs = settings.costs_bps / BPS
    lb_raw = slippage + costs
    if lb_raw * BPS > settings.max_bonus_bps:
        raise NoSafeParameters(
            market,
            f"slippage {slippage:.2%} plus costs {costs:.2%} exceed the maximum bonus "
            f"{settings.max_bonus_bps} bps: liquidators would not be paid for selling the size; "
            "lower the size or find deeper liquidity",
        )
    lb = max(settings.min_bonus_bps, math.ceil(round(lb_raw * BPS, 9)))
    lb_binding = "min_bonus" if lb == settings.min_bonus_bps else "slippage_and_costs"

    tail = max(expected_shortfall, memory_loss)
    lt_raw = (1.0 - tail - slippage) / (1.0 + lb / BPS)
    lt = min(settings.max_threshold_bps, math.floor(lt_raw * BPS))
    if lt == settings.max_threshold_bps:
        lt_binding = "max_threshold"
    elif tail < slippage:
        lt_binding = "slippage"
    else:
        lt_binding = "tail_loss" if expected_shortfall >= memory_loss else "tail_memory"
    while not bonus_fits(lt, lb):  # float rounding must never break the on-chain invariant
        lt -= 1
    if lt < settings.min_threshold_bps:
        raise NoSafeParameters(
            market,
            f"liquidation threshold {lt_raw:.2%} is below the minimum "
            f"{settings.min_threshold_bps} bps (tail loss {tail:.2%}, "
            f"slippage {slippage:.2%}, bonus {lb} bps)",
        )

    sigma_move = settings.ltv_z * sigma * math.sqrt(settings.ltv_buffer / interval)
    move = max(sigma_move, fall_q)
    ltv_raw = lt / BPS * (1.0 - move)
    ltv = math.floor(ltv_raw * BPS)
    ltv_binding = "volatility_buffer" if sigma_move >= fall_q else "historical_falls"
    if ltv >= lt:
        ltv, ltv_binding = lt - 1, "below_threshold"
    if ltv <= 0:
        raise NoSafeParameters(
            market, f"LTV {ltv_raw:.2%} is not positive: a {move:.2%} move fits in the buffer"
        )
    return Derived(
        ltv_bps=ltv,
        liquidation_threshold_bps=lt,
        liquidation_bonus_bps=lb,
        ltv_raw=ltv_raw,
        liquidation_threshold_raw=lt_raw,
        liquidation_bonus_raw=lb_raw,
        ltv_buffer_move=move,
        threshold_tail=tail,
        binding={
            "ltv": ltv_binding,
            "liquidation_threshold": lt_binding,
            "liquidation_bonus": lb_binding,
        },
    )
