"""A pure mirror of `MarginParameterRegistry`'s rules: bounds, steps, the loosening interval, the
threshold ramp and what a read returns.

One Python copy of each on-chain rule, used by the policy (to decide only what the chain will
accept), the backtester (to hold the values in force exactly as the chain would) and the tests (to
compare the chain against the mirror after every step). Each function names the Solidity it
mirrors; integer arithmetic and rounding follow the contract's, so the two agree to the basis
point and the second.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from oracle.types import BPS, Guardrails, Params, bonus_fits


@dataclass(frozen=True)
class MarketState:
    """A market's stored word (`MarketWord.sol`), as `marketState(market)` returns it: the target
    values, when they were written, the threshold ramp, the loosening clock and the profile."""

    ltv_bps: int
    target_liquidation_threshold_bps: int
    liquidation_bonus_bps: int
    updated_at: int  # 0: never set
    ramp_start_threshold_bps: int
    ramp_start: int
    ramp_end: int  # 0: no ramp
    last_loosen_at: int
    guardrail_profile: int  # 0: off the signed path

    @property
    def params(self) -> Params:
        """The stored values, with the threshold's target (not the value in force)."""
        return Params(
            self.ltv_bps, self.target_liquidation_threshold_bps, self.liquidation_bonus_bps
        )

    @property
    def is_set(self) -> bool:
        return self.updated_at != 0

    def threshold_at(self, timestamp: int) -> int:
        """`MarketWord.thresholdAt`: linear from the ramp's start value down to the target, rounded
        down (toward the target, the safer side)."""
        target = self.target_liquidation_threshold_bps
        start_value = self.ramp_start_threshold_bps
        if timestamp >= self.ramp_end or start_value <= target:
            return target
        span = self.ramp_end - self.ramp_start
        return target + (start_value - target) * (self.ramp_end - timestamp) // span

    def in_force(self, timestamp: int) -> Params:
        """What `getParameters` returns at `timestamp`: the threshold in force, and the bonus capped
        so that LT·(1 + LB) ≤ 1 holds for it (`cappedBonusDown`)."""
        lt = self.threshold_at(timestamp)
        return Params(self.ltv_bps, lt, capped_bonus(self.liquidation_bonus_bps, lt))


EMPTY = MarketState(0, 0, 0, 0, 0, 0, 0, 0, 0)


def capped_bonus(bonus_bps: int, threshold_bps: int) -> int:
    """`cappedBonusDown`: the largest bonus ≤ `bonus_bps` with threshold × (BPS + bonus) ≤ BPS²."""
    if threshold_bps == 0:
        return bonus_bps
    return min(bonus_bps, BPS * BPS // threshold_bps - BPS)


def clamp_bounds(v: Params, g: Guardrails) -> Params:
    """Each field moved inside the profile's [min, max]."""

    def clamp(x: int, lo: int, hi: int) -> int:
        return max(lo, min(hi, x))

    return Params(
        clamp(v.ltv_bps, g.min_ltv_bps, g.max_ltv_bps),
        clamp(
            v.liquidation_threshold_bps,
            g.min_liquidation_threshold_bps,
            g.max_liquidation_threshold_bps,
        ),
        clamp(v.liquidation_bonus_bps, g.min_liquidation_bonus_bps, g.max_liquidation_bonus_bps),
    )


def within_bounds(v: Params, g: Guardrails) -> bool:
    """The bounds test of `_applySigned`."""
    return clamp_bounds(v, g) == v


def _step(new: int, old: int, higher_loosens: bool, g: Guardrails) -> int:
    loosening = (new > old) == higher_loosens
    limit = g.max_loosen_step_bps if loosening else g.max_tighten_step_bps
    return old + max(-limit, min(limit, new - old))


def clamp_steps(target: Params, current: Params, g: Guardrails) -> Params:
    """Each field moved from `current` toward `target` by at most the step for its direction
    (loosening: higher LTV or LT, lower LB)."""
    return Params(
        _step(target.ltv_bps, current.ltv_bps, True, g),
        _step(target.liquidation_threshold_bps, current.liquidation_threshold_bps, True, g),
        _step(target.liquidation_bonus_bps, current.liquidation_bonus_bps, False, g),
    )


def within_steps(new: Params, current: Params, g: Guardrails) -> bool:
    """The step test of `_applySigned` (`_checkStep` per field)."""
    return clamp_steps(new, current, g) == new


def signed_update_error(
    state: MarketState, new: Params, g: Guardrails | None, now: int
) -> str | None:
    """The custom error `submitUpdates` reverts with for this entry, or None when it is accepted;
    the checks in `_applySigned`'s order (bounds, invariants, steps, loosening interval)."""
    if g is None or state.guardrail_profile == 0:
        return "MarketNotConfigured"
    if not within_bounds(new, g):
        return "OutOfBounds"
    if new.ltv_bps >= new.liquidation_threshold_bps:
        return "LtvNotBelowThreshold"
    if not bonus_fits(new.liquidation_threshold_bps, new.liquidation_bonus_bps):
        return "BonusExceedsCollateral"
    if not state.is_set or new == state.params:
        return None
    if not within_steps(new, state.params, g):
        return "StepTooLarge"
    if new.loosens(state.params) and now < state.last_loosen_at + g.min_loosen_interval:
        return "LoosenTooSoon"
    return None


def apply_signed(state: MarketState, new: Params, g: Guardrails, now: int) -> MarketState:
    """The state after an accepted signed entry (`_applySigned`): a heartbeat refreshes
    `updatedAt` only; a first value or a change is written with the loosening clock set when it
    loosens (a first value counts as loosening)."""
    if state.is_set and new == state.params:
        return replace(state, updated_at=now)
    last_loosen = now if not state.is_set or new.loosens(state.params) else state.last_loosen_at
    return write(state, new, now, g.threshold_ramp_duration, last_loosen)


def write(
    state: MarketState, new: Params, now: int, ramp_duration: int, last_loosen_at: int
) -> MarketState:
    """`_write`: a threshold below the one in force ramps down from it over `ramp_duration`; an
    unchanged target keeps a ramp in progress; any other change applies at once and ends the
    ramp."""
    in_force = state.threshold_at(now)
    lt = new.liquidation_threshold_bps
    ramp = (0, 0, 0)
    if state.is_set and lt < in_force and ramp_duration != 0:
        ramp = (in_force, now, now + ramp_duration)
    elif lt == state.target_liquidation_threshold_bps and state.ramp_end > now:
        ramp = (state.ramp_start_threshold_bps, state.ramp_start, state.ramp_end)
    return MarketState(
        new.ltv_bps,
        lt,
        new.liquidation_bonus_bps,
        now,
        *ramp,
        last_loosen_at,
        state.guardrail_profile,
    )
