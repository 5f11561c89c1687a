"""The scheduled keeper: a price shock triggers a cycle at once; cycles never overlap; a failing
cycle does not stop the service; stop() lets the cycle in flight finish."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from functools import partial

import pytest

from oracle.keeper.scheduler import KeeperService
from oracle.markets import market_id
from tests.helpers.markets import MARKET


def wait_for(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_price_shock_triggers_a_cycle_at_once(rig_factory):
    rig = rig_factory("2020-03-12T00:00:00")
    service = KeeperService(rig.keeper, interval=3_600, price_move=0.03, check_every=0.2)
    service.run_cycle("start")
    before = rig.on_chain().target_liquidation_threshold_bps
    rig.advance(12 * 3_600)  # the venues now print 12 March, 12:00: ETH down about 20 %
    service.start()
    try:
        assert wait_for(lambda: len(service.reports) >= 2), service.reports
    finally:
        service.stop()
    why, report = service.reports[1]
    assert why.startswith(f"trigger: {MARKET} moved -")
    assert [(p.kind, p.status) for p in report.pushes] == [
        ("update", "mined"),
        ("proposal", "mined"),
    ]
    assert rig.on_chain().target_liquidation_threshold_bps < before
    assert service.metrics.pushes.labels("update", "mined")._value.get() == 2


def test_the_triggered_cycle_decides_from_the_prices_the_check_read(rig_factory):
    """The check that sees the move hands its reads to the cycle it starts: each venue is asked
    for its ticker once (before: once by the check, again by the cycle)."""
    rig = rig_factory("2020-03-12T00:00:00")
    service = KeeperService(rig.keeper, interval=3_600, price_move=0.03, check_every=60)
    service.run_cycle("start")
    rig.advance(12 * 3_600)
    asked = [len(v.queries) for v in rig.venues]
    service.check_trigger()
    tickers = [
        sum("ticker" in q for q in list(v.queries)[n:])
        for v, n in zip(rig.venues, asked, strict=True)
    ]
    assert tickers == [1, 1, 1]
    why, report = service.reports[-1]
    assert why.startswith(f"trigger: {MARKET} moved -")
    assert report.started_at == rig.now
    assert [p.status for p in report.pushes] == ["mined", "mined"]


def test_cycles_never_overlap(rig_factory):
    rig = rig_factory("2020-06-01T00:00:00")
    service = KeeperService(rig.keeper, interval=3_600, price_move=0.03, check_every=60)
    real_cycle = rig.keeper.cycle
    entered, release = threading.Event(), threading.Event()

    def slow_cycle(reads=None):
        entered.set()
        release.wait(10)
        return real_cycle(reads)

    rig.keeper.cycle = slow_cycle
    first = threading.Thread(target=service.run_cycle, args=["first"])
    first.start()
    assert entered.wait(10)
    assert service.run_cycle("second") is None  # skipped, not queued
    release.set()
    first.join(30)
    assert service.skipped == 1 and [w for w, _ in service.reports] == ["first"]


def test_a_failing_cycle_is_counted_and_the_next_one_runs(rig_factory):
    from web3 import Web3

    from oracle.chain import RegistryClient
    from oracle.devnet.anvil import free_port

    rig = rig_factory("2020-06-01T00:00:00")
    service = KeeperService(rig.keeper, interval=3_600, price_move=0.03, check_every=60)
    # A real outage: the keeper's RPC endpoint refuses connections (nothing listens there).
    dead = Web3(Web3.HTTPProvider(f"http://127.0.0.1:{free_port()}", request_kwargs={"timeout": 2}))
    rig.keeper.registry = RegistryClient(dead, rig.registry.address)
    assert service.run_cycle("during the outage") is None
    assert service.metrics.cycles.labels("failed")._value.get() == 1
    assert service.metrics.failures.labels("ChainError")._value.get() == 1
    assert rig.store.db.execute("SELECT status FROM cycles").fetchall() == [("failed",)]
    rig.keeper.registry = rig.registry  # the node is back
    report = service.run_cycle("after the outage")
    assert report is not None and [p.status for p in report.pushes] == ["mined"]
    assert rig.registry.nonce() == 1
    assert rig.registry.market_state(market_id(MARKET)).updated_at > 0


def test_volatility_jump_detection():
    from oracle.keeper.scheduler import volatility_jumped

    sigma_hour = 0.01  # 1 % per hour: 0.065 % per 15 s check
    calm = [100.0 * (1 + 0.0005 * ((-1) ** i)) for i in range(30)]  # ±0.05 % wiggles
    assert volatility_jumped(calm, sigma_hour, 3_600, 15, 3.0) is None
    wild = [100.0 * (1 + 0.01 * ((-1) ** i)) for i in range(30)]  # ±1 % every 15 s
    ratio = volatility_jumped(wild, sigma_hour, 3_600, 15, 3.0)
    assert ratio is not None and ratio > 20
    assert volatility_jumped(wild[:5], sigma_hour, 3_600, 15, 3.0) is None  # too few checks


def _service(chain, governance, signer_keys, venues, store_path, clock, **keeper_options):
    """A triggered keeper over `venues` (market → its three emulated venues, each replaying ETH),
    on a registry of its own, its clock `clock[0]`; `keeper_options` go to its `Keeper`."""
    from oracle.devnet.registry import deploy_registry
    from oracle.feeds.exchange import ExchangeSource
    from oracle.feeds.venue import Venue
    from oracle.keeper.cycle import Keeper, MarketSetup
    from oracle.keeper.store import Store
    from oracle.policy import PolicySettings
    from tests.helpers.guardrails import KEEPER_GUARDRAILS

    registry = deploy_registry(
        chain.provider.web3,
        governance.address,
        signers=[signer_keys[0].address],
        markets=list(venues),
        guardrails=KEEPER_GUARDRAILS,
    )
    setups = []
    for market, market_venues in venues.items():
        sources = [
            ExchangeSource(f"{market}{i}", market, Venue("binance", v.url), MARKET, max_age=7_200)
            for i, v in enumerate(market_venues)
        ]
        setups.append(
            MarketSetup(market, sources, partial(sources[0].history, "1h", 1_000), 1_000.0)
        )
    keeper = Keeper(
        registry,
        [signer_keys[0]],
        governance.address,
        Store(store_path),
        setups,
        policy=PolicySettings(deadband_bps=25, heartbeat_after=6 * 3_600),
        clock=lambda: clock[0],
        **keeper_options,
    )
    return KeeperService(keeper, interval=3_600, price_move=0.03, check_every=60)


def test_a_trigger_reads_again_the_markets_it_did_not_see_move(
    chain, governance, signer_keys, eth_bars, tmp_path, monkeypatch
):
    """A check's reads are not one instant: a move that lands while (or just after) it reads
    shows in some markets and not yet in the rest. The cycle it starts decides the markets that
    moved from the check's prices and reads every other market again, so one cycle answers a move
    that reached a market after the check had read it (before: that market waited for a second
    cycle, which starts only after the first has mined everything). Two markets replaying ETH on
    venues of their own; the second's venues reach the crash only after the check has read them."""
    from .conftest import replay_venues

    late = "LATE/USDT"
    clock = [chain.pending_timestamp + 10]
    venues = {m: replay_venues(eth_bars, clock[0], "2020-03-12T00:00:00") for m in (MARKET, late)}
    try:
        service = _service(chain, governance, signer_keys, venues, tmp_path / "two.db", clock)
        before = service.run_cycle("start").snapshots[late].price
        clock[0] += 12 * 3_600
        chain.mine(timestamp=clock[0])
        for v in venues[MARKET]:  # ETH's venues print 12 March, 12:00 (down about 20 %)
            v.now = clock[0]
        for v in venues[late]:  # the other market's still print midnight...
            v.now, v.offset = clock[0], v.offset + 12 * 3_600
        import oracle.keeper.scheduler as scheduler

        real_read = scheduler.read_markets

        def read_markets(*args, **kwargs):
            for v in venues[late]:  # ...until the cycle reads: the crash has reached them
                v.offset -= 12 * 3_600
            return real_read(*args, **kwargs)

        monkeypatch.setattr(scheduler, "read_markets", read_markets)
        service.check_trigger()
        why, report = service.reports[-1]
        assert why.startswith(f"trigger: {MARKET} moved -") and "more" not in why
        # decided from the crashed price, read by the cycle (the check read midnight's)
        assert report.snapshots[late].price < 0.9 * before
        assert report.snapshots[late].price == pytest.approx(report.snapshots[MARKET].price)
        mined = {m for p in report.pushes if p.status == "mined" for m in p.markets}
        assert mined == {MARKET, late}
    finally:
        for market_venues in venues.values():
            for v in market_venues:
                v.stop()


@contextmanager
def _one_market(
    chain, governance, signer_keys, eth_bars, tmp_path, start="2020-03-12T00:00:00", **options
):
    """A triggered keeper (`_service`, `options` to its `Keeper`) over one market on three venues
    replaying ETH from `start`, after its first cycle: yields (service, venues, clock) and stops
    the venues after."""
    from .conftest import replay_venues

    clock = [chain.pending_timestamp + 10]
    venues = replay_venues(eth_bars, clock[0], start)
    try:
        db = tmp_path / "one.db"
        service = _service(chain, governance, signer_keys, {MARKET: venues}, db, clock, **options)
        service.run_cycle("start")
        yield service, venues, clock
    finally:
        for v in venues:
            v.stop()


def _move_on(chain, clock, venues, seconds, lagging=None):
    """The chain and every venue `seconds` on (12 h from midnight on 12 March 2020: ETH about 20 %
    lower); `lagging`, if given, still prints the time it did."""
    clock[0] += seconds
    chain.mine(timestamp=clock[0])
    for v in venues:
        v.now = clock[0]
    if lagging is not None:
        lagging.offset += seconds


def test_a_move_the_check_read_from_some_venues_only_is_read_again(
    chain, governance, signer_keys, eth_bars, tmp_path, monkeypatch
):
    """The move reaches two of a market's three venues before the check reads them and the third
    after: the check sees the market move (the median moved) with the lagging venue dropped as
    diverging. Decided from that read, the market was DEGRADED (tightening only), and its history
    (the lagging venue's, its bar in progress closed at that venue's last trade) did not show the
    crash: in `make bench-reaction` 15 of 500 markets were held `no_change` at the crashed price,
    which then stopped the trigger from seeing them move until the hourly cycle. The cycle reads
    such a market again, once every venue has the move."""
    import oracle.keeper.scheduler as scheduler
    from oracle.snapshot import Health

    with _one_market(chain, governance, signer_keys, eth_bars, tmp_path) as (
        service,
        venues,
        clock,
    ):
        lagging = venues[0]
        _move_on(chain, clock, venues, 12 * 3_600, lagging)  # the first still at midnight...
        real_read = scheduler.read_markets

        def read_markets(*args, **kwargs):
            lagging.offset -= 12 * 3_600  # ...until the cycle reads
            return real_read(*args, **kwargs)

        monkeypatch.setattr(scheduler, "read_markets", read_markets)
        service.check_trigger()
        why, report = service.reports[-1]
        assert why.startswith(f"trigger: {MARKET} moved -")
        snap = report.snapshots[MARKET]
        assert snap.health == Health.OK, snap.reasons  # every venue, crashed
        decision = report.decision(MARKET)
        assert "DEGRADED" not in decision.reason


def test_a_market_decided_degraded_is_decided_again_once_read_healthy(
    chain, governance, signer_keys, eth_bars, tmp_path
):
    """The move reaches two of a market's three venues; the third still lags when the cycle reads,
    so the market is decided DEGRADED (tightening only) at the moved price. Its snapshot then
    holds that price: no later check sees a move, and before, the market waited for the schedule
    with the lagging venue long caught up. The first check that reads it healthy starts a cycle
    that decides it again, from that read; a check while it still lags starts none, nor does the
    check after the new cycle (which read it healthy). A check whose cycle is skipped, because
    another is running, or fails (the chain errs), leaves it to a later check: after a failure,
    the checks of the next `check_every` start none (in an outage, not a cycle every check)."""
    from oracle.errors import ChainError
    from oracle.snapshot import Health

    with _one_market(chain, governance, signer_keys, eth_bars, tmp_path) as (
        service,
        venues,
        clock,
    ):
        lagging = venues[0]
        _move_on(chain, clock, venues, 12 * 3_600, lagging)  # the first still at midnight
        degraded = service.run_cycle("schedule")
        assert degraded.snapshots[MARKET].health == Health.DEGRADED
        assert "DEGRADED" in degraded.decision(MARKET).reason
        _move_on(chain, clock, venues, 60)
        service.check_trigger()  # still lagging: nothing new to decide
        assert len(service.reports) == 2
        lagging.offset -= 12 * 3_600  # caught up
        with service._lock:  # a cycle is running: the check's cycle is skipped...
            service.check_trigger()
        assert len(service.reports) == 2 and service.skipped == 1
        real_cycle = service.keeper.cycle

        failed = []

        def failing(*args, **kwargs):
            failed.append(args)
            raise ChainError("the node is down")

        service.keeper.cycle = failing  # the chain errs: the check's cycle fails...
        service.check_trigger()
        assert len(failed) == 1 and len(service.reports) == 2
        assert MARKET not in service._recovering
        service.check_trigger()  # ...the checks rest for check_every...
        assert len(failed) == 1
        service.keeper.cycle = real_cycle
        _move_on(chain, clock, venues, 60)
        service.check_trigger()  # ...and the next one after it asks again
        why, report = service.reports[-1]
        assert why.startswith(
            f"trigger: {MARKET} read healthy again (degraded at the last cycle), -"
        )
        assert report.snapshots[MARKET].health == Health.OK
        assert "DEGRADED" not in report.decision(MARKET).reason
        service.check_trigger()
        assert len(service.reports) == 3


def test_a_venue_that_lags_at_every_cycle_costs_one_extra_cycle(
    chain, governance, signer_keys, eth_bars, tmp_path, monkeypatch
):
    """A keeper reading its markets itself at each cycle (`feed_workers=0`), and a venue that has
    the move whenever a check reads it and lags whenever a cycle does: the first check that reads
    the degraded market healthy starts a cycle, which reads it degraded again; the checks after
    start none until a cycle has read it healthy (one extra cycle per spell, not one per check)."""
    import oracle.keeper.cycle as cycle
    from oracle.snapshot import Health

    market = _one_market(chain, governance, signer_keys, eth_bars, tmp_path, feed_workers=0)
    with market as (service, venues, clock):
        lagging = venues[0]
        _move_on(chain, clock, venues, 12 * 3_600)  # every venue at noon...
        real_collect = cycle.collect

        def lagging_collect(*args, **kwargs):  # ...but the first lags 12 h when a cycle reads
            lagging.offset += 12 * 3_600
            try:
                return real_collect(*args, **kwargs)
            finally:
                lagging.offset -= 12 * 3_600

        monkeypatch.setattr(cycle, "collect", lagging_collect)
        assert service.run_cycle("schedule").snapshots[MARKET].health == Health.DEGRADED
        service.check_trigger()
        why, report = service.reports[-1]
        assert why.startswith(f"trigger: {MARKET} read healthy again")
        assert report.snapshots[MARKET].health == Health.DEGRADED
        for _ in range(3):
            service.check_trigger()
        assert len(service.reports) == 3
        monkeypatch.setattr(cycle, "collect", real_collect)
        assert service.run_cycle("schedule").snapshots[MARKET].health == Health.OK
        service.check_trigger()  # healthy at the cycle and at the check: nothing to do
        assert len(service.reports) == 4


def test_a_market_degraded_without_a_move_waits_for_the_schedule(
    chain, governance, signer_keys, eth_bars, tmp_path, monkeypatch
):
    """A venue out at a cycle (a timeout: at 500 markets some venue times out in most cycles)
    leaves its market DEGRADED at an unmoved price. Read healthy again at the next check, it
    starts no cycle: nothing moved that a degraded decision could have missed, and a cycle for
    each such market would run cycles back to back. Nor after a restart (before, a market with no
    healthy cycle since the start started one on any healthy read: a cycle per restart)."""
    import oracle.keeper.cycle as cycle
    from oracle.feeds import FailureKind, SourceFailure
    from oracle.snapshot import Health

    market = _one_market(
        chain, governance, signer_keys, eth_bars, tmp_path, "2020-03-11T00:00:00", feed_workers=0
    )
    with market as (service, venues, clock):
        real_collect = cycle.collect

        def timing_out(sources, now, timeout):  # the first venue does not answer this cycle
            results = real_collect(sources, now, timeout)
            first = sources[0]
            results[0] = SourceFailure(first.name, first.market, FailureKind.TIMEOUT, "no answer")
            return results

        monkeypatch.setattr(cycle, "collect", timing_out)
        _move_on(chain, clock, venues, 60)
        assert service.run_cycle("schedule").snapshots[MARKET].health == Health.DEGRADED
        monkeypatch.setattr(cycle, "collect", real_collect)
        _move_on(chain, clock, venues, 60)
        service.check_trigger()
        assert len(service.reports) == 2
        # a restarted service knows the market's last healthy price from the store: no cycle
        restarted = KeeperService(service.keeper, interval=3_600, price_move=0.03, check_every=60)
        restarted.check_trigger()
        assert not restarted.reports
