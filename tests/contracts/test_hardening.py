"""Registry hardening: each defect an adversarial run found, as a concrete test that failed on the
registry before the fix — ramps that survive other writes, steps that are rates, bounded governance
durations, proposals that expire and supersede, bounded batch lifetimes, and a guardian action that
does not lock the keeper out."""

from __future__ import annotations

import ape
import pytest

from oracle.chain import RegistryClient
from oracle.errors import ContractRevert
from oracle.markets import market_id
from oracle.policy.rules import MarketState
from oracle.signing import PROPOSAL_PATH
from tests.helpers.guardrails import guardrails
from tests.helpers.markets import BTC, ETH
from tests.helpers.registry import PROFILE, TIMELOCK
from tests.helpers.time import DAY, HOUR

D = 7_200  # the ramp of the example
LTV, LT = 0, 1
SUPERSEDED = 4
TIMELOCK_DELAY, GRACE, LIFETIME, LOOSEN, RAMP_DURATION, UPDATE_INTERVAL = range(6)


@pytest.fixture
def ramping(registry, governance, push, chain):
    """ETH cut from LT 8,000 to 7,000 over D; returns the cut's timestamp."""
    registry.setGuardrailProfile(PROFILE, guardrails(threshold_ramp_duration=D).as_tuple(), sender=governance)
    push(registry, [(ETH, 6500, 8000, 500)])
    return push(registry, [(ETH, 6500, 7000, 500)]).timestamp


# 1. A write in the middle of a threshold ramp restarts it.


@pytest.mark.parametrize("how", ["keeper LTV only", "guardian LTV only", "guardian same values"])
def test_a_write_that_keeps_the_target_does_not_restart_the_ramp(ramping, registry, push, guardian, chain, how):
    chain.mine(timestamp=ramping + D // 2)
    if how == "keeper LTV only":
        push(registry, [(ETH, 6400, 7000, 500)])
    elif how == "guardian LTV only":
        registry.tighten((ETH, 6400, 7000, 500), sender=guardian)
    else:
        registry.tighten((ETH, 6500, 7000, 500), sender=guardian)
    assert registry.marketState(ETH)[6] == ramping + D  # the ramp's end is unchanged
    chain.mine(timestamp=ramping + D)
    assert registry.getParameters(ETH)[LT] == 7000  # was 7,250, with the ramp ending at 1.5·D


def test_ltv_nudges_every_quarter_ramp_cannot_stall_a_cut(ramping, registry, push, chain):
    for k in range(1, 8):  # an LTV change every D/4 for 2·D (was: LT stuck near 7,100)
        chain.mine(timestamp=ramping + k * D // 4)
        push(registry, [(ETH, 6500 - 10 * k, 7000, 500)])
    assert registry.getParameters(ETH)[LT] == 7000


def test_a_deeper_cut_mid_ramp_still_ramps_from_the_value_in_force(ramping, registry, push, chain):
    chain.mine(timestamp=ramping + D // 2)
    before = MarketState(*registry.marketState(ETH))
    receipt = push(registry, [(ETH, 6000, 6800, 500)])
    in_force = before.threshold_at(receipt.timestamp)
    assert 7000 < in_force < 8000
    state = registry.marketState(ETH)
    # At the first ramp's pace (1,000 bps over D): the 6,800 target is reached sooner than a full D.
    paced = (in_force - 6800) * D // (8000 - 7000)
    assert paced < D
    assert (state[4], state[5], state[6]) == (in_force, receipt.timestamp, receipt.timestamp + paced)


# 2. Steps are per transaction, not per unit of time.


@pytest.fixture
def hourly(registry, governance, push):
    """ETH set under a profile allowing one signed change an hour."""
    profile = guardrails(min_update_interval=HOUR, threshold_ramp_duration=0)
    registry.setGuardrailProfile(PROFILE, profile.as_tuple(), sender=governance)
    return push(registry, [(ETH, 7000, 8000, 500)]).timestamp


def test_a_second_change_within_the_update_interval_is_refused(hourly, registry, push, chain):
    with ape.reverts(registry.UpdateTooSoon, market=ETH, lastChangeAt=hourly, nextAllowedAt=hourly + HOUR):
        push(registry, [(ETH, 6500, 7500, 500)])  # was accepted: three batches, three full steps, one block
    push(registry, [(ETH, 7000, 8000, 500)])  # a heartbeat is never held back
    chain.mine(timestamp=hourly + HOUR)
    push(registry, [(ETH, 6500, 7500, 500)])
    assert registry.marketState(ETH)[9] == chain.blocks.head.timestamp  # lastChangeAt


def test_heartbeats_carry_the_change_age_and_a_guardian_write_leaves_it(hourly, registry, push, guardian, chain):
    chain.mine(timestamp=hourly + HOUR // 2)
    push(registry, [(ETH, 7000, 8000, 500)])  # heartbeat: updatedAt moves, lastChangeAt does not
    registry.tighten((ETH, 6900, 8000, 500), sender=guardian)  # neither uses nor resets the interval
    assert registry.marketState(ETH)[9] == hourly
    with ape.reverts(registry.UpdateTooSoon, market=ETH, lastChangeAt=hourly, nextAllowedAt=hourly + HOUR):
        push(registry, [(ETH, 6800, 8000, 500)])
    chain.mine(timestamp=hourly + HOUR)
    push(registry, [(ETH, 6800, 8000, 500)])


def test_the_change_age_saturates_after_65535_seconds(hourly, registry, push, chain):
    chain.mine(timestamp=hourly + 70_000)
    push(registry, [(ETH, 7000, 8000, 500)])  # heartbeat long after the change
    assert registry.marketState(ETH)[9] == chain.blocks.head.timestamp - 65_535  # a lower bound
    push(registry, [(ETH, 6900, 8000, 500)])  # long enough ago: accepted


# 3. The timelock delay overflows; every governance duration is bounded.


@pytest.mark.parametrize("delay", [2**40, 2**256 - 1, 30 * DAY + 1])
def test_timelock_delay_is_bounded(registry, governance, delay):
    with ape.reverts(registry.DurationOutOfRange, duration=TIMELOCK_DELAY, value=delay, min=0, max=30 * DAY):
        registry.setTimelockDelay(delay, sender=governance)


def test_deploying_with_an_unbounded_timelock_reverts(chain, governance, guardian, signer_keys):
    with pytest.raises(ContractRevert) as refused:
        RegistryClient.deploy(chain.provider.web3, governance.address, governance=governance.address,
                              guardian=guardian.address, signers=[signer_keys[0].address], threshold=1,
                              timelock_delay=2**40)
    assert refused.value.name == "DurationOutOfRange"
    assert refused.value.args_by_name == {"duration": TIMELOCK_DELAY, "value": 2**40, "min": 0, "max": 30 * DAY}


@pytest.mark.parametrize(
    "changes, which, value",
    [
        ({"min_loosen_interval": 30 * DAY + 1}, LOOSEN, 30 * DAY + 1),
        ({"threshold_ramp_duration": 7 * DAY + 1}, RAMP_DURATION, 7 * DAY + 1),
        ({"min_update_interval": 0}, UPDATE_INTERVAL, 0),
    ],
)
def test_profile_durations_are_bounded(registry, governance, changes, which, value):
    with ape.reverts(registry.DurationOutOfRange, duration=which, value=value):
        registry.setGuardrailProfile(PROFILE, guardrails(**changes).as_tuple(), sender=governance)


@pytest.mark.parametrize("setter, which, bad", [("setProposalGracePeriod", GRACE, DAY - 1),
                                                 ("setProposalGracePeriod", GRACE, 90 * DAY + 1),
                                                 ("setMaxBatchLifetime", LIFETIME, 59),
                                                 ("setMaxBatchLifetime", LIFETIME, DAY + 1)])
def test_grace_period_and_batch_lifetime_are_bounded(registry, governance, setter, which, bad):
    with ape.reverts(registry.DurationOutOfRange, duration=which, value=bad):
        getattr(registry, setter)(bad, sender=governance)


# 4. Proposals never expire and never supersede; signed proposals for unconfigured markets.


def test_a_proposal_expires_after_its_grace_period(registry, governance, chain):
    receipt = registry.propose([(ETH, 7000, 8000, 500)], sender=governance)
    p = registry.proposal(0)
    assert p.eta == receipt.timestamp + TIMELOCK and p.expiresAt == p.eta + registry.proposalGracePeriod()
    chain.mine(timestamp=p.expiresAt + 1)
    with ape.reverts(registry.ProposalExpired, id=0, expiresAt=p.expiresAt):
        registry.execute(0, sender=governance)  # was: executed a year later all the same


def test_a_newer_proposal_supersedes_an_older_one(registry, governance, chain):
    registry.propose([(ETH, 7000, 8000, 500), (BTC, 7000, 8000, 500)], sender=governance)
    receipt = registry.propose([(ETH, 6500, 7500, 500)], sender=governance)
    [event] = receipt.decode_logs(registry.ProposalSuperseded)
    assert (event.id, event.by, event.market) == (0, 2, ETH)
    assert registry.proposal(0).status == SUPERSEDED and registry.latestProposal(ETH) == 3
    chain.mine(timestamp=registry.proposal(2).eta)
    with ape.reverts(registry.ProposalNotQueued, id=0, status=SUPERSEDED):
        registry.execute(0, sender=governance)
    registry.execute(1, sender=governance)  # BTC's is untouched
    registry.execute(2, sender=governance)
    assert registry.getParameters(ETH)[LTV] == 6500


def test_signed_proposals_need_a_configured_market(registry, make_batch, signer_keys, relayer):
    unknown = market_id("SPAM/USD")
    batch, sigs = make_batch(registry, [(unknown, 4000, 5000, 500)], signer_keys[:1], primary_type=PROPOSAL_PATH)
    with ape.reverts(registry.MarketNotConfigured, market=unknown):
        registry.proposeUpdates(batch.as_tuple(), sigs, sender=relayer)


def test_a_signed_proposal_batch_is_capped(registry, governance, make_batch, signer_keys, relayer):
    markets = sorted(market_id(f"M{i}/USD") for i in range(33))
    registry.assignProfile(markets, PROFILE, sender=governance)
    batch, sigs = make_batch(registry, [(m, 7000, 8000, 500) for m in markets], signer_keys[:1],
                             primary_type=PROPOSAL_PATH)
    with ape.reverts(registry.TooManyProposals, count=33, max=32):
        registry.proposeUpdates(batch.as_tuple(), sigs, sender=relayer)
    batch, sigs = make_batch(registry, [(m, 7000, 8000, 500) for m in markets[:32]], signer_keys[:1],
                             primary_type=PROPOSAL_PATH)
    registry.proposeUpdates(batch.as_tuple(), sigs, sender=relayer)
    assert registry.proposalCount() == 32


# 5. Batch deadlines are unbounded.


def test_a_batch_deadline_beyond_the_lifetime_is_refused(registry, make_batch, signer_keys, relayer, chain):
    assert registry.maxBatchLifetime() == HOUR
    far = chain.pending_timestamp + DAY
    batch, sigs = make_batch(registry, [(ETH, 7000, 8000, 500)], signer_keys[:1], deadline=far)
    with ape.reverts(registry.DeadlineTooFar, deadline=far):
        registry.submitUpdates(batch.as_tuple(), sigs, sender=relayer)  # was: valid for as long as it said


def test_governance_sets_the_batch_lifetime(registry, governance, make_batch, signer_keys, relayer, chain):
    receipt = registry.setMaxBatchLifetime(DAY, sender=governance)
    assert receipt.decode_logs(registry.MaxBatchLifetimeChanged)[0].lifetime == DAY
    batch, sigs = make_batch(registry, [(ETH, 7000, 8000, 500)], signer_keys[:1],
                             deadline=chain.pending_timestamp + DAY - 10)
    registry.submitUpdates(batch.as_tuple(), sigs, sender=relayer)


# 6. A guardian action locks the keeper out.


def test_a_market_the_guardian_left_out_of_bounds_still_takes_signed_updates(registry, push, guardian, chain):
    push(registry, [(ETH, 7000, 8000, 500)])
    registry.tighten((ETH, 4000, 8000, 500), sender=guardian)  # below the profile's minimum LTV of 5,000
    push(registry, [(ETH, 4000, 8000, 500)])  # a heartbeat: was OutOfBounds, the market went stale
    assert registry.getParameters(ETH)[3] == chain.blocks.head.timestamp
    with ape.reverts(registry.OutOfBounds, market=ETH, field=LTV, value=3900, min=4000, max=8500):
        push(registry, [(ETH, 3900, 8000, 500)])  # further out: refused
    chain.mine(timestamp=chain.pending_timestamp + DAY)  # the loosening interval
    push(registry, [(ETH, 4200, 8000, 500)])  # toward the bounds: accepted
    assert registry.getParameters(ETH)[LTV] == 4200


# Found by the adversarial review of the fixes above.


def test_a_signed_proposal_cannot_supersede_governance_own(registry, governance, make_batch, signer_keys, relayer,
                                                           chain):
    registry.propose([(ETH, 6000, 7000, 800)], sender=governance)
    batch, sigs = make_batch(registry, [(ETH, 7000, 9500, 300)], signer_keys[:1], primary_type=PROPOSAL_PATH)
    with ape.reverts(registry.GovernanceProposalPending, market=ETH, id=0):
        registry.proposeUpdates(batch.as_tuple(), sigs, sender=relayer)
    assert not registry.proposal(0).fromSigners
    chain.mine(timestamp=registry.proposal(0).expiresAt + 1)  # once governance's has expired
    batch, sigs = make_batch(registry, [(ETH, 7000, 9500, 300)], signer_keys[:1], primary_type=PROPOSAL_PATH)
    registry.proposeUpdates(batch.as_tuple(), sigs, sender=relayer)
    assert registry.proposal(1).fromSigners and registry.latestProposal(ETH) == 2


def test_a_guardian_cut_cannot_be_loosened_back_before_the_loosening_interval(registry, push, guardian, chain):
    push(registry, [(ETH, 7000, 8000, 500)])
    chain.mine(timestamp=chain.pending_timestamp + 2 * DAY)  # the last loosening is long past
    cut = registry.tighten((ETH, 6000, 8000, 500), sender=guardian)
    with ape.reverts(registry.LoosenTooSoon, market=ETH, lastLoosenAt=cut.timestamp,
                     nextAllowedAt=cut.timestamp + DAY):
        push(registry, [(ETH, 6200, 8000, 500)])  # was accepted in the next block
    chain.mine(timestamp=cut.timestamp + DAY)
    push(registry, [(ETH, 6200, 8000, 500)])


def test_small_deeper_cuts_keep_the_ramps_pace(ramping, registry, push, chain):
    for k in range(1, 4):  # a 1-bps deeper cut every quarter ramp (was: each restarted a full ramp)
        chain.mine(timestamp=ramping + k * D // 4)
        push(registry, [(ETH, 6500, 7000 - k, 500)])
    chain.mine(timestamp=ramping + D + 60)  # each cut adds D/1000 s at the ramp's pace
    assert registry.getParameters(ETH)[LT] == 6997


def test_governance_bringing_a_market_on_starts_its_loosening_clock(registry, governance, push, chain):
    new = market_id("NEW/USD")
    registry.assignProfile([new], PROFILE, sender=governance)
    registry.propose([(new, 6000, 7000, 500)], sender=governance)
    chain.mine(timestamp=registry.proposal(0).eta)
    executed = registry.execute(0, sender=governance)
    with ape.reverts(registry.LoosenTooSoon, market=new, lastLoosenAt=executed.timestamp):
        push(registry, [(new, 6200, 7000, 500)])
