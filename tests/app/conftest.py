"""The app layer: the app in-process (Flask's test client) and units of work on a real database,
SQLite and, with TEST_DATABASE_URL, PostgreSQL. No gunicorn, no browser: `make test-quick`."""

from tests.support.fixtures import *  # noqa: F403
from tests.support.proxy import contract, make_proxy, stub  # noqa: F401 - the proxy's fixtures
from tests.support.worker import handled  # noqa: F401 - the worker tests' table of handled jobs
