"""Contract reads for on-chain sources, with web3.py's exceptions mapped to failure kinds."""

from __future__ import annotations

from typing import Any

from web3.contract import Contract
from web3.exceptions import BadFunctionCallOutput, ContractLogicError, Web3Exception

from oracle.feeds.base import FailureKind, FeedError


def read(source: str, contract: Contract, fn: str, *args: Any, block: int | str = "latest") -> Any:
    """`contract.fn(*args)` at `block`; a revert or an empty answer (no contract there) is a bad
    response, a transport error a timeout or an unreachable node."""
    try:
        return getattr(contract.functions, fn)(*args).call(block_identifier=block)
    except ContractLogicError as exc:
        raise FeedError(FailureKind.BAD_RESPONSE, f"{source}: {fn} reverted: {exc}") from None
    except BadFunctionCallOutput:
        raise FeedError(
            FailureKind.BAD_RESPONSE, f"{source}: {fn} returned nothing (no contract there?)"
        ) from None
    except (Web3Exception, OSError, ValueError) as exc:
        kind = FailureKind.TIMEOUT if "timed out" in str(exc).lower() else FailureKind.UNREACHABLE
        raise FeedError(kind, f"{source}: {type(exc).__name__}: {exc}") from None
