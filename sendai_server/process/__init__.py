"""Processes: how the server runs, not what it serves.

The rule of this folder: it starts, watches and stops processes (gunicorn's config and worker
class, the watch that ends a worker with its parent, `serve`'s supervisor of gunicorn and the
pipeline worker); it imports `config` and `domain/` only, never the app, so gunicorn can load
it before any request code.
"""
