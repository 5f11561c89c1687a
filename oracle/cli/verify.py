"""`oracle verify`: anyone holding a batch's inputs bundle reruns the engine and the policy on it
and checks the batch on-chain (see `oracle.audit.verify`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from oracle.cli import _config, main
from oracle.errors import ConfigError


@main.command()
@click.option("--nonce", type=int, help="The batch that consumed this registry nonce.")
@click.option("--tx", "tx_hash", help="The batch mined in this transaction.")
@click.option("--all", "every", is_flag=True, help="Every batch the registry accepted.")
@click.option(
    "--bundles",
    type=click.Path(path_type=Path, file_okay=False),
    help="Directory of inputs bundles (default: keeper.bundles from the config).",
)
@click.option("--from-block", type=int, default=0, show_default=True, help="Where to scan from.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per batch.")
@click.pass_context
def verify(
    ctx: click.Context,
    nonce: int | None,
    tx_hash: str | None,
    every: bool,
    bundles: Path | None,
    from_block: int,
    as_json: bool,
) -> None:
    """Recompute signed batches from their inputs bundles: the inputsHash, the model version, the
    registry state the policy read, and every value. Exit status 1 when any batch differs; the
    first field that differs is named."""
    from oracle.audit.bundle import BundleStore
    from oracle.audit.verify import verify as run_verify
    from oracle.keeper.config import KeeperConfig
    from oracle.keeper.runtime import connect, registry

    if sum((nonce is not None, tx_hash is not None, every)) != 1:
        raise click.UsageError("give exactly one of --nonce N, --tx HASH or --all")
    cfg = _config(ctx)
    if bundles is None:
        bundles = cfg.keeper.bundles if cfg.keeper else KeeperConfig.model_fields["bundles"].default
    if not Path(bundles).is_dir():
        raise ConfigError("keeper.bundles", f"{bundles} is not a directory of inputs bundles")
    client = registry(cfg, connect(cfg.chain))
    verdicts = run_verify(
        client, BundleStore(bundles), nonce=nonce, tx_hash=tx_hash, from_block=from_block
    )
    for v in verdicts:
        click.echo(json.dumps(v.to_dict()) if as_json else v.line())
    good = sum(v.ok for v in verdicts)
    if not as_json:
        click.echo(f"verified {good} of {len(verdicts)} batches")
    if good != len(verdicts):
        sys.exit(1)
