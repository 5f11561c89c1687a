"""Copies ABI and bytecode of the deployable contracts from ape's build into `oracle/artifacts/`.

Why: the keeper and the CLI talk to the chain with plain web3.py and must not need ape or a compiler
at run time.
"""

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEPLOYABLE = (
    "MarginParameterRegistry",
    "ExampleLendingPool",
    "MockV3Aggregator",
    "MockERC20",
    "ParameterReader",
    "BareSignedBatch",
    "UniswapV3Actions",
)
#: Uniswap v3's own compiled contracts as published on npm (`@uniswap/v3-core`), never recompiled.
UNISWAP = {
    "UniswapV3Factory": "UniswapV3Factory.sol/UniswapV3Factory.json",
    "UniswapV3Pool": "UniswapV3Pool.sol/UniswapV3Pool.json",
}


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
    npm = ROOT / "node_modules" / "@uniswap" / "v3-core" / "artifacts" / "contracts"
    for name, path in UNISWAP.items():
        published = json.loads((npm / path).read_text())
        artifact = {
            "contractName": name,
            "abi": published["abi"],
            "bytecode": published["bytecode"],
        }
        (out / f"{name}.json").write_text(json.dumps(artifact, indent=1) + "\n")
    print(f"exported {len(DEPLOYABLE) + len(UNISWAP)} artifacts to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
