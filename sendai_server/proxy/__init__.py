"""Proxy mode (docs/proxy.md): a client's real traffic, to Send AI or to this server, checked
against this server's OpenAPI document both ways, flagged, and optionally recorded.

contract.py checks (openapi-core does the checking; this package only maps its findings to
§15's shape), app.py is the streaming reverse proxy (a WSGI app under gunicorn, httpx
upstream), recording.py the JSON-lines recording and its summary, commands.py the CLI."""
