"""Stateful property test: random sequences of signed updates, heartbeats, proposals, ramps, pauses and guardian
actions against the registry on Anvil, with the invariants checked by id after every step.

Every signed update is also run through the Python mirror of the registry's rules (`oracle.policy.rules`): the
mirror must accept exactly what the chain accepts and predict the state it stores, and after every step it must
read what the chain reads (ramps included)."""

from __future__ import annotations

import ape
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from oracle.markets import market_id
from oracle.policy.rules import MarketState, apply_signed, signed_update_error
from oracle.types import Params
from tests.helpers.guardrails import TEST_GUARDRAILS as G
from tests.helpers.invariants import check_mirror, check_readable, check_within_bounds
from tests.helpers.markets import BTC, ETH

MARKETS = [ETH, BTC]
values = st.tuples(
    st.integers(G.min_ltv_bps - 200, G.max_ltv_bps + 200),
    st.integers(G.min_liquidation_threshold_bps - 200, G.max_liquidation_threshold_bps + 200),
    st.integers(G.min_liquidation_bonus_bps - 50, G.max_liquidation_bonus_bps + 50),
)


def build_machine(registry, make_batch, signer_keys, relayer, governance, guardian, chain):
    class RegistryMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.snapshot = chain.snapshot()
            self.nonce = registry.batchNonce()
            self.signed_values: dict[bytes, tuple[int, int, int]] = {}
            self.queued: list[int] = []

        def teardown(self) -> None:
            chain.restore(self.snapshot)

        def _state(self):
            return {m: tuple(registry.marketState(m)) for m in MARKETS}

        @rule(market=st.sampled_from(MARKETS), new=values)
        def signed_update(self, market, new):
            before = self._state()
            mirror = MarketState(*before[market])
            batch, sigs = make_batch(registry, [(market, *new)], signer_keys[:1])
            paused = registry.paused()
            try:
                receipt = registry.submitUpdates(batch.as_tuple(), sigs, sender=relayer)
            except ape.exceptions.ContractLogicError as err:
                assert self._state() == before, "a reverted batch changed state"
                expected = signed_update_error(mirror, Params(*new), G, chain.pending_timestamp)
                assert paused or expected is not None, f"MIRROR_07: the mirror accepts what reverted: {err}"
                return
            assert not paused, "PAUSE_05: a paused registry accepted a signed batch"
            now = chain.blocks[receipt.block_number].timestamp
            refused = signed_update_error(mirror, Params(*new), G, now)
            assert refused is None, f"MIRROR_07: the mirror refuses ({refused}) what the chain accepted"
            stored = MarketState(*registry.marketState(market))
            assert stored == apply_signed(mirror, Params(*new), G, now), "MIRROR_07: stored state differs"
            self.nonce += 1
            self.signed_values[market] = Params(*new)
            assert stored.params == Params(*new)

        @rule(market=st.sampled_from(MARKETS))
        def heartbeat(self, market):
            current = tuple(registry.marketState(market))[:3]
            if current[2] == 0 and current[1] == 0:
                return
            self.signed_update(market, current)

        @rule(seconds=st.integers(1, 2 * 86_400))
        def advance_time(self, seconds):
            chain.mine(timestamp=chain.pending_timestamp + seconds)

        @rule()
        def pause(self):
            registry.pause(sender=guardian)

        @rule()
        def unpause(self):
            registry.unpause(sender=governance)

        @rule(market=st.sampled_from(MARKETS), cut=st.integers(0, 500))
        def guardian_tightens(self, market, cut):
            ltv, lt, lb = tuple(registry.marketState(market))[:3]
            if lt == 0:
                return
            new = (max(ltv - cut, 0), max(lt - cut, ltv - cut + 1 if ltv >= cut else 1), lb)
            registry.tighten((market, *new), sender=guardian)
            self.signed_values.pop(market, None)

        @rule(market=st.sampled_from(MARKETS + [market_id("NEW/USD")]), new=values)
        def governance_proposes(self, market, new):
            try:
                first = registry.propose([(market, *new)], sender=governance).return_value
            except ape.exceptions.ContractLogicError:
                return
            self.queued.append(registry.proposalCount() - 1 if first is None else first)

        @rule(data=st.data())
        def governance_executes_or_cancels(self, data):
            if not self.queued:
                return
            pid = self.queued.pop(data.draw(st.integers(0, len(self.queued) - 1)))
            if data.draw(st.booleans()):
                registry.cancel(pid, sender=governance)
                return
            chain.mine(timestamp=max(chain.pending_timestamp, registry.proposal(pid).eta))
            try:
                registry.execute(pid, sender=governance)
            except ape.exceptions.ContractLogicError:
                return
            self.signed_values.pop(registry.proposal(pid).market, None)

        @invariant()
        def parameters_are_consistent(self):
            now = chain.blocks.head.timestamp
            for m in MARKETS:
                ltv, lt, lb, updated = registry.getParameters(m)
                if updated == 0:
                    continue
                check_readable(Params(ltv, lt, lb))
                check_mirror(MarketState(*registry.marketState(m)), Params(ltv, lt, lb), now)

        @invariant()
        def signed_values_within_bounds(self):
            for p in self.signed_values.values():
                check_within_bounds(p, G)

        @invariant()
        def nonce_counts_accepted_batches(self):
            assert registry.batchNonce() == self.nonce, "NONCE_06: nonce rises by one per accepted batch only"

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
    _run(registry, make_batch, signer_keys, relayer, governance, guardian, chain, examples=12, steps=12)


@pytest.mark.fuzz
def test_registry_invariants_long(registry, make_batch, signer_keys, relayer, governance, guardian, chain):
    _run(registry, make_batch, signer_keys, relayer, governance, guardian, chain, examples=300, steps=40)
