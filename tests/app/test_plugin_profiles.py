"""The plugin's `@pytest.mark.sendai_profiles` (docs/profiles.md), as an integrator's suite uses
it: a marked test runs once per profile, each run named by its switches, and the run whose
profile breaks the client fails under that name."""

from __future__ import annotations

import pytest

import sendai_server.cli
import sendai_server.testing.server  # noqa: F401

# Imported once here, as tests/app/test_plugin.py explains: pytester's in-process runs would
# otherwise import a second copy of the application.
from sendai_server.domain.profiles import every_choice
from tests.support.plugin import PLUGIN

pytest_plugins = ["pytester"]

pytestmark = pytest.mark.slow

CLIENT = """
import pytest
import requests

def discard(sendai, task_id):
    return requests.post(f"{sendai.api_url}/task/{task_id}/discard",
                         headers={"Authorization": f"Bearer {sendai.key()}"}, timeout=10)
"""


def test_all_runs_a_test_once_per_profile_and_names_the_one_that_breaks_it(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_client=CLIENT + """
@pytest.mark.sendai_profiles("all")
def test_a_client_that_needs_the_400(sendai, sendai_profile):
    assert sendai.profile == dict(sendai_profile)
    task_id = sendai.task(status="COMPLETED")
    assert discard(sendai, task_id).status_code == 400
""")
    result = pytester.runpytest(*PLUGIN, "-v", "-rf")
    result.assert_outcomes(passed=len(every_choice()) - 1, failed=1)
    labels = [p.label() for p in every_choice()]
    for label in labels:
        result.stdout.fnmatch_lines([f"*test_a_client_that_needs_the_400[[]{label}[]]*"])
    result.stdout.fnmatch_lines(
        ["FAILED test_client.py::test_a_client_that_needs_the_400[[]discard_refused=ignored[]]*"])


def test_a_client_that_survives_both_readings_passes_every_profile(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_client=CLIENT + """
@pytest.mark.sendai_profiles("all")
def test_a_careful_client(sendai):
    task_id = sendai.task(status="COMPLETED")
    response = discard(sendai, task_id)
    # Either reading: nothing happened, and the client can tell from the task itself.
    assert response.status_code in (200, 400)
    if response.status_code == 200:
        assert response.json()["payload"]["status"] == "COMPLETED"
""")
    pytester.runpytest(*PLUGIN).assert_outcomes(passed=len(every_choice()))


def test_a_list_of_profiles_runs_those_and_a_bad_one_is_a_usage_error(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_client=CLIENT + """
@pytest.mark.sendai_profiles("no_access=forbidden,event_names=IN_REVIEW",
                             {"payload_task": "summary"})
def test_listed(sendai, sendai_profile):
    assert sendai.profile == dict(sendai_profile)

def test_unmarked(sendai, sendai_profile):
    assert sendai_profile is None
    assert sendai.profile["discard_refused"] == "error"
""")
    result = pytester.runpytest(*PLUGIN, "-v")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*test_listed[[]no_access=forbidden,event_names=IN_REVIEW[]]*",
                                 "*test_listed[[]payload_task=summary[]]*"])
    pytester.makepyfile(test_bad="""
import pytest

@pytest.mark.sendai_profiles("discard_refused=never")
def test_bad(sendai):
    pass
""")
    bad = pytester.runpytest(*PLUGIN, "test_bad.py")
    assert bad.ret != 0
    assert "discard_refused" in bad.stdout.str() + bad.stderr.str()
