"""Writes the integrator-facing ABIs into `contracts/abi/` from ape's build, for integrators who
do not compile this repository. The files are committed; `tests/contracts/test_interface_docs.py`
fails when a compiled interface no longer matches its committed ABI, so run this (after
`make install`) whenever an interface changes on purpose, and commit the result."""

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: What an integrator needs: the read interface, the full registry, the Aave adapter.
PUBLISHED = (
    "IMarginParameters",
    "IMarginParameterRegistry",
    "IAaveV3RiskAdapter",
    "IPortfolioMargin",
    "IRiskArrays",
)


def main() -> None:
    manifest = json.loads((ROOT / ".build" / "__local__.json").read_text())
    out = ROOT / "contracts" / "abi"
    out.mkdir(exist_ok=True)
    for name in PUBLISHED:
        abi = manifest["contractTypes"][name]["abi"]
        (out / f"{name}.json").write_text(json.dumps(abi, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(PUBLISHED)} ABIs to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
