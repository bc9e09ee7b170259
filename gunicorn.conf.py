"""gunicorn settings when gunicorn is started from the repository (`gunicorn wsgi:app`, the
tests' live servers): the package's own, sendai_server/process/gunicorn_conf.py."""

from sendai_server.process.gunicorn_conf import *  # noqa: F403
