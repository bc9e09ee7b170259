"""`--record FILE` (docs/proxy.md): one JSON line per exchange, appended, and its summary.

A line: `{"at", "duration_ms", "operation", "request": {"method", "path", "query", "headers",
"body"}, "response": {"status", "headers", "body"}, "violations": [...]}`. Headers are
`[name, value]` pairs as they came, secrets (`Authorization`, cookies, signature headers) as
`***`. A JSON body is kept as JSON; any other body, or one the proxy streamed without reading
whole, as `{"base64": ..., "size": <bytes in all>, "cut": <true when only the first 1 MiB is
kept>}`; no body is null."""

from __future__ import annotations

import base64
import json
import threading
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

KEPT_BYTES = 1024 * 1024
SECRET = "***"
_SECRET_HEADERS = {"authorization", "proxy-authorization", "cookie", "set-cookie",
                   "x-api-key"}


def is_secret_header(name: str) -> bool:
    lowered = name.lower()
    return lowered in _SECRET_HEADERS or "signature" in lowered


def redacted(headers: Iterable[tuple[str, str]]) -> list[list[str]]:
    return [[name, SECRET if is_secret_header(name) else value] for name, value in headers]


def is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


@dataclass
class BodyCopy:
    """The first KEPT_BYTES of a body as it passes, and how long it was in all."""

    content_type: str = ""
    kept: bytearray = field(default_factory=bytearray)
    size: int = 0

    def add(self, chunk: bytes) -> None:
        if len(self.kept) < KEPT_BYTES:
            self.kept += chunk[:KEPT_BYTES - len(self.kept)]
        self.size += len(chunk)

    def as_json(self) -> Any:
        if self.size == 0:
            return None
        if self.size == len(self.kept) and is_json(self.content_type):
            try:
                return json.loads(self.kept)
            except ValueError:
                pass  # not what it says it is: kept as bytes, like any other body
        return {"base64": base64.b64encode(bytes(self.kept)).decode(), "size": self.size,
                "cut": self.size > len(self.kept)}


class Recording:
    """Appends exchanges to FILE, one line each, from any thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: TextIO = path.open("a", encoding="utf-8")
        self._lock = threading.Lock()

    def append(self, exchange: dict[str, Any]) -> None:
        line = json.dumps(exchange, separators=(",", ":")) + "\n"
        with self._lock:
            self._file.write(line)
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            self._file.close()


# --- summary ------------------------------------------------------------------------------------

def read_exchanges(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except ValueError as exc:
                raise ValueError(f"{path}:{number} is not a JSON line: {exc}") from exc


def summarize(exchanges: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per operation (an undocumented one by its method and path): the calls, the statuses
    seen, and each distinct finding (side, where, rule) with how often and one message."""
    calls: Counter[str] = Counter()
    statuses: dict[str, Counter[int]] = defaultdict(Counter)
    findings: dict[str, dict[tuple[str, str, str], dict[str, Any]]] = defaultdict(dict)
    for exchange in exchanges:
        request = exchange.get("request", {})
        operation = exchange.get("operation") or (
            f"(undocumented) {request.get('method')} {request.get('path')}")
        calls[operation] += 1
        statuses[operation][exchange.get("response", {}).get("status")] += 1
        for violation in exchange.get("violations", []):
            key = (violation["side"], violation["where"], violation["rule"])
            seen = findings[operation].setdefault(key, {
                "side": key[0], "where": key[1], "rule": key[2], "count": 0,
                "message": violation["message"]})
            seen["count"] += 1
    return [
        {"operation": operation, "calls": count,
         "statuses": {str(s): n for s, n in sorted(statuses[operation].items(),
                                                    key=lambda item: str(item[0]))},
         "findings": sorted(findings[operation].values(),
                            key=lambda f: (f["side"], -f["count"], f["where"]))}
        for operation, count in sorted(calls.items())
    ]


def summary_text(summary: list[dict[str, Any]]) -> str:
    if not summary:
        return "no exchanges recorded"
    lines = []
    for row in summary:
        statuses = ", ".join(f"{s}: {n}" for s, n in row["statuses"].items())
        flagged = sum(f["count"] for f in row["findings"])
        lines.append(f"{row['operation']}\n  {row['calls']} calls; statuses {statuses}; "
                     f"{flagged or 'no'} findings")
        lines += [f"  {f['count']:>5} x {f['side']} {f['where']} [{f['rule']}] {f['message']}"
                  for f in row["findings"]]
    return "\n".join(lines)
