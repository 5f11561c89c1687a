"""The values every stage of the pipeline passes on: basis points, the parameter triple, guardrail
profiles and market ids.

Standard library only, so that any stage — the pure risk engine and policy included — can import
it without loading web3 or the chain client. The on-chain rules that act on these values (ramps,
steps, bounds) are mirrored in `oracle.policy.rules`; the invariants every stored triple satisfies
live here, on the type, because every stage checks them.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass
from typing import NewType

#: Basis points in one: 10,000 bps = 100 %. The registry's `ConstantsLib.BPS` is the same.
BPS = 10_000

#: A market's `bytes32` id on the registry: keccak256 of its symbol (`oracle.markets.market_id`).
MarketId = NewType("MarketId", bytes)


@dataclass(frozen=True, order=True)
class Params:
    """A market's parameter triple in basis points: loan-to-value (how much may be borrowed against
    collateral), liquidation threshold (above which a position may be liquidated) and liquidation
    bonus (what a liquidator earns on the collateral seized).

    The same type is the engine's recommendation, the policy's decision, what a batch signs, what
    the registry stores and what a static baseline holds; types that carry more (a market id, a
    timestamp, a ramp) hold one of these rather than three loose fields.
    """

    ltv_bps: int
    liquidation_threshold_bps: int
    liquidation_bonus_bps: int

    def valid(self) -> bool:
        """What the keeper may sign: the registry's invariants (`_checkInvariants`: LTV < LT and
        LT·(1 + LB) ≤ 1 — after a liquidation at the threshold, the collateral still pays the debt
        plus the bonus; `_checkRange`: LT, LB ≤ 100 %) and a positive LTV. The registry itself lets
        governance and the guardian store an LTV of 0 (no new borrowing); the keeper never does."""
        return (
            0 < self.ltv_bps < self.liquidation_threshold_bps <= BPS
            and 0 <= self.liquidation_bonus_bps <= BPS
            and bonus_fits(self.liquidation_threshold_bps, self.liquidation_bonus_bps)
        )

    def tighter_of(self, other: Params) -> Params:
        """Field by field, the tighter of the two (lower LTV and LT, higher LB). Valid when both
        are: min(a, c) < min(b, d) when a < b and c < d, and a lower LT only helps LT·(1+LB) ≤ 1."""
        return Params(
            min(self.ltv_bps, other.ltv_bps),
            min(self.liquidation_threshold_bps, other.liquidation_threshold_bps),
            max(self.liquidation_bonus_bps, other.liquidation_bonus_bps),
        )

    def loosens(self, old: Params) -> bool:
        """The one definition of loosening: a higher LTV or LT, or a lower bonus, than `old`."""
        return (
            self.ltv_bps > old.ltv_bps
            or self.liquidation_threshold_bps > old.liquidation_threshold_bps
            or self.liquidation_bonus_bps < old.liquidation_bonus_bps
        )

    def as_tuple(self) -> tuple[int, int, int]:
        return (self.ltv_bps, self.liquidation_threshold_bps, self.liquidation_bonus_bps)

    def __str__(self) -> str:
        return f"{self.ltv_bps}/{self.liquidation_threshold_bps}/{self.liquidation_bonus_bps}"


def bonus_fits(threshold_bps: int, bonus_bps: int) -> bool:
    """LT·(1 + LB) ≤ 1 in integers (threshold × (BPS + bonus) ≤ BPS²), as the registry does."""
    return threshold_bps * (BPS + bonus_bps) <= BPS * BPS


@dataclass(frozen=True)
class Guardrails:
    """A guardrail profile, the Solidity `Guardrails` struct. Field order is the ABI tuple order;
    build it with keywords."""

    min_ltv_bps: int
    max_ltv_bps: int
    min_liquidation_threshold_bps: int
    max_liquidation_threshold_bps: int
    min_liquidation_bonus_bps: int
    max_liquidation_bonus_bps: int
    max_tighten_step_bps: int
    max_loosen_step_bps: int
    min_loosen_interval: int  # seconds between loosening updates of a market
    threshold_ramp_duration: int  # seconds over which a threshold cut is reached (0: at once)
    min_update_interval: int  # seconds between value-changing signed updates (steps become rates)

    def as_tuple(self) -> tuple[int, ...]:
        """The ABI tuple of the Solidity struct."""
        return astuple(self)


#: The blue-chip profile we recommend for production; the demo deploys it, the backtester and
#: the scorecard simulate it, the development deploy (`oracle.devnet.registry`) assigns it. Why:
#: - bounds wide enough for a crash (LTV 10–85 %, LT 20–90 %, LB 1–15 %): the fast path can cut the
#:   LTV as far as a crash needs; what it cannot do to the threshold, the policy's slow path
#:   forbids and governance decides;
#: - at most 15 % tighter per update, one change per half hour: the LTV, which only governs new
#:   borrowing, reaches a crash's level within hours;
#: - at most 3 % looser per update, loosening at most daily: a bounce cannot undo a cut in a day;
#: - threshold cuts ramped in over 24 hours: each cut reaches the open positions gradually, like
#:   Euler's ramps, and the keeper's next cut waits for the ramp (`PolicySettings`): with 100 bps
#:   per ramp, at most 700 bps in any 7 days on the fast path.
BLUE_CHIP_GUARDRAILS = Guardrails(
    min_ltv_bps=1_000,
    max_ltv_bps=8_500,
    min_liquidation_threshold_bps=2_000,
    max_liquidation_threshold_bps=9_000,
    min_liquidation_bonus_bps=100,
    max_liquidation_bonus_bps=1_500,
    max_tighten_step_bps=1_500,
    max_loosen_step_bps=300,
    min_loosen_interval=86_400,
    threshold_ramp_duration=24 * 3_600,
    min_update_interval=1_800,
)
