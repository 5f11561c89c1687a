"""A registry on a development chain: deployed, one guardrail profile set, markets assigned; and the
risk-array contract beside it with one scenario set. The
demo, the benchmarks and the keeper tests share this one recipe instead of retyping it."""

from __future__ import annotations

from collections.abc import Sequence

from eth_account.signers.local import LocalAccount
from web3 import Web3

from oracle.chain import RegistryClient
from oracle.chain.risk_arrays import RiskArrayClient
from oracle.markets import market_id
from oracle.policy.arrays import SPAN16_LIMITS, ScenarioSetLimits
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


def deploy_risk_arrays(
    w3: Web3,
    deployer: LocalAccount | str,
    registry: RegistryClient,
    *,
    limits: ScenarioSetLimits = SPAN16_LIMITS,
    scenario_set: int = 1,
) -> RiskArrayClient:
    """Deploys the risk-array contract on `registry` and sets `scenario_set` (the deployer must be
    the registry's governance)."""
    arrays, _ = RiskArrayClient.deploy(w3, deployer, registry=registry.address)
    arrays.set_scenario_set(scenario_set, limits, deployer)
    return arrays
