"""gunicorn settings for `sendai-server serve` and `make run` (`--config
python:sendai_server.gunicorn_conf`, so an installed copy has them too; the repository's
gunicorn.conf.py is these). Command-line flags override."""

from sendai_server.config import Config

_config = Config.from_env()

wsgi_app = "sendai_server:create_app()"
bind = _config.bind
workers = _config.workers
# Like "sync", but gunicorn's own rejections answer in our JSON error shape.
worker_class = "sendai_server.gunicorn_worker.JSONErrorSyncWorker"
# Each worker builds its own app and engine after the fork: no connection crosses processes.
preload_app = False
timeout = 30
graceful_timeout = 10
keepalive = 5
accesslog = None  # the application logs one structured line per request itself
errorlog = "-"
loglevel = _config.log_level.lower()
