"""The policy, decision by decision (pure: no chain needed)."""

from __future__ import annotations

from dataclasses import replace

from oracle.policy import Action, OnChain, PolicySettings, decide
from oracle.policy.rules import MarketState, signed_update_error
from oracle.snapshot import Health
from oracle.types import Params
from tests.helpers.guardrails import TEST_GUARDRAILS

G = TEST_GUARDRAILS
NOW = 1_700_000_000
CURRENT = Params(7000, 8000, 500)
#: These tests are about the other rules: the threshold's slow path (test_slow_threshold.py) is
#: opened wide so that a threshold cut moves like any other field.
S = PolicySettings(
    deadband_bps=25,
    heartbeat_after=6 * 3600,
    loosen_after_cycles=3,
    threshold_step_bps=10_000,
    governance_cut_bps=10_000,
    threshold_band_bps=0,
)


def chain(values=CURRENT, updated_at=NOW - 600, last_loosen_at=NOW - 2 * 86_400, g=G):
    return OnChain(values, updated_at, last_loosen_at, g)


def run(rec, health=Health.OK, on_chain=None, streak=0, now=NOW, refusal=None):
    return decide(
        "ETH/USD", rec, refusal, health, ("x: timeout",), on_chain or chain(), streak, now, S
    )


def test_failed_feeds_hold_and_alert():
    d = run(Params(6000, 7000, 600), Health.FAILED)
    assert d.action == Action.HOLD and d.alert and "FAILED: x: timeout" in d.reason
    assert d.update is None and d.proposal is None


def test_no_recommendation_holds():
    d = run(None, refusal="NoSafeParameters: LT below minimum")
    assert d.action == Action.HOLD and "NoSafeParameters" in d.reason


def test_tightening_applies_at_once():
    d = run(Params(6800, 7900, 550))
    assert d.action == Action.UPDATE and d.update == Params(6800, 7900, 550)
    assert "within the guardrails" in d.reason and not d.loosening_wanted


def test_big_moves_are_step_limited():
    d = run(Params(6100, 6200, 500))  # LT must fall 1,800: 1,000 per update
    assert d.action == Action.UPDATE and d.update == Params(6100, 7000, 500)
    assert d.proposal is None
    assert "step-limited" in d.reason
    up = run(Params(7500, 8500, 500), streak=5)  # loosening moves by the smaller loosen step
    assert up.update == Params(7200, 8200, 500)


def test_loosening_waits_for_persistence_then_for_the_cooldown():
    looser = Params(7150, 8100, 500)
    first = run(looser, streak=0)
    assert first.action == Action.NO_CHANGE and first.loosening_wanted
    assert "asked 1 of 3 cycles" in first.reason
    third = run(looser, streak=2)
    assert third.action == Action.UPDATE and third.update == looser
    cooling = run(looser, streak=5, on_chain=chain(last_loosen_at=NOW - 3600))
    assert cooling.action == Action.NO_CHANGE and "cooldown until" in cooling.reason


def test_mixed_change_tightens_now_and_holds_the_loosening_part():
    d = run(Params(7200, 7800, 500))  # LTV up (loosen), LT down (tighten)
    assert d.action == Action.UPDATE and d.update == Params(7000, 7800, 500)


def test_degraded_feeds_only_tighten():
    d = run(Params(7200, 7800, 400), Health.DEGRADED, streak=10)
    assert d.update == Params(7000, 7800, 500) and "DEGRADED" in d.reason


def test_deadband_and_heartbeat():
    quiet = run(Params(7010, 7990, 510))
    assert quiet.action == Action.NO_CHANGE and "deadband" in quiet.reason
    stale = run(Params(7010, 7990, 510), on_chain=chain(updated_at=NOW - 7 * 3600))
    assert stale.action == Action.HEARTBEAT and stale.update == CURRENT


def test_target_below_the_bounds_moves_to_the_bound_and_asks_governance():
    d = run(Params(4000, 6000, 500), on_chain=chain(values=Params(5200, 6500, 500)))
    assert d.action == Action.UPDATE and d.update == Params(5000, 6000, 500)
    assert d.proposal == Params(4000, 6000, 500) and "outside the guardrail bounds" in d.reason


def test_first_value_and_unconfigured_market():
    first = run(Params(7000, 8000, 500), on_chain=chain(values=None, updated_at=0))
    assert first.action == Action.UPDATE and first.reason == "first value for the market"
    none = run(Params(7000, 8000, 500), on_chain=chain(g=None))
    # Signed proposals for a market without a profile are refused on-chain: hold and alert.
    assert none.action == Action.HOLD and none.alert and none.proposal is None
    assert "governance must assign one" in none.reason


def test_every_update_is_valid_on_chain():
    import itertools

    for ltv, lt, lb in itertools.product(
        range(4000, 9001, 700), range(5000, 9501, 700), (100, 600, 1400)
    ):
        rec = Params(ltv, lt, lb)
        if not rec.valid():
            continue
        for health in (Health.OK, Health.DEGRADED):
            d = run(rec, health, streak=5)
            if d.update is not None:
                assert d.update.valid(), (rec, d)
                # ... and the registry's mirror accepts it from the state the policy saw.
                assert signed_update_error(ON_CHAIN_STATE, d.update, G, NOW) is None, (rec, d)


#: `chain()`'s market as the registry stores it (profile 1, no ramp, changed long ago).
ON_CHAIN_STATE = MarketState(*CURRENT.as_tuple(), NOW - 600, 0, 0, 0, NOW - 2 * 86_400, 1, 0)


def test_a_change_waits_for_the_update_interval():
    hourly = replace(G, min_update_interval=3_600)
    recent = OnChain(CURRENT, NOW - 600, NOW - 2 * 86_400, hourly, last_change_at=NOW - 600)
    d = run(Params(6000, 7000, 700), on_chain=recent)
    assert d.action == Action.NO_CHANGE and d.update is None
    assert f"the next change is allowed at {NOW + 3_000}" in d.reason
    later = run(Params(6000, 7000, 700), on_chain=recent, now=NOW + 3_000)
    assert later.action == Action.UPDATE and later.update == Params(6000, 7000, 700)


def test_a_due_heartbeat_still_goes_while_a_change_waits():
    hourly = replace(G, min_update_interval=3_600)
    stale = OnChain(CURRENT, NOW - 7 * 3_600, NOW - 2 * 86_400, hourly, last_change_at=NOW - 60)
    d = run(Params(6000, 7000, 700), on_chain=stale)
    assert d.action == Action.HEARTBEAT and d.update == CURRENT


def test_a_target_already_queued_is_not_proposed_again():
    outside = Params(7000, 9500, 300)  # LT above the profile's 9,000
    first = run(outside, streak=5)
    assert first.proposal == outside
    # Within the proposal band (500 bps) the keeper leaves its queued proposal alone: superseding
    # it every cycle would restart its timelock and nothing would ever be executable.
    again = run(outside, streak=5, on_chain=replace(chain(), queued=Params(7000, 9100, 300)))
    assert again.proposal is None and "is already queued for governance" in again.reason
    moved = run(outside, streak=5, on_chain=replace(chain(), queued=Params(7000, 8900, 300)))
    assert moved.proposal == outside  # a target 600 bps away supersedes the queued one


def test_governance_own_pending_proposal_is_never_superseded():
    outside = Params(7000, 9500, 300)
    pending = replace(chain(), queued=Params(6000, 7000, 800), queued_by_governance=True)
    d = run(outside, streak=5, on_chain=pending)
    assert d.proposal is None and "governance's own proposal" in d.reason


def test_a_market_held_outside_its_bounds_moves_toward_them():
    # The guardian cut LTV to 4,000, under the profile's minimum of 5,000.
    cut = replace(chain(), values=Params(4000, 8000, 500))
    d = run(Params(4000, 8000, 500), on_chain=cut)
    assert d.action == Action.NO_CHANGE  # staying is allowed: no forced jump into the bounds
    up = run(Params(6000, 8000, 500), on_chain=cut, streak=5)
    assert up.update == Params(4200, 8000, 500)  # one loosening step toward the target
    assert signed_update_error(replace(ON_CHAIN_STATE, ltv_bps=4000), up.update, G, NOW) is None
