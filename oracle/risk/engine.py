"""The risk engine: market inputs in, parameters and their explanation out. Pure: no I/O, no clock,
no randomness, so several keepers computing from the same snapshot sign the same numbers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from oracle.errors import RiskInputError
from oracle.risk import derive as derivation
from oracle.risk import liquidity, moves, tail, volatility
from oracle.risk.inputs import MarketInput, ModelSettings
from oracle.risk.scratch import SCRATCH
from oracle.series import PriceSeries, iso
from oracle.types import Params

MODEL_VERSION = "risk-2.0.0"

#: Residuals are standardised by max(√v_t, this × σ of the whole history): after a long flat
#: spell (a stablecoin at one tick) the EWMA variance decays toward zero and one tick would
#: otherwise become a 1,000-sigma residual.
RESIDUAL_FLOOR = 0.1

#: The window checked for missing bars before anything is computed.
RECENT_WINDOW = 86_400


@dataclass(frozen=True)
class Explanation:
    """Why the parameters are what they are: every intermediate figure, and which constraint
    binds."""

    market: str
    model_version: str
    inputs_hash: str
    as_of: str  # open time of the last bar used
    bars: int
    interval_seconds: int
    volatility: volatility.VolatilityEstimate  # per bar
    sigma_annualised: float
    horizon_seconds: int
    horizon_reason: str
    tail: tail.TailLoss
    worst_scenarios: tuple[tuple[str, float], ...]  # (window start, loss), worst first
    slippage: liquidity.Slippage
    derived: derivation.Derived
    tail_memory: float = 0.0  # M: ES of the falls within the horizon over the memory (0: off)
    historical_fall: float = 0.0  # the q-quantile of falls within T_buffer (0: off)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class MarketParameters:
    market: str
    ltv_bps: int
    liquidation_threshold_bps: int
    liquidation_bonus_bps: int
    explanation: Explanation

    @property
    def params(self) -> Params:
        """The triple, as the policy, the signer and the registry take it."""
        return Params(self.ltv_bps, self.liquidation_threshold_bps, self.liquidation_bonus_bps)


def compute_market(inp: MarketInput) -> MarketParameters:
    """Parameters for one market (formulas: the docstrings of volatility, tail, liquidity and
    derive)."""
    settings, prices, market = inp.settings, inp.prices, inp.market
    if len(prices.close) < settings.min_history_bars:
        raise RiskInputError(
            market,
            f"history too short: {len(prices.close)} bars, need {settings.min_history_bars}",
        )
    interval, n = prices.interval, len(prices.close)
    _check_recent_coverage(prices, settings)
    returns = volatility.log_returns(prices, out=SCRATCH.get("returns", n - 1))
    squares = np.multiply(returns, returns, out=SCRATCH.get("squares", n - 1))
    lam = volatility.bar_lambda(settings, interval)
    variance = volatility.ewma_variance(returns, lam, squares, out=SCRATCH.get("variance", n))
    vol = volatility.estimate(
        market, returns, squares, variance, interval, settings, inp.implied_vol
    )

    slip = liquidity.slippage(inp.liquidity, inp.size)
    volume_per_bar = None
    if prices.volume is not None:
        recent = prices.volume[-max(1, max(settings.realized_windows) // interval) :]
        volume_per_bar = float(np.median(recent))
    horizon, reason = liquidity.horizon_seconds(
        inp.size,
        volume_per_bar,
        slip.depth,
        interval,
        settings.base_horizon,
        settings.max_horizon,
        settings.participation,
    )
    horizon_bars = max(1, horizon // interval)

    floor = RESIDUAL_FLOOR * float(np.sqrt(np.mean(squares)))
    residuals = SCRATCH.get("residuals", n - 1)
    if floor > 0:
        scale = np.sqrt(variance[:-1], out=SCRATCH.get("scale", n - 1))
        np.maximum(scale, floor, out=scale)
        np.divide(returns, scale, out=residuals)
    else:  # a perfectly flat history: no move, no residual
        residuals.fill(0.0)
    if len(residuals) - horizon_bars + 1 >= settings.min_scenarios:
        loss = tail.filtered_historical_es(residuals, vol.sigma, horizon_bars, settings.confidence)
    else:
        loss = tail.student_t_es(
            vol.sigma, horizon_bars, settings.confidence, settings.student_t_dof
        )
    # Residual i is the return into bar i+1, so a window starting at residual i starts at bar i.
    worst = tuple((iso(prices.timestamps[i]), round(v, 6)) for i, v in loss.worst)

    fall_q = 0.0
    if settings.ltv_fall_quantile > 0:
        fall_q = moves.fall_quantile(
            prices.close,
            max(1, settings.ltv_buffer // interval),
            settings.ltv_fall_quantile,
            SCRATCH.get("falls", n),
        )
    memory_loss = 0.0
    if inp.memory is not None and settings.memory_confidence > 0:
        memory_loss = moves.fall_expected_shortfall(
            inp.memory.close, -(-horizon // 86_400), settings.memory_confidence
        )
    derived = derivation.derive(
        market,
        loss.expected_shortfall,
        max(0.0, slip.fraction),
        vol.sigma,
        interval,
        settings,
        fall_q,
        memory_loss,
    )
    explanation = Explanation(
        market=market,
        model_version=MODEL_VERSION,
        inputs_hash="0x" + inp.inputs_hash().hex(),
        as_of=iso(prices.timestamps[-1]),
        bars=len(prices.close),
        interval_seconds=interval,
        volatility=vol,
        sigma_annualised=vol.annualised(interval),
        horizon_seconds=horizon,
        horizon_reason=reason,
        tail=loss,
        worst_scenarios=worst,
        slippage=slip,
        derived=derived,
        tail_memory=memory_loss,
        historical_fall=fall_q,
    )
    return MarketParameters(market, *derived.params.as_tuple(), explanation)


def _check_recent_coverage(prices: PriceSeries, settings: ModelSettings) -> None:
    """Refuses a history whose last 24 hours are mostly missing: the volatility windows would reach
    back to older, possibly calmer bars, and a gap must never loosen a parameter."""
    span = RECENT_WINDOW
    expected = span // prices.interval
    if expected < 2:
        return
    start = prices.timestamps[-1] - span
    present = len(prices.timestamps) - int(np.searchsorted(prices.timestamps, start, side="right"))
    missing = 1.0 - present / expected
    if missing > settings.max_missing_recent:
        raise RiskInputError(
            prices.market,
            f"{expected - present} of the last {expected} bars are missing "
            f"(allowed: {settings.max_missing_recent:.0%}): stale or gappy feed",
        )


def compute_markets(inputs: Sequence[MarketInput]) -> list[MarketParameters]:
    """Parameters for many markets, in input order. A bad market raises (naming it): the caller
    decides whether the others go ahead, the engine never drops one silently."""
    return [compute_market(inp) for inp in inputs]
