"""Structured logs: one JSON object per line on standard error.

Every request gets exactly one line (`"event": "request"`) with its id, method, path template
(the URL rule, e.g. /v2/<team_id>/project/<project_id>/task/<task_id>, never the raw path),
status, duration and the key's id, and the query parameters the operation does not take when
there are any (`unknown_query`). Never the key, a header or a body. Errors carry their
traceback and request id.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import traceback
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, g, request

log = logging.getLogger("sendai_server.request")

# LogRecord's own attributes; anything else on a record came from `extra=` and is logged.
_RECORD_ATTRS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _RECORD_ATTRS})
        if record.exc_info:
            entry["traceback"] = "".join(traceback.format_exception(*record.exc_info))
        return json.dumps(entry, default=str)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (pytest's capture swaps it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def configure(level: str) -> None:
    """JSON lines for the whole `sendai_server` logger tree; idempotent."""
    logger = logging.getLogger("sendai_server")
    logger.setLevel(level)
    logger.propagate = False
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(JSONFormatter())
        logger.addHandler(handler)


def init_app(app: Flask) -> None:
    @app.before_request
    def _start_clock() -> None:
        g.request_started = time.perf_counter()

    @app.after_request
    def _log_request(response: Response) -> Response:
        if not log.isEnabledFor(logging.INFO):  # below the level: build nothing
            return response
        started = g.get("request_started")
        principal = g.get("principal")
        # api/query_warnings.py: the query parameters the operation does not take.
        unknown_query = g.get("sendai_unknown_query")
        log.info(
            "request",
            extra={
                "event": "request",
                "request_id": g.get("request_id"),
                "method": request.method,
                "path": request.url_rule.rule if request.url_rule is not None else None,
                "status": response.status_code,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2)
                if started is not None else None,
                "key_id": principal.key_id if principal is not None else None,
                **({"unknown_query": unknown_query} if unknown_query else {}),
            },
        )
        return response
