"""gunicorn settings for `sendai-server serve` and `make run` (`--config
python:sendai_server.process.gunicorn_conf`, so an installed copy has them too; the repository's
gunicorn.conf.py is these). Command-line flags override."""

from sendai_server.config import Config
from sendai_server.process.parent_watch import end_with_parent

_config = Config.from_env()

wsgi_app = "sendai_server:create_app()"
bind = _config.bind
workers = _config.workers
# gunicorn's "gthread", with gunicorn's own rejections answered in our JSON error shape.
# Threads, not one request per process: a browser (the inspector, /docs) keeps connections
# open and opens speculative ones; a sync worker waits on each such connection until its
# timeout, and two idle browser connections held both sync workers while an API call timed
# out. gthread parks a waiting connection in its poller (a new one after at most 5 s of
# silence) and gives threads only to requests that arrive: an idle browser costs no worker.
worker_class = "sendai_server.process.gunicorn_worker.JSONErrorThreadWorker"
threads = 4
# Each worker builds its own app and engine after the fork: no connection crosses processes.
preload_app = False
timeout = 30
graceful_timeout = 10
keepalive = 5
accesslog = None  # the application logs one structured line per request itself
errorlog = "-"
loglevel = _config.log_level.lower()


def on_starting(server: object) -> None:
    """Started by `serve` where Linux's parent-death signal is missing: end with it, as a
    SIGTERM from serve would (parent_watch.py)."""
    end_with_parent(_config.supervisor_pid)
