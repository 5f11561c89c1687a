"""Aggregation and health verdicts, source by source."""

from __future__ import annotations

import pytest

from oracle.errors import ConfigError
from oracle.feeds import FailureKind, Reading, SourceFailure
from oracle.snapshot import Health, HealthPolicy, aggregate

M, NOW = "ETH/USD", 1_700_000_000


def r(source, price):
    return Reading(source, M, price, NOW - 5)


def fail(source, kind=FailureKind.TIMEOUT):
    return SourceFailure(source, M, kind, "no answer")


def test_all_agree_is_ok_with_the_median():
    snap = aggregate(M, [r("a", 100.0), r("b", 100.2), r("c", 99.9)], NOW, HealthPolicy())
    assert snap.health == Health.OK and snap.price == 100.0 and snap.reasons == ()
    assert snap.divergence == pytest.approx(0.3 / 100.0)


def test_one_source_down_is_degraded_two_down_is_failed():
    one = aggregate(M, [r("a", 100.0), r("b", 100.1), fail("c")], NOW, HealthPolicy())
    assert one.health == Health.DEGRADED and one.reasons == ("c: timeout: no answer",)
    two = aggregate(
        M, [r("a", 100.0), fail("b"), fail("c", FailureKind.STALE)], NOW, HealthPolicy()
    )
    assert two.health == Health.FAILED
    assert "1 healthy source(s), need 2" in two.reasons


def test_divergence_warns_then_fails():
    warn = aggregate(M, [r("a", 100.0), r("b", 101.5), r("c", 100.7)], NOW, HealthPolicy(mad_k=50))
    assert warn.health == Health.DEGRADED and any("diverge by 1.49%" in x for x in warn.reasons)
    wide = aggregate(M, [r("a", 100.0), r("b", 104.0)], NOW, HealthPolicy(mad_floor=0.05))
    assert wide.health == Health.FAILED and any("diverge by" in x for x in wide.reasons)


def test_two_sources_that_disagree_fail_on_divergence():
    # With two sources the MAD is half their gap, so neither is an outlier: there is no majority to
    # say which one is wrong, and the divergence check fails the market instead.
    snap = aggregate(M, [r("a", 100.0), r("b", 110.0)], NOW, HealthPolicy())
    assert snap.accepted == ("a", "b") and snap.health == Health.FAILED
    assert any("diverge by 9.52%" in x for x in snap.reasons)


def test_mad_rejects_the_odd_one_out():
    snap = aggregate(
        M, [r("a", 100.0), r("b", 100.1), r("c", 99.95), r("d", 97.0)], NOW, HealthPolicy()
    )
    assert snap.accepted == ("a", "b", "c")
    assert snap.health == Health.DEGRADED


def test_snapshot_hash_is_canonical_and_sensitive():
    a = aggregate(M, [r("b", 100.1), r("a", 100.0)], NOW, HealthPolicy())
    b = aggregate(M, [r("a", 100.0), r("b", 100.1)], NOW, HealthPolicy())  # order does not matter
    c = aggregate(M, [r("a", 100.0), r("b", 100.1000001)], NOW, HealthPolicy())
    assert a.hash() == b.hash() and a.canonical() == b.canonical()
    assert a.hash() != c.hash()
    assert b'"health":"ok"' in a.canonical()


def test_bad_health_policy_names_the_key():
    with pytest.raises(ConfigError, match=r"feeds\.health\.min_healthy"):
        HealthPolicy(min_healthy=0)
    with pytest.raises(ConfigError, match="warn_divergence"):
        HealthPolicy(warn_divergence=0.05, fail_divergence=0.01)


def test_an_absurd_jump_fails_that_source_only():
    before = aggregate(M, [r("a", 100.0), r("b", 100.1), r("c", 100.0)], NOW, HealthPolicy())
    after = aggregate(
        M, [r("a", 99.0), r("b", 300.0), r("c", 98.5)], NOW + 60, HealthPolicy(), previous=before
    )
    assert after.accepted == ("a", "c") and after.health == Health.DEGRADED
    assert "b: jump: 300 after 100.1 (+200% in one cycle)" in after.reasons
    all_jump = aggregate(
        M, [r("a", 10.0), r("b", 10.0), r("c", 10.0)], NOW + 60, HealthPolicy(), previous=before
    )
    assert all_jump.health == Health.FAILED  # even when every source agrees: hold, do not push
