"""The pytest plugin costs a run that never asks for `sendai` nothing (issue 21): pytest loads
sendai_server.testing.plugin into every run of every environment where sendai-server is
installed, so the plugin module imports pytest and nothing heavier, and the application (Flask,
SQLAlchemy, the server harness) loads when a test first asks for the fixture. `make bench`
measures what this saves (bench/plugin.py); these check the reason, without timing anything."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytest_plugins = ["pytester"]

# Modules the plugin must not import until a test asks for the fixture.
HEAVY = ("flask", "sqlalchemy", "alembic", "werkzeug", "httpx", "sendai_server.web.api",
         "sendai_server.store.uow", "sendai_server.testing.server")

# The source of `loaded()`: which of them a process has imported.
LOADED = f"""
import sys

HEAVY = {HEAVY!r}

def loaded():
    return sorted(m for m in sys.modules if any(m == h or m.startswith(h + ".") for h in HEAVY))
"""


def test_importing_the_plugin_module_leaves_flask_and_sqlalchemy_out() -> None:
    script = "import json\nimport sendai_server.testing.plugin\n" + LOADED + (
        "print(json.dumps(loaded()))")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=60, check=True)

    assert json.loads(run.stdout) == []


def test_the_packages_public_names_still_import_from_sendai_server_testing() -> None:
    script = ("from sendai_server.testing import SendAIHelperError, SendAIProject, "
              "SendAIServer, WaitTimeout\n"
              "assert issubclass(WaitTimeout, AssertionError)\n"
              "import sendai_server.testing as t\n"
              "try:\n    t.Nothing\nexcept AttributeError as exc:\n    print(exc)\n")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=60, check=True)

    assert run.stdout.strip() == "module 'sendai_server.testing' has no attribute 'Nothing'"


@pytest.mark.slow
def test_a_run_loads_the_application_only_when_a_test_asks_for_the_fixture(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only this plugin, by its module name: none of this environment's other plugins.
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makepyfile(test_order=LOADED + """
def test_first_a_plain_test(request):
    assert request.config.pluginmanager.hasplugin("sendai_server.testing.plugin")
    assert loaded() == []

def test_then_one_that_asks_for_sendai(sendai):
    assert sendai.get_task(sendai.task())["status"] == "REVIEWING"
    assert "flask" in loaded()
""")
    result = pytester.runpytest_subprocess("-p", "sendai_server.testing.plugin",
                                           "-p", "no:cacheprovider")

    result.assert_outcomes(passed=2)
