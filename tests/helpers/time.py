"""Times in tests: seconds, and ISO-8601 UTC strings to unix seconds."""

from __future__ import annotations

from datetime import datetime

HOUR = 3_600
DAY = 86_400


def ts(iso: str) -> int:
    """Unix seconds of a UTC time written without a zone, e.g. "2020-03-12T10:00:00"."""
    return int(datetime.fromisoformat(iso + "+00:00").timestamp())
