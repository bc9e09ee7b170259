"""The whole suite's one hook: SENDAI_REQUIRE_POSTGRES=1 (set by .ci/run) turns a missing
PostgreSQL into a failure instead of a quiet SQLite-only run. The layers' fixtures are in
tests/support/fixtures.py, taken by tests/app/ and tests/live/; tests/unit/ needs none.
"""

from __future__ import annotations

import pytest

from tests.support.databases import POSTGRES_URL, REQUIRE_POSTGRES


def pytest_configure(config: pytest.Config) -> None:
    if REQUIRE_POSTGRES and not POSTGRES_URL:
        pytest.exit("SENDAI_REQUIRE_POSTGRES=1 but TEST_DATABASE_URL is not set", returncode=3)
