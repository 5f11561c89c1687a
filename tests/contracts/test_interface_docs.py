"""Every member of the integrator-facing interfaces carries NatSpec: a Solidity integrator reads the
interface file, not the implementation (Morpho Blue's IMorpho.sol has no undocumented member)."""

from __future__ import annotations

import json
import re
import runpy

import pytest

from tests.helpers import ROOT

INTERFACES = [
    "IMarginParameterRegistry.sol",
    "IMarginParameters.sol",
    "IAaveV3RiskAdapter.sol",
    "IAaveV3.sol",
    "IPortfolioMargin.sol",
    "IRiskArrays.sol",
]
MEMBER = re.compile(r"^\s*(function|event|error)\s+(\w+)")


def undocumented(source: str) -> list[str]:
    """Members whose declaration is not directly preceded by a `///` line (multi-line NatSpec and
    multi-line declarations included)."""
    missing = []
    lines = source.splitlines()
    for i, line in enumerate(lines):
        m = MEMBER.match(line)
        if m and not lines[i - 1].strip().startswith("///"):
            missing.append(f"{m.group(1)} {m.group(2)}")
    return missing


def test_the_check_finds_an_undocumented_member():
    assert undocumented("/// @notice a\nfunction a() external;\nfunction b() external;") == [
        "function b"
    ]


@pytest.mark.parametrize("name", INTERFACES)
def test_every_interface_member_has_natspec(name):
    source = (ROOT / "contracts" / "interfaces" / name).read_text()
    members = [line for line in source.splitlines() if MEMBER.match(line)]
    assert members, f"no members found in {name}: the check would pass vacuously"
    assert undocumented(source) == []


PUBLISHED = runpy.run_path(str(ROOT / "scripts" / "export_abi.py"))["PUBLISHED"]


def test_the_published_abis_are_exactly_the_export_list():
    files = {p.stem for p in (ROOT / "contracts" / "abi").glob("*.json")}
    assert files == set(PUBLISHED)


@pytest.mark.parametrize("name", PUBLISHED)
def test_the_committed_abi_matches_the_compiled_interface(project, name):
    """Integrators take the ABI from `contracts/abi/` without compiling: it must be the interface's
    (regenerate with `python scripts/export_abi.py` when an interface changes on purpose)."""
    committed = json.loads((ROOT / "contracts" / "abi" / f"{name}.json").read_text())
    abi = getattr(project, name).contract_type.abi
    compiled = [item.model_dump(mode="json", by_alias=True, exclude_none=True) for item in abi]
    key = lambda item: json.dumps(item, sort_keys=True)  # noqa: E731
    assert sorted(map(key, committed)) == sorted(map(key, compiled))
