"""The `oracle` command line."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click
from eth_account.signers.local import LocalAccount
from web3 import Web3

from oracle.config import ChainConfig, OracleConfig, load_config
from oracle.errors import ConfigError, OracleError
from oracle.markets import market_id
from oracle.signing import Signer

DEFAULT_CONFIG = "oracle.yaml"


def _connect(chain: ChainConfig) -> Web3:
    w3 = Web3(Web3.HTTPProvider(chain.rpc_url, request_kwargs={"timeout": chain.request_timeout}))
    if not w3.is_connected():
        raise OracleError(
            f"cannot reach the RPC node at {chain.rpc_url} (config key chain.rpc_url)"
        )
    return w3


def _sender(chain: ChainConfig) -> LocalAccount | str:
    if chain.sender.unlocked is not None:
        return chain.sender.unlocked
    assert chain.sender.key_env is not None
    if not os.environ.get(chain.sender.key_env):
        raise ConfigError(
            "chain.sender.key_env", f"environment variable {chain.sender.key_env} is not set"
        )
    return Signer.from_env(chain.sender.key_env).account


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    default=DEFAULT_CONFIG,
    show_default=True,
    help="Keeper configuration file (YAML).",
)
@click.pass_context
def main(ctx: click.Context, config_path: Path) -> None:
    """Dynamic margin risk oracle: deploy and operate the margin-parameter registry."""
    ctx.obj = {"config_path": config_path}


def _config(ctx: click.Context) -> OracleConfig:
    return load_config(ctx.obj["config_path"])


@main.command()
@click.pass_context
def deploy(ctx: click.Context) -> None:
    """Deploy the registry to the configured RPC; prints its address as JSON."""
    from oracle.chain import RegistryClient

    cfg = _config(ctx)
    w3 = _connect(cfg.chain)
    reg = cfg.registry
    client, tx = RegistryClient.deploy(
        w3,
        _sender(cfg.chain),
        governance=reg.governance,
        guardian=reg.guardian,
        signers=reg.signers,
        threshold=reg.threshold,
        timelock_delay=reg.timelock_delay,
    )
    click.echo(
        json.dumps(
            {
                "registry": client.address,
                "chain_id": client.chain_id(),
                "tx_hash": tx.tx_hash,
                "block": tx.block_number,
                "gas_used": tx.gas_used,
            }
        )
    )


@main.command()
@click.argument("market")
@click.option("--address", help="Registry address (default: registry.address from the config).")
@click.pass_context
def params(ctx: click.Context, market: str, address: str | None) -> None:
    """Print a market's parameters, guardrail profile and guardrails as JSON (MARKET: e.g.
    ETH/USD)."""
    from oracle.chain import RegistryClient

    cfg = _config(ctx)
    address = address or cfg.registry.address
    if address is None:
        raise ConfigError("registry.address", "not set: deploy first or pass --address")
    client = RegistryClient(_connect(cfg.chain), address)
    mid = market_id(market)
    p = client.parameters(mid)
    g = client.guardrails(mid)
    click.echo(
        json.dumps(
            {
                "market": market,
                "market_id": "0x" + mid.hex(),
                "parameters": p.__dict__,
                "guardrail_profile": client.market_profile(mid),
                "guardrails": g.__dict__,
                "nonce": client.nonce(),
            }
        )
    )


@main.command()
@click.argument("markets", nargs=-1)
@click.pass_context
def snapshot(ctx: click.Context, markets: tuple[str, ...]) -> None:
    """Read every configured source of MARKETS (default: all in feeds.markets) once and print
    each market's snapshot as one JSON line: price, health and why, per-source results, hash."""
    import dataclasses
    import time

    from oracle.feeds import aggregate, collect
    from oracle.feeds.build import health_policy, sources_for

    cfg = _config(ctx)
    chosen = markets or tuple(cfg.feeds.markets)
    unknown = [m for m in chosen if m not in cfg.feeds.markets]
    if unknown:
        raise ConfigError("feeds.markets", f"no sources configured for {', '.join(unknown)}")
    on_chain = any(cfg.feeds.markets[m].chainlink or cfg.feeds.markets[m].uniswap for m in chosen)
    w3 = _connect(cfg.chain) if on_chain else None
    policy = health_policy(cfg.feeds)
    for market in chosen:
        sources = sources_for(market, cfg.feeds.markets[market], w3, cfg.feeds.timeout)
        now = int(time.time())
        snap = aggregate(market, collect(sources, now, cfg.feeds.timeout), now, policy)
        results = [
            {
                "type": type(r).__name__,
                **{k: v for k, v in dataclasses.asdict(r).items() if k != "bids"},
            }
            for r in snap.results
        ]
        click.echo(
            json.dumps(
                {
                    "market": market,
                    "price": snap.price,
                    "health": snap.health.value,
                    "reasons": list(snap.reasons),
                    "accepted": list(snap.accepted),
                    "divergence": snap.divergence,
                    "results": results,
                    "hash": "0x" + snap.hash().hex(),
                },
                default=str,
            )
        )


@main.command("market-id")
@click.argument("symbol")
def market_id_cmd(symbol: str) -> None:
    """Print the bytes32 id of a market symbol (keccak256 of the symbol)."""
    click.echo("0x" + market_id(symbol).hex())


def run() -> None:
    """Entry point that turns oracle errors into one readable line and exit code 1."""
    try:
        main(standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except OracleError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    run()
