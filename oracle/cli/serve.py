"""`oracle serve`: the read-only dashboard on 127.0.0.1 (`oracle.dashboard`), served by waitress."""

from __future__ import annotations

import contextlib
import signal

import click

from oracle.cli import _config, main
from oracle.errors import ConfigError


@main.command()
@click.option("--port", type=int, default=8600, show_default=True)
@click.option(
    "--stale-after",
    type=int,
    default=None,
    help="Seconds of chain time after which a value shows stale (default: the policy's heartbeat "
    "plus two cycle intervals).",
)
@click.pass_context
def serve(ctx: click.Context, port: int, stale_after: int | None) -> None:
    """Serve the dashboard on 127.0.0.1:PORT until Ctrl-C or SIGTERM: per market the registry's
    values, ramps, ages, feed health; recent updates with their reasons and verification;
    proposals with their review reports; keeper liveness; each market's parameter path."""
    from waitress import create_server

    from oracle.audit.bundle import BundleStore
    from oracle.dashboard.app import create_app
    from oracle.dashboard.data import Dashboard
    from oracle.keeper.runtime import connect, registry
    from oracle.keeper.store import Store

    cfg = _config(ctx)
    if cfg.keeper is None:
        raise ConfigError("keeper", "missing: the dashboard shows the keeper's markets and store")
    keeper = cfg.keeper
    Store(keeper.store, read_only=True).close()  # fails now, in one line, without a store
    heartbeat = keeper.policy.heartbeat_after
    dashboard = Dashboard(
        registry=registry(cfg, connect(cfg.chain)),
        store_path=keeper.store,
        bundles=BundleStore(keeper.bundles),
        reviews=keeper.reviews,
        markets=tuple(keeper.markets),
        stale_after=stale_after or int(heartbeat + 2 * keeper.interval),
        silent_after=int(2 * keeper.interval + 60),
    )
    try:
        server = create_server(create_app(dashboard), host="127.0.0.1", port=port, threads=4)
    except OSError as exc:
        raise ConfigError("--port", f"cannot serve on 127.0.0.1:{port}: {exc}") from None

    def stop(*_: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    click.echo(
        f"dashboard on http://127.0.0.1:{server.effective_port}/ (Ctrl-C stops it)", err=True
    )
    try:
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how it is stopped
            server.run()
    finally:
        server.close()
        click.echo("dashboard stopped", err=True)
