"""The policy: what to do with a recommendation, given the chain's state. Pure and deterministic.

Per market, in order (every decision carries its reason):
1. Feed health FAILED, or no recommendation (the engine refused): HOLD — push nothing; alert.
2. Feed health DEGRADED: keep only the tightening part of the recommendation (lower LTV, lower LT,
   higher LB, each taken field by field; the result still satisfies the invariants).
3. Loosening waits: a field that loosens is held at its on-chain value until the recommendation has
   asked to loosen for `loosen_after_cycles` consecutive cycles *and* the chain's loosening cooldown
   (`minLoosenInterval` since `lastLoosenAt`) has passed. Tightening applies at once.
4. Deadband: if every field is within `deadband_bps` of the chain, no update; a HEARTBEAT is sent
   when `updatedAt` is older than `heartbeat_after`, otherwise NO_CHANGE.
5. Guardrails (read from the chain): values are moved toward the target by at most the profile's
   tighten/loosen step and kept inside its bounds (widened to include a value the market holds
   outside them) — an UPDATE on the fast path. When the target lies outside the bounds, the full
   target is also put to governance as a PROPOSAL, unless the same target is already queued.
6. The chain's other limits: a change (not a heartbeat) waits until `minUpdateInterval` has passed
   since the market's last signed change — meanwhile a due heartbeat still goes out. A market with
   no guardrail profile is held with an alert: signed proposals for it are refused on-chain, and
   bringing a market on is governance's own act.

The two levers move at different speeds (step 3½, after loosening and before the deadband). The LTV
governs only new borrowing and tightens at once. The threshold governs the positions already open:
a target within `threshold_band_bps` of the chain's leaves it in place (hysteresis), and a cut is
slow: it waits while a threshold ramp is in progress on-chain, moves at most
`threshold_step_bps` per ramp, and — when the consumer's open positions are given — no further than
makes `max_induced_share` of open debt liquidatable at the current price (`impact`). A target more
than `governance_cut_bps` below the threshold in force also goes to governance, with the impact
table, since only governance may liquidate borrowers by decree.

The bounds, steps and intervals are the registry's own rules, mirrored in `oracle.policy.rules`:
the policy never signs what the chain will refuse for a reason it can read in advance.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from oracle.policy.impact import OpenPositions
from oracle.policy.rules import clamp_bounds, clamp_steps
from oracle.series import iso
from oracle.snapshot import Health
from oracle.types import Guardrails, Params


class Action(StrEnum):
    HOLD = "hold"
    NO_CHANGE = "no_change"
    HEARTBEAT = "heartbeat"
    UPDATE = "update"
    PROPOSE = "propose"  # the fast path cannot reach the target: only governance can


@dataclass(frozen=True)
class OnChain:
    """What the chain says about a market (the policy never trusts a copy in config)."""

    values: Params | None  # None: never set
    updated_at: int
    last_loosen_at: int
    guardrails: Guardrails | None  # None: no profile assigned (the fast path is closed)
    last_change_at: int = 0  # the last signed change (the update interval counts from it)
    queued: Params | None = None  # the market's latest proposal, while it is queued and unexpired
    queued_by_governance: bool = False  # that proposal is governance's own (propose)
    chain_time: int | None = None  # the latest block's timestamp (None: the policy's `now`)
    threshold_ramp_end: int = 0  # the end of the threshold ramp in progress (0: none)
    threshold_in_force: int | None = None  # the threshold a read returns now (None: the target)

    def clock(self, now: int) -> int:
        """The time the registry's intervals are judged at: the chain's, which can lag the
        keeper's clock (gas is estimated against the latest block), never the keeper's alone."""
        return now if self.chain_time is None else min(now, self.chain_time)


@dataclass(frozen=True)
class PolicySettings:
    deadband_bps: int = 25
    heartbeat_after: int = 6 * 3600
    loosen_after_cycles: int = 3
    #: A new proposal supersedes the keeper's queued one (restarting its timelock) only when its
    #: target differs from it by more than this in some field.
    proposal_band_bps: int = 500
    #: The threshold's slow path: the largest fast-path cut per ramp (the contract ramps each cut
    #: in over the profile's `threshold_ramp_duration`; the next waits for it to finish).
    threshold_step_bps: int = 100
    #: The most open debt (share) one fast-path threshold cut may make liquidatable at once.
    max_induced_share: float = 0.01
    #: A threshold target further than this below the one in force also goes to governance.
    governance_cut_bps: int = 300
    #: Hysteresis: a threshold target within this of the chain's threshold leaves it where it is
    #: (a threshold that wobbles with the tail estimate would cut under positions it just let in).
    threshold_band_bps: int = 100

    def __post_init__(self) -> None:
        if min(self.threshold_step_bps, self.governance_cut_bps, self.threshold_band_bps) < 0:
            raise ValueError(
                "threshold_step_bps, governance_cut_bps and threshold_band_bps must be >= 0"
            )
        if not 0 <= self.max_induced_share <= 1:
            raise ValueError(f"max_induced_share must be in [0, 1], got {self.max_induced_share}")


@dataclass(frozen=True)
class Decision:
    market: str
    action: Action
    reason: str
    update: Params | None = None  # what the fast path pushes (UPDATE or HEARTBEAT)
    proposal: Params | None = None  # what goes to governance (PROPOSE, or UPDATE that stops short)
    loosening_wanted: bool = False  # feeds the persistence counter for the next cycle
    alert: bool = False


def decide(
    market: str,
    recommendation: Params | None,
    refusal: str | None,
    health: Health,
    health_reasons: tuple[str, ...],
    chain: OnChain,
    loosen_streak: int,
    now: int,
    settings: PolicySettings,
    positions: OpenPositions | None = None,
) -> Decision:
    """`loosen_streak`: how many consecutive earlier cycles asked to loosen this market.
    `positions`: the consumer's open positions at the current price, which size threshold cuts
    (None: cuts are paced by `threshold_step_bps` alone)."""
    d = _decide(
        market,
        recommendation,
        refusal,
        health,
        health_reasons,
        chain,
        loosen_streak,
        now,
        settings,
        positions,
    )
    return _within_chain_limits(d, chain, now, settings)


def _decide(
    market: str,
    recommendation: Params | None,
    refusal: str | None,
    health: Health,
    health_reasons: tuple[str, ...],
    chain: OnChain,
    loosen_streak: int,
    now: int,
    settings: PolicySettings,
    positions: OpenPositions | None,
) -> Decision:
    if health == Health.FAILED:
        why = "; ".join(health_reasons) or "feeds failed"
        return Decision(market, Action.HOLD, f"feed health FAILED: {why}", alert=True)
    if recommendation is None:
        return Decision(market, Action.HOLD, f"no recommendation: {refusal}", alert=True)
    if chain.guardrails is None:
        return Decision(
            market,
            Action.HOLD,
            "market has no guardrail profile: governance must assign one "
            f"(recommended {recommendation})",
            alert=True,
        )
    g = chain.guardrails
    current = chain.values
    if current is None:  # first value: bounds and invariants only
        first = clamp_bounds(recommendation, g)
        if first == recommendation:
            return Decision(market, Action.UPDATE, "first value for the market", update=first)
        return _outside(market, first, recommendation, "first value outside the bounds")

    target = recommendation
    reasons = []
    if health == Health.DEGRADED:
        target = target.tighter_of(current)
        reasons.append("feeds DEGRADED: tightening only")
    wanted = recommendation.loosens(current)
    if target.loosens(current):
        cooldown_end = chain.last_loosen_at + g.min_loosen_interval
        if loosen_streak + 1 < settings.loosen_after_cycles:
            target = target.tighter_of(current)
            asked = f"{loosen_streak + 1} of {settings.loosen_after_cycles}"
            reasons.append(f"loosening held: asked {asked} cycles")
        elif chain.clock(now) < cooldown_end:
            target = target.tighter_of(current)
            reasons.append(f"loosening held: on-chain cooldown until {iso(cooldown_end)}")
    stored_lt = current.liquidation_threshold_bps
    if (
        target.liquidation_threshold_bps != stored_lt
        and abs(target.liquidation_threshold_bps - stored_lt) <= settings.threshold_band_bps
        and Params(target.ltv_bps, stored_lt, target.liquidation_bonus_bps).valid()
    ):
        target = Params(target.ltv_bps, stored_lt, target.liquidation_bonus_bps)
        reasons.append(f"threshold held: within {settings.threshold_band_bps} bps of the chain")
    full = target  # what governance is asked for when the fast path stops short of it
    deep_cut: Params | None = None
    if target.liquidation_threshold_bps < current.liquidation_threshold_bps:
        lt, why, deep = _slow_threshold(target, current, chain, now, settings, positions)
        if lt != target.liquidation_threshold_bps:
            target = Params(target.ltv_bps, lt, target.liquidation_bonus_bps)
            reasons.append(why)
        if deep is not None:
            deep_cut = full
            reasons.append(deep)
    if _within(target, current, settings.deadband_bps):
        if deep_cut is not None:
            return Decision(
                market,
                Action.PROPOSE,
                "; ".join([*reasons, "fast path within the deadband"]),
                proposal=deep_cut,
                loosening_wanted=wanted,
            )
        if now - chain.updated_at >= settings.heartbeat_after:
            return Decision(
                market,
                Action.HEARTBEAT,
                "; ".join([*reasons, f"unchanged for {now - chain.updated_at} s: heartbeat"]),
                update=current,
                loosening_wanted=wanted,
            )
        return Decision(
            market,
            Action.NO_CHANGE,
            "; ".join([*reasons, "within the deadband"]),
            loosening_wanted=wanted,
        )
    step = clamp_steps(target, current, g)
    bounded = clamp_bounds(step, g, current)
    if bounded.ltv_bps >= bounded.liquidation_threshold_bps:  # LT stepped down faster than LTV
        lowest = max(current.ltv_bps - g.max_tighten_step_bps, g.min_ltv_bps)
        ltv = bounded.liquidation_threshold_bps - 1
        if ltv >= lowest:
            bounded = Params(ltv, bounded.liquidation_threshold_bps, bounded.liquidation_bonus_bps)
    if not bounded.valid() or bounded == current:
        return _outside(
            market, None, full, "; ".join([*reasons, "no valid step toward the target"])
        )
    if clamp_bounds(full, g, current) != full:
        return _outside(
            market, bounded, full, "; ".join([*reasons, "target outside the guardrail bounds"])
        )
    why = "step-limited toward the target" if bounded != target else "within the guardrails"
    return Decision(
        market,
        Action.UPDATE,
        "; ".join([*reasons, why]),
        update=bounded,
        proposal=deep_cut,
        loosening_wanted=wanted,
    )


def _slow_threshold(
    target: Params,
    current: Params,
    chain: OnChain,
    now: int,
    settings: PolicySettings,
    positions: OpenPositions | None,
) -> tuple[int, str, str | None]:
    """The threshold the fast path may cut to now, why, and for a deep cut why it also goes to
    governance, with its impact. See the module docstring, step 3½."""
    wanted = target.liquidation_threshold_bps
    stored = current.liquidation_threshold_bps
    in_force = stored if chain.threshold_in_force is None else chain.threshold_in_force
    # Impact is measured from the threshold positions face: the consumer's when it is higher.
    base = in_force if positions is None else positions.baseline(in_force)
    deep = None
    if in_force - wanted > settings.governance_cut_bps:
        if positions is not None and positions.unknown:
            impact, share = "", ", impact unknown (positions unreadable)"
        else:
            impact = "" if positions is None else f" (impact: {_impact(positions.table(base))})"
            share = (
                "" if positions is None else f", {positions.induced(base, wanted):.2%} of open debt"
            )
        deep = (
            f"threshold cut to {wanted} exceeds {settings.governance_cut_bps} bps{share}: "
            f"proposed to governance{impact}"
        )
    if chain.threshold_ramp_end > chain.clock(now):
        return (
            stored,
            f"threshold cut waits for the ramp in progress (until {iso(chain.threshold_ramp_end)})",
            deep,
        )
    lt = max(wanted, stored - settings.threshold_step_bps)
    why = f"threshold cut paced to {settings.threshold_step_bps} bps per ramp"
    if positions is not None and positions.unknown:
        return stored, "threshold held: the consumer's positions could not be read", deep
    if positions is not None:
        # A cut must not leave more than the ceiling of open debt within a fall of the new
        # threshold and not of the old: the larger of the engine's LTV buffer (1 − LTV/LT) and
        # the tail the caller measured (the one the threshold itself is sized for).
        move = max(1.0 - target.ltv_bps / wanted, positions.stress_move)
        sized = min(stored, positions.deepest_cut(base, lt, settings.max_induced_share, move))
        if sized > lt:
            lt = sized
            why = (
                f"threshold cut sized to {lt}: at most {settings.max_induced_share:.2%} of open "
                "debt liquidatable by the cut"
            )
    return lt, why, deep


def _impact(table: list[tuple[int, float]]) -> str:
    """An impact table in words: each threshold and the share of open debt it would liquidate."""
    return ", ".join(f"LT {lt} liquidates {share:.2%}" for lt, share in table)


def _outside(market: str, update: Params | None, target: Params, reason: str) -> Decision:
    """Move as far as the fast path allows (if anywhere), and ask governance for the rest."""
    action = Action.UPDATE if update is not None and update.valid() else Action.PROPOSE
    return Decision(
        market,
        action,
        f"{reason}: proposing {target} to governance",
        update=update if action == Action.UPDATE else None,
        proposal=target,
    )


def _within_chain_limits(
    d: Decision, chain: OnChain, now: int, settings: PolicySettings
) -> Decision:
    """Drops what the chain would refuse or already has: a proposal while governance's own is
    pending, or whose target is within `proposal_band_bps` of the keeper's queued one (superseding
    it would restart its timelock), and a change before the update interval has passed (a due
    heartbeat still goes)."""
    proposal, reasons = d.proposal, [d.reason]
    queued = chain.queued
    if proposal is not None and queued is not None:
        if (
            chain.queued_by_governance
        ):  # the chain refuses to supersede it (GovernanceProposalPending)
            proposal = None
            reasons.append(f"governance's own proposal {queued} is pending")
        elif _within(proposal, queued, settings.proposal_band_bps):
            proposal = None
            reasons.append(f"{queued} is already queued for governance")
    update = d.update
    g, current = chain.guardrails, chain.values
    if d.action == Action.UPDATE and g is not None and current is not None and update != current:
        next_change = chain.last_change_at + g.min_update_interval
        if chain.clock(now) < next_change:
            update = None
            reasons.append(f"update interval: the next change is allowed at {next_change}")
    if update is d.update and proposal is d.proposal:
        return d
    reason = "; ".join(reasons)
    if update is not None:
        return Decision(d.market, d.action, reason, update, proposal, d.loosening_wanted, d.alert)
    if proposal is not None:
        return Decision(
            d.market, Action.PROPOSE, reason, None, proposal, d.loosening_wanted, d.alert
        )
    if current is not None and now - chain.updated_at >= settings.heartbeat_after:
        return Decision(
            d.market,
            Action.HEARTBEAT,
            f"{reason}; unchanged for {now - chain.updated_at} s: heartbeat",
            current,
            None,
            d.loosening_wanted,
            d.alert,
        )
    return Decision(d.market, Action.NO_CHANGE, reason, None, None, d.loosening_wanted, d.alert)


def _within(a: Params, b: Params, band: int) -> bool:
    return (
        abs(a.ltv_bps - b.ltv_bps) <= band
        and abs(a.liquidation_threshold_bps - b.liquidation_threshold_bps) <= band
        and abs(a.liquidation_bonus_bps - b.liquidation_bonus_bps) <= band
    )
