"""Contract reads for on-chain sources: every source on one node in one Multicall3 request.

A Chainlink or Uniswap source reading alone makes 2–4 round trips (the block, then each call), so
hundreds of markets would make hundreds of round trips a cycle to one node. A `Node` — one per
RPC endpoint, shared by every on-chain source on it as a `Venue` is by the markets on an exchange
— reads, on the first read in a collection of feeds (`sharing`, opened by `collect_all`, which
names the sources in it), the latest block once and then every call of those sources in one
Multicall3 `aggregate3` at that block (`CHUNK` calls a request; a second round only for calls
that depend on an answer, such as a pool's tokens' decimals before they are cached). Each source
then decodes its own answers. A node that does not answer fails every source on it after one
timeout; a call that reverts, or a target without code, fails its source alone.

A source read outside a collection reads the same way, alone: two round trips whatever it calls
(three at a pool's first read), through the same decoding as in a collection. Without Multicall3
(`multicall=None`, or nothing at its address) each source reads with plain `eth_call`s, one per
call, as sources always did. No retry of its own (web3.py's HTTP provider has its own): a failed
read fails this cycle's readings, and the next cycle asks again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol, runtime_checkable

from eth_abi.exceptions import DecodingError
from web3 import Web3
from web3.exceptions import ContractLogicError, Web3Exception
from web3.types import BlockIdentifier

from oracle.errors import ChainError
from oracle.feeds.base import FailureKind, FeedError
from oracle.feeds.sharing import SharedAnswers
from oracle.multicall import CHUNK, MULTICALL3_ADDRESS, AbiFunction, Call, NoMulticall, aggregate

#: Sends calls at a block: their return data in order, None where one reverted.
Send = Callable[[Sequence[Call], BlockIdentifier], list[bytes | None]]


@dataclass(frozen=True)
class View:
    """One view call a source makes and the function that decodes its answer."""

    fn: AbiFunction
    call: Call

    @classmethod
    def of(cls, target: str, fn: AbiFunction, *args: Any) -> View:
        return cls(fn, Call(target, fn.encode(*args)))


@runtime_checkable
class Reader(Protocol):
    """An on-chain source as its node sees it: the calls a read makes, given the answers known
    so far (a call whose target is an earlier answer is named once that answer is known)."""

    name: str

    def calls(self, known: Mapping[Call, bytes | None]) -> list[Call]: ...


def decoded(source: str, view: View, raw: bytes | None) -> Any:
    """`view`'s answer decoded, or `source`'s BAD_RESPONSE: it reverted, it returned nothing (an
    address without code: Multicall3 calls it successfully and gets nothing back) or something
    that is not the function's outputs."""
    name = view.fn.name
    if raw is None:
        raise FeedError(FailureKind.BAD_RESPONSE, f"{source}: {name} reverted")
    if not raw:
        raise FeedError(
            FailureKind.BAD_RESPONSE, f"{source}: {name} returned nothing (no contract there?)"
        )
    try:
        return view.fn.decode(raw)
    except DecodingError as exc:
        raise FeedError(
            FailureKind.BAD_RESPONSE, f"{source}: {name} answered something else: {exc}"
        ) from None


def answered(known: Mapping[Call, bytes | None], view: View) -> Any | None:
    """`view`'s decoded answer among `known`, or None when it is not there or not usable (for a
    `Reader.calls` naming the calls that depend on it; the read itself reports the failure)."""
    try:
        return decoded("", view, known.get(view.call))
    except FeedError:
        return None


@dataclass(frozen=True)
class Answers:
    """A read's answers, all at block `number` (mined at `timestamp`), for `source`."""

    source: str
    number: int
    timestamp: int
    known: Mapping[Call, bytes | None]

    def value(self, view: View) -> Any:
        """`view`'s answer decoded, or the source's BAD_RESPONSE."""
        return decoded(self.source, view, self.known[view.call])


class Node(SharedAnswers):
    """The node `w3` talks to, read through Multicall3 at `multicall` (None: plain calls, for a
    chain without it) `chunk` calls a request; safe to call from the feed pool's threads."""

    def __init__(
        self, w3: Web3, multicall: str | None = MULTICALL3_ADDRESS, *, chunk: int = CHUNK
    ) -> None:
        super().__init__()
        self.w3, self.multicall, self.chunk = w3, multicall, chunk

    def answers(self, source: Reader, now: int) -> Answers:
        """`source`'s calls answered at the latest block: within a collection at moment `now`,
        from the one read of every source in it on this node; else (or when the node has no
        Multicall3, each source on its own thread) from a read of its own."""
        try:
            send = self._plain if self.multicall is None else self._batched_or_plain
            if self.multicall is not None and self.collecting(now):
                try:
                    shared = self._once("calls", now, lambda: self._read(self._readers(now)))
                except NoMulticall:
                    send = self._plain
                else:
                    if all(c in shared.known for c in source.calls(shared.known)):
                        return replace(shared, source=source.name)
            return replace(self._read([source], send), source=source.name)
        except FeedError as exc:  # the node's own failure: every source reading it has it
            raise FeedError(exc.kind, f"{source.name}: {exc.detail}") from None

    def values(
        self, source: str, views: Sequence[View], block: BlockIdentifier = "latest"
    ) -> list[Any]:
        """`views` decoded at `block`, outside any collection (a backfill's rounds, a value read
        once): in one Multicall3 request per `chunk` where there is one, else call by call."""
        send = self._plain if self.multicall is None else self._batched_or_plain
        try:
            raw = send([v.call for v in views], block)
        except FeedError as exc:
            raise FeedError(exc.kind, f"{source}: {exc.detail}") from None
        return [decoded(source, v, r) for v, r in zip(views, raw, strict=True)]

    # Internals --------------------------------------------------------------------------------

    def _readers(self, now: int) -> list[Reader]:
        return [s for s in self.members(now) if isinstance(s, Reader)]

    def _read(self, readers: Sequence[Reader], send: Send | None = None) -> Answers:
        """The latest block, then every call of `readers` at it, round after round until they
        name no new call (one round, or two while a pool's tokens' decimals are not cached);
        a call two readers make is sent once."""
        send = self._batched if send is None else send
        try:
            block = self.w3.eth.get_block("latest")
        except (Web3Exception, OSError, ValueError) as exc:
            raise _unanswered(exc) from None
        number = int(block["number"])
        known: dict[Call, bytes | None] = {}
        while wanted := list(
            dict.fromkeys(c for r in readers for c in r.calls(known) if c not in known)
        ):
            known.update(zip(wanted, send(wanted, number), strict=True))
        return Answers("", number, int(block["timestamp"]), known)

    def _batched(self, calls: Sequence[Call], block: BlockIdentifier) -> list[bytes | None]:
        assert self.multicall is not None
        try:
            return aggregate(self.w3, calls, block, address=self.multicall, chunk=self.chunk)
        except NoMulticall:
            raise
        except ChainError as exc:
            raise _unanswered(exc) from None

    def _batched_or_plain(
        self, calls: Sequence[Call], block: BlockIdentifier
    ) -> list[bytes | None]:
        try:
            return self._batched(calls, block)
        except NoMulticall:
            return self._plain(calls, block)

    def _plain(self, calls: Sequence[Call], block: BlockIdentifier) -> list[bytes | None]:
        out: list[bytes | None] = []
        for c in calls:
            try:
                out.append(bytes(self.w3.eth.call({"to": c.target, "data": c.data}, block)))
            except ContractLogicError:
                out.append(None)
            except (Web3Exception, OSError, ValueError) as exc:
                raise _unanswered(exc) from None
        return out


def _unanswered(exc: Exception) -> FeedError:
    """The node did not answer: a timeout, or unreachable (refused, reset, an RPC error)."""
    kind = FailureKind.TIMEOUT if "timed out" in str(exc).lower() else FailureKind.UNREACHABLE
    return FeedError(kind, f"{type(exc).__name__}: {exc}")
