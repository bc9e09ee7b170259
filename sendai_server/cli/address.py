"""The address the CLI prints (docs/cli.md): SENDAI_PUBLIC_URL when clients reach the server
under another name, else the one it listens on (serve's --bind or SENDAI_BIND)."""

from __future__ import annotations

from ..config import Config

DEFAULT_PORT = 8000  # gunicorn's, for a bind that names a host alone
# Listening on every interface: this machine reaches it on loopback.
_WILDCARDS = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}


def listening_url(bind: str) -> str | None:
    """http://HOST:PORT for a gunicorn bind (HOST:PORT, HOST, :PORT, [IPv6]:PORT); None for a
    Unix socket or a file descriptor, which no URL names."""
    if bind.startswith(("unix:", "fd://")):
        return None
    if bind.startswith("["):
        host, _, rest = bind[1:].partition("]")
        port = rest.removeprefix(":") or str(DEFAULT_PORT)
    elif bind.count(":") == 1:
        host, port = bind.split(":")
    else:  # a host alone, or an IPv6 address without brackets or port
        host, port = bind, str(DEFAULT_PORT)
    host = _WILDCARDS.get(host, host)
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def public_base_url(config: Config, bind: str | None = None) -> str | None:
    """The base of every address printed for clients: SENDAI_PUBLIC_URL when set, else where
    `bind` (default SENDAI_BIND) listens; None when neither names one."""
    return config.public_url or listening_url(bind or config.bind)
