"""Prometheus metrics of the keeper, served on a loopback port (prometheus-client)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server
from prometheus_client.metrics_core import Metric

from oracle.snapshot import Health

#: Health as a severity (0 is healthy, so `max by (market)` and `>= 2` read naturally in alerts).
HEALTH_VALUE = {Health.OK: 0, Health.DEGRADED: 1, Health.FAILED: 2}
#: The label each parameter field takes in the metrics.
FIELDS = (
    ("ltv", "ltv_bps"),
    ("liquidation_threshold", "liquidation_threshold_bps"),
    ("liquidation_bonus", "liquidation_bonus_bps"),
)


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
            "oracle_parameter_bps",
            "The registry's value after the last cycle (set every cycle, pushed or not)",
            ["market", "field"],
            registry=r,
        )
        self.recommended = Gauge(
            "oracle_recommended_bps",
            "The risk engine's recommendation in the last cycle",
            ["market", "field"],
            registry=r,
        )
        self.age = Gauge(
            "oracle_parameter_age_seconds",
            "Chain time since the registry last wrote the market (the age consumers check)",
            ["market"],
            registry=r,
        )
        self.health = Gauge(
            "oracle_feed_health",
            "Feed health as a severity: 0 ok, 1 degraded, 2 failed (alert on >= 2)",
            ["market"],
            registry=r,
        )
        self.last_push = Gauge(
            "oracle_last_push_timestamp",
            "Unix time of the last mined push (restored from the store at start)",
            registry=r,
        )
        self.last_cycle = Gauge(
            "oracle_last_cycle_timestamp", "Unix time of the last cycle that finished", registry=r
        )
        self.gas = Counter("oracle_gas_used", "Gas used by mined pushes", registry=r)

    def serve(self, port: int) -> None:
        start_http_server(port, addr="127.0.0.1", registry=self.registry)


class ChainMetrics:
    """The metrics of several chains' keepers on one endpoint: every sample carries a `chain`
    label, and each metric is one family across the chains (Prometheus's text format takes a
    family once)."""

    def __init__(self, chains: Mapping[str, Metrics]) -> None:
        self.chains = dict(chains)

    def collect(self) -> Iterator[Metric]:
        families: dict[str, Metric] = {}
        for chain, metrics in self.chains.items():
            for family in metrics.registry.collect():
                merged = families.setdefault(
                    family.name,
                    Metric(family.name, family.documentation, family.type, family.unit),
                )
                for s in family.samples:
                    labels = {**s.labels, "chain": chain}
                    merged.add_sample(s.name, labels, s.value, s.timestamp, s.exemplar)
        yield from families.values()

    def serve(self, port: int) -> None:
        registry = CollectorRegistry()
        registry.register(self)
        start_http_server(port, addr="127.0.0.1", registry=registry)
