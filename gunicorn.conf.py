"""gunicorn settings for `sendai-server serve` and `make run`. Command-line flags override."""

from sendai_server.config import Config

_config = Config.from_env()

wsgi_app = "wsgi:app"
bind = _config.bind
workers = _config.workers
worker_class = "sync"
# Each worker builds its own app and engine after the fork: no connection crosses processes.
preload_app = False
timeout = 30
graceful_timeout = 10
keepalive = 5
accesslog = None  # the application logs one structured line per request itself
errorlog = "-"
loglevel = _config.log_level.lower()
