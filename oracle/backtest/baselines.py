"""Static baselines: the parameters a protocol would have kept fixed, by asset.

Default: Aave v3's Ethereum market as of 2023-10-31 (`oracle/data/aave-v3-ethereum-params.csv`,
sources in `oracle/data/SOURCES.md`); ETH and BTC map to WETH and WBTC.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass

from oracle.errors import ConfigError
from oracle.feeds.marketdata import DATA_DIR
from oracle.types import Params

ALIASES = {"ETH": "WETH", "BTC": "WBTC"}


@dataclass(frozen=True)
class StaticParameters:
    """Parameters a protocol keeps fixed, and where they come from (shown in every comparison)."""

    params: Params
    source: str


def aave_v3(asset: str, snapshot: str = "2023-10-31") -> StaticParameters:
    symbol = ALIASES.get(asset.upper(), asset.upper())
    with (DATA_DIR / "aave-v3-ethereum-params.csv").open() as fh:
        for row in csv.DictReader(fh):
            if row["snapshot_date"] == snapshot and row["symbol"].upper() == symbol:
                if not row["liquidation_bonus_bps"]:
                    break
                params = Params(
                    int(row["ltv_bps"]),
                    int(row["liquidation_threshold_bps"]),
                    int(row["liquidation_bonus_bps"]),
                )
                return StaticParameters(params, f"Aave v3 Ethereum {symbol}, {snapshot}")
    raise ConfigError(
        "--asset", f"no Aave v3 Ethereum collateral parameters for {asset} on {snapshot}"
    )
