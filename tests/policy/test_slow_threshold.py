"""The threshold's slow path: LTV tightens at once, a threshold cut waits for the ramp in progress,
is paced, is sized by the liquidations it would cause on open positions, and a deep one goes to
governance with its impact table."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from oracle.policy import Action, OnChain, PolicySettings, decide
from oracle.policy.impact import OpenPositions
from oracle.snapshot import Health
from oracle.types import Params
from tests.helpers.guardrails import TEST_GUARDRAILS

G = TEST_GUARDRAILS
NOW = 1_700_000_000
CURRENT = Params(7000, 8000, 500)
S = PolicySettings(
    loosen_after_cycles=1,
    threshold_step_bps=100,
    max_induced_share=0.01,
    governance_cut_bps=300,
    threshold_band_bps=0,
)


def chain(**kw: object) -> OnChain:
    return OnChain(CURRENT, NOW - 7_200, NOW - 2 * 86_400, G, last_change_at=NOW - 7_200, **kw)  # type: ignore[arg-type]


def run(rec: Params, c: OnChain | None = None, positions: OpenPositions | None = None):
    return decide("ETH/USD", rec, None, Health.OK, (), c or chain(), 0, NOW, S, positions)


def test_ltv_tightens_at_once_while_the_threshold_cut_is_paced():
    d = run(Params(6000, 7900, 500))
    assert d.action == Action.UPDATE and d.update == Params(6000, 7900, 500)
    d = run(Params(6000, 7850, 500))
    assert d.update == Params(6000, 7900, 500) and "paced to 100 bps" in d.reason
    assert d.proposal is None  # 150 bps: within the fast path's reach over two ramps


def test_a_threshold_within_the_band_stays_where_it_is():
    banded = replace(S, threshold_band_bps=100)
    d = decide("ETH/USD", Params(6000, 7920, 500), None, Health.OK, (), chain(), 0, NOW, banded)
    assert d.update == Params(6000, 8000, 500) and "threshold held" in d.reason
    d = decide("ETH/USD", Params(6000, 7850, 500), None, Health.OK, (), chain(), 0, NOW, banded)
    assert d.update == Params(6000, 7900, 500)  # beyond the band: the slow path takes over


def test_a_threshold_cut_waits_for_the_ramp_in_progress():
    d = run(Params(6000, 7900, 500), chain(threshold_ramp_end=NOW + 600, threshold_in_force=8050))
    assert d.update == Params(6000, 8000, 500)
    assert "waits for the ramp in progress" in d.reason


def test_a_deep_cut_goes_to_governance_with_its_impact():
    book = OpenPositions.from_book(np.ones(4), np.array([79.0, 77.0, 60.0, 40.0]), 100.0)
    d = run(Params(6500, 7000, 500), positions=book)
    assert d.action == Action.UPDATE and d.proposal == Params(6500, 7000, 500)
    assert "proposed to governance" in d.reason and "LT 7700 liquidates 30.86%" in d.reason
    # One step (100 bps) liquidates nobody today, but the 79 and 77 positions are within the
    # engine's own buffer (1 - 6,500 / 7,000) of it: the cut waits for them to leave.
    assert d.update is not None and d.update.liquidation_threshold_bps == 8000
    assert "at most 1.00% of open debt" in d.reason
    assert d.update.ltv_bps == 6500  # the LTV moves in full


def test_impact_counts_the_debt_between_the_new_and_the_old_threshold():
    book = OpenPositions.from_book(np.ones(4), np.array([79.0, 77.0, 60.0, 40.0]), 100.0)
    assert book.induced(8000, 7800) == 79 / 256
    assert book.induced(8000, 7000) == (79 + 77) / 256
    assert book.induced(8000, 8100) == 0.0
    assert book.table(8000, (100, 300)) == [(7900, 0.0), (7700, round(79 / 256, 6))]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0.1, 10), st.floats(0, 10)), min_size=1, max_size=40),
    st.integers(1_000, 9_000),
    st.integers(0, 3_000),
    st.floats(0, 0.5),
    st.floats(0, 0.5),
)
def test_the_sized_cut_never_exposes_more_than_the_ceiling(rows, threshold, depth, ceiling, move):
    collateral, debt = (np.array(c) for c in zip(*rows, strict=True))
    book = OpenPositions.from_book(collateral, debt, 1.0)
    floor = max(1, threshold - depth)
    lt = book.deepest_cut(threshold, floor, ceiling, move)
    assert floor <= lt <= threshold
    assert book.induced(threshold, lt, move) <= ceiling + 1e-12
    if lt > floor:  # and it is the deepest such cut, to the bps
        assert book.induced(threshold, lt - 1, move) > ceiling


def test_a_fall_of_the_buffer_counts_the_positions_it_would_bring_into_the_band():
    book = OpenPositions.from_book(np.ones(3), np.array([75.0, 72.0, 50.0]), 100.0)
    assert book.induced(8000, 7900) == 0.0  # nothing liquidatable at today's price
    # After a 10 % fall, 75 and 72 sit at 8,333 and 8,000: the first crosses both thresholds
    # (it meets 7,900 first on the way down), the second only the new one; 50 neither.
    assert book.induced(8000, 7900, 0.10) == (75 + 72) / 197


def test_impact_is_measured_from_the_consumers_threshold_when_it_is_higher():
    """Aave held at 8,300 by the adapter while the registry's threshold is 8,000: a position at
    81 % is not liquidatable on Aave yet, so a cut exposes it even though it sits above the
    registry's threshold."""
    book = OpenPositions.from_book(np.ones(2), np.array([81.0, 40.0]), 100.0)
    assert book.induced(8000, 7900) == 0.0  # from the registry's threshold: nothing in between
    held = replace(book, consumer_threshold_bps=8300)
    assert held.baseline(8000) == 8300 and book.baseline(8000) == 8000
    assert held.induced(held.baseline(8000), 7900) == 81 / 121
    d = run(Params(6000, 7900, 500), positions=held)
    assert d.update is not None and d.update.liquidation_threshold_bps == 8000  # held
    d = run(Params(6000, 7900, 500), positions=book)
    assert d.update is not None and d.update.liquidation_threshold_bps == 7900  # not held


def test_unreadable_positions_hold_the_threshold_but_not_the_ltv():
    unknown = OpenPositions.unreadable()
    assert unknown.induced(8000, 7999) == 1.0 and unknown.deepest_cut(8000, 7000, 0.5) == 8000
    d = run(Params(6000, 7500, 500), positions=unknown)
    assert d.update == Params(6000, 8000, 500)
    assert "positions could not be read" in d.reason
    assert "impact unknown" in d.reason  # the deep cut still goes to governance, flagged
