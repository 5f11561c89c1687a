"""Stateful property test: random sequences of signed updates, heartbeats, proposals, ramps, pauses, guardian
actions and governance settings against the registry on Anvil, with the invariants checked by id after every step.

Every write is also run through the Python mirror of the registry's rules (`oracle.policy.rules`): the mirror must
accept exactly the signed updates the chain accepts and predict the state every write stores, and after every step
it must read what the chain reads (ramps included)."""

from __future__ import annotations

import os

import ape
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from oracle.markets import market_id
from oracle.policy.rules import MarketState, apply_privileged, apply_signed, signed_update_error
from oracle.signing import PROPOSAL_PATH
from oracle.types import Params
from tests.helpers.guardrails import guardrails
from tests.helpers.invariants import check_mirror, check_readable, check_within_bounds
from tests.helpers.markets import BTC, ETH
from tests.helpers.registry import PROFILE
from tests.helpers.time import DAY, HOUR

MARKETS = [ETH, BTC]
#: The machine's profile: an update interval long enough to be hit, short enough to pass often.
G = guardrails(min_update_interval=HOUR // 2, threshold_ramp_duration=2 * HOUR)
QUEUED = 1
MAX_TIMELOCK = 30 * DAY
values = st.tuples(
    st.integers(G.min_ltv_bps - 200, G.max_ltv_bps + 200),
    st.integers(G.min_liquidation_threshold_bps - 200, G.max_liquidation_threshold_bps + 200),
    st.integers(G.min_liquidation_bonus_bps - 50, G.max_liquidation_bonus_bps + 50),
)
durations = st.one_of(st.integers(0, 40 * DAY), st.sampled_from([2**32, 2**40, 2**64, 2**256 - 1]))


def build_machine(registry, make_batch, signer_keys, relayer, governance, guardian, chain):
    class RegistryMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.snapshot = chain.snapshot()
            registry.setGuardrailProfile(PROFILE, G.as_tuple(), sender=governance)
            registry.setProposalGracePeriod(DAY, sender=governance)  # expiries within reach
            # Both markets start set, so that small moves (the intervals' territory) are possible from step one.
            batch, sigs = make_batch(registry, [(m, 7000, 8000, 500) for m in sorted(MARKETS)], signer_keys[:1])
            registry.submitUpdates(batch.as_tuple(), sigs, sender=relayer)
            self.nonce = registry.batchNonce()
            # market -> (the last signed value, the value held before it)
            self.signed_values: dict[bytes, tuple[Params, Params | None]] = {
                m: (Params(7000, 8000, 500), None) for m in MARKETS
            }
            self.signed_changes: dict[bytes, list[int]] = {m: [] for m in MARKETS}
            self.queued_at: dict[int, int] = {}

        def teardown(self) -> None:
            chain.restore(self.snapshot)

        def _state(self, market: bytes) -> MarketState:
            return MarketState(*registry.marketState(market))

        def _states(self):
            return {m: self._state(m) for m in MARKETS}

        def _check_write(self, before: MarketState, after: MarketState, predicted: MarketState, now: int) -> None:
            assert after == predicted, f"MIRROR_07: stored {after}, the mirror predicted {predicted}"
            if before.ramp_end > now and after.target_liquidation_threshold_bps == (
                before.target_liquidation_threshold_bps
            ):
                assert after.ramp_end == before.ramp_end, (
                    "RAMP_08: a write that keeps the target must not move a ramp's end"
                )

        @rule(market=st.sampled_from(MARKETS), new=values)
        def signed_update(self, market, new):
            before = self._states()
            mirror = before[market]
            batch, sigs = make_batch(registry, [(market, *new)], signer_keys[:1])
            paused = registry.paused()
            now = chain.pending_timestamp  # the next block's: each block is one second after the last
            try:
                receipt = registry.submitUpdates(batch.as_tuple(), sigs, sender=relayer)
            except ape.exceptions.ContractLogicError as err:
                assert self._states() == before, "a reverted batch changed state"
                expected = "RegistryPaused" if paused else signed_update_error(mirror, Params(*new), G, now)
                assert type(err).__name__ == expected, f"MIRROR_07: the mirror expected {expected}, the chain {err!r}"
                return
            assert not paused, "PAUSE_05: a paused registry accepted a signed batch"
            assert now == receipt.timestamp
            refused = signed_update_error(mirror, Params(*new), G, now)
            assert refused is None, f"MIRROR_07: the mirror refuses ({refused}) what the chain accepted"
            after = self._state(market)
            self._check_write(mirror, after, apply_signed(mirror, Params(*new), G, now), now)
            if mirror.is_set and Params(*new) != mirror.params:
                self.signed_changes[market].append(now)
            self.nonce += 1
            self.signed_values[market] = (Params(*new), mirror.params if mirror.is_set else None)

        @rule(market=st.sampled_from(MARKETS), deltas=st.tuples(*[st.integers(-150, 150)] * 3))
        def signed_nudge(self, market, deltas):
            """A small move from the current values: within the steps, so the intervals decide."""
            current = self._state(market)
            if current.is_set:
                new = tuple(max(0, v + d) for v, d in zip(current.params.as_tuple(), deltas, strict=True))
                self.signed_update(market, new)

        @rule(market=st.sampled_from(MARKETS))
        def heartbeat(self, market):
            current = self._state(market)
            if current.is_set:
                self.signed_update(market, current.params.as_tuple())

        @rule(seconds=st.one_of(st.integers(1, HOUR), st.integers(HOUR, 2 * DAY)))
        def advance_time(self, seconds):
            chain.mine(timestamp=chain.pending_timestamp + seconds)

        @rule()
        def pause(self):
            registry.pause(sender=guardian)

        @rule()
        def unpause(self):
            registry.unpause(sender=governance)

        @rule(market=st.sampled_from(MARKETS), cut=st.integers(0, 500), ltv_only=st.booleans())
        def guardian_tightens(self, market, cut, ltv_only):
            before = self._state(market)
            if not before.is_set:
                return
            ltv, lt, lb = before.params.as_tuple()
            new = (max(ltv - cut, 1), lt if ltv_only else max(lt - cut, max(ltv - cut, 1) + 1), lb)
            receipt = registry.tighten((market, *new), sender=guardian)
            now = receipt.timestamp
            predicted = apply_privileged(before, Params(*new), now, G.threshold_ramp_duration, executed=False)
            self._check_write(before, self._state(market), predicted, now)
            self.signed_values.pop(market, None)

        @rule(market=st.sampled_from([*MARKETS, market_id("NEW/USD")]), new=values)
        def governance_proposes(self, market, new):
            try:
                receipt = registry.propose([(market, *new)], sender=governance)
            except ape.exceptions.ContractLogicError:
                return
            self.queued_at[registry.proposalCount() - 1] = receipt.timestamp

        @rule(market=st.sampled_from(MARKETS), new=values)
        def signed_proposal(self, market, new):
            latest = registry.latestProposal(market)
            p = registry.proposal(latest - 1) if latest else None
            now = chain.pending_timestamp
            blocked = bool(p) and p.status == QUEUED and not p.fromSigners and now <= p.expiresAt
            batch, sigs = make_batch(registry, [(market, *new)], signer_keys[:1], primary_type=PROPOSAL_PATH)
            try:
                receipt = registry.proposeUpdates(batch.as_tuple(), sigs, sender=relayer)
            except ape.exceptions.ContractLogicError as err:
                if type(err).__name__ == "GovernanceProposalPending":
                    assert blocked, "PROPOSAL_10: refused although no governance proposal was pending"
                return
            assert not blocked, "PROPOSAL_10: a signed proposal superseded governance's pending one"
            self.nonce += 1
            self.queued_at[registry.proposalCount() - 1] = receipt.timestamp

        @rule(delay=durations)
        def governance_sets_the_timelock(self, delay):
            try:
                registry.setTimelockDelay(delay, sender=governance)
            except ape.exceptions.ContractLogicError:
                assert delay > MAX_TIMELOCK, f"DURATION_11: a bounded delay {delay} was refused"
                return
            assert delay <= MAX_TIMELOCK, f"DURATION_11: an unbounded delay {delay} was accepted"

        @rule(data=st.data())
        def governance_executes_or_cancels(self, data):
            if not self.queued_at:
                return
            pid = data.draw(st.sampled_from(sorted(self.queued_at)))
            p = registry.proposal(pid)
            if p.status == QUEUED and data.draw(st.booleans()):
                registry.cancel(pid, sender=governance)
                return
            if p.status == QUEUED and chain.pending_timestamp < p.eta:
                chain.mine(timestamp=p.eta)
            before = self._state(p.market)
            try:
                receipt = registry.execute(pid, sender=governance)
            except ape.exceptions.ContractLogicError:
                return
            now = receipt.timestamp
            assert p.status == QUEUED and p.eta <= now <= p.expiresAt, (
                f"PROPOSAL_10: proposal {pid} (status {p.status}, eta {p.eta}, expiry {p.expiresAt}) executed at {now}"
            )
            assert registry.latestProposal(p.market) == pid + 1, "PROPOSAL_10: a superseded proposal executed"
            new = Params(p.ltvBps, p.liquidationThresholdBps, p.liquidationBonusBps)
            ramp = registry.guardrails(p.market).thresholdRampDuration
            predicted = apply_privileged(before, new, now, ramp, executed=True)
            if p.market in MARKETS:
                self._check_write(before, self._state(p.market), predicted, now)
            self.signed_values.pop(p.market, None)

        @invariant()
        def parameters_are_consistent(self):
            now = chain.blocks.head.timestamp
            for m in MARKETS:
                ltv, lt, lb, updated = registry.getParameters(m)
                if updated == 0:
                    continue
                check_readable(Params(ltv, lt, lb))
                check_mirror(self._state(m), Params(ltv, lt, lb), now)

        @invariant()
        def signed_values_within_bounds(self):
            for value, held in self.signed_values.values():
                check_within_bounds(value, G, held)

        @invariant()
        def nonce_counts_accepted_batches(self):
            assert registry.batchNonce() == self.nonce, "NONCE_06: nonce rises by one per accepted batch only"

        @invariant()
        def changes_respect_the_update_interval(self):
            for m, times in self.signed_changes.items():
                gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
                assert all(gap >= G.min_update_interval for gap in gaps), (
                    f"RATE_09: signed changes of a market {gaps} s apart, interval {G.min_update_interval} s"
                )

        @invariant()
        def durations_never_wrap(self):
            assert registry.timelockDelay() <= MAX_TIMELOCK, "DURATION_11: timelock delay above its bound"
            for pid, queued_at in self.queued_at.items():
                p = registry.proposal(pid)
                assert queued_at <= p.eta <= p.expiresAt, f"DURATION_11: proposal {pid} eta wrapped"

    return RegistryMachine


def _run(registry, make_batch, signer_keys, relayer, governance, guardian, chain, examples, steps):
    machine = build_machine(registry, make_batch, signer_keys, relayer, governance, guardian, chain)
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=examples,
            stateful_step_count=steps,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
        ),
    )


def test_registry_invariants(registry, make_batch, signer_keys, relayer, governance, guardian, chain):
    _run(registry, make_batch, signer_keys, relayer, governance, guardian, chain, examples=16, steps=15)


@pytest.mark.fuzz
def test_registry_invariants_long(registry, make_batch, signer_keys, relayer, governance, guardian, chain):
    examples = int(os.environ.get("FUZZ_EXAMPLES", "300"))  # make fuzz: 300; fewer for a quick look
    _run(registry, make_batch, signer_keys, relayer, governance, guardian, chain, examples=examples, steps=40)
