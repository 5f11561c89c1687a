"""One market's sources brought together: median price, outliers, divergence, staleness, and a
health verdict the policy obeys (DEGRADED may only tighten, FAILED freezes and alerts).

Aggregation, in order:
1. Sources that failed their own checks (timeouts, stale, crossed, NaN, ...) are out, and so is a
   source whose price moved more than `max_jump` [50 %] from its own reading in the previous
   snapshot: an absurd jump is a broken source, not a market move.
2. Outliers by median absolute deviation: with m the median of the remaining prices and
   MAD = median |pᵢ − m|, a price is an outlier when |pᵢ − m| > max(k · 1.4826 · MAD, floor · m)
   [k = 5, floor = 0.5 %]. With two sources the MAD is half their gap, so neither is ever an
   outlier: there is no majority to say which one is wrong, and step 4's divergence limit decides.
3. Price = median of the accepted prices; divergence = (max − min) / median of the accepted.
4. Health: FAILED when fewer than `min_healthy` sources are accepted [2] or divergence exceeds
   `fail_divergence` [3 %]; DEGRADED when any configured source is out or divergence exceeds
   `warn_divergence` [1 %]; OK otherwise. Every verdict lists its reasons.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, fields
from enum import Enum, StrEnum
from functools import cached_property

from blake3 import blake3

from oracle.errors import ConfigError
from oracle.feeds.base import FailureKind, Reading, SourceFailure, SourceResult


class Health(StrEnum):
    OK = "ok"
    DEGRADED = "degraded"
    FAILED = "failed"


@dataclass(frozen=True)
class HealthPolicy:
    min_healthy: int = 2
    warn_divergence: float = 0.01
    fail_divergence: float = 0.03
    mad_k: float = 5.0
    mad_floor: float = 0.005
    max_jump: float = 0.5

    def __post_init__(self) -> None:
        if self.min_healthy < 1:
            raise ConfigError("feeds.health.min_healthy", "must be at least 1")
        if not 0 < self.warn_divergence <= self.fail_divergence:
            raise ConfigError(
                "feeds.health.warn_divergence", "need 0 < warn_divergence <= fail_divergence"
            )
        if self.max_jump <= 0:
            raise ConfigError("feeds.health.max_jump", "must be positive")
        if self.mad_k <= 0 or self.mad_floor < 0:
            raise ConfigError("feeds.health.mad_k", "mad_k must be positive and mad_floor >= 0")


#: Source-result fields added after snapshots were first published: encoded only when set.
_LATER = frozenset({"book_at"})


@dataclass(frozen=True)
class MarketSnapshot:
    """Everything the cycle knew about one market; immutable, canonically serialised and hashed."""

    market: str
    taken_at: int
    results: tuple[SourceResult, ...]  # sorted by source name
    accepted: tuple[str, ...]
    price: float | None
    divergence: float | None
    health: Health
    reasons: tuple[str, ...]

    def canonical(self) -> bytes:
        """Sorted-key JSON with floats as `repr` strings: the same snapshot gives the same bytes on
        every machine. Computed once (the store, the hash and the inputs bundle all take it)."""
        return self._canonical

    @cached_property
    def _canonical(self) -> bytes:

        def encode(value: object) -> object:
            if isinstance(value, float):
                return repr(value)
            if isinstance(value, Enum):
                return value.value
            if isinstance(value, dict):
                return {k: encode(v) for k, v in value.items()}
            if isinstance(value, list | tuple):
                return [encode(v) for v in value]
            return value

        # Field by field, not `asdict`: that deep-copies every book level of every source first
        # (a third of a 500-market cycle's time), and the fields here are plain values already.
        # A field added later (`Reading.book_at`) is left out while unset, so a snapshot taken
        # before it existed encodes (and hashes) as it did: its inputs bundle still verifies.
        results = [
            {
                "type": type(r).__name__,
                **{
                    f.name: encode(getattr(r, f.name))
                    for f in fields(r)
                    if f.name not in _LATER or getattr(r, f.name) is not None
                },
            }
            for r in self.results
        ]
        body = {f.name: encode(getattr(self, f.name)) for f in fields(self) if f.name != "results"}
        body["results"] = results
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

    def hash(self) -> bytes:
        return blake3(self.canonical()).digest()

    @classmethod
    def from_canonical(cls, raw: bytes | str) -> MarketSnapshot:
        """The snapshot `canonical()` encoded (an inputs bundle holds it so): `canonical()` of the
        result gives back the same bytes. Raises ValueError on anything else."""
        try:
            body = json.loads(raw)
            results: list[SourceResult] = []
            for r in body["results"]:
                kind = r.pop("type")
                if kind == "Reading":
                    results.append(
                        Reading(
                            source=r["source"],
                            market=r["market"],
                            price=float(r["price"]),
                            timestamp=int(r["timestamp"]),
                            block=r["block"],
                            bids=tuple((float(p), float(q)) for p, q in r["bids"]),
                            best_ask=_float(r["best_ask"]),
                            pool=None
                            if r["pool"] is None
                            else (float(r["pool"][0]), float(r["pool"][1])),
                            pool_fee=_float(r["pool_fee"]),
                            book_at=None if r.get("book_at") is None else int(r["book_at"]),
                        )
                    )
                elif kind == "SourceFailure":
                    results.append(
                        SourceFailure(r["source"], r["market"], FailureKind(r["kind"]), r["detail"])
                    )
                else:
                    raise ValueError(f"unknown source result type {kind!r}")
            return cls(
                market=body["market"],
                taken_at=int(body["taken_at"]),
                results=tuple(results),
                accepted=tuple(body["accepted"]),
                price=_float(body["price"]),
                divergence=_float(body["divergence"]),
                health=Health(body["health"]),
                reasons=tuple(body["reasons"]),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a canonical snapshot: {type(exc).__name__} {exc}") from None


def _float(value: str | None) -> float | None:
    return None if value is None else float(value)


def aggregate(
    market: str,
    results: Sequence[SourceResult],
    now: int,
    policy: HealthPolicy,
    previous: MarketSnapshot | None = None,
) -> MarketSnapshot:
    ordered = tuple(_check_jumps(sorted(results, key=lambda r: r.source), previous, policy))
    readings = [r for r in ordered if isinstance(r, Reading)]
    reasons = [
        f"{r.source}: {r.kind.value}: {r.detail}" for r in ordered if isinstance(r, SourceFailure)
    ]
    accepted = readings
    if readings:
        m = statistics.median(r.price for r in readings)
        mad = statistics.median(abs(r.price - m) for r in readings)
        limit = max(policy.mad_k * 1.4826 * mad, policy.mad_floor * m)
        accepted = [r for r in readings if abs(r.price - m) <= limit]
        for r in readings:
            if r not in accepted:
                reasons.append(
                    f"{r.source}: {FailureKind.OUTLIER.value}: {r.price:.6g} is "
                    f"{abs(r.price / m - 1):.2%} from the median {m:.6g}"
                )
    price = statistics.median(r.price for r in accepted) if accepted else None
    divergence = None
    if price is not None and len(accepted) > 1:
        prices = [r.price for r in accepted]
        divergence = (max(prices) - min(prices)) / price
    if len(accepted) < policy.min_healthy:
        health = Health.FAILED
        reasons.append(f"{len(accepted)} healthy source(s), need {policy.min_healthy}")
    elif divergence is not None and divergence > policy.fail_divergence:
        health = Health.FAILED
        reasons.append(f"sources diverge by {divergence:.2%} (limit {policy.fail_divergence:.2%})")
    elif len(accepted) < len(ordered) or (
        divergence is not None and divergence > policy.warn_divergence
    ):
        health = Health.DEGRADED
        if divergence is not None and divergence > policy.warn_divergence:
            reasons.append(f"sources diverge by {divergence:.2%}")
    else:
        health = Health.OK
    return MarketSnapshot(
        market=market,
        taken_at=now,
        results=ordered,
        accepted=tuple(r.source for r in accepted),
        price=price,
        divergence=divergence,
        health=health,
        reasons=tuple(reasons),
    )


def _check_jumps(
    results: Sequence[SourceResult], previous: MarketSnapshot | None, policy: HealthPolicy
) -> list[SourceResult]:
    if previous is None:
        return list(results)
    before = {r.source: r.price for r in previous.results if isinstance(r, Reading)}
    out: list[SourceResult] = []
    for r in results:
        last = before.get(r.source)
        if (
            isinstance(r, Reading)
            and last is not None
            and abs(r.price / last - 1) > policy.max_jump
        ):
            detail = f"{r.price:.6g} after {last:.6g} ({r.price / last - 1:+.0%} in one cycle)"
            out.append(SourceFailure(r.source, r.market, FailureKind.JUMP, detail))
        else:
            out.append(r)
    return out
