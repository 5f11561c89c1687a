"""`oracle verify`: recompute a signed batch from its inputs bundle and check it against the chain.

For a batch read back from the registry (`RegistryClient.batches`), in this order, stopping at the
first field that differs and naming it:

1. the bundle `<inputsHash>.json.gz` exists and parses;
2. every field's digest recorded at signing equals its content's (an edited bundle: the field
   that was edited), then every market's three hashes, then the `inputsHash` they combine to
   equals the one the batch committed to on-chain: the bundle holds what the keeper signed from;
3. the bundle's markets are the batch's markets, and its model version is the batch's
   `modelVersion`, run by this engine's version; with calibrated settings, the settings file in
   the bundle hashes to the version's suffix and its latest fold is the settings that ran;
4. the registry's state at the bundle's block is the one the bundle says the policy read;
5. the snapshot aggregates again from its sources' readings to itself (price, health, reasons);
6. the engine, rerun on the bundle's inputs, and the policy, rerun on the engine's
   recommendation, give each value the batch carries (`update` for the fast path, `proposal` for
   governance's).

What is not re-read: the consumer's open positions (committed in the decision inputs hash, not
re-scanned) and the sources' own responses (the snapshot keeps what they answered).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, fields
from typing import Any

from oracle.audit.bundle import BundleError, BundleStore, InputsBundle, LoadedBundle
from oracle.chain import RegistryClient, SignedBatch, UnreadableBatch
from oracle.errors import ChainError, OracleError
from oracle.evaluation import settings as settings_file
from oracle.evaluation.settings import from_json
from oracle.markets import market_id
from oracle.policy import OnChain, PolicySettings, decide
from oracle.risk import MODEL_VERSION, ModelSettings, compute_market
from oracle.snapshot import aggregate

VALUE_FIELDS = ("ltv_bps", "liquidation_threshold_bps", "liquidation_bonus_bps")


@dataclass(frozen=True)
class Verdict:
    """One batch checked: `ok`, or the first `field` that differs and how (`detail`)."""

    nonce: int
    kind: str
    tx_hash: str
    block: int
    inputs_hash: str
    markets: tuple[str, ...]
    ok: bool
    field: str | None
    detail: str

    def line(self) -> str:
        head = f"batch {self.nonce} ({self.kind}, block {self.block}, "
        head += f"{len(self.markets)} market(s))"
        if self.ok:
            return f"{head}: verified: {self.detail}"
        return f"{head}: MISMATCH in {self.field}: {self.detail}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Mismatch(Exception):
    """The first field that differs (internal: becomes a failed Verdict)."""

    def __init__(self, field: str, detail: str) -> None:
        self.field, self.detail = field, detail
        super().__init__(f"{field}: {detail}")


def verify_batch(signed: SignedBatch, bundles: BundleStore, registry: RegistryClient) -> Verdict:
    """Checks one batch (markets are named by symbol once the bundle is read, by id before)."""
    inputs_hex = "0x" + signed.batch.inputs_hash.hex()
    markets = tuple("0x" + u.market.hex() for u in signed.batch.updates)

    def verdict(ok: bool, field: str | None, detail: str, shown: tuple[str, ...]) -> Verdict:
        return Verdict(
            signed.nonce,
            signed.kind,
            signed.tx_hash,
            signed.block,
            inputs_hex,
            shown,
            ok,
            field,
            detail,
        )

    try:
        loaded = bundles.read(signed.batch.inputs_hash)
    except BundleError as exc:
        return verdict(False, "bundle", str(exc), markets)
    shown = tuple(m.market for m in loaded.bundle.markets)
    try:
        _check_integrity(loaded, signed)
        _check_model(loaded.bundle, signed)
        read_at = _check_time(loaded.bundle, signed, registry)
        _check_chain(loaded.bundle, registry, read_at)
        recomputed = _rerun(loaded.bundle, signed)
    except Mismatch as exc:
        return verdict(False, exc.field, exc.detail, shown)
    except ChainError as exc:
        return verdict(False, "chain", str(exc), shown)
    except OracleError as exc:  # a bundle whose values the engine or the settings refuse
        return verdict(False, "bundle", f"{type(exc).__name__}: {exc}", shown)
    return verdict(True, None, recomputed, shown)


def unreadable(batch: UnreadableBatch) -> Verdict:
    """A batch whose values could not be read back from the chain: reported, never verified."""
    return Verdict(
        batch.nonce,
        "unknown",
        batch.tx_hash,
        batch.block,
        "0x" + batch.inputs_hash.hex(),
        (),
        False,
        "calldata",
        batch.reason,
    )


def _check_integrity(loaded: LoadedBundle, signed: SignedBatch) -> None:
    bundle = loaded.bundle
    for name, digest in bundle.field_digests().items():
        recorded = loaded.claimed_fields.get(name)
        if recorded != digest:
            raise Mismatch(
                name, f"its content hashes to {digest[:18]}…, the keeper recorded {recorded}"
            )
    parts = {}
    for m in bundle.markets:
        p = bundle.parts(m)
        for name, value in p.named().items():
            claimed = loaded.claimed_parts.get(m.market, {}).get(name)
            if claimed != value:
                raise Mismatch(
                    f"markets[{m.market}].{name}",
                    f"recomputed {value[:18]}…, the bundle records {claimed}",
                )
        parts[m.market] = p
    recomputed = "0x" + bundle.inputs_hash(parts).hex()
    committed = "0x" + signed.batch.inputs_hash.hex()
    if recomputed != committed:
        raise Mismatch(
            "inputsHash", f"the bundle hashes to {recomputed}, the batch committed {committed}"
        )
    ids = sorted(market_id(m.market) for m in bundle.markets)
    if ids != [u.market for u in signed.batch.updates]:
        raise Mismatch("markets", "the bundle's markets are not the batch's")


def _check_model(bundle: InputsBundle, signed: SignedBatch) -> None:
    ctx = bundle.context
    if ctx.model_version != signed.model_version:
        raise Mismatch(
            "modelVersion",
            f"the bundle says {ctx.model_version!r}, the batch committed {signed.model_version!r}",
        )
    engine, _, digest = ctx.model_version.partition("+")
    if engine != MODEL_VERSION:
        raise Mismatch(
            "modelVersion",
            f"the batch ran engine {engine}; this verifier runs {MODEL_VERSION}: verify it with "
            "that release",
        )
    if not digest:
        if ctx.settings_file is not None:
            raise Mismatch("settings_file", "a settings file, but the model version names none")
        return
    if ctx.settings_file is None:
        raise Mismatch("settings_file", f"the model version names settings {digest}; none held")
    raw = ctx.settings_file.encode()
    if hashlib.sha256(raw).hexdigest()[:16] != digest:
        raise Mismatch("settings_file", f"its SHA-256 does not begin with {digest}")
    try:
        fold = settings_file.parse(raw, "the bundle's settings file").latest
    except OracleError as exc:
        raise Mismatch("settings_file", str(exc)) from None
    if PolicySettings(**from_json(fold.policy)) != ctx.policy:  # as the keeper builds it
        raise Mismatch("policy", "not the settings file's latest fold")
    model = ModelSettings(**from_json(fold.model))
    for m in bundle.markets:
        if m.settings != model:
            raise Mismatch(f"markets[{m.market}].settings", "not the settings file's latest fold")


#: Seconds a keeper's clock may run behind a block's timestamp (validators' clocks differ).
CLOCK_SKEW = 60
#: How much older than the cycle's time its block may be: the keeper reads the latest block when a
#: cycle starts, and a chain that makes blocks has one within seconds (minutes at worst).
MAX_BLOCK_LAG = 300


def _check_time(bundle: InputsBundle, signed: SignedBatch, registry: RegistryClient) -> int:
    """The cycle's block and time are the keeper's own claims: they must be the ones the batch
    could have been computed at. The block is before the batch's and at most `MAX_BLOCK_LAG`
    older than the cycle's time; the cycle's time is the snapshots' time, not before the block's
    (less the skew) and not after the batch was mined (plus the skew), nor after the batch's
    deadline; so a keeper can neither decide on an older registry state than the latest nor move
    its clock to reach a heartbeat or an interval. Returns the cycle's block time."""
    ctx = bundle.context
    if ctx.block >= signed.block:
        raise Mismatch("block", f"{ctx.block} is not before the batch's block {signed.block}")
    for m in bundle.markets:
        if m.snapshot.taken_at != ctx.now:
            raise Mismatch(
                f"markets[{m.market}].snapshot.taken_at",
                f"{m.snapshot.taken_at}, the cycle's time is {ctx.now}",
            )
    read_at, mined_at = _block_time(registry, ctx.block), _block_time(registry, signed.block)
    if ctx.now - read_at > MAX_BLOCK_LAG:
        raise Mismatch(
            "block",
            f"block {ctx.block} is {ctx.now - read_at} s older than the cycle's time (at most "
            f"{MAX_BLOCK_LAG} s): the registry state a cycle reads is the latest",
        )
    deadline = signed.batch.deadline if signed.deadline_known else mined_at + CLOCK_SKEW
    if not read_at - CLOCK_SKEW <= ctx.now <= min(mined_at + CLOCK_SKEW, deadline):
        raise Mismatch(
            "now",
            f"{ctx.now} is outside [{read_at} − {CLOCK_SKEW} s, min(mined at {mined_at} + "
            f"{CLOCK_SKEW} s, deadline {signed.batch.deadline})]",
        )
    return read_at


def _block_time(registry: RegistryClient, block: int) -> int:
    try:
        return int(registry.w3.eth.get_block(block)["timestamp"])
    except Exception as exc:  # web3 raises several unrelated types for a missing block
        raise ChainError(f"cannot read block {block}: {exc}") from None


def _check_chain(bundle: InputsBundle, registry: RegistryClient, block_time: int) -> None:
    ctx = bundle.context
    for m in bundle.markets:
        read = registry.policy_view(market_id(m.market), ctx.block, block_time)
        if read != m.on_chain:
            name = next(
                f.name
                for f in fields(OnChain)
                if getattr(read, f.name) != getattr(m.on_chain, f.name)
            )
            raise Mismatch(
                f"markets[{m.market}].on_chain.{name}",
                f"the bundle has {getattr(m.on_chain, name)}, the registry held "
                f"{getattr(read, name)} at block {ctx.block}",
            )


def _rerun(bundle: InputsBundle, signed: SignedBatch) -> str:
    ctx = bundle.context
    signed_values = {u.market: u.params for u in signed.batch.updates}
    for m in bundle.markets:
        where = f"markets[{m.market}]"
        snap = aggregate(m.market, m.snapshot.results, m.snapshot.taken_at, ctx.health)
        if snap != m.snapshot:
            name = next(
                f.name for f in fields(snap) if getattr(snap, f.name) != getattr(m.snapshot, f.name)
            )
            raise Mismatch(
                f"{where}.snapshot.{name}",
                f"the bundle has {getattr(m.snapshot, name)!r}, its readings aggregate to "
                f"{getattr(snap, name)!r}",
            )
        recommendation, refusal, tail = None, None, None
        try:
            result = compute_market(m.risk_input())
            recommendation = result.params
            tail = float(result.explanation.to_dict()["derived"]["threshold_tail"])
        except OracleError as exc:
            refusal = f"{type(exc).__name__}: {exc}"
        positions = m.positions
        if positions is not None and not positions.unknown and positions.stress_move != tail:
            raise Mismatch(
                f"{where}.positions.stress_move",
                f"{positions.stress_move} in the bundle, the engine's threshold tail is {tail}",
            )
        decision = decide(
            m.market,
            recommendation,
            refusal,
            snap.health,
            snap.reasons,
            m.on_chain,
            m.loosen_streak,
            ctx.now,
            ctx.policy,
            positions,
        )
        values = decision.update if signed.kind == "update" else decision.proposal
        carried = signed_values[market_id(m.market)]
        if values is None:
            raise Mismatch(
                where,
                f"the policy gives no {signed.kind} ({decision.action.value}: {decision.reason}); "
                f"the batch carries {carried}",
            )
        for name in VALUE_FIELDS:
            if getattr(values, name) != getattr(carried, name):
                raise Mismatch(
                    f"{where}.{name}",
                    f"the batch carries {getattr(carried, name)}, recomputed "
                    f"{getattr(values, name)}",
                )
    return f"inputsHash and {len(bundle.markets) * len(VALUE_FIELDS)} value(s) recomputed"


def verify(
    registry: RegistryClient,
    bundles: BundleStore,
    *,
    nonce: int | None = None,
    tx_hash: str | None = None,
    from_block: int = 0,
) -> list[Verdict]:
    """Reads the chosen batches (all of them when neither `nonce` nor `tx_hash` is given) and
    checks each."""
    found = registry.batches(nonce=nonce, tx_hash=tx_hash, from_block=from_block)
    if not found:
        what = (
            f"nonce {nonce}" if nonce is not None else f"tx {tx_hash}" if tx_hash else "any nonce"
        )
        raise ChainError(f"the registry at {registry.address} accepted no batch for {what}")
    return [
        unreadable(b) if isinstance(b, UnreadableBatch) else verify_batch(b, bundles, registry)
        for b in found
    ]
