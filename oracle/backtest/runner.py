"""Replays a price history through the keeper's risk engine and policy on a simulated clock, and
both that parameter path and a static baseline through a lending market: `legacy` (one borrower
population opened at the window's start, `simulator`) or `reference` (borrowers arriving every
hour under the fixed rules of `reference`).

The dynamic side is the product's own code: every `cycle` seconds the engine runs on the trailing
`history` of bars closed by then (resampled to hourly closes when the data is finer, which is what a
keeper reads from its venues; a bar's timestamp is its open, so the bar opening at the cycle's time
is not read), and `oracle.policy.decide` moves the simulated on-chain values within the
guardrails — steps, bounds, loosening persistence and cooldown, deadband — with threshold cuts
ramped like the contract ramps them. Feed health is taken as OK (the history is the feed).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from oracle.backtest.baselines import StaticParameters
from oracle.backtest.realistic import RealisticSettings, simulate_realistic
from oracle.backtest.reference import ReferenceBook, simulate_reference
from oracle.backtest.simulator import Outcome, Population, simulate
from oracle.errors import OracleError
from oracle.feeds.marketdata import Bars
from oracle.policy import OnChain, PolicySettings, decide
from oracle.policy.rules import EMPTY, MarketState, apply_signed
from oracle.risk import (
    ConstantProductPool,
    MarketInput,
    ModelSettings,
    compute_market,
    liquidity,
)
from oracle.series import PriceSeries, iso
from oracle.snapshot import Health
from oracle.types import BLUE_CHIP_GUARDRAILS, BPS, Guardrails, Params


@dataclass(frozen=True)
class BacktestSettings:
    cycle: int = 3_600
    history: int = 90 * 86_400
    pool_depth: float = 50_000.0  # collateral units in the liquidation venue (x·y = k)
    pool_fee: float = 0.003
    size: float = 1_000.0  # what the engine sizes liquidations at
    borrowers: int = 500
    min_use: float = 0.5  # debt / (collateral value · baseline LTV), spread over [min_use, max_use]
    max_use: float = 1.0
    delay: int = 3_600  # seconds between becoming liquidatable and the liquidation
    resample: bool = True  # run the engine on hourly closes (as a keeper reads them), not raw bars
    guardrails: Guardrails = BLUE_CHIP_GUARDRAILS
    policy: PolicySettings = field(default_factory=PolicySettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    realistic: RealisticSettings = field(default_factory=RealisticSettings)


@dataclass(frozen=True)
class Side:
    bad_debt: float
    liquidated: float
    liquidations: int
    mean_ltv_bps: float
    min_ltv_bps: int
    min_lt_bps: int
    updates: int
    path: list[dict[str, Any]] | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if d["path"] is None:
            del d["path"]
        return d


def _hourly(series: PriceSeries) -> PriceSeries:
    if series.interval >= 3_600:
        return series
    hour = series.timestamps // 3_600
    last = np.flatnonzero(np.diff(hour, append=hour[-1] + 1))  # last bar of each hour
    volume = None
    if series.volume is not None:
        volume = np.add.reduceat(series.volume, np.concatenate(([0], last[:-1] + 1)))
    return PriceSeries(series.market, hour[last] * 3_600, series.close[last], volume)


def dynamic_path(
    series: PriceSeries,
    start: int,
    end: int,
    s: BacktestSettings,
    sigma: list[tuple[int, float]] | None = None,
    lows: np.ndarray | None = None,
) -> list[tuple[int, MarketState]]:
    """(time, the market's on-chain state) after every change the policy makes, from `start`.
    The state moves by the registry's own rules (`oracle.policy.rules`), ramps included.

    The consumer is the reference market (`ReferenceBook`): its positions, opened from `start` under
    the values in force, are what the policy sizes threshold cuts by. `lows`: the bars' lows (one
    per bar of `series`; without them the closes stand in)."""
    hourly = _hourly(series) if s.resample else series
    if lows is None or len(lows) != len(hourly.close):
        lows = hourly.close
    state = replace(EMPTY, guardrail_profile=1)
    streak = 0
    path: list[tuple[int, MarketState]] = []
    book = ReferenceBook()
    k = int(np.searchsorted(hourly.timestamps, start))
    days = hourly.daily() if s.model.memory_confidence > 0 else None
    memory, memory_day = None, None  # the memory changes once a day: cut it once a day
    for now in range(start, end, s.cycle):
        if days is not None and now // 86_400 != memory_day:
            memory, memory_day = days.complete_days(now, s.model.memory_days), now // 86_400
        while k < len(hourly.timestamps) and hourly.timestamps[k] <= now - hourly.interval:
            if state.is_set:  # the bar has closed: the consumer's book moves under the values
                t = int(hourly.timestamps[k])
                book.step(
                    float(lows[k]), float(hourly.close[k]), state.threshold_at(t), state.ltv_bps
                )
            k += 1
        try:  # inside a data gap the history is short: the engine refuses, the keeper holds
            # only bars closed by `now`: a bar's timestamp is its open, its close comes an
            # interval later (reading the bar that opens at `now` saw an hour ahead)
            window = hourly.until(now - hourly.interval).last(s.history)
            price = float(window.close[-1])
            pool = ConstantProductPool(
                series.market, s.pool_depth, s.pool_depth * price, s.pool_fee
            )
            params = compute_market(MarketInput(window, pool, s.size, s.model, memory=memory))
            if sigma is not None:
                sigma.append((now, params.explanation.sigma_annualised))
            rec: Params | None = params.params
            refusal = None
            stress = params.explanation.derived.threshold_tail
        except OracleError as exc:
            rec, refusal, stress = None, str(exc), 0.0
        on_chain = state.params if state.is_set else None
        d = decide(
            series.market,
            rec,
            refusal,
            Health.OK,
            (),
            OnChain(
                on_chain,
                state.updated_at,
                state.last_loosen_at,
                s.guardrails,
                state.last_change_at,
                threshold_ramp_end=state.ramp_end,
                threshold_in_force=state.threshold_at(now) if state.is_set else None,
            ),
            streak,
            now,
            s.policy,
            book.positions(float(hourly.close[k - 1]), stress) if state.is_set and k else None,
        )
        streak = streak + 1 if d.loosening_wanted else 0
        if d.update is not None:
            state = apply_signed(state, d.update, s.guardrails, now)
            if d.update != on_chain:
                path.append((now, state))
    if not path:
        raise OracleError("the keeper never produced parameters over this window")
    return path


def _in_force_per_bar(
    ts: np.ndarray, path: list[tuple[int, MarketState]]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """LT (fraction), LTV and LB (bps) a read returns at each bar: the last state written at or
    before the bar (the first also before its own time), its threshold ramp applied as the chain
    does (`MarketState.threshold_at`, vectorised: integer arithmetic, rounded down toward the
    target)."""
    times = np.array([t for t, _ in path])
    which = np.maximum(np.searchsorted(times, ts, side="right") - 1, 0)

    def field(name: str) -> np.ndarray:
        return np.array([getattr(state, name) for _, state in path], dtype=np.int64)[which]

    target = field("target_liquidation_threshold_bps")
    start_value, start, end = (
        field("ramp_start_threshold_bps"),
        field("ramp_start"),
        field("ramp_end"),
    )
    t = ts.astype(np.int64)
    ramping = (t < end) & (start_value > target)
    span = np.where(ramping, end - start, 1)
    lt = np.where(ramping, target + (start_value - target) * (end - t) // span, target)
    return lt / BPS, field("ltv_bps").astype(np.float64), field("liquidation_bonus_bps")


@dataclass(frozen=True)
class Replay:
    """Everything a report needs: bars, both sides' parameters per bar, outcomes, summary."""

    timestamps: np.ndarray
    prices: np.ndarray
    dynamic_lt: np.ndarray
    dynamic_ltv: np.ndarray
    static: StaticParameters
    sigma: list[tuple[int, float]]  # (cycle time, annualised σ the engine used)
    dynamic: Outcome | None  # the legacy simulator's outcomes (None in the other markets)
    static_outcome: Outcome | None
    summary: dict[str, Any]


#: The lending markets a replay can run: see the module docstring.
SCENARIOS = ("legacy", "reference", "realistic")


def replay(
    series: PriceSeries,
    static: StaticParameters,
    s: BacktestSettings,
    start: int,
    end: int,
    scenario: str = "legacy",
    bars: Bars | None = None,
    pushed: list[tuple[int, MarketState]] | None = None,
) -> Replay:
    """`bars`: the OHLCV bars behind `series` (the reference and realistic markets need lows,
    highs and volumes). `pushed`: a parameter path a chain actually held
    (`RegistryClient.state_history`), replayed instead of the one the engine and policy would
    compute. `.summary` is what `oracle backtest --json` prints: {"window", "scenario",
    "static_source", "dynamic": {…, "path"}, "static"}."""
    if scenario not in SCENARIOS:
        raise OracleError(f"unknown scenario {scenario!r}: choose one of {', '.join(SCENARIOS)}")
    if scenario != "legacy" and (bars is None or bars.interval != 3_600):
        raise OracleError(
            f"the {scenario} market runs on hourly OHLC bars: give hourly bars with lows"
        )
    if bars is not None and not np.array_equal(bars.timestamps, series.timestamps):
        raise OracleError("the bars and the series must be the same bars (bars.series)")
    sigma: list[tuple[int, float]] = []
    lows = None if bars is None else bars.low
    path = pushed if pushed else dynamic_path(series, start, end, s, sigma, lows)
    lo = int(np.searchsorted(series.timestamps, start))
    hi = int(np.searchsorted(series.timestamps, end))
    ts, prices = series.timestamps[lo:hi], series.close[lo:hi]
    if len(ts) < 2:
        raise OracleError("the window holds fewer than 2 bars")
    lt, ltv, lb = _in_force_per_bar(ts, path)
    static_lt = np.full(len(ts), static.params.liquidation_threshold_bps / BPS)
    static_ltv = np.full(len(ts), static.params.ltv_bps)
    static_lb = np.full(len(ts), static.params.liquidation_bonus_bps)
    entries = _path_entries(ts, path)
    dyn = sta = None  # the legacy simulator's outcomes, which only its report plots
    if scenario != "legacy":
        assert bars is not None
        window = (lo, hi)
        dyn_side = market_side(bars, window, ltv, lt, lb, scenario, s)
        dyn_side.update(updates=len(path), path=entries)
        static_side = market_side(bars, window, static_ltv, static_lt, static_lb, scenario, s)
        static_side["updates"] = 0
    else:
        # Positions must be valid under both sides when they open: sized on the lower first LTV.
        opening_ltv = min(static.params.ltv_bps, path[0][1].ltv_bps)
        population = Population.spread(
            float(prices[0]), opening_ltv, s.borrowers, s.min_use, s.max_use
        )
        impact = ConstantProductPool(series.market, s.pool_depth, s.pool_depth, s.pool_fee)
        slippage = liquidity.slippage(impact, s.size).fraction
        delay_bars = max(0, s.delay // series.interval)
        dyn = simulate(prices, lt, population, delay_bars, slippage)
        sta = simulate(prices, static_lt, population, delay_bars, slippage)
        dyn_side = _side(dyn, ltv, lt, len(path), entries).to_dict()
        static_side = _side(sta, static_ltv, static_lt, 0, None).to_dict()
    summary = {
        "window": {"start": iso(int(ts[0])), "end": iso(int(ts[-1])), "bars": len(ts)},
        "scenario": scenario,
        "static_source": static.source,
        "dynamic": dyn_side,
        "static": static_side,
    }
    return Replay(ts, prices, lt, ltv, static, sigma, dyn, sta, summary)


def market_side(
    bars: Bars,
    window: tuple[int, int],
    ltv: np.ndarray,
    lt: np.ndarray,
    lb: np.ndarray,
    scenario: str,
    s: BacktestSettings,
) -> dict[str, Any]:
    """One side's metrics in the reference or realistic market over bars[lo:hi], with the LTV,
    the threshold in force (fraction) and the bonus (bps) at each of those bars."""
    lo, hi = window
    lt_bps = np.rint(np.asarray(lt) * BPS).astype(np.int64)
    ts = bars.timestamps[lo:hi]
    if scenario == "reference":
        outcome: Any = simulate_reference(bars.low[lo:hi], bars.close[lo:hi], lt_bps, ltv, ts, lb)
    else:
        outcome = simulate_realistic(
            bars.low[lo:hi],
            bars.high[lo:hi],
            bars.close[lo:hi],
            bars.volume[lo:hi],
            lt_bps,
            ltv,
            lb,
            ts,
            s.realistic,
        )
    return {
        **outcome.to_dict(),
        "min_ltv_bps": int(np.min(ltv)),
        "min_lt_bps": int(lt_bps.min()),
    }


def _path_entries(ts: np.ndarray, path: list[tuple[int, MarketState]]) -> list[dict[str, Any]]:
    """The parameter path as a report reads it: every change, and while a threshold ramp is in
    progress an entry for every bar, each with the LT in force, so the threshold a consumer read
    at any bar can be taken from the path alone."""
    out: list[dict[str, Any]] = []
    for i, (t, state) in enumerate(path):
        until = path[i + 1][0] if i + 1 < len(path) else int(ts[-1]) + 1
        ramp_bars = ts[(ts > t) & (ts < min(until, state.ramp_end))] if state.ramp_end else ts[:0]
        for when in (t, *(int(b) for b in ramp_bars)):
            out.append(
                {
                    "timestamp": iso(when),
                    "ltv_bps": state.ltv_bps,
                    "lt_bps": state.target_liquidation_threshold_bps,
                    "lb_bps": state.liquidation_bonus_bps,
                    "lt_in_force_bps": state.threshold_at(when),
                }
            )
    return out


def _side(
    o: Outcome, ltv: np.ndarray, lt: np.ndarray, updates: int, path: list[dict[str, Any]] | None
) -> Side:
    return Side(
        bad_debt=round(o.bad_debt, 6),
        liquidated=round(o.liquidated, 6),
        liquidations=o.liquidations,
        mean_ltv_bps=round(float(ltv.mean()), 1),
        min_ltv_bps=int(ltv.min()),
        min_lt_bps=round(float(lt.min()) * BPS),
        updates=updates,
        path=path,
    )
