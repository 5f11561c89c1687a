"""Copies ABI and bytecode of the deployable contracts from ape's build into `oracle/artifacts/`.

Why: the keeper and the CLI talk to the chain with plain web3.py and must not need ape or a compiler
at run time.
"""

import json
from pathlib import Path

from oracle.devnet.aave import LIBRARIES

ROOT = Path(__file__).resolve().parent.parent
DEPLOYABLE = (
    "MarginParameterRegistry",
    "ExampleLendingPool",
    "MockV3Aggregator",
    "MockERC20",
    "ParameterReader",
    "BareSignedBatch",
    "UniswapV3Actions",
    "AaveV3RiskAdapter",
    "RiskArrayRegistry",
    "ExampleMarginAccount",
    "PortfolioMarginReader",
)
#: Uniswap v3's own compiled contracts as published on npm (`@uniswap/v3-core`), never recompiled.
UNISWAP = {
    "UniswapV3Factory": "UniswapV3Factory.sol/UniswapV3Factory.json",
    "UniswapV3Pool": "UniswapV3Pool.sol/UniswapV3Pool.json",
}

#: Aave v3.0.2's own compiled contracts as published on npm (`@aave/core-v3`), never recompiled. The
#: libraries' addresses are patched into Pool and PoolConfigurator when deployed (`linkReferences`).
AAVE = {
    name: f"{folder}/{name}.sol/{name}.json"
    for folder, names in {
        "protocol/configuration": ("PoolAddressesProvider", "ACLManager"),
        "protocol/pool": ("Pool", "PoolConfigurator", "DefaultReserveInterestRateStrategy"),
        "protocol/tokenization": ("AToken", "StableDebtToken", "VariableDebtToken"),
        "protocol/libraries/logic": LIBRARIES,  # the deploy helper's list, in its link order
        "misc": ("AaveOracle", "AaveProtocolDataProvider"),
    }.items()
    for name in names
}


def published(npm: Path, paths: dict[str, str]) -> dict[str, dict[str, object]]:
    """Each npm artifact reduced to what a deploy needs: ABI, bytecode, library link offsets."""
    out = {}
    for name, path in paths.items():
        artifact = json.loads((npm / path).read_text())
        out[name] = {
            "contractName": name,
            "abi": artifact["abi"],
            "bytecode": artifact["bytecode"],
            "linkReferences": artifact.get("linkReferences", {}),
        }
    return out


def main() -> None:
    manifest = json.loads((ROOT / ".build" / "__local__.json").read_text())
    out = ROOT / "oracle" / "artifacts"
    out.mkdir(exist_ok=True)
    for name in DEPLOYABLE:
        contract = manifest["contractTypes"][name]
        artifact = {
            "contractName": name,
            "abi": contract["abi"],
            "bytecode": contract["deploymentBytecode"]["bytecode"],
        }
        (out / f"{name}.json").write_text(json.dumps(artifact, indent=1) + "\n")
    npm = ROOT / "node_modules"
    external = published(npm / "@uniswap/v3-core/artifacts/contracts", UNISWAP)
    external |= published(npm / "@aave/core-v3/artifacts/contracts", AAVE)
    for name, artifact in external.items():
        (out / f"{name}.json").write_text(json.dumps(artifact, indent=1) + "\n")
    print(f"exported {len(DEPLOYABLE) + len(external)} artifacts to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
