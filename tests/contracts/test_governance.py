"""Governance path (proposals behind the timelock), guardian powers, and the access-control matrix."""

from __future__ import annotations

import ape
import pytest

from oracle.signing import PROPOSAL_PATH
from tests.helpers.guardrails import TEST_GUARDRAILS
from tests.helpers.markets import ETH
from tests.helpers.registry import TIMELOCK
from tests.helpers.time import DAY

QUEUED, EXECUTED, CANCELLED = 1, 2, 3


def test_signed_proposal_queues_then_governance_executes_after_timelock(
    registry, push, make_batch, signer_keys, relayer, governance, chain
):
    push(registry, [(ETH, 7000, 8000, 500)])
    # Far outside the guardrails (LTV 8500 -> 9000 max is 8500; LT 9500 above max 9000).
    batch, sigs = make_batch(registry, [(ETH, 9000, 9500, 300)], signer_keys[:1], primary_type=PROPOSAL_PATH,
                             inputs_hash=b"\x33" * 32, model_version="risk-2")
    receipt = registry.proposeUpdates(batch.as_tuple(), sigs, sender=relayer)
    [queued] = receipt.decode_logs(registry.ProposalQueued)
    assert queued.id == 0 and queued.market == ETH and queued.inputsHash == b"\x33" * 32
    assert queued.eta == receipt.timestamp + TIMELOCK
    assert registry.batchNonce() == 2  # the push and the signed proposal each consumed a nonce
    assert registry.getParameters(ETH)[:3] == (7000, 8000, 500)  # nothing applied yet

    with ape.reverts(registry.TimelockNotExpired, id=0, eta=queued.eta):
        registry.execute(0, sender=governance)
    chain.mine(timestamp=queued.eta)
    receipt = registry.execute(0, sender=governance)
    assert receipt.decode_logs(registry.ProposalExecuted)[0].id == 0
    assert registry.getParameters(ETH)[:3] == (9000, 9500, 300)
    assert registry.proposal(0).status == EXECUTED
    with ape.reverts(registry.ProposalNotQueued, id=0, status=EXECUTED):
        registry.execute(0, sender=governance)


def test_governance_proposal_for_new_market_and_veto(registry, governance, chain):
    from oracle.markets import market_id

    doge = market_id("DOGE/USD")  # no guardrails: only governance can set it
    registry.propose([(doge, 4000, 5000, 1000), (ETH, 7000, 8000, 500)], sender=governance)
    assert registry.proposalCount() == 2
    receipt = registry.cancel(1, sender=governance)
    assert receipt.decode_logs(registry.ProposalCancelled)[0].market == ETH
    chain.mine(timestamp=registry.proposal(0).eta)
    registry.execute(0, sender=governance)
    assert registry.getParameters(doge)[:3] == (4000, 5000, 1000)
    with ape.reverts(registry.ProposalNotQueued, id=1, status=CANCELLED):
        registry.execute(1, sender=governance)
    with ape.reverts(registry.ProposalNotQueued, id=7, status=0):
        registry.cancel(7, sender=governance)


def test_proposals_must_satisfy_invariants(registry, governance):
    with ape.reverts(registry.LtvNotBelowThreshold):
        registry.propose([(ETH, 8000, 8000, 500)], sender=governance)
    with ape.reverts(registry.BonusExceedsCollateral):
        registry.propose([(ETH, 8000, 9500, 600)], sender=governance)
    with ape.reverts(registry.AboveOneHundredPercent):
        registry.propose([(ETH, 8000, 10_001, 0)], sender=governance)
    with ape.reverts(registry.EmptyBatch):
        registry.propose([], sender=governance)


def test_executed_threshold_cut_still_ramps(registry, push, governance, chain):
    push(registry, [(ETH, 7000, 8000, 500)])
    registry.propose([(ETH, 5000, 6000, 500)], sender=governance)
    chain.mine(timestamp=registry.proposal(0).eta)
    registry.execute(0, sender=governance)
    ltv, lt = registry.getParameters(ETH)[:2]
    assert ltv == 5000 and lt > 6000


def test_guardian_tightens_without_timelock(registry, push, guardian):
    push(registry, [(ETH, 7000, 8000, 500)])
    registry.tighten((ETH, 5000, 7900, 900), sender=guardian)
    assert registry.getParameters(ETH)[0] == 5000
    assert registry.marketState(ETH)[1:3] == (7900, 900)


@pytest.mark.parametrize(
    ("values", "field", "old", "new"),
    [((7100, 8000, 500), 0, 7000, 7100), ((7000, 8100, 500), 1, 8000, 8100), ((7000, 8000, 400), 2, 500, 400)],
)
def test_guardian_cannot_loosen(registry, push, guardian, values, field, old, new):
    push(registry, [(ETH, 7000, 8000, 500)])
    with ape.reverts(registry.GuardianCanOnlyTighten, market=ETH, field=field, **{"from": old, "to": new}):
        registry.tighten((ETH, *values), sender=guardian)


def test_guardian_cannot_tighten_unset_market(registry, guardian):
    with ape.reverts(registry.MarketNotSet, market=ETH):
        registry.tighten((ETH, 0, 100, 0), sender=guardian)


def test_pause_and_unpause(registry, guardian, governance, push):
    registry.pause(sender=guardian)
    assert registry.paused()
    with ape.reverts(registry.NotGovernance):
        registry.unpause(sender=guardian)
    registry.unpause(sender=governance)
    push(registry, [(ETH, 7000, 8000, 500)])


def test_two_step_governance_transfer(registry, governance, attacker, accounts):
    new = accounts[9]
    registry.transferGovernance(new, sender=governance)
    assert registry.pendingGovernance() == new.address
    with ape.reverts(registry.NotPendingGovernance, caller=attacker.address):
        registry.acceptGovernance(sender=attacker)
    registry.acceptGovernance(sender=new)
    assert registry.governance() == new.address
    assert registry.pendingGovernance() == "0x" + "00" * 20
    with ape.reverts(registry.NotGovernance, caller=governance.address):
        registry.setTimelockDelay(0, sender=governance)


def test_signer_set_rotation(registry, governance, push, signer_keys, outsider_key):
    registry.setSigners([outsider_key.address], 1, sender=governance)
    assert not registry.isSigner(signer_keys[0].address)
    with ape.reverts(registry.UnknownSigner):
        push(registry, [(ETH, 7000, 8000, 500)])
    push(registry, [(ETH, 7000, 8000, 500)], signers=[outsider_key])
    assert registry.signers() == [outsider_key.address]


@pytest.mark.parametrize(
    ("signers", "threshold"),
    [([], 0), (["a"], 0), (["a"], 2), (["a", "a"], 1), (["zero"], 1)],
)
def test_invalid_signer_sets(registry, governance, accounts, signers, threshold):
    resolve = {"a": accounts[5].address, "zero": "0x" + "00" * 20}
    with ape.reverts(registry.InvalidSignerSet):
        registry.setSigners([resolve[s] for s in signers], threshold, sender=governance)


def test_deploy_without_governance_reverts(project, registry, guardian, signer_keys):
    with ape.reverts(registry.ZeroGovernance):
        project.MarginParameterRegistry.deploy(
            "0x" + "00" * 20, guardian, [signer_keys[0].address], 1, TIMELOCK, sender=guardian
        )


# Access-control matrix: every privileged function, called by each role that must not reach it.
GOVERNANCE_ONLY = [
    ("propose", lambda: ([(ETH, 7000, 8000, 500)],)),
    ("execute", lambda: (0,)),
    ("cancel", lambda: (0,)),
    ("setGuardrailProfile", lambda: (1, TEST_GUARDRAILS.as_tuple())),
    ("assignProfile", lambda: ([ETH], 1)),
    ("setSigners", lambda: (["0x" + "11" * 20], 1)),
    ("setGuardian", lambda: ("0x" + "11" * 20,)),
    ("setTimelockDelay", lambda: (0,)),
    ("setProposalGracePeriod", lambda: (7 * DAY,)),
    ("setMaxBatchLifetime", lambda: (600,)),
    ("unpause", lambda: ()),
    ("transferGovernance", lambda: ("0x" + "11" * 20,)),
]
GUARDIAN_OR_GOVERNANCE = [
    ("pause", lambda: ()),
    ("tighten", lambda: ((ETH, 0, 100, 0),)),
]


@pytest.mark.parametrize(("name", "args"), GOVERNANCE_ONLY, ids=[n for n, _ in GOVERNANCE_ONLY])
@pytest.mark.parametrize("role", ["guardian", "relayer", "attacker"])
def test_governance_functions_reject_other_roles(registry, request, name, args, role):
    caller = request.getfixturevalue(role)
    with ape.reverts(registry.NotGovernance, caller=caller.address):
        getattr(registry, name)(*args(), sender=caller)


@pytest.mark.parametrize(("name", "args"), GUARDIAN_OR_GOVERNANCE, ids=[n for n, _ in GUARDIAN_OR_GOVERNANCE])
@pytest.mark.parametrize("role", ["relayer", "attacker"])
def test_guardian_functions_reject_other_roles(registry, request, name, args, role):
    caller = request.getfixturevalue(role)
    with ape.reverts(registry.NotGuardian, caller=caller.address):
        getattr(registry, name)(*args(), sender=caller)


def test_governance_may_act_as_guardian(registry, governance, push):
    push(registry, [(ETH, 7000, 8000, 500)])
    registry.tighten((ETH, 6000, 8000, 500), sender=governance)
    registry.pause(sender=governance)
    assert registry.paused()


def test_anyone_may_relay_a_signed_batch(registry, make_batch, signer_keys, attacker):
    batch, sigs = make_batch(registry, [(ETH, 7000, 8000, 500)], signer_keys[:1])
    registry.submitUpdates(batch.as_tuple(), sigs, sender=attacker)
    assert registry.getParameters(ETH)[0] == 7000


def test_role_setters_emit(registry, governance, accounts):
    r = registry.setGuardian(accounts[9], sender=governance)
    assert r.decode_logs(registry.GuardianChanged)[0].guardian == accounts[9].address
    r = registry.setTimelockDelay(3600, sender=governance)
    assert r.decode_logs(registry.TimelockDelayChanged)[0].delay == 3600
    assert registry.timelockDelay() == 3600
