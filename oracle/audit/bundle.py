"""Inputs bundles: everything one signed batch was computed from, so that anyone can rerun the
engine and the policy and check every value the batch carries (`oracle verify`).

A bundle is addressed by the batch's `inputsHash` (`<inputsHash>.json.gz`), and the hash is a
function of the bundle's content: per market, `signing.batch_inputs_hash` combines

- the snapshot hash (BLAKE3 of the canonical snapshot: every source's reading or failure, the
  accepted sources, the median, the health verdict);
- the risk inputs hash (`MarketInput.inputs_hash`: the price history, the tail memory's daily
  closes, the liquidity, the size, the model settings);
- the decision inputs hash (`decision_inputs_hash`: what the policy read besides the engine's
  recommendation: the registry's state at the cycle's block, the consumer's open positions, the
  cycle's time, the loosening streak, the policy and feed-health settings).

So a bundle that hashes to the committed `inputsHash` is the one the keeper signed from. The
`digests` section adds each field's own BLAKE3, recorded at signing: it commits to nothing (the
chain holds only `inputsHash`), but when a bundle was edited it names the field that was.

The document is JSON (sorted keys, floats as Python writes them, which read back to the same
float), gzip-compressed with a zero timestamp: the same bundle gives the same bytes everywhere.
"""

from __future__ import annotations

import gzip
import json
import os
import tempfile
from dataclasses import asdict, dataclass, fields
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from blake3 import blake3

from oracle.errors import OracleError
from oracle.evaluation.settings import from_json
from oracle.markets import market_id
from oracle.policy import OnChain, PolicySettings
from oracle.policy.impact import OpenPositions
from oracle.risk import MarketInput, ModelSettings, liquidity_of
from oracle.series import PriceSeries
from oracle.signing import batch_inputs_hash
from oracle.snapshot import HealthPolicy, MarketSnapshot
from oracle.types import Guardrails, Params

FORMAT = "margin-oracle/inputs-bundle/1"
_DECISION_DOMAIN = b"margin-oracle/decision-inputs/1\n"


class BundleError(OracleError):
    """An inputs bundle is missing, unreadable or not a bundle."""


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no spaces: the bytes every hash here is taken over."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def _digest(value: Any) -> str:
    return "0x" + blake3(canonical_json(value)).hexdigest()


def _object(texts: dict[str, bytes]) -> bytes:
    """`canonical_json` of a mapping whose values are already canonical JSON: the same bytes,
    without encoding each value a second time (the price arrays dominate a bundle's cost)."""
    return b"{" + b",".join(json.dumps(k).encode() + b":" + texts[k] for k in sorted(texts)) + b"}"


def _series(s: PriceSeries | None) -> dict[str, Any] | None:
    if s is None:
        return None
    return {
        "market": s.market,
        "timestamps": [int(t) for t in s.timestamps],
        "close": [float(c) for c in s.close],
        "volume": None if s.volume is None else [float(v) for v in s.volume],
    }


def _series_from(d: dict[str, Any] | None) -> PriceSeries | None:
    if d is None:
        return None
    volume = d["volume"]
    return PriceSeries(
        d["market"],
        np.asarray(d["timestamps"], dtype=np.int64),
        np.asarray(d["close"], dtype=np.float64),
        None if volume is None else np.asarray(volume, dtype=np.float64),
    )


def _number(x: float) -> float | str:
    """A float JSON can hold; infinity (a position with debt and no collateral has an infinite
    loan ratio) as its repr string, as the canonical snapshot writes floats."""
    x = float(x)
    return x if np.isfinite(x) else repr(x)


def _positions(p: OpenPositions | None) -> dict[str, Any] | None:
    if p is None:
        return None
    return {
        "loan_ratio_bps": [_number(r) for r in p.loan_ratio_bps],
        "debt": [float(d) for d in p.debt],
        "stress_move": float(p.stress_move),
        "consumer_threshold_bps": p.consumer_threshold_bps,
        "unknown": p.unknown,
    }


def _positions_from(d: dict[str, Any] | None) -> OpenPositions | None:
    if d is None:
        return None
    return OpenPositions(
        np.asarray([float(r) for r in d["loan_ratio_bps"]], dtype=np.float64),
        np.asarray(d["debt"], dtype=np.float64),
        float(d["stress_move"]),
        d["consumer_threshold_bps"],
        bool(d["unknown"]),
    )


def _on_chain_from(d: dict[str, Any]) -> OnChain:
    def params(v: dict[str, int] | None) -> Params | None:
        return None if v is None else Params(**v)

    return OnChain(
        **{
            **d,
            "values": params(d["values"]),
            "queued": params(d["queued"]),
            "guardrails": None if d["guardrails"] is None else Guardrails(**d["guardrails"]),
        }
    )


@dataclass(frozen=True)
class Context:
    """What every market of a batch shares: the cycle's time and block, the settings, the model
    version committed on-chain and, when the keeper ran calibrated settings, that file's text (its
    SHA-256 is in the model version)."""

    now: int
    block: int
    health: HealthPolicy
    policy: PolicySettings
    model_version: str
    settings_file: str | None = None


@dataclass(frozen=True)
class MarketInputs:
    """One market's inputs, as the keeper's cycle read them."""

    market: str
    snapshot: MarketSnapshot
    history: PriceSeries
    size: float
    settings: ModelSettings
    on_chain: OnChain
    loosen_streak: int
    memory: PriceSeries | None = None
    implied_vol: float | None = None
    positions: OpenPositions | None = None

    def risk_input(self) -> MarketInput:
        """The engine's input, as the keeper built it (liquidity from the snapshot)."""
        return MarketInput(
            self.history,
            liquidity_of(self.snapshot),
            self.size,
            self.settings,
            self.implied_vol,
            self.memory,
        )

    def encoded(self) -> dict[str, Any]:
        """Each field as JSON (the bundle's `markets[]` entry)."""
        return {
            "market": self.market,
            "snapshot": json.loads(self.snapshot.canonical()),
            "history": _series(self.history),
            "memory": _series(self.memory),
            "size": float(self.size),
            "implied_vol": None if self.implied_vol is None else float(self.implied_vol),
            "settings": asdict(self.settings),
            "on_chain": asdict(self.on_chain),
            "loosen_streak": int(self.loosen_streak),
            "positions": _positions(self.positions),
        }

    @classmethod
    def decoded(cls, d: dict[str, Any]) -> MarketInputs:
        history = _series_from(d["history"])
        if history is None:
            raise ValueError("history is missing")
        return cls(
            market=d["market"],
            snapshot=MarketSnapshot.from_canonical(canonical_json(d["snapshot"])),
            history=history,
            size=float(d["size"]),
            settings=ModelSettings(**from_json(d["settings"])),
            on_chain=_on_chain_from(d["on_chain"]),
            loosen_streak=int(d["loosen_streak"]),
            memory=_series_from(d["memory"]),
            implied_vol=None if d["implied_vol"] is None else float(d["implied_vol"]),
            positions=_positions_from(d["positions"]),
        )


@lru_cache(maxsize=16)
def _settings_fields(settings: HealthPolicy | PolicySettings) -> dict[str, Any]:
    """`asdict` of a batch's shared settings, once per settings object rather than once for each
    of its markets (it deep-copies every field: hundreds of markets a batch made it count). The
    result is shared: read it, never change it."""
    return asdict(settings)


def decision_inputs_hash(context: Context, market: MarketInputs) -> bytes:
    """BLAKE3 of what the policy read for `market` besides the recommendation, canonically
    encoded; the fourth part of each `batch_inputs_hash` entry."""
    body = {
        "block": context.block,
        "now": context.now,
        "health": _settings_fields(context.health),
        "policy": _settings_fields(context.policy),
        "on_chain": asdict(market.on_chain),
        "loosen_streak": market.loosen_streak,
        "positions": _positions(market.positions),
    }
    return blake3(_DECISION_DOMAIN + canonical_json(body)).digest()


@dataclass(frozen=True)
class Parts:
    """One market's entry of the batch's `inputsHash`."""

    snapshot: bytes
    risk_inputs: bytes
    decision_inputs: bytes

    def named(self) -> dict[str, str]:
        return {f.name: "0x" + getattr(self, f.name).hex() for f in fields(self)}


@dataclass(frozen=True)
class InputsBundle:
    context: Context
    markets: tuple[MarketInputs, ...]

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.markets, key=lambda m: market_id(m.market)))
        object.__setattr__(self, "markets", ordered)
        if len({m.market for m in ordered}) != len(ordered):
            raise BundleError("a bundle holds each market once")

    def parts(self, m: MarketInputs) -> Parts:
        return Parts(
            m.snapshot.hash(), m.risk_input().inputs_hash(), decision_inputs_hash(self.context, m)
        )

    def inputs_hash(self, parts: dict[str, Parts] | None = None) -> bytes:
        """The `inputsHash` the batch commits to (`parts`: precomputed, by market)."""
        parts = parts or {m.market: self.parts(m) for m in self.markets}
        return batch_inputs_hash(
            (
                market_id(m.market),
                parts[m.market].snapshot,
                parts[m.market].risk_inputs,
                parts[m.market].decision_inputs,
            )
            for m in self.markets
        )

    def field_digests(self, texts: dict[str, dict[str, bytes]] | None = None) -> dict[str, str]:
        """BLAKE3 of each field's canonical JSON, named as `verify` names a field that differs
        (`texts`: each market's fields already encoded)."""
        texts = texts or {m.market: self._texts(m) for m in self.markets}
        ctx = self.context
        out = {
            "now": _digest(ctx.now),
            "block": _digest(ctx.block),
            "health": _digest(asdict(ctx.health)),
            "policy": _digest(asdict(ctx.policy)),
            "model_version": _digest(ctx.model_version),
            "settings_file": _digest(ctx.settings_file),
        }
        for m in self.markets:
            for name, text in texts[m.market].items():
                if name != "market":
                    out[f"markets[{m.market}].{name}"] = "0x" + blake3(text).hexdigest()
        return out

    @staticmethod
    def _texts(m: MarketInputs) -> dict[str, bytes]:
        return {name: canonical_json(value) for name, value in m.encoded().items()}

    def to_json(self) -> bytes:
        """The bundle's canonical JSON (what `BundleStore.write` compresses)."""
        return self.encode()[0]

    def encode(self) -> tuple[bytes, bytes]:
        """The canonical JSON and the inputs hash it holds, computed once."""
        parts = {m.market: self.parts(m) for m in self.markets}
        texts = {m.market: self._texts(m) for m in self.markets}
        inputs_hash = self.inputs_hash(parts)
        ctx = self.context
        head = {
            "format": FORMAT,
            "inputs_hash": "0x" + inputs_hash.hex(),
            "now": ctx.now,
            "block": ctx.block,
            "health": asdict(ctx.health),
            "policy": asdict(ctx.policy),
            "model_version": ctx.model_version,
            "settings_file": ctx.settings_file,
            "digests": {
                "parts": {name: p.named() for name, p in parts.items()},
                "fields": self.field_digests(texts),
            },
        }
        encoded = {k: canonical_json(v) for k, v in head.items()}
        encoded["markets"] = b"[" + b",".join(_object(texts[m.market]) for m in self.markets) + b"]"
        return _object(encoded), inputs_hash


@dataclass(frozen=True)
class LoadedBundle:
    """A bundle read back, with what it claims (its `inputs_hash` and the digests recorded at
    signing) kept apart from what its content hashes to."""

    bundle: InputsBundle
    claimed_inputs_hash: str
    claimed_parts: dict[str, dict[str, str]]
    claimed_fields: dict[str, str]


def parse(raw: bytes, where: str) -> LoadedBundle:
    """A bundle's JSON (gzip-compressed or not); BundleError names what is wrong."""
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise BundleError(f"{where}: not a readable gzip file: {exc}") from None
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise BundleError(f"{where}: not JSON: {exc}") from None
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise BundleError(f"{where}: not an inputs bundle of format {FORMAT}")
    field = "context"
    try:
        context = Context(
            now=int(body["now"]),
            block=int(body["block"]),
            health=HealthPolicy(**body["health"]),
            policy=PolicySettings(**body["policy"]),
            model_version=str(body["model_version"]),
            settings_file=body["settings_file"],
        )
        markets = []
        for i, m in enumerate(body["markets"]):
            field = f"markets[{m.get('market', i) if isinstance(m, dict) else i}]"
            markets.append(MarketInputs.decoded(m))
        field = "digests"
        digests = body["digests"]
        return LoadedBundle(
            InputsBundle(context, tuple(markets)),
            str(body["inputs_hash"]),
            dict(digests["parts"]),
            dict(digests["fields"]),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        problem = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
        raise BundleError(f"{where}: {field} is malformed: {problem}") from None


class BundleStore:
    """A directory of bundles named `<inputsHash>.json.gz`: the keeper writes one before it signs
    a batch; publishing the directory (or any of its files) lets anyone verify those batches."""

    SUFFIX = ".json.gz"

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)

    def path(self, inputs_hash: bytes | str) -> Path:
        name = inputs_hash if isinstance(inputs_hash, str) else "0x" + inputs_hash.hex()
        return self.directory / f"{name.lower()}{self.SUFFIX}"

    def write(self, bundle: InputsBundle) -> tuple[bytes, Path]:
        """Writes the bundle atomically and durably (a temporary file, fsynced, renamed) and
        returns its inputs hash and path. An existing file for the same hash holds the same
        content (the hash is of the content) and is left as it is."""
        try:
            data, inputs_hash = bundle.encode()
        except (ValueError, TypeError) as exc:  # a value JSON cannot hold: nothing is signed
            raise BundleError(f"cannot encode the inputs bundle: {exc}") from None
        path = self.path(inputs_hash)
        if path.exists():
            return inputs_hash, path
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(gzip.compress(data, compresslevel=6, mtime=0))
                    f.flush()
                    os.fsync(f.fileno())
                os.chmod(tmp, 0o644)  # published as it is (mkstemp makes it private)
                os.replace(tmp, path)
                directory = os.open(self.directory, os.O_RDONLY)
                try:  # the rename itself survives a power cut
                    os.fsync(directory)
                finally:
                    os.close(directory)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        except OSError as exc:
            raise BundleError(
                f"cannot write the inputs bundle {path}: {exc.strerror or exc}"
            ) from None
        return inputs_hash, path

    def read(self, inputs_hash: bytes | str) -> LoadedBundle:
        path = self.path(inputs_hash)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise BundleError(f"no inputs bundle {path.name} in {self.directory}") from None
        except OSError as exc:
            raise BundleError(f"cannot read {path}: {exc.strerror}") from None
        return parse(raw, str(path))

    def hashes(self) -> list[str]:
        """The inputs hashes of every bundle held, sorted."""
        if not self.directory.is_dir():
            return []
        return sorted(
            p.name.removesuffix(self.SUFFIX) for p in self.directory.glob("0x*" + self.SUFFIX)
        )
