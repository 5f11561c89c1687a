"""Prometheus metrics of the keeper, served on a loopback port (prometheus-client)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from oracle.snapshot import Health

HEALTH_VALUE = {Health.OK: 0, Health.DEGRADED: 1, Health.FAILED: 2}


class Metrics:
    """One registry per keeper (not the process-global one), so tests can build several."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.cycles = Counter("oracle_cycles", "Keeper cycles by outcome", ["status"], registry=r)
        self.pushes = Counter(
            "oracle_pushes", "Signed batches by kind and outcome", ["kind", "status"], registry=r
        )
        self.failures = Counter("oracle_failures", "Failures by kind", ["kind"], registry=r)
        self.parameter = Gauge(
            "oracle_parameter_bps", "Recommended parameter", ["market", "field"], registry=r
        )
        self.health = Gauge(
            "oracle_feed_health", "0 ok, 1 degraded, 2 failed", ["market"], registry=r
        )
        self.last_push = Gauge(
            "oracle_last_push_timestamp", "Unix time of the last mined push", registry=r
        )
        self.gas = Counter("oracle_gas_used", "Gas used by mined pushes", registry=r)

    def serve(self, port: int) -> None:
        start_http_server(port, addr="127.0.0.1", registry=self.registry)
