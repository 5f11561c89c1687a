"""A registry on a development chain: deployed, one guardrail profile set, markets assigned. The
demo, the benchmarks and the keeper tests share this one recipe instead of retyping it."""

from __future__ import annotations

from collections.abc import Sequence

from eth_account.signers.local import LocalAccount
from web3 import Web3

from oracle.chain import RegistryClient
from oracle.markets import market_id
from oracle.types import BLUE_CHIP_GUARDRAILS, Guardrails

#: Markets assigned per `assignProfile` transaction, so any number of markets fits a block.
ASSIGN_CHUNK = 100


def deploy_registry(
    w3: Web3,
    deployer: LocalAccount | str,
    *,
    signers: Sequence[str],
    markets: Sequence[str] = (),
    governance: str | None = None,
    guardian: str | None = None,
    threshold: int = 1,
    timelock_delay: int = 3_600,
    guardrails: Guardrails = BLUE_CHIP_GUARDRAILS,
    profile: int = 1,
) -> RegistryClient:
    """Deploys the registry (governance and guardian default to the deployer, who must be able to
    act as governance), sets `profile` to `guardrails` and puts `markets` (symbols) under it."""
    address = deployer if isinstance(deployer, str) else deployer.address
    registry, _ = RegistryClient.deploy(
        w3,
        deployer,
        governance=governance or address,
        guardian=guardian or address,
        signers=list(signers),
        threshold=threshold,
        timelock_delay=timelock_delay,
    )
    gov = deployer if governance is None else governance
    registry.set_guardrail_profile(profile, guardrails, gov)
    ids: list[bytes] = [market_id(m) for m in markets]
    for i in range(0, len(ids), ASSIGN_CHUNK):
        registry.assign_profile(ids[i : i + ASSIGN_CHUNK], profile, gov)
    return registry
