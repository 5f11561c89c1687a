"""A real Aave v3 market on a development chain, from Aave's own bytecode (npm `@aave/core-v3`
1.19.3, Aave v3.0.2), deployed in Aave's order: addresses provider, data provider, the logic
libraries linked into Pool and PoolConfigurator, ACL, oracle, proxies, token implementations, a
rate strategy, then one reserve per asset. Tests, the demo and a user's dev chain share this one
recipe.

Hand-written because Aave's own deploy scripts (`@aave/deploy-v3`) are a hardhat project that
cannot run here; this follows their order (see DESIGN's verified toolchain facts).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from web3 import Web3
from web3.contract import Contract

from oracle.artifacts import load as load_artifact
from oracle.chain import Transactor, deploy_contract
from oracle.errors import ChainError
from oracle.integrations.aave_v3 import reserve_configuration

#: The logic libraries, in deploy order: FlashLoanLogic links BorrowLogic, so it comes after it.
LIBRARIES = (
    "SupplyLogic",
    "BorrowLogic",
    "LiquidationLogic",
    "EModeLogic",
    "BridgeLogic",
    "ConfiguratorLogic",
    "PoolLogic",
    "FlashLoanLogic",
)
#: Aave's oracle reports prices in USD with 8 decimals, like Chainlink's USD feeds.
BASE_CURRENCY_UNIT = 10**8
RAY = 10**27


@dataclass(frozen=True)
class ReserveSpec:
    """One reserve to list: its token, its Chainlink-style USD price source (8 decimals, with
    `latestAnswer()`), and its collateral parameters in Aave's units (bonus = 10,000 + discount;
    all zero: not collateral)."""

    token: Contract
    source: str
    ltv: int = 0
    threshold: int = 0
    bonus: int = 0
    borrowable: bool = False


@dataclass(frozen=True)
class AaveMarket:
    """The deployed market: the contracts a user, a keeper or a test talks to."""

    w3: Web3
    provider: Contract
    pool: Contract
    configurator: Contract
    acl: Contract
    oracle: Contract
    data_provider: Contract
    a_tokens: dict[str, Contract] = field(default_factory=dict)  # underlying address -> aToken
    variable_debt: dict[str, Contract] = field(default_factory=dict)

    def configuration(self, asset: str) -> tuple[int, int, int]:
        """The reserve's (LTV, liquidation threshold, bonus) as Aave stores them."""
        word = self.pool.functions.getConfiguration(to_checksum_address(asset)).call()[0]
        return reserve_configuration(word)

    def grant_risk_admin(self, account: str, admin: LocalAccount | str) -> None:
        """Gives `account` RISK_ADMIN (`admin` must hold the ACL admin role)."""
        Transactor(self.w3, admin).send(self.acl.functions.addRiskAdmin(account))


def _linked_bytecode(artifact: dict[str, Any], libraries: dict[str, str]) -> str:
    """The creation bytecode with each library's address written over its placeholder (hardhat's
    `__$…$__`, 40 hex characters at each byte offset of `linkReferences`)."""
    code = list(artifact["bytecode"].removeprefix("0x"))
    for by_name in artifact.get("linkReferences", {}).values():
        for name, places in by_name.items():
            if name not in libraries:
                raise ChainError(f"{artifact['contractName']} needs library {name} deployed first")
            address = libraries[name].removeprefix("0x").lower()
            for place in places:
                start = 2 * place["start"]
                code[start : start + 2 * place["length"]] = address
    return "0x" + "".join(code)


def _deploy(
    w3: Web3, sender: LocalAccount | str, name: str, *args: Any, libraries: dict[str, str]
) -> Contract:
    artifact = load_artifact(name)
    if not artifact.get("linkReferences"):
        return deploy_contract(w3, sender, name, *args)[0]
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=_linked_bytecode(artifact, libraries))
    result = Transactor(w3, sender).send(factory.constructor(*args))
    if result.contract_address is None:
        raise ChainError(f"deploying {name} mined without a contract address")
    return w3.eth.contract(
        address=to_checksum_address(result.contract_address), abi=artifact["abi"]
    )


def _at(w3: Web3, name: str, address: str) -> Contract:
    return w3.eth.contract(address=to_checksum_address(address), abi=load_artifact(name)["abi"])


def deploy_aave_market(
    w3: Web3,
    admin: LocalAccount | str,
    reserves: Sequence[ReserveSpec],
    *,
    market_id: str = "Margin Oracle Dev Market",
) -> AaveMarket:
    """Deploys an Aave v3 market with `admin` as owner, ACL admin, pool admin and emergency admin,
    and lists `reserves` (variable-rate borrowing only; no caps, no e-mode, no incentives)."""
    address = admin if isinstance(admin, str) else admin.address

    def send(fn: Any) -> None:
        Transactor(w3, admin).send(fn)

    def deploy(name: str, *args: Any) -> Contract:
        return _deploy(w3, admin, name, *args, libraries=libraries)

    libraries: dict[str, str] = {}
    provider = deploy("PoolAddressesProvider", market_id, address)
    data_provider = deploy("AaveProtocolDataProvider", provider.address)
    send(provider.functions.setPoolDataProvider(data_provider.address))
    for name in LIBRARIES:
        libraries[name] = deploy(name).address
    pool_impl = deploy("Pool", provider.address)
    send(pool_impl.functions.initialize(provider.address))
    configurator_impl = deploy("PoolConfigurator")
    send(configurator_impl.functions.initialize(provider.address))
    send(provider.functions.setACLAdmin(address))  # before ACLManager: its constructor reads it
    acl = deploy("ACLManager", provider.address)
    send(provider.functions.setACLManager(acl.address))
    send(acl.functions.addPoolAdmin(address))
    send(acl.functions.addEmergencyAdmin(address))
    assets = [r.token.address for r in reserves]
    oracle = deploy(
        "AaveOracle",
        provider.address,
        assets,
        [to_checksum_address(r.source) for r in reserves],
        "0x0000000000000000000000000000000000000000",
        "0x0000000000000000000000000000000000000000",
        BASE_CURRENCY_UNIT,
    )
    send(provider.functions.setPriceOracle(oracle.address))
    send(provider.functions.setPoolImpl(pool_impl.address))  # creates the Pool proxy
    send(provider.functions.setPoolConfiguratorImpl(configurator_impl.address))
    pool = _at(w3, "Pool", provider.functions.getPool().call())
    configurator = _at(w3, "PoolConfigurator", provider.functions.getPoolConfigurator().call())
    a_token = deploy("AToken", pool.address)
    stable = deploy("StableDebtToken", pool.address)
    variable = deploy("VariableDebtToken", pool.address)
    # 80 % optimal usage, 0 % base, 4 % / 75 % slopes: Aave's volatile-asset strategy shape.
    strategy = deploy(
        "DefaultReserveInterestRateStrategy",
        provider.address,
        RAY * 80 // 100,
        0,
        RAY * 4 // 100,
        RAY * 75 // 100,
        0,
        0,
        0,
        0,
        RAY * 20 // 100,
    )
    inputs = []
    for r in reserves:
        symbol = r.token.functions.symbol().call()
        inputs.append(
            (
                a_token.address,
                stable.address,
                variable.address,
                r.token.functions.decimals().call(),
                strategy.address,
                r.token.address,
                address,  # treasury
                "0x0000000000000000000000000000000000000000",  # no incentives controller
                f"Aave {symbol}",
                f"a{symbol}",
                f"Aave variable debt {symbol}",
                f"variableDebt{symbol}",
                f"Aave stable debt {symbol}",
                f"stableDebt{symbol}",
                b"",
            )
        )
    send(configurator.functions.initReserves(inputs))
    market = AaveMarket(w3, provider, pool, configurator, acl, oracle, data_provider)
    for r in reserves:
        if r.threshold:
            send(
                configurator.functions.configureReserveAsCollateral(
                    r.token.address, r.ltv, r.threshold, r.bonus
                )
            )
        if r.borrowable:
            send(configurator.functions.setReserveBorrowing(r.token.address, True))
        a, _, v = data_provider.functions.getReserveTokensAddresses(r.token.address).call()
        market.a_tokens[r.token.address] = _at(w3, "AToken", a)
        market.variable_debt[r.token.address] = _at(w3, "VariableDebtToken", v)
    return market
