"""A pure mirror of `MarginParameterRegistry`'s rules: bounds, steps, the update and loosening
intervals, the threshold ramp, what a read returns, and the limits on batches and proposals.

One Python copy of each on-chain rule, used by the policy (to decide only what the chain will
accept), the backtester (to hold the values in force exactly as the chain would) and the tests (to
compare the chain against the mirror after every step). Each function names the Solidity it
mirrors; integer arithmetic and rounding follow the contract's, so the two agree to the basis
point and the second.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from oracle.types import BPS, Guardrails, Params, bonus_fits

#: `MAX_PROPOSALS_PER_BATCH`: the most entries one signed `proposeUpdates` batch may hold.
MAX_PROPOSALS_PER_BATCH = 32
#: The seconds since a market's last signed change are stored in 16 bits, saturating here
#: (`MAX_UPDATE_INTERVAL` is the same bound on a profile's update interval).
MAX_CHANGE_AGE = 2**16 - 1


@dataclass(frozen=True)
class MarketState:
    """A market's stored word (`MarketWord.sol`), as `marketState(market)` returns it: the target
    values, when they were written, the threshold ramp, the loosening clock, the profile and when
    the last signed change was written."""

    ltv_bps: int
    target_liquidation_threshold_bps: int
    liquidation_bonus_bps: int
    updated_at: int  # 0: never set
    ramp_start_threshold_bps: int
    ramp_start: int
    ramp_end: int  # 0: no ramp
    last_loosen_at: int
    guardrail_profile: int  # 0: off the signed path
    last_change_at: int  # updatedAt − changeAge (a lower bound once the age saturates)

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

    def change_age_at(self, timestamp: int) -> int:
        """`MarketWord.changeAgeAt`: seconds since the last signed change, saturating at 65,535;
        saturated for a market never set."""
        if not self.is_set:
            return MAX_CHANGE_AGE
        return min(timestamp - self.last_change_at, MAX_CHANGE_AGE)

    def next_change_at(self, g: Guardrails) -> int:
        """The first second a signed change is accepted (`UpdateTooSoon` before it)."""
        if not self.is_set:
            return 0
        return self.last_change_at + g.min_update_interval


EMPTY = MarketState(0, 0, 0, 0, 0, 0, 0, 0, 0, 0)


def capped_bonus(bonus_bps: int, threshold_bps: int) -> int:
    """`cappedBonusDown`: the largest bonus ≤ `bonus_bps` with threshold × (BPS + bonus) ≤ BPS²."""
    if threshold_bps == 0:
        return bonus_bps
    return min(bonus_bps, BPS * BPS // threshold_bps - BPS)


def bounds(g: Guardrails, current: Params | None = None) -> tuple[Params, Params]:
    """The (lowest, highest) values a signed update may set: the profile's bounds, each widened to
    include the value the market holds (`_checkWidenedBounds`), so a market left outside its bounds
    by the guardian, governance or a narrower profile may stay there or move toward them."""
    lo = Params(g.min_ltv_bps, g.min_liquidation_threshold_bps, g.min_liquidation_bonus_bps)
    hi = Params(g.max_ltv_bps, g.max_liquidation_threshold_bps, g.max_liquidation_bonus_bps)
    if current is None:
        return lo, hi
    return (
        Params(*(min(a, c) for a, c in zip(lo.as_tuple(), current.as_tuple(), strict=True))),
        Params(*(max(a, c) for a, c in zip(hi.as_tuple(), current.as_tuple(), strict=True))),
    )


def clamp_bounds(v: Params, g: Guardrails, current: Params | None = None) -> Params:
    """Each field moved inside the (widened) bounds."""
    lo, hi = bounds(g, current)
    return Params(
        *(
            max(low, min(high, x))
            for x, low, high in zip(v.as_tuple(), lo.as_tuple(), hi.as_tuple(), strict=True)
        )
    )


def within_bounds(v: Params, g: Guardrails, current: Params | None = None) -> bool:
    """The bounds test of `_applySigned` (widened for a set market)."""
    return clamp_bounds(v, g, current) == v


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
    the checks in `_applySigned`'s order (bounds, invariants, steps, update interval, loosening
    interval). A heartbeat (the stored values again) passes every check after the invariants."""
    if g is None or state.guardrail_profile == 0:
        return "MarketNotConfigured"
    if not within_bounds(new, g, state.params if state.is_set else None):
        return "OutOfBounds"
    if new.ltv_bps >= new.liquidation_threshold_bps:
        return "LtvNotBelowThreshold"
    if not bonus_fits(new.liquidation_threshold_bps, new.liquidation_bonus_bps):
        return "BonusExceedsCollateral"
    if not state.is_set or new == state.params:
        return None
    if not within_steps(new, state.params, g):
        return "StepTooLarge"
    if state.change_age_at(now) < g.min_update_interval:
        return "UpdateTooSoon"
    if new.loosens(state.params) and now < state.last_loosen_at + g.min_loosen_interval:
        return "LoosenTooSoon"
    return None


def apply_signed(state: MarketState, new: Params, g: Guardrails, now: int) -> MarketState:
    """The state after an accepted signed entry (`_applySigned`): a heartbeat refreshes
    `updatedAt` only (the change age carried forward); a first value or a change is written with
    the loosening clock set when it loosens (a first value counts as loosening) and its change age
    reset."""
    if state.is_set and new == state.params:
        return replace(state, updated_at=now, last_change_at=now - state.change_age_at(now))
    last_loosen = now if not state.is_set or new.loosens(state.params) else state.last_loosen_at
    return write(state, new, now, g.threshold_ramp_duration, last_loosen, 0)


def apply_privileged(
    state: MarketState, new: Params, now: int, ramp_duration: int, *, executed: bool
) -> MarketState:
    """The state after governance's `execute` (`executed`) or the guardian's `tighten`: written
    like any change, the market's change age carried forward (they neither use nor reset the update
    interval). The loosening clock restarts on a guardian cut (the signed path cannot undo it
    before `minLoosenInterval`), on an executed first value and on an executed loosening."""
    last_loosen = now
    if executed and state.is_set and not new.loosens(state.params):
        last_loosen = state.last_loosen_at
    return write(state, new, now, ramp_duration, last_loosen, state.change_age_at(now))


def write(
    state: MarketState,
    new: Params,
    now: int,
    ramp_duration: int,
    last_loosen_at: int,
    change_age: int,
) -> MarketState:
    """`_write`: an unchanged target keeps a ramp in progress; a threshold below the one in force
    ramps down from it over `ramp_duration`, or sooner at the pace of a ramp in progress (repeated
    small cuts cannot stall it); any other change applies at once and ends the ramp."""
    lt = new.liquidation_threshold_bps
    ramp = (0, 0, 0)
    in_force = state.threshold_at(now)
    if lt == state.target_liquidation_threshold_bps and state.ramp_end > now:
        ramp = (state.ramp_start_threshold_bps, state.ramp_start, state.ramp_end)
    elif state.is_set and lt < in_force and ramp_duration != 0:
        duration = ramp_duration
        old_from, old_target = (
            state.ramp_start_threshold_bps,
            state.target_liquidation_threshold_bps,
        )
        if state.ramp_end > now and old_from > old_target:
            paced = (in_force - lt) * (state.ramp_end - state.ramp_start) // (old_from - old_target)
            duration = min(duration, max(paced, 1))
        ramp = (in_force, now, now + duration)
    return MarketState(
        new.ltv_bps,
        lt,
        new.liquidation_bonus_bps,
        now,
        *ramp,
        last_loosen_at,
        state.guardrail_profile,
        max(now - change_age, 0),
    )


@dataclass(frozen=True)
class WorstCase:
    """The furthest one field can be moved by signed updates alone within a time window."""

    field: str
    tighten_bps: int
    loosen_bps: int


def worst_case(g: Guardrails, seconds: int) -> list[WorstCase]:
    """How far a compromised or buggy signer set can move each field within `seconds`, the
    guardian doing nothing: changes are at least `min_update_interval` apart (one at the start of
    the window included), loosenings at least `min_loosen_interval` apart, each by at most the
    step for its direction, and no field beyond its bounds. A threshold cut also ramps in, so the
    threshold in force moves slower still than its target."""
    changes = 1 + seconds // g.min_update_interval
    loosenings = min(
        changes, 1 + seconds // g.min_loosen_interval if g.min_loosen_interval else changes
    )
    spans = {
        "ltv": g.max_ltv_bps - g.min_ltv_bps,
        "liquidation_threshold": g.max_liquidation_threshold_bps - g.min_liquidation_threshold_bps,
        "liquidation_bonus": g.max_liquidation_bonus_bps - g.min_liquidation_bonus_bps,
    }
    return [
        WorstCase(
            name,
            min(span, changes * g.max_tighten_step_bps),
            min(span, loosenings * g.max_loosen_step_bps),
        )
        for name, span in spans.items()
    ]
