"""Fidelity profiles (docs/profiles.md): where Send AI's own pages contradict themselves, one
switch per place and one choice per reading. `SWITCHES` is the one registry: every switch, its
choices, the default first. Everything else (the server-wide default read by config.py, a
team's profile in the database, the endpoint's schema, the plugin's "all", the docs' table)
is derived from it.

No I/O here. A team's profile is stored as the switches it sets (`Team.profile`); what it does
not set comes from the server's default (`SENDAI_PROFILE`), which in turn defaults to each
switch's first choice.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Switch:
    name: str
    choices: tuple[str, ...]  # the default first
    summary: str

    @property
    def default(self) -> str:
        return self.choices[0]


SWITCHES: tuple[Switch, ...] = (
    Switch("discard_refused", ("error", "ignored"),
           "a discard of a task not in REVIEWING: 400 invalid_task_state, or 200 and the task "
           "unchanged"),
    Switch("no_access", ("not_found", "forbidden"),
           "a project or upload of the key's team that the key may not see: 404, or 403 "
           "forbidden"),
    Switch("event_names", ("UPLOAD_IN_REVIEW", "upload.in_review", "IN_REVIEW"),
           "how a notification's `event` is spelled (and the same for processed and export)"),
    Switch("payload_task", ("task", "summary"),
           "a notification's `task`: the public task, or {id, status, document_type, "
           "extracted_data}"),
    Switch("email_body", ("always", "without_attachments"),
           "an email's body becomes a task always, or only when nothing is attached"),
    Switch("export_when", ("task", "upload"),
           "task.export is sent when a task becomes COMPLETED, or once every task of its "
           "upload has finished"),
)
BY_NAME: dict[str, Switch] = {s.name: s for s in SWITCHES}


class ProfileError(ValueError):
    """Settings that name an unknown switch or choice: {field: message}."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = fields


class Profile(Mapping[str, str]):
    """Every switch's choice. Read it as `profile["discard_refused"]`."""

    __slots__ = ("_choices",)

    def __init__(self, settings: Mapping[str, str] | None = None,
                 base: Mapping[str, str] | None = None) -> None:
        settings = check_settings(settings or {})
        base = base or {}
        self._choices = {s.name: settings.get(s.name, base.get(s.name, s.default))
                         for s in SWITCHES}

    def __getitem__(self, switch: str) -> str:
        return self._choices[switch]

    def __iter__(self) -> Iterator[str]:
        return iter(self._choices)

    def __len__(self) -> int:
        return len(self._choices)

    def __repr__(self) -> str:
        return f"Profile({self._choices!r})"

    def __hash__(self) -> int:
        return hash(tuple(self._choices.items()))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mapping) and dict(self) == dict(other)

    def differences(self, other: Mapping[str, str] | None = None) -> dict[str, str]:
        """The switches set otherwise than in `other` (default: every switch's default)."""
        reference = other if other is not None else DEFAULT
        return {k: v for k, v in self._choices.items() if reference[k] != v}

    def label(self) -> str:
        """`switch=choice,...` of the switches off their defaults; `default` when none is."""
        changed = self.differences()
        return ",".join(f"{k}={v}" for k, v in changed.items()) or "default"


def check_settings(settings: Mapping[str, Any]) -> dict[str, str]:
    """`settings` when every key is a switch and every value one of its choices; otherwise
    ProfileError naming each bad field."""
    bad: dict[str, str] = {}
    for name, value in settings.items():
        switch = BY_NAME.get(name)
        if switch is None:
            bad[name] = f"Unknown switch; the switches are {', '.join(BY_NAME)}."
        elif value not in switch.choices:
            bad[name] = f"Must be one of {', '.join(switch.choices)}."
    if bad:
        raise ProfileError(bad)
    return dict(settings)


def parse_profile_text(text: str) -> dict[str, str]:
    """`switch=choice,switch=choice` (SENDAI_PROFILE, the plugin's marks) as settings."""
    settings: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, separator, value = part.partition("=")
        if not separator:
            raise ProfileError({part: "Expected switch=choice."})
        settings[name.strip()] = value.strip()
    return check_settings(settings)


DEFAULT = Profile()


def every_choice() -> list[Profile]:
    """The default profile and, for each switch's other choices, the default with that one
    switch changed: every choice of every switch at least once, in 1 + sum(choices - 1)
    profiles (8 today) instead of the product of all (96). A switch acts alone in every
    place it is read, so a client that passes each of these passes their combinations too."""
    profiles = [DEFAULT]
    for switch in SWITCHES:
        profiles.extend(Profile({switch.name: choice}) for choice in switch.choices[1:])
    return profiles


# --- what each switch's choice means, read in one place each -----------------------------------

def event_name(profile: Mapping[str, str], canonical: str, subscription: str) -> str:
    """The payload's `event` under `event_names`: `UPLOAD_IN_REVIEW` (the canonical name),
    `upload.in_review` (the subscription's), or `IN_REVIEW` (the canonical name without its
    level: IN_REVIEW, PROCESSED, EXPORT)."""
    choice = profile["event_names"]
    if choice == "upload.in_review":
        return subscription
    if choice == "IN_REVIEW":
        return canonical.split("_", 1)[1]
    return canonical


# --- the server's default, and a team's profile --------------------------------------------------

_server_default: Profile = DEFAULT


def use_server_default(settings: Mapping[str, str]) -> None:
    """Set by create_app and the worker from the configuration (SENDAI_PROFILE): the profile
    of every team that sets no switch of its own. One per process, like the configuration."""
    global _server_default
    _server_default = Profile(settings)


def server_default() -> Profile:
    return _server_default


def team_profile(stored: Mapping[str, str] | None) -> Profile:
    """A team's profile from what it stored (`Team.profile`): its switches over the server's
    default."""
    if not stored:
        return _server_default
    return Profile(stored, base=_server_default)
