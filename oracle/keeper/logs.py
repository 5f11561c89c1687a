"""Logging: readable lines on a terminal, one JSON object per line otherwise (for log shippers)."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

RESERVED = set(vars(logging.makeLogRecord({})))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created)),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        body.update({k: v for k, v in vars(record).items() if k not in RESERVED})
        if record.exc_info:
            body["error"] = self.formatException(record.exc_info).splitlines()[-1]
        return json.dumps(body, default=str)


def configure(level: int = logging.INFO, json_lines: bool | None = None) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if json_lines if json_lines is not None else not sys.stderr.isatty():
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("oracle")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    # A job run skipped because the previous one still runs is the design (no overlap), not news.
    logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)
