"""What the risk engine is given: a price series, a liquidity description, a size, and model
settings.

Everything here is an immutable value checked on construction, so a bad input fails with a
`RiskInputError` naming the market and the problem before any maths runs; nothing downstream ever
sees a NaN.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from functools import cached_property

import numpy as np
from blake3 import blake3

from oracle.errors import RiskInputError
from oracle.feeds.base import Reading
from oracle.series import PriceSeries
from oracle.snapshot import MarketSnapshot
from oracle.types import BPS


@dataclass(frozen=True)
class OrderBook:
    """Bids for the collateral in the debt asset, best first: what a liquidator sells into.

    `bids` is an (n, 2) array of (price, size in collateral units); `best_ask` (optional) gives the
    mid.
    """

    market: str
    bids: np.ndarray
    best_ask: float | None = None

    def __post_init__(self) -> None:
        bids = np.ascontiguousarray(self.bids, dtype=np.float64).reshape(-1, 2)
        object.__setattr__(self, "bids", bids)
        if len(bids) == 0:
            raise RiskInputError(self.market, "order book has no bids")
        if not np.isfinite(bids).all() or (bids <= 0).any():
            raise RiskInputError(self.market, "order book has a non-positive or non-finite level")
        if (np.diff(bids[:, 0]) >= 0).any():
            raise RiskInputError(
                self.market, "order book bids must be strictly decreasing in price"
            )
        if self.best_ask is not None and not (
            np.isfinite(self.best_ask) and self.best_ask > bids[0, 0]
        ):
            raise RiskInputError(self.market, f"best ask {self.best_ask} is not above the best bid")


@dataclass(frozen=True)
class ConstantProductPool:
    """An x·y = k pool (Uniswap v2 style) holding the collateral and the debt asset."""

    market: str
    reserve_collateral: float
    reserve_debt: float
    fee: float = 0.003

    def __post_init__(self) -> None:
        for name in ("reserve_collateral", "reserve_debt"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise RiskInputError(self.market, f"pool {name} must be positive, got {value}")
        if not 0 <= self.fee < 1:
            raise RiskInputError(self.market, f"pool fee must be in [0, 1), got {self.fee}")


Liquidity = OrderBook | ConstantProductPool


@dataclass(frozen=True)
class ModelSettings:
    """Model knobs with their documented defaults (README "The model" explains each formula).

    Times are in seconds so the model works at any bar interval.
    """

    confidence: float = 0.99  # α of the expected shortfall
    ewma_lambda: float = 0.94  # RiskMetrics decay per `ewma_period`
    ewma_period: int = 3600  # λ applies per hour: λ_bar = λ ** (interval / ewma_period)
    realized_windows: tuple[int, ...] = (86_400, 7 * 86_400)  # multi-window realized volatility
    long_run_window: int = (
        90 * 86_400
    )  # long-run volatility, the floor against pro-cyclical loosening
    long_run_floor: float = 1.0  # σ never goes below this fraction of the long-run volatility
    base_horizon: int = 12 * 3600  # liquidation horizon H for a size the market absorbs at once
    max_horizon: int = 7 * 86_400
    participation: float = 0.10  # share of traded volume a liquidation may take per bar
    min_scenarios: int = (
        500  # fewer H-windows than this: Student-t instead of historical simulation
    )
    student_t_dof: float = 4.0
    min_history_bars: int = 48
    max_missing_recent: float = 0.2  # share of bars that may be missing in the last 24 h
    costs_bps: int = 50  # gas, fees and liquidator margin on top of slippage
    min_bonus_bps: int = 300
    max_bonus_bps: int = 1500
    max_threshold_bps: int = 9500
    min_threshold_bps: int = 1000  # below this the market is unfit as collateral: NoSafeParameters
    ltv_z: float = 1.645  # one-sided 95 % move between borrowing and liquidation eligibility
    ltv_buffer: int = 48 * 3600  # T_buffer: time the LTV gap must cover
    #: q of the historical falls within T_buffer the LTV gap must also cover (0: σ buffer only)
    ltv_fall_quantile: float = 0.85
    #: The threshold's tail memory (`moves`): α of the expected shortfall of the falls within the
    #: liquidation horizon over `memory_days` of daily closes (the caller supplies them; 0: off).
    memory_confidence: float = 0.99
    memory_days: int = 1_000  # one klines request on Binance (its limit is 1,000 bars)
    volatility_model: str = "ewma"  # or "garch" (needs the `arch` package)

    def __post_init__(self) -> None:
        problems = []
        if not 0.5 < self.confidence < 1:
            problems.append(f"confidence must be in (0.5, 1), got {self.confidence}")
        if not 0 < self.ewma_lambda < 1:
            problems.append(f"ewma_lambda must be in (0, 1), got {self.ewma_lambda}")
        if self.base_horizon <= 0 or self.max_horizon < self.base_horizon:
            problems.append("need 0 < base_horizon <= max_horizon")
        if not 0 < self.participation <= 1:
            problems.append(f"participation must be in (0, 1], got {self.participation}")
        if not 0 <= self.min_bonus_bps <= self.max_bonus_bps <= BPS:
            problems.append("need 0 <= min_bonus_bps <= max_bonus_bps <= 10000")
        if not 0 < self.min_threshold_bps < self.max_threshold_bps <= BPS:
            problems.append("need 0 < min_threshold_bps < max_threshold_bps <= 10000")
        if not 0 <= self.max_missing_recent < 1:
            problems.append("max_missing_recent must be in [0, 1)")
        if not 0 <= self.memory_confidence < 1 or self.memory_days < 1:
            problems.append("need 0 <= memory_confidence < 1 and memory_days >= 1")
        if not 0 <= self.ltv_fall_quantile < 1:
            problems.append(f"ltv_fall_quantile must be in [0, 1), got {self.ltv_fall_quantile}")
        if self.student_t_dof <= 2:
            problems.append("student_t_dof must be above 2 (finite variance)")
        if self.volatility_model not in ("ewma", "garch"):
            problems.append(
                f"volatility_model must be 'ewma' or 'garch', got {self.volatility_model!r}"
            )
        if problems:
            raise RiskInputError("(settings)", "; ".join(problems))

    @cached_property
    def canonical_json(self) -> bytes:
        """Sorted-key JSON of every setting, as hashed into the inputs hash (cached: settings are
        immutable and shared by many markets)."""
        return json.dumps(asdict(self), sort_keys=True).encode()


@dataclass(frozen=True)
class MarketInput:
    """One market's inputs. `size` is what may have to be liquidated at once, in collateral units
    (e.g. the supply cap or the collateral currently posted); `implied_vol` is an optional
    annualised implied volatility."""

    prices: PriceSeries
    liquidity: Liquidity
    size: float
    settings: ModelSettings = field(default_factory=ModelSettings)
    implied_vol: float | None = None
    #: Daily closes over the last `settings.memory_days` (the threshold's tail memory; None: the
    #: memory is off and the threshold covers the recent tail only).
    memory: PriceSeries | None = None

    def __post_init__(self) -> None:
        if not (np.isfinite(self.size) and self.size > 0):
            raise RiskInputError(
                self.market, f"size to liquidate must be positive, got {self.size}"
            )
        if self.implied_vol is not None and not (
            np.isfinite(self.implied_vol) and self.implied_vol > 0
        ):
            raise RiskInputError(
                self.market, f"implied volatility must be positive, got {self.implied_vol}"
            )
        if self.memory is not None and (
            self.memory.market != self.market or self.memory.interval != 86_400
        ):
            raise RiskInputError(self.market, "the tail memory must be this market's daily closes")
        if self.liquidity.market != self.market:
            raise RiskInputError(
                self.market, f"liquidity describes {self.liquidity.market}, not {self.market}"
            )

    @property
    def market(self) -> str:
        return self.prices.market

    def inputs_hash(self) -> bytes:
        """BLAKE3 of a canonical encoding of every input: the value a signed update commits to, so
        anyone holding the inputs can recompute it. Each part is length-prefixed; arrays are
        little-endian int64/float64 bytes, scalars their `repr`, settings sorted JSON. BLAKE3 rather
        than keccak: 30× faster on 43,200 bars per market, and nothing on-chain recomputes it."""
        h = blake3()

        def part(data: bytes | np.ndarray) -> None:
            if isinstance(data, bytes):
                raw = memoryview(data)
            else:
                raw = np.ascontiguousarray(data).data.cast("B")  # no copy
            h.update(raw.nbytes.to_bytes(8, "big"))
            h.update(raw)

        part(b"margin-oracle/risk-inputs/v1")
        part(self.market.encode())
        part(self.prices.timestamps.astype("<i8", copy=False))
        part(self.prices.close.astype("<f8", copy=False))
        volume = self.prices.volume
        part(b"-" if volume is None else volume.astype("<f8", copy=False))
        liq = self.liquidity
        if isinstance(liq, OrderBook):
            part(b"book")
            part(liq.bids.astype("<f8", copy=False))
            part(repr(liq.best_ask).encode())
        else:
            part(b"pool")
            part(repr((liq.reserve_collateral, liq.reserve_debt, liq.fee)).encode())
        part(repr(float(self.size)).encode())
        part(repr(self.implied_vol).encode())
        part(self.settings.canonical_json)
        if self.memory is not None:  # appended only when given: hashes without it are unchanged
            part(b"memory")
            part(self.memory.timestamps.astype("<i8", copy=False))
            part(self.memory.close.astype("<f8", copy=False))
        return h.digest()


def liquidity_of(snap: MarketSnapshot) -> Liquidity:
    """The liquidity the engine prices a liquidation on, from a market snapshot: an accepted pool
    reading if any (its in-range virtual reserves), else the accepted order book with the most size
    on the bid. Only accepted sources count: an outlier's book says nothing of the market."""
    accepted = [r for r in snap.results if isinstance(r, Reading) and r.source in snap.accepted]
    for r in accepted:
        if r.pool is not None:
            return ConstantProductPool(snap.market, r.pool[0], r.pool[1], r.pool_fee or 0.0)
    books = [r for r in accepted if r.bids]
    if not books:
        raise RiskInputError(snap.market, "no accepted source describes liquidity")
    best = max(books, key=lambda r: sum(q for _, q in r.bids))
    return OrderBook(snap.market, np.array(best.bids, dtype=np.float64), best.best_ask)
