"""Which tables a snapshot covers (docs/snapshots.md): derived from the models, so a new table
that belongs to a team is covered by itself, or this test names it. No database."""

from __future__ import annotations

from sendai_server.services.team_state import EXCLUDED, TEAM, covered_names, team_tables
from sendai_server.store.models import Base


def test_every_table_is_covered_by_snapshots_or_excluded_with_a_reason() -> None:
    neither = set(Base.metadata.tables) - covered_names() - set(EXCLUDED) - {TEAM.name}
    assert not neither, (
        f"tables neither in a team's snapshot nor excluded: {sorted(neither)}. Give each a "
        "foreign key to team (or to a table of the team), or add it to EXCLUDED in "
        "sendai_server/services/team_state.py with the reason.")


def test_the_exclusions_name_tables_that_exist_and_say_why() -> None:
    assert set(EXCLUDED) <= set(Base.metadata.tables)
    assert all(reason for reason in EXCLUDED.values())
    assert not covered_names() & set(EXCLUDED)


def test_tables_come_parents_first() -> None:
    seen = {TEAM.name}
    for t in team_tables():
        parents = {fk.column.table.name for fk in t.table.foreign_keys}
        assert parents & covered_names() <= seen, t.name
        seen.add(t.name)


def test_the_state_holds_every_kind_the_contract_names() -> None:
    assert {"project", "folder", "upload", "upload_file", "task", "page", "task_event",
            "outcome", "connector", "notification", "notification_attempt", "job",
            "fault"} <= covered_names()
