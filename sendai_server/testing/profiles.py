"""`@pytest.mark.sendai_profiles(...)` (docs/profiles.md): a test that uses the `sendai` fixture
runs once per fidelity profile, its team put on that profile before the test starts, each run's
id naming the profile by its switches (`default`, `discard_refused=ignored`, ...), so that a
failure names the reading of Send AI's pages that the client does not survive.

`"all"` is the default profile plus, for each switch, one profile per other choice (the rest
at their defaults): every choice of every switch is met at least once, in 8 runs rather than
the 96 of every combination. Each switch acts alone, in a place of its own (a discard's
answer, a refusal's status, a payload's spelling or shape, an email's tasks, an export's
moment), so a client that passes each choice alone passes their combinations as well; a test
that wants a combination names it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from ..domain.profiles import Profile, ProfileError, every_choice, parse_profile_text

MARK = "sendai_profiles"
MARK_HELP = (f"{MARK}(*profiles): run the test once per fidelity profile: \"all\", or profiles "
             "as 'switch=choice,...' strings or {switch: choice} dicts (docs/profiles.md)")


def profiles_of(mark: pytest.Mark) -> list[Profile]:
    """The profiles a mark names; a UsageError naming the bad switch or choice otherwise."""
    if not mark.args:
        raise pytest.UsageError(f"@pytest.mark.{MARK} needs \"all\" or at least one profile")
    found: list[Profile] = []
    for arg in mark.args:
        try:
            if arg == "all":
                found.extend(every_choice())
            elif isinstance(arg, str):
                found.append(Profile(parse_profile_text(arg)))
            elif isinstance(arg, Mapping):
                found.append(Profile(arg))
            else:
                raise ProfileError({repr(arg): "Expected \"all\", a string or a dict."})
        except ProfileError as exc:
            raise pytest.UsageError(f"@pytest.mark.{MARK}: {exc}") from exc
    return list(dict.fromkeys(found))  # the same profile twice runs once


def parametrize(metafunc: pytest.Metafunc) -> None:
    mark = metafunc.definition.get_closest_marker(MARK)
    if mark is None or "sendai_profile" not in metafunc.fixturenames:
        return
    profiles = profiles_of(mark)
    metafunc.parametrize("sendai_profile", profiles, ids=[p.label() for p in profiles],
                         indirect=True)


def requested(request: pytest.FixtureRequest) -> Profile | None:
    """The `sendai_profile` fixture's value: the run's profile, or None for an unmarked test
    (its team then follows the server's default)."""
    profile: Any = getattr(request, "param", None)
    return profile if isinstance(profile, Profile) else None
