"""The keeper publishing portfolio-margin arrays beside the parameters, on Anvil, from three
emulated venues replaying real ETH/USDT and BTC/USDT bars: what it publishes, when, what it keeps,
and what a crash or a retired scenario set does."""

from __future__ import annotations

import dataclasses

import pytest

from oracle.chain.risk_arrays import RiskArrayClient
from oracle.devnet.emulator import ExchangeEmulator
from oracle.devnet.registry import deploy_registry, deploy_risk_arrays
from oracle.errors import ChainError
from oracle.feeds.exchange import ExchangeSource
from oracle.feeds.marketdata import shipped_bars
from oracle.feeds.venue import Venue
from oracle.keeper.arrays import ArrayPublisher, ArraysSetup
from oracle.keeper.cycle import Keeper, MarketSetup
from oracle.keeper.store import Store
from oracle.markets import market_id
from oracle.policy import PolicySettings
from oracle.policy.arrays import SPAN16_LIMITS, WAD, portfolio_margin
from oracle.risk import ModelSettings
from tests.helpers.guardrails import KEEPER_GUARDRAILS
from tests.helpers.time import ts

MARKETS = ("ETH/USDT", "BTC/USDT")
HOUR = 3_600


class ArraysRig:
    """Two markets, three venues, the registry and the arrays contract; the test moves the clock."""

    def __init__(self, chain, governance, signer, tmp_path, start: str):
        self.chain = chain
        self.now = chain.pending_timestamp + 10
        bars = {
            "ETHUSDT": ("ETH", "USDT", shipped_bars("ohlcv/1h/ETHUSDT.csv.gz", "ETH/USDT")),
            "BTCUSDT": ("BTC", "USDT", shipped_bars("ohlcv/1h/BTCUSDT.csv.gz", "BTC/USDT")),
        }
        offset = self.now - ts(start)
        self.venues = [
            ExchangeEmulator(bars, now=self.now, offset=offset).start() for _ in range(3)
        ]
        w3 = chain.provider.web3
        self.registry = deploy_registry(
            w3,
            governance.address,
            signers=[signer.address],
            markets=MARKETS,
            guardrails=KEEPER_GUARDRAILS,
        )
        self.arrays: RiskArrayClient = deploy_risk_arrays(w3, governance.address, self.registry)
        self.store = Store(tmp_path / "oracle.db")
        setups = []
        for market in MARKETS:
            sources = [
                ExchangeSource(f"venue{i}", market, Venue("binance", v.url), market, max_age=7_200)
                for i, v in enumerate(self.venues)
            ]
            setups.append(
                MarketSetup(
                    market,
                    sources,
                    (lambda s=sources[0]: s.history("1h", 1_000)),
                    size=100.0,
                    memory=(lambda s=sources[0]: s.history("1d", ModelSettings().memory_days)),
                )
            )
        self.publisher = ArrayPublisher(
            ArraysSetup(self.arrays, 1, MARKETS, refresh=6 * HOUR),
            [signer],
            governance.address,
            self.store,
            lambda: self.now,
            "arrays-test",
            reviews=tmp_path / "reviews",
        )
        self.keeper = Keeper(
            self.registry,
            [signer],
            governance.address,
            self.store,
            setups,
            policy=PolicySettings(deadband_bps=25, heartbeat_after=6 * HOUR, loosen_after_cycles=3),
            clock=lambda: self.now,
            arrays=self.publisher,
        )

    def advance(self, seconds: int) -> None:
        self.now += seconds
        for v in self.venues:
            v.now = self.now
        self.chain.mine(timestamp=self.now)

    def close(self) -> None:
        for v in self.venues:
            v.stop()
        self.store.close()


@pytest.fixture
def rig(chain, governance, signer_keys, tmp_path):
    made = ArraysRig(chain, governance, signer_keys[0], tmp_path, "2021-05-17T00:00:00")
    yield made
    made.close()


def test_arrays_are_published_with_the_parameters_and_kept(rig, governance):
    report = rig.keeper.cycle()
    assert [p.status for p in report.pushes] == ["mined"]
    assert report.arrays is not None and report.arrays.status == "mined", report.notes
    kept = {r["market"]: r for r in rig.store.arrays()}
    assert set(kept) == set(MARKETS)
    for market, row in kept.items():
        published = rig.arrays.published(market_id(market))
        assert published is not None and published.scenario_set == 1
        assert list(published.values.moves) == row["moves"]
        assert (published.values.floor_units, published.values.depth_code) == (
            row["floor_units"],
            row["depth_code"],
        )
        assert row["notes"] == [] and row["moves"] == row["target"]["moves"]  # a first array
        assert len(row["labels"]) == 16 and row["status"] == "mined"
    # Rows are joint: in row 0 both fall, and a hedge needs less than its legs, on-chain.
    eth, btc = (rig.arrays.published(market_id(m)).values for m in MARKETS)
    assert eth.moves[0] < 0 and btc.moves[0] < 0
    assets = sorted(market_id(m) for m in MARKETS)
    by_asset = {market_id("ETH/USDT"): 100_000 * WAD, market_id("BTC/USDT"): -100_000 * WAD}
    positions = [by_asset[a] for a in assets]
    hedged = rig.arrays.portfolio_margin(assets, positions)
    in_order = [eth if a == market_id("ETH/USDT") else btc for a in assets]
    assert hedged == portfolio_margin(
        in_order, positions, SPAN16_LIMITS.weight_pct, SPAN16_LIMITS.factor_pairs
    )
    assert hedged.margin < rig.arrays.isolated_margin(assets, positions) / 2


def test_arrays_wait_for_their_heartbeat_and_then_step_within_the_rates(rig):
    assert rig.keeper.cycle().arrays.status == "mined"
    first = rig.arrays.nonce()
    rig.advance(600)  # no new hourly bar: the same target, not due
    assert rig.keeper.cycle().arrays is None
    assert rig.arrays.nonce() == first
    # 19 May 2021: the crash moves the target rows; published within the set's rates
    rig.advance(2 * 24 * HOUR + 12 * HOUR)
    report = rig.keeper.cycle()
    assert report.arrays is not None and report.arrays.status == "mined", report.notes
    assert rig.arrays.nonce() == first + 1


def test_a_batch_lost_in_flight_holds_the_arrays_until_its_deadline(rig, monkeypatch):
    sent = []

    def lose(batch, signatures, sender, on_sent=None):
        sent.append(batch.nonce)
        raise ChainError("connection reset while sending")

    monkeypatch.setattr(rig.arrays, "submit", lose)
    first = rig.keeper.cycle()
    assert first.arrays.status == "pending" and sent == [0]
    monkeypatch.undo()
    rig.advance(60)  # none ever mined, so due; but the signed batch may land until its deadline
    held = rig.keeper.cycle()
    assert held.arrays is None and any("may still land" in n for n in held.notes), held.notes
    assert rig.arrays.nonce() == 0
    rig.advance(rig.keeper.batch_ttl + 1)
    fresh = rig.keeper.cycle()
    assert fresh.arrays.status == "mined" and fresh.arrays.nonce == 0  # the same nonce, once
    assert [p["status"] for p in rig.store.pushes() if p["kind"] == "arrays"] == [
        "mined",
        "expired",
    ]


def test_a_retired_scenario_set_stops_the_arrays_not_the_parameters(rig, governance):
    rig.arrays.set_scenario_set(
        1, dataclasses.replace(SPAN16_LIMITS, active=False), governance.address
    )
    report = rig.keeper.cycle()
    assert [p.status for p in report.pushes] == ["mined"]
    assert report.arrays.status == "skipped"
    assert any("scenario set 1 is not active" in n for n in report.notes), report.notes


def test_values_held_by_the_bounds_go_to_governance(rig, governance):
    narrow = dataclasses.replace(SPAN16_LIMITS, min_moves=(-20,) * 16, max_moves=(20,) * 16)
    rig.arrays.set_scenario_set(1, narrow, governance.address)
    report = rig.keeper.cycle()
    assert report.arrays.status == "mined", report.notes
    published = rig.arrays.published(market_id("ETH/USDT")).values
    assert min(published.moves) == -20 and max(published.moves) == 20
    review = (rig.publisher.reviews / "arrays-0.md").read_text()
    assert "scenario set 1 holds values back" in review
    assert "component 1" in review and "clamped to its bounds [-20, 20]" in review
    # a batch only stepped by the rates is not a governance matter: no review for it
    rig.arrays.set_scenario_set(1, SPAN16_LIMITS, governance.address)
    rig.advance(7 * HOUR)
    assert rig.keeper.cycle().arrays.status == "mined"
    assert not (rig.publisher.reviews / "arrays-1.md").exists()
