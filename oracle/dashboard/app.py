"""The dashboard's pages (Flask). Read-only: no route writes to the chain, the store or the disk."""

from __future__ import annotations

from typing import Any

from flask import Flask, abort, render_template, send_from_directory
from werkzeug.exceptions import HTTPException

from oracle.dashboard.chart import path_svg
from oracle.dashboard.data import Dashboard
from oracle.errors import OracleError


def create_app(dashboard: Dashboard) -> Flask:
    app = Flask(__name__)

    @app.template_filter("bps")
    def bps(value: Any) -> str:
        return "—" if value is None else f"{int(value):,}"

    @app.template_filter("age")
    def age(seconds: Any) -> str:
        if seconds is None:
            return "—"
        s = int(seconds)
        if s < 120:
            return f"{s} s"
        if s < 7_200:
            return f"{s // 60} min"
        if s < 172_800:
            return f"{s / 3_600:.1f} h"
        return f"{s / 86_400:.1f} d"

    @app.errorhandler(OracleError)
    def oracle_error(exc: OracleError) -> tuple[str, int]:
        # the chain or the store is unreachable: say so on the page, in one line
        return render_template("error.html", message=str(exc)), 503

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Any:
        if isinstance(exc, HTTPException):  # 404 and the like keep their own page
            return exc
        app.logger.exception("dashboard page failed")
        message = f"{type(exc).__name__}: {exc}".splitlines()[0]
        return render_template("error.html", message=message), 500

    @app.get("/")
    def overview() -> str:
        rows, live, chain_time = dashboard.overview()
        return render_template(
            "overview.html", rows=rows, live=live, chain_time=chain_time, d=dashboard
        )

    @app.get("/market/<path:market>")
    def market(market: str) -> str:
        if market not in dashboard.markets:
            abort(404)
        [row], live, chain_time = dashboard.overview((market,))
        history, prices = dashboard.path(market)
        svg = path_svg(market, history, prices, chain_time)
        return render_template(
            "market.html",
            row=row,
            live=live,
            svg=svg,
            updates=dashboard.updates(market, limit=10),
            changes=len(history),
            d=dashboard,
        )

    @app.get("/updates")
    def updates() -> str:
        return render_template("updates.html", updates=dashboard.updates(), d=dashboard)

    @app.get("/proposals")
    def proposals() -> str:
        return render_template("proposals.html", proposals=dashboard.proposals(), d=dashboard)

    @app.get("/reviews/<name>")
    def review(name: str) -> Any:
        if not name.startswith("proposal-"):
            abort(404)
        return send_from_directory(dashboard.reviews.resolve(), name)

    return app
