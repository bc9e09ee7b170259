"""The live layer: real gunicorn over HTTP, subprocesses, browsers, Docker, network namespaces.
Every test here is `slow` (marked below, so no file needs to say so): `make test` runs them,
`make test-quick` does not."""

from pathlib import Path

import pytest

from tests.support.fixtures import *  # noqa: F403
from tests.support.live_pipeline import setting_factory  # noqa: F401 - live server and workers

_HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.slow)
