"""One exception root for everything the oracle raises, each with a message that says what to do."""

from __future__ import annotations

from typing import Any


class OracleError(Exception):
    """Root of every error the oracle raises on purpose."""


class ConfigError(OracleError, ValueError):
    """A configuration key is missing or has a bad value."""

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        self.problem = problem
        super().__init__(f"config key '{key}': {problem}")


class SigningError(OracleError):
    """A batch cannot be signed (bad key source, bad batch)."""


class ChainError(OracleError):
    """The RPC node could not be reached or answered something unusable."""


class ArtifactError(OracleError):
    """Compiled contract artifacts are missing: run `make install` (it compiles the contracts)."""


class ContractRevert(ChainError):
    """A call or transaction reverted; `name` and `args` are the decoded custom error."""

    def __init__(self, name: str, args: dict[str, Any], tx_hash: str | None = None) -> None:
        self.name = name
        self.args_by_name = args
        self.tx_hash = tx_hash
        shown = ", ".join(f"{k}={_show(v)}" for k, v in args.items())
        where = f" (tx {tx_hash})" if tx_hash else ""
        super().__init__(f"reverted with {name}({shown}){where}")


def _show(value: Any) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return str(value)


class RiskInputError(OracleError, ValueError):
    """Market data the risk engine cannot justify parameters from (NaN, non-positive or unordered
    prices, too short a history, an empty order book). The keeper must not push anything for this
    market."""

    def __init__(self, market: str, problem: str) -> None:
        self.market = market
        self.problem = problem
        super().__init__(f"market {market}: {problem}")


class NoSafeParameters(RiskInputError):
    """The model's constraints leave no LTV/LT/LB that is safe (e.g. tail loss plus slippage near
    100 %)."""
