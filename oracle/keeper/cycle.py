"""One keeper cycle: feeds → snapshot → risk engine → policy → sign → push → store.

I/O happens here and in the clients it calls; the decisions are made by the pure parts
(`oracle.risk`, `oracle.policy`). Every market's snapshot, recommendation, decision and reason is
stored before anything is signed; every signed payload is stored before it is sent.

Crash safety rests on the registry's sequential nonce: a batch signed for nonce n can be applied
once at most, and only while the chain's nonce is n. `reconcile` settles pushes a previous run left
pending — `mined` when the chain consumed the nonce with our transaction, `consumed` when it was
consumed otherwise, `expired` when the deadline has passed without it, so a restart can never apply
an update twice and never loses track of one. A push the node no longer knows (restarted without
its mempool) frees its nonce for a fresh batch; a push whose block the chain lost is pending again.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from itertools import pairwise
from typing import Any

from eth_account.signers.local import LocalAccount
from web3.exceptions import Web3Exception

from oracle.audit.bundle import BundleStore, Context, InputsBundle, MarketInputs
from oracle.chain import NotSent, Outcome, RawCall, RegistryClient, Transactor, TxResult
from oracle.errors import ChainError, ContractRevert, OracleError
from oracle.feeds import SourceResult, collect, collect_all
from oracle.feeds.base import FEED_WORKERS, FeedError, Source
from oracle.feeds.sharing import Memo
from oracle.integrations.aave_v3 import RiskAdapterClient
from oracle.keeper.ahead import Ahead, read_ahead
from oracle.keeper.arrays import ArrayInputs, ArrayPublisher, ArraysPush
from oracle.keeper.settle import settle
from oracle.keeper.store import REGISTRY_KINDS, Store
from oracle.markets import market_id
from oracle.policy import Decision, OnChain, PolicySettings, decide
from oracle.policy.impact import OpenPositions
from oracle.policy.rules import MAX_PROPOSALS_PER_BATCH
from oracle.report.review import QueuedProposal
from oracle.risk import (
    MODEL_VERSION,
    MarketInput,
    ModelSettings,
    compute_market,
    liquidity_of,
)
from oracle.series import PriceSeries
from oracle.signing import (
    FAST_PATH,
    PROPOSAL_PATH,
    Batch,
    MarketUpdate,
    Signer,
    model_version_bytes,
    sign_sorted,
)
from oracle.snapshot import Health, HealthPolicy, MarketSnapshot, aggregate
from oracle.types import Params

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class MarketSetup:
    market: str
    sources: Sequence[Source]
    history: Callable[[], PriceSeries]  # the price history the risk engine reads (e.g. ccxt OHLCV)
    size: float  # collateral units that may need liquidating at once
    settings: ModelSettings = field(default_factory=ModelSettings)
    #: The daily closes of the threshold's tail memory (ccxt daily OHLCV; None: memory off).
    memory: Callable[[], PriceSeries] | None = None
    #: The consuming protocol's open positions at the current price (an example pool, an Aave
    #: reserve): they size the policy's threshold cuts and go into governance reviews. None: cuts
    #: are paced only, and reviews carry no impact table.
    positions: Callable[[], OpenPositions] | None = None


@dataclass(frozen=True)
class AdapterLink:
    """A consumer the keeper carries the registry's values to after its pushes: an Aave v3 risk
    adapter and the markets linked in it. One `sync` transaction per adapter and cycle, only when
    a market's reserve would change (after a push, along a threshold ramp, after a failed sync)."""

    client: RiskAdapterClient
    markets: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"aave-v3:{self.client.address}"


@dataclass(frozen=True)
class Push:
    kind: str  # "update" or "proposal"
    nonce: int
    markets: tuple[str, ...]
    status: str
    tx_hash: str | None = None
    gas_used: int | None = None
    error: str | None = None
    blamed: str | None = None  # the market a revert named (isolated from the retry)


#: Gas a market may cost in a batch, pessimistically (first writes, ramps and a proposal's record
#: included; typical: 11,700 an update, 78,000 a proposal): batches are sized to half a block at
#: these rates, and a batch sent behind another in the same block goes with at least this limit
#: where the node cannot estimate it ahead (`RegistryClient.relay_call(ahead=True)`; then the
#: larger of it and the first batch's estimate per market, raised to the batch before's).
MARKET_GAS = {"update": 30_000, "proposal": 120_000}
BATCH_GAS = 60_000  # a batch's own cost: calldata, the nonce, the event
SIGNATURE_GAS = 10_000  # recovering and checking one signature


def batch_bounds(count: int, limit: int) -> list[int]:
    """Where `count` markets are cut into as few batches of at most `limit` as there can be, of
    even sizes, the longer ones last: [0, …, count]. Sent back to back, the batches must never
    let a node fit a later one into a block the one before it did not fit: it would try it out of
    nonce order (Anvil then drops it from its pool, and it waits for a re-broadcast). A short
    last batch (500 as 15 × 32 + 20) did that; a 31 behind a 32 could too, so sizes only grow,
    and `Keeper._send_round` makes the declared gas only grow along the batches as well. No
    markets: no batch ([0])."""
    if limit < 1:
        raise ValueError(f"a batch holds at least one market, not {limit}")
    if count <= 0:
        return [0]
    batches = -(-count // limit)
    size, longer = divmod(count, batches)
    shorter = batches - longer
    return [k * size + max(0, k - shorter) for k in range(batches + 1)]


@dataclass(frozen=True)
class _Signed:
    """A batch signed, and stored before anything is sent."""

    kind: str
    chunk: tuple[tuple[str, Params], ...]
    batch: Batch
    signatures: list[bytes]
    push_id: int

    def push(
        self,
        status: str,
        tx_hash: str | None = None,
        gas_used: int | None = None,
        *,
        error: str | None = None,
        blamed: str | None = None,
    ) -> Push:
        names = tuple(m for m, _ in self.chunk)
        return Push(self.kind, self.batch.nonce, names, status, tx_hash, gas_used, error, blamed)


@dataclass(frozen=True)
class Evaluation:
    decision: Decision
    snapshot: MarketSnapshot
    recommendation: Params | None
    explanation: dict[str, Any] | None
    inputs_hash: str
    history: PriceSeries | None = None
    positions: OpenPositions | None = None
    #: Everything the engine and the policy read (None when the engine did not run): what a
    #: batch's inputs bundle holds for this market.
    inputs: MarketInputs | None = None
    #: The registry's state the policy read (at the cycle's block).
    chain: OnChain | None = None

    @property
    def on_chain(self) -> Params | None:
        """The registry's values the policy read (None: never set)."""
        return None if self.chain is None else self.chain.values


@dataclass(frozen=True)
class CycleReads:
    """Every market's feed reads and price history at one moment, read once on a pool of threads
    (`read_markets`): a keeper's cycle, or the keepers of several chains serving the same markets
    (`oracle.keeper.chains`), decide from them."""

    now: int
    feeds: dict[str, list[SourceResult]]
    ahead: dict[str, Ahead]
    #: The risk engine's answers, by inputs hash: a market whose inputs are the same on every
    #: chain (the usual case: one read, one history) is computed once, not once per chain. The
    #: engine is pure, so a shared answer is the one each chain would have computed.
    engine: Memo = field(default_factory=Memo)


def read_markets(
    markets: Sequence[MarketSetup],
    now: int,
    timeout: float,
    workers: int,
    feeds: dict[str, list[SourceResult]] | None = None,
) -> CycleReads:
    """Every market's feeds (`collect_all`), then every market's history and tail memory
    (`read_ahead`), each on one pool of `workers` threads. `feeds`: markets already read moments
    before `now` (by the trigger check that asked for this cycle: the cycle acts on the prices
    that moved, and does not read them again; their readings keep their own times, judged
    against `now` like any other)."""
    have = dict(feeds or {})
    missing = [s for s in markets if s.market not in have]
    collected = collect_all([s.sources for s in missing], now, timeout, workers)
    have.update({s.market: list(r) for s, r in zip(missing, collected, strict=True)})
    ahead = read_ahead([(s.history, _memory_read(s)) for s in markets], timeout, workers)
    return CycleReads(
        now,
        {s.market: have[s.market] for s in markets},
        {s.market: a for s, a in zip(markets, ahead, strict=True)},
    )


def _memory_read(setup: MarketSetup) -> Callable[[], PriceSeries] | None:
    """The market's tail-memory read, when its settings use one."""
    if setup.memory is not None and setup.settings.memory_confidence > 0:
        return setup.memory
    return None


@dataclass(frozen=True)
class CycleReport:
    cycle_id: int
    started_at: int
    decisions: tuple[Decision, ...]
    snapshots: dict[str, MarketSnapshot]
    pushes: tuple[Push, ...]
    notes: tuple[str, ...]
    arrays: ArraysPush | None = None  # this cycle's arrays batch (None: none due or none set)

    def decision(self, market: str) -> Decision:
        return next(d for d in self.decisions if d.market == market)


class Keeper:
    def __init__(
        self,
        registry: RegistryClient,
        signers: Sequence[Signer],
        sender: LocalAccount | str,
        store: Store,
        markets: Sequence[MarketSetup],
        *,
        health: HealthPolicy | None = None,
        policy: PolicySettings | None = None,
        feeds_timeout: float = 5.0,
        batch_ttl: int = 300,
        clock: Callable[[], int] | None = None,
        max_batch: int | None = None,
        on_proposal: Callable[[QueuedProposal], None] | None = None,
        model_version: str = MODEL_VERSION,
        adapters: Sequence[AdapterLink] = (),
        bundles: BundleStore | None = None,
        settings_file: str | None = None,
        arrays: ArrayPublisher | None = None,
        multicall: str | None = None,
        feed_workers: int = FEED_WORKERS,
    ) -> None:
        self.registry, self.signers, self.sender, self.store = registry, signers, sender, store
        self.markets = list(markets)
        self.adapters = list(adapters)
        self.health = health or HealthPolicy()
        self.policy = policy or PolicySettings()
        self.feeds_timeout, self.batch_ttl = feeds_timeout, batch_ttl
        self.max_batch = max_batch  # None: from the block gas limit
        self.on_proposal = on_proposal  # called for each proposal queued (e.g. a ReviewWriter)
        # committed in every batch: the engine's version, and the settings file's hash when the
        # keeper runs calibrated settings (oracle.evaluation.settings.SettingsFile.model_version)
        self.model_version = model_version
        model_version_bytes(model_version)  # fails now, not at the first push, when too long
        # Each batch's inputs, written before it is signed so anyone can verify it (None: the
        # bundle is hashed, not kept); `settings_file` is the text whose hash is in the version.
        self.bundles = bundles
        self.settings_file = settings_file
        self.clock = clock or (lambda: int(time.time()))
        self.arrays = arrays  # portfolio-margin arrays, published after the parameters
        self._evaluations: dict[str, Evaluation] = {}  # each market's last evaluation
        self._cycle_block: tuple[int, int] | None = None  # the latest block, read once per cycle
        # Multicall3's address: every market's registry state in a few requests a cycle (None:
        # three reads per market)
        self.multicall = multicall
        self._views: dict[bytes, OnChain] = {}  # this cycle's registry state of every market
        # threads reading all markets' feeds at once (0: market by market, each on its own)
        self.feed_workers = feed_workers

    def last_sigma(self, market: str) -> tuple[float, int] | None:
        """σ per bar and the bar's seconds from the last cycle's recommendation, if it had one."""
        ev = self._evaluations.get(market)
        if ev is None or ev.explanation is None:
            return None
        return ev.explanation["volatility"]["sigma"], ev.explanation["interval_seconds"]

    def last_evaluation(self, market: str) -> Evaluation | None:
        """The last cycle's evaluation of `market` (metrics and the dashboard read it)."""
        return self._evaluations.get(market)

    def last_snapshot(self, market: str) -> MarketSnapshot | None:
        """The snapshot of `market` taken by the last cycle (the trigger and the jump check
        compare against it)."""
        ev = self._evaluations.get(market)
        return None if ev is None else ev.snapshot

    # Crash recovery ---------------------------------------------------------------------------

    def reconcile(self) -> tuple[list[str], bool]:
        """Settles pushes left pending (`oracle.keeper.settle`); returns notes and whether one may
        still land (then this cycle must not sign another batch for the same nonce)."""
        reg = self.registry
        return settle(self.store, REGISTRY_KINDS, reg.nonce, reg.w3, self.clock())

    # The cycle --------------------------------------------------------------------------------

    def cycle(self, reads: CycleReads | None = None) -> CycleReport:
        """One cycle. `reads`: the markets' feeds and histories when already read for this moment
        (by the keepers of several chains together); a market they lack is read here."""
        now = self.clock() if reads is None else reads.now
        cycle_id = self.store.begin_cycle(now)  # first: a cycle the chain fails is recorded too
        decisions: list[Decision] = []
        snapshots: dict[str, MarketSnapshot] = {}
        try:
            notes, blocked = self.reconcile()
            # One read per cycle, not one per market: every market and batch is judged against it.
            self._cycle_block = self._latest_block()
            self._views = self._read_views(notes)
            # every market's feeds on one pool (a deadline per round of reads) before any is judged
            if reads is None and self.feed_workers > 0:
                reads = read_markets(self.markets, now, self.feeds_timeout, self.feed_workers)
            rows = []
            for setup in self.markets:
                results = None if reads is None else reads.feeds.get(setup.market)
                read = None if reads is None else reads.ahead.get(setup.market)
                engine = None if reads is None else reads.engine
                decision, snap, row = self._market(setup, now, results, read, engine)
                decisions.append(decision)
                snapshots[setup.market] = snap
                rows.append(row)
            self.store.record_decisions(cycle_id, rows)
            pushes: list[Push] = []
            if blocked:
                notes.append("no push this cycle: an earlier signed batch may still land")
            else:
                pushes += self._push(cycle_id, "update", decisions, now)
                if any(p.status == "pending" for p in pushes):  # it holds the shared nonce
                    notes.append("proposals wait: an update batch may still land on their nonce")
                else:
                    pushes += self._push(cycle_id, "proposal", decisions, now)
            notes += self._sync_consumers(cycle_id, now)
            arrays_push, array_notes = self._publish_arrays(cycle_id, now)
            notes += array_notes
            status = "done"
        except OracleError as exc:
            self.store.finish_cycle(cycle_id, self.clock(), "failed", str(exc))
            raise
        finally:
            self._cycle_block = None
            self._views = {}
        self.store.finish_cycle(cycle_id, self.clock(), status, "; ".join(notes))
        return CycleReport(
            cycle_id, now, tuple(decisions), snapshots, tuple(pushes), tuple(notes), arrays_push
        )

    def _publish_arrays(self, cycle_id: int, now: int) -> tuple[ArraysPush | None, list[str]]:
        """The arrays from this cycle's own inputs (`oracle.keeper.arrays`). A failure there is
        noted, not raised: the parameters are already pushed and must not wait for the arrays."""
        if self.arrays is None:
            return None, []
        inputs = {
            m: ArrayInputs(ev.history, ev.snapshot, ev.inputs_hash)
            for m, ev in self._evaluations.items()
            if ev.history is not None and ev.inputs_hash
        }
        try:
            return self.arrays.publish(cycle_id, now, inputs, self._latest_block())
        except OracleError as exc:
            LOG.warning("arrays not published: %s", exc)
            return None, [f"arrays not published: {exc}"]

    def evaluate(
        self,
        setup: MarketSetup,
        now: int,
        remember: bool = True,
        results: Sequence[SourceResult] | None = None,
        ahead: Ahead | None = None,
        engine: Memo | None = None,
    ) -> Evaluation:
        """Feeds, snapshot, risk engine and policy for one market; no store write, no push.
        `remember=False` leaves the last evaluation (the jump check, the triggers) untouched;
        `results` are the market's feed reads and `ahead` its history when the cycle has made
        them already; `engine` the engine's answers other chains computed from the same read."""
        if results is None:
            results = collect(setup.sources, now, self.feeds_timeout)
        previous = self.last_snapshot(setup.market)
        snap = aggregate(setup.market, results, now, self.health, previous)
        recommendation, refusal, explanation, inputs_hash = None, None, None, ""
        history: PriceSeries | None = None
        memory: PriceSeries | None = None
        if snap.health != Health.FAILED:
            try:
                history = setup.history() if ahead is None else Ahead.value(ahead.history)
                read_memory = _memory_read(setup)
                if read_memory is not None:
                    daily = (
                        read_memory()
                        if ahead is None or ahead.memory is None
                        else Ahead.value(ahead.memory)
                    )
                    memory = daily.complete_days(now, setup.settings.memory_days)
                inp = MarketInput(
                    history, liquidity_of(snap), setup.size, setup.settings, memory=memory
                )
                if engine is None:
                    params = compute_market(inp)
                else:
                    params = engine.get(inp.inputs_hash(), partial(compute_market, inp))
                recommendation = params.params
                explanation = params.explanation.to_dict()
                inputs_hash = params.explanation.inputs_hash
            except (OracleError, FeedError) as exc:  # the engine or the history refused
                refusal = f"{type(exc).__name__}: {exc}"
        positions = None
        if setup.positions is not None and explanation is not None:
            # A cut's exposure is measured over the tail the threshold is sized for, as in the
            # backtest (`OpenPositions.induced`). Positions it cannot read hold this market's
            # threshold (a cut is never sized on positions the keeper could not see); the LTV
            # and every other market go on.
            tail = float(explanation["derived"]["threshold_tail"])
            try:
                positions = replace(setup.positions(), stress_move=tail)
            except ChainError as exc:
                LOG.warning("%s: positions unreadable, threshold held: %s", setup.market, exc)
                positions = OpenPositions.unreadable()
        chain_state = self._on_chain(setup.market)
        streak = self.store.loosen_streak(setup.market)
        decision = decide(
            setup.market,
            recommendation,
            refusal,
            snap.health,
            snap.reasons,
            chain_state,
            streak,
            now,
            self.policy,
            positions,
        )
        inputs = None
        if recommendation is not None and history is not None:
            inputs = MarketInputs(
                setup.market,
                snap,
                history,
                setup.size,
                setup.settings,
                chain_state,
                streak,
                memory,
                positions=positions,
            )
        ev = Evaluation(
            decision,
            snap,
            recommendation,
            explanation,
            inputs_hash,
            history,
            positions,
            inputs,
            chain_state,
        )
        if remember:
            self._evaluations[setup.market] = ev
        return ev

    def _market(
        self,
        setup: MarketSetup,
        now: int,
        results: Sequence[SourceResult] | None,
        ahead: Ahead | None,
        engine: Memo | None,
    ) -> tuple[Decision, MarketSnapshot, dict[str, Any]]:
        """One market's evaluation and the row the store keeps of it."""
        ev = self.evaluate(setup, now, results=results, ahead=ahead, engine=engine)
        decision, snap, recommendation, explanation = (
            ev.decision,
            ev.snapshot,
            ev.recommendation,
            ev.explanation,
        )
        return (
            decision,
            snap,
            {
                "market": setup.market,
                "health": snap.health.value,
                "snapshot_hash": "0x" + snap.hash().hex(),
                "snapshot": snap.canonical().decode(),
                "recommendation": None
                if recommendation is None
                else json.dumps(asdict(recommendation)),
                "explanation": None
                if explanation is None
                else json.dumps(explanation, default=str),
                "action": decision.action.value,
                "reason": decision.reason,
                "update_values": None
                if decision.update is None
                else json.dumps(asdict(decision.update)),
                "proposal_values": None
                if decision.proposal is None
                else json.dumps(asdict(decision.proposal)),
                "loosening_wanted": int(decision.loosening_wanted),
                "alert": int(decision.alert),
            },
        )

    def _read_views(self, notes: list[str]) -> dict[bytes, OnChain]:
        """Every market's registry state at the cycle's block through Multicall3, when the
        keeper has its address; on a failure the markets are read one by one (noted)."""
        if self.multicall is None or not self.markets or self._cycle_block is None:
            return {}
        number, timestamp = self._cycle_block
        ids = [market_id(s.market) for s in self.markets]
        try:
            return self.registry.policy_views(ids, number, timestamp, self.multicall)
        except ChainError as exc:
            LOG.warning("markets read one by one: %s", exc)
            notes.append(f"markets read one by one: {exc}")
            return {}

    def _on_chain(self, market: str) -> OnChain:
        """The market's state, profile and pending proposal, read from the registry at the cycle's
        block (the one a bundle names, so a verifier reads the same)."""
        view = self._views.get(market_id(market))
        if view is not None:
            return view
        number, timestamp = self._latest_block()
        return self.registry.policy_view(market_id(market), number, timestamp)

    def _latest_block(self) -> tuple[int, int]:
        """The cycle's block (number, timestamp), read once per cycle; outside a cycle, the
        latest."""
        if self._cycle_block is not None:
            return self._cycle_block
        try:
            block = self.registry.w3.eth.get_block("latest")
        except (Web3Exception, OSError) as exc:
            raise ChainError(f"cannot read the latest block: {exc}") from None
        return int(block["number"]), int(block["timestamp"])

    def _latest_block_time(self) -> int:
        return self._latest_block()[1]

    def _push(
        self,
        cycle_id: int,
        kind: str,
        decisions: Sequence[Decision],
        now: int,
    ) -> list[Push]:
        """Every batch of `kind` this cycle decided, in rounds (`_send_round`) until each is mined,
        reverted for good, or pending (then no later batch: its nonce may still be used)."""
        chosen: list[tuple[str, Params]] = []
        for d in decisions:
            values = d.update if kind == "update" else d.proposal
            if values is not None:
                chosen.append((d.market, values))
        if not chosen:
            return []
        chosen.sort(key=lambda c: market_id(c[0]))
        chunks = [
            chosen[a:b] for a, b in pairwise(batch_bounds(len(chosen), self._batch_limit(kind)))
        ]
        pushes: list[Push] = []
        while chunks:
            sent, chunks = self._send_round(cycle_id, kind, chunks, now)
            pushes += sent
            if any(p.status == "pending" for p in sent):
                break
        return pushes

    def _send_round(
        self,
        cycle_id: int,
        kind: str,
        chunks: list[list[tuple[str, Params]]],
        now: int,
    ) -> tuple[list[Push], list[list[tuple[str, Params]]]]:
        """Signs `chunks` for consecutive registry nonces and sends them back to back (one block
        can hold them all, where one batch per block took 16 blocks for 500 proposals); returns
        the pushes and what is left to send in another round.

        The first batch is estimated at the chain's state: a revert naming one market (a guardrail
        it broke, a profile it lost) drops that market before anything is sent, and the rest is
        signed again. A later batch is estimated at the chain's state with the registry's nonce
        overridden to its own (`relay_call(ahead=True)`): it declares its own cost, not the
        pessimistic `MARKET_GAS` (a node fills a block by the gas used so far plus the next
        transaction's declared limit: a 30M block takes 12 batches of 32 proposals, not 11), raised
        to its predecessor's where lower (`batch_bounds`: it must not fit where that one did not). A
        later batch whose estimate reverts is not sent, nor any behind it: they are
        left for the next round, less a market its revert names. Where the node refuses state
        overrides (or ignores them), or an estimate ahead fails for want of an answer (a timeout
        that outlasted the retries: the node is struggling, and another estimate would only
        delay the round), this round's later batches go with the larger of the
        pessimistic gas and the first batch's estimate per market (which, on a rollup, carries the
        data fee). A later batch that reverts on chain, and every one behind it (reverted on its
        nonce), is left for the next round, less a market its revert names: there it is estimated
        first, which names the market a revert in a shared block could not (replayed on the block
        before, it sees only the nonce). Each round settles its first batch (mined, or a market or
        the batch dropped), so the rounds end."""
        pushes: list[Push] = []
        chunk = chunks[0]
        nonce = self.registry.nonce()
        deadline = self._deadline(now)
        signed: list[_Signed] = []
        calls: list[RawCall] = []  # each signed batch's relay call
        proposal = kind == "proposal"
        while True:
            first = self._sign(cycle_id, kind, chunk, nonce, deadline, now)
            try:
                call = self.registry.relay_call(
                    first.batch, first.signatures, self.sender, proposal=proposal
                )
                signed.append(first)
                calls.append(call)
                break
            except ContractRevert as exc:
                push = self._reverted(first, exc)
                pushes.append(push)
                rest = [c for c in chunk if c[0] != push.blamed]
                if not rest or len(rest) == len(chunk):
                    return pushes, chunks[1:]
                chunk = rest
            except ChainError as exc:  # not sent: the row stays signed until its deadline
                return [*pushes, first.push("pending", error=str(exc))], []
        per_market = call.gas / len(chunk)
        unsent: list[list[tuple[str, Params]]] = []  # left before sending: a revert foreseen
        foreseen: Push | None = None
        estimates = True  # until a node refuses an estimate ahead: then not asked again this round
        for k, later in enumerate(chunks[1:], start=1):
            s = self._sign(cycle_id, kind, later, nonce + len(signed), deadline, now)
            estimated: RawCall | None = None
            if estimates:
                try:
                    estimated = self.registry.relay_call(
                        s.batch, s.signatures, self.sender, proposal=proposal, ahead=True
                    )
                except ContractRevert as exc:  # this batch, and so every one behind it, waits
                    foreseen = self._reverted(s, exc)
                    rest = [c for c in later if c[0] != foreseen.blamed]
                    unsent = ([rest] if rest else []) + chunks[k + 1 :]
                    break
                except ChainError:  # no state override here, or no answer: pessimistic gas
                    estimates = False
            if estimated is not None:
                call = estimated
            else:  # the pessimistic limit
                gas = max(self._batch_gas(kind, len(later)), math.ceil(per_market * len(later)))
                call = self.registry.relay_call(
                    s.batch, s.signatures, self.sender, proposal=proposal, gas=gas
                )
            if call.gas < calls[-1].gas:  # never fits a gap its predecessor did not
                call = replace(call, gas=calls[-1].gas)
            signed.append(s)
            calls.append(call)

        def record(i: int, outcome: Outcome) -> None:
            """Each outcome in the store as soon as it is known (a crash loses none of them)."""
            s = signed[i]
            if isinstance(outcome, ContractRevert):
                self._reverted(s, outcome)
            elif isinstance(outcome, NotSent):
                self.store.mark(s.push_id, "unsent", self.clock(), error=str(outcome))
            elif isinstance(outcome, TxResult):
                self.store.mark(
                    s.push_id,
                    "mined",
                    self.clock(),
                    tx_hash=outcome.tx_hash,
                    block=outcome.block_number,
                    gas_used=outcome.gas_used,
                )
            # any other ChainError: broadcast, not confirmed; settled by nonce next cycle

        outcomes = Transactor(self.registry.w3, self.sender).send_all(
            calls, [self._on_sent(s.push_id) for s in signed], record
        )
        left: list[list[tuple[str, Params]]] = []
        for i, (s, outcome) in enumerate(zip(signed, outcomes, strict=True)):
            if isinstance(outcome, ContractRevert):
                push = self._blame(s, outcome)
                pushes.append(push)
                rest = [c for c in s.chunk if c[0] != push.blamed]
                if rest and (i > 0 or push.blamed is not None):
                    left.append(rest)
            elif isinstance(outcome, NotSent):
                pushes.append(s.push("unsent", error=str(outcome)))
            elif isinstance(outcome, TxResult):
                if proposal:
                    self._announce(self.registry.queued_ids(outcome), s.chunk)
                pushes.append(s.push("mined", outcome.tx_hash, outcome.gas_used))
            else:  # not confirmed: it, and all behind it, may land
                pushes.append(s.push("pending", error=str(outcome)))
        if foreseen is not None:
            pushes.append(foreseen)  # in nonce order, after the batches sent before it
        if any(p.status in ("pending", "unsent") for p in pushes):
            return pushes, []  # the next cycle settles the nonces and decides again
        return pushes, left + unsent

    def _deadline(self, now: int) -> int:
        """`batch_ttl` after `now`, but never more than the registry's `maxBatchLifetime` after the
        block that will include it (`DeadlineTooFar`), which is at or after both the latest block
        and, on a chain keeping time, about `now`."""
        latest = self._latest_block_time()
        return min(now + self.batch_ttl, max(now, latest) + self.registry.max_batch_lifetime())

    def _batch_limit(self, kind: str = "update") -> int:
        """Markets per batch so that one batch stays under half the block gas limit at the
        pessimistic `MARKET_GAS`, and a proposal batch within the registry's own limit."""
        if self.max_batch is not None:
            size = self.max_batch
        else:
            try:
                gas_limit = int(self.registry.w3.eth.get_block("latest")["gasLimit"])
            except (Web3Exception, OSError) as exc:
                raise ChainError(f"cannot read the block gas limit: {exc}") from None
            size = max(1, (gas_limit // 2 - self._batch_gas(kind, 0)) // MARKET_GAS[kind])
        if kind == "proposal":  # the registry refuses longer proposal batches
            size = min(size, MAX_PROPOSALS_PER_BATCH)
        return size

    def _batch_gas(self, kind: str, markets: int) -> int:
        """The pessimistic gas of a batch of `markets` markets of `kind`."""
        return BATCH_GAS + SIGNATURE_GAS * len(self.signers) + MARKET_GAS[kind] * markets

    def _sign(
        self,
        cycle_id: int,
        kind: str,
        chunk: Sequence[tuple[str, Params]],
        nonce: int,
        deadline: int,
        now: int,
    ) -> _Signed:
        """Signs `chunk` for `nonce` and stores the signed payload (before anything is sent)."""
        updates = sorted(MarketUpdate.of(market_id(m), v) for m, v in chunk)
        batch = Batch(
            chain_id=self.registry.chain_id(),
            nonce=nonce,
            deadline=deadline,
            inputs_hash=self._bundle(chunk, now),
            model_version=model_version_bytes(self.model_version),
            updates=tuple(updates),
        )
        path = FAST_PATH if kind == "update" else PROPOSAL_PATH
        signed_digest = batch.digest(self.registry.address, path)
        signatures = sign_sorted(signed_digest, self.signers)
        inputs_hex = "0x" + batch.inputs_hash.hex()
        payload: dict[str, Any] = {
            "chain_id": batch.chain_id,
            "nonce": nonce,
            "deadline": batch.deadline,
            "inputs_hash": inputs_hex,
            "model_version": self.model_version,
            "updates": [
                [
                    ("0x" + u.market.hex()),
                    u.ltv_bps,
                    u.liquidation_threshold_bps,
                    u.liquidation_bonus_bps,
                ]
                for u in updates
            ],
            "signatures": ["0x" + s.hex() for s in signatures],
        }
        digest = "0x" + signed_digest.hex()
        push_id = self.store.record_signed(cycle_id, kind, nonce, digest, inputs_hex, payload, now)
        return _Signed(kind, tuple(chunk), batch, signatures, push_id)

    def _on_sent(self, push_id: int) -> Callable[[str], None]:
        def sent(tx_hash: str) -> None:
            self.store.mark(push_id, "sent", self.clock(), tx_hash=tx_hash)

        return sent

    def _reverted(self, s: _Signed, exc: ContractRevert) -> Push:
        """Stores `s` as reverted; its push, with the market the revert names."""
        self.store.mark(s.push_id, "reverted", self.clock(), error=str(exc), tx_hash=exc.tx_hash)
        return self._blame(s, exc)

    @staticmethod
    def _blame(s: _Signed, exc: ContractRevert) -> Push:
        named = exc.args_by_name.get("market")
        blamed = next((m for m, _ in s.chunk if market_id(m) == named), None)
        return s.push("reverted", exc.tx_hash, error=str(exc), blamed=blamed)

    def _bundle(self, chosen: Sequence[tuple[str, Params]], now: int) -> bytes:
        """The batch's inputsHash, from its inputs bundle, written (when the keeper keeps bundles)
        before anything is signed: a batch whose inputs cannot be kept is not pushed."""
        markets = []
        for m, _ in chosen:
            inputs = self._evaluations[m].inputs
            if inputs is None:  # a decision to push comes only from a recommendation
                raise OracleError(f"{m}: no engine inputs to commit to; nothing pushed")
            markets.append(inputs)
        bundle = InputsBundle(
            Context(
                now,
                self._latest_block()[0],
                self.health,
                self.policy,
                self.model_version,
                self.settings_file,
            ),
            tuple(markets),
        )
        if self.bundles is None:
            try:
                return bundle.inputs_hash()
            except (ValueError, TypeError) as exc:
                raise OracleError(f"cannot hash the batch's inputs: {exc}") from None
        inputs_hash, _ = self.bundles.write(bundle)
        return inputs_hash

    def _announce(self, ids: dict[bytes, int], chosen: Sequence[tuple[str, Params]]) -> None:
        """Hands each queued proposal (`ids`: by market id, from the batch's events) to
        `on_proposal`."""
        if self.on_proposal is None:
            return
        for market, proposed in chosen:
            ev = self._evaluations.get(market)
            proposal_id = ids.get(market_id(market))
            if ev is None or proposal_id is None:
                continue
            reason = (
                "The keeper proposes parameters the guardrails do not allow on the fast path "
                f"({ev.decision.reason})"
            )
            queued = self.proposal_review(ev, proposal_id, proposed, reason)
            if queued is not None:
                self.on_proposal(queued)

    def proposal_review(
        self, ev: Evaluation, proposal_id: int, proposed: Params, reason: str
    ) -> QueuedProposal | None:
        """What a review report of a proposal for `ev`'s market is written from (None when the
        engine had no inputs). `current` is what the market holds now, after this cycle's own
        update batch (if any): a council compares the proposal with the values in force, not with
        those read before the push."""
        if ev.history is None:
            return None
        market, snap = ev.decision.market, ev.snapshot
        state = self.registry.market_state(market_id(market))
        return QueuedProposal(
            proposal_id=proposal_id,
            market=market,
            current=state.params if state.is_set else None,
            proposed=proposed,
            reason=reason,
            explanation=ev.explanation,
            snapshot={
                "price": snap.price,
                "health": snap.health.value,
                "accepted": list(snap.accepted),
                "hash": "0x" + snap.hash().hex(),
            },
            history=ev.history,
            positions=ev.positions,
        )

    # Consumers ----------------------------------------------------------------------------------

    def _sync_consumers(self, cycle_id: int, now: int) -> list[str]:
        """Carries the registry's values to each adapter's protocol. A failure is noted and
        recorded, never raised: the registry's push has landed, and the next cycle's preview
        still shows the change, so it is retried."""
        notes: list[str] = []
        for link in self.adapters:
            try:
                if link.client.detached():
                    notes.append(f"{link.name} is detached: nothing synced")
                    continue
                wanted = [m for m in link.markets if link.client.preview(m).changes]
                if not wanted:
                    continue
                report = link.client.sync(wanted, self.sender)
            except (ChainError, Web3Exception, OSError) as exc:
                notes.append(f"{link.name} sync failed: {exc}")
                for m in link.markets:
                    self.store.record_sync(
                        cycle_id, link.name, m, now, status="failed", detail=str(exc)
                    )
                continue
            names: dict[bytes, str] = {market_id(m): m for m in wanted}
            for synced in report.synced:
                market = names[synced.market]
                self.store.record_sync(
                    cycle_id,
                    link.name,
                    market,
                    now,
                    status="synced",
                    consumer_values=synced.values,
                    previous_values=synced.previous,
                    registry_threshold=synced.registry_threshold,
                    tx_hash=report.tx.tx_hash,
                    gas_used=report.tx.gas_used,
                )
                held = " (held to the ramp)" if synced.held_back else ""
                notes.append(f"{link.name}: {market} {synced.previous} -> {synced.values}{held}")
            for skipped in report.skipped:
                market = names[skipped.market]
                self.store.record_sync(
                    cycle_id,
                    link.name,
                    market,
                    now,
                    status="skipped",
                    detail=f"{skipped.reason.name}: {skipped.detail}",
                    tx_hash=report.tx.tx_hash,
                )
                notes.append(
                    f"{link.name}: {market} skipped ({skipped.reason.name} {skipped.detail})"
                )
        return notes
