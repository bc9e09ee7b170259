"""`sendai-server proxy` and `sendai-server recording summary` (docs/proxy.md).

The proxy's app and contract (openapi-core) are imported when the proxy starts, not with the
command line: every other command, and every server process, starts without them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import httpx
from gunicorn.app.base import BaseApplication

from ..web import logs
from .recording import Recording, read_exchanges, summarize, summary_text


class _ProxyServer(BaseApplication):
    """gunicorn, in this process, serving the one ProxyApp: one worker process (so one
    recording file has one writer), a thread per exchange in flight."""

    def __init__(self, app: Any, bind: str, threads: int) -> None:
        self.app, self.bind, self.threads = app, bind, threads
        super().__init__()

    def load_config(self) -> None:
        settings = {
            "bind": self.bind, "workers": 1, "threads": self.threads,
            # Our JSON error shape for what gunicorn refuses itself, and a lingering close.
            "worker_class": "sendai_server.process.gunicorn_worker.JSONErrorThreadWorker",
            "timeout": 0, "graceful_timeout": 10, "keepalive": 5, "accesslog": None,
            "errorlog": "-", "loglevel": "warning",
        }
        for name, value in settings.items():
            self.cfg.set(name, value)

    def load(self) -> Any:
        return self.app


@click.command("proxy", help="A reverse proxy to point a client at instead of Send AI (or this "
                             "server): every exchange passes unchanged and is checked against "
                             "this server's OpenAPI document both ways (docs/proxy.md).")
@click.option("--upstream", required=True, metavar="URL",
              help="Where requests go, e.g. https://api.send.ai or http://127.0.0.1:8000.")
@click.option("--bind", default="127.0.0.1:8080", show_default=True, metavar="HOST:PORT")
@click.option("--record", "record", type=click.Path(dir_okay=False, path_type=Path),
              help="Append one JSON line per exchange to FILE (secrets as ***).")
@click.option("--strict", is_flag=True,
              help="Answer a request that breaks the contract with 400 here; never send it.")
@click.option("--timeout", type=click.FloatRange(0.1, 3600), default=30.0, show_default=True,
              help="Seconds to wait on the upstream (connecting, or between bytes): then 504.")
@click.option("--threads", type=click.IntRange(1, 256), default=32, show_default=True,
              help="Exchanges in flight at once.")
def proxy(upstream: str, bind: str, record: Path | None, strict: bool, timeout: float,
          threads: int) -> None:
    try:
        url = httpx.URL(upstream)
    except httpx.InvalidURL as exc:
        raise click.BadParameter(f"{upstream!r}: {exc}", param_hint="--upstream") from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise click.BadParameter(f"{upstream!r} is not an http:// or https:// URL",
                                 param_hint="--upstream")
    from .app import ProxyApp
    from .contract import Contract, this_servers_document

    logs.configure("INFO")
    recording = Recording(record) if record is not None else None
    app = ProxyApp(upstream, Contract(this_servers_document()), strict=strict,
                   recording=recording, timeout=timeout, connections=threads)
    click.echo(f"proxy on http://{bind} -> {app.upstream_shown}"
               f"{' (strict)' if strict else ''}{f', recording to {record}' if record else ''}",
               err=True)
    try:
        _ProxyServer(app, bind, threads).run()
    finally:
        app.close()


@click.group("recording", help="Recordings made by `sendai-server proxy --record`.")
def recording() -> None:
    pass


@recording.command("summary", help="Per operation: the calls, the statuses seen and the "
                                   "contract findings.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print only the JSON document.")
def recording_summary(file: Path, as_json: bool) -> None:
    try:
        summary: list[dict[str, Any]] = summarize(read_exchanges(file))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps({"operations": summary}, indent=2))
    else:
        click.echo(summary_text(summary))


COMMANDS = (proxy, recording)
