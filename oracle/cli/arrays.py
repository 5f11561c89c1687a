"""`oracle arrays deploy|show|margin`: the portfolio-margin arrays from the command line: deploy
the arrays contract beside the registry, read what is published with what each row means, and
margin a book on-chain as an integrator's contract would."""

from __future__ import annotations

import json
from typing import Any

import click

from oracle.cli import _config, main
from oracle.errors import ConfigError
from oracle.markets import market_id
from oracle.policy.arrays import MOVE_UNIT_BPS, SPAN16_LIMITS, WAD


@main.group()
def arrays() -> None:
    """Portfolio-margin risk arrays: deploy (governance), show, margin a book."""


def _client(ctx: click.Context) -> Any:
    from oracle.chain.risk_arrays import RiskArrayClient
    from oracle.keeper.runtime import connect

    cfg = _config(ctx)
    if cfg.keeper is None or cfg.keeper.risk_arrays is None:
        raise ConfigError(
            "keeper.risk_arrays", "not configured: `oracle arrays deploy` prints the address to add"
        )
    return cfg, RiskArrayClient(connect(cfg.chain), cfg.keeper.risk_arrays.address)


@arrays.command()
@click.option("--scenario-set", "set_id", type=int, default=1, show_default=True)
@click.pass_context
def deploy(ctx: click.Context, set_id: int) -> None:
    """Governance: deploy the arrays contract on the configured registry and set a scenario set to
    the span16-v1 preset (its rows are `oracle.risk.scenarios`')."""
    from oracle.chain.risk_arrays import RiskArrayClient
    from oracle.keeper.runtime import connect, governance_sender

    if not 1 <= set_id <= 255:
        raise ConfigError("--scenario-set", "scenario sets are numbered 1 to 255")
    cfg = _config(ctx)
    if cfg.registry.address is None:
        raise ConfigError("registry.address", "deploy the registry first (`oracle deploy`)")
    w3 = connect(cfg.chain)
    who = governance_sender(cfg)
    client, _ = RiskArrayClient.deploy(w3, who, registry=cfg.registry.address)
    tx = client.set_scenario_set(set_id, SPAN16_LIMITS, who)
    click.echo(
        json.dumps(
            {
                "risk_arrays": client.address,
                "scenario_set": set_id,
                "tx_hash": tx.tx_hash,
                "config": {"keeper": {"risk_arrays": {"address": client.address}}},
            }
        )
    )


@arrays.command()
@click.argument("markets", nargs=-1)
@click.pass_context
def show(ctx: click.Context, markets: tuple[str, ...]) -> None:
    """One JSON line per market (default: the configured array markets): the published moves in
    percent, floor, depth, age and scenario set, with each row's meaning from the keeper's store."""
    from oracle.keeper.store import Store

    cfg, client = _client(ctx)
    assert cfg.keeper is not None and cfg.keeper.risk_arrays is not None
    names = markets or tuple(cfg.keeper.risk_arrays.markets or cfg.keeper.markets)
    labels: dict[str, list[str]] = {}
    if cfg.keeper.store.exists():
        store = Store(cfg.keeper.store, read_only=True)
        try:
            for row in reversed(store.arrays(limit=500)):
                labels[row["market"]] = row["labels"]
        finally:
            store.close()
    now = int(client.w3.eth.get_block("latest")["timestamp"])
    for market in names:
        a = client.published(market_id(market))
        if a is None:
            click.echo(json.dumps({"market": market, "published": False}))
            continue
        v = a.values
        rows = [round(m * MOVE_UNIT_BPS / 100, 1) for m in v.moves]
        click.echo(
            json.dumps(
                {
                    "market": market,
                    "scenario_set": a.scenario_set,
                    "moves_pct": rows,
                    "floor_pct": v.floor_units * MOVE_UNIT_BPS / 100,
                    "depth_usd": v.depth_usd,
                    "updated_at": a.updated_at,
                    "age_seconds": now - a.updated_at,
                    "rows": labels.get(market),
                }
            )
        )


@arrays.command()
@click.argument("book", nargs=-1, required=True, metavar="MARKET=USD ...")
@click.pass_context
def margin(ctx: click.Context, book: tuple[str, ...]) -> None:
    """The on-chain margin of a book of signed USD notionals (e.g. ETH/USDT=100000
    BTC/USDT=-100000): portfolio margin with its parts, and the isolated margin for comparison."""
    _, client = _client(ctx)
    positions: dict[bytes, int] = {}
    names: dict[bytes, str] = {}
    for entry in book:
        market, sep, usd = entry.rpartition("=")
        try:
            notional = round(float(usd) * WAD) if sep else None
        except ValueError:
            notional = None
        if not market or notional is None:
            raise ConfigError("BOOK", f"{entry!r}: expected MARKET=USD, e.g. ETH/USDT=-25000")
        positions[market_id(market)] = notional
        names[market_id(market)] = market
    assets = sorted(positions)
    notionals = [positions[a] for a in assets]
    m = client.portfolio_margin(assets, notionals)
    isolated = client.isolated_margin(assets, notionals)
    click.echo(
        json.dumps(
            {
                "book": {names[a]: positions[a] / WAD for a in assets},
                "margin_usd": m.margin / WAD,
                "scenario_margin_usd": m.scenario_margin / WAD,
                "floor_margin_usd": m.floor_margin / WAD,
                "add_on_usd": m.add_on / WAD,
                "worst_row": m.worst_scenario,
                "isolated_margin_usd": isolated / WAD,
            }
        )
    )
