"""The web edge: everything that knows Flask.

The rule of this folder: a view parses, calls one service inside the request's unit of work, and
returns; no rule of the domain is decided here. Nothing below this folder imports Flask,
werkzeug, flask-smorest or webargs (`.importlinter` keeps it so).

- `context`: the request's unit of work and the app's shared pieces, behind accessors.
- `auth`: keys and scopes. `ratelimit`: the per-team budget. `logs`: one JSON line a request.
- `api/`: the `/v2` blueprints and their schemas (flask-smorest, so `/openapi.json` is derived
  from what validates). `inspect/`: the inspector's pages, templates and static files.
"""
