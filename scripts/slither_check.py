"""Static analysis of the contracts with Slither; fails on any finding whose check the
README's security table does not accept.

Runs in `make lint` and alone as `make slither`. Slither lives in its own venv: its pinned
dependencies clash with ape's.
Our solc is the solc-js wrapper, which only speaks standard JSON, so the compilation goes through
crytic-compile's standard-JSON platform with the project's settings (via-IR, optimizer, Cancun).
"""

from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path

from crytic_compile import CryticCompile
from crytic_compile.platform.solc_standard_json import SolcStandardJson
from slither import Slither
from slither.detectors import all_detectors

ROOT = Path(__file__).resolve().parent.parent
TARGETS = (
    "contracts/MarginParameterRegistry.sol",
    "contracts/examples/ExampleLendingPool.sol",
    "contracts/adapters/AaveV3RiskAdapter.sol",
    "contracts/RiskArrayRegistry.sol",
    "contracts/examples/ExampleMarginAccount.sol",
)

README = ROOT / "README.md"


def accepted_checks(readme: Path = README) -> dict[str, str]:
    """The reviewed checks and their reasons, read from the README's security table so that the
    justification a reader sees is the one this gate enforces (one place to change both)."""
    text = readme.read_text()
    section = text[text.index("## Security notes") :]
    accepted: dict[str, str] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`"):
            continue
        for check in re.findall(r"`([a-z-]+)`", cells[0]):
            accepted[check] = cells[2]
    if not accepted:
        raise SystemExit("README.md has no accepted-findings table under '## Security notes'")
    return accepted


def main() -> int:
    standard_json = SolcStandardJson()
    for target in TARGETS:
        standard_json.add_source_file(target)
    standard_json.add_remapping("@openzeppelin/contracts=node_modules/@openzeppelin/contracts")
    settings = standard_json._json["settings"]  # crytic-compile has no setter for these
    settings.update(viaIR=True, optimizer={"enabled": True, "runs": 1_000_000}, evmVersion="cancun")
    compiled = CryticCompile(standard_json, solc=str(ROOT / ".solcx" / "solc-v0.8.28"))
    slither = Slither(compiled)
    for _, detector in inspect.getmembers(all_detectors, inspect.isclass):
        slither.register_detector(detector)
    accepted = accepted_checks()
    unreviewed = 0
    for results in slither.run_detectors():
        for finding in results:
            if "node_modules" in finding["description"] and "contracts/" not in finding[
                "description"
            ].replace("node_modules/@openzeppelin/contracts", ""):
                continue  # OpenZeppelin's own findings
            check = finding["check"]
            first = finding["description"].strip().splitlines()[0]
            if check in accepted:
                print(f"accepted [{check}] {first[:140]}")
                continue
            unreviewed += 1
            print(f"UNREVIEWED [{finding['impact']}/{check}] {finding['description'].strip()}")
    print(f"{unreviewed} unreviewed finding(s)")
    return 1 if unreviewed else 0


if __name__ == "__main__":
    sys.exit(main())
