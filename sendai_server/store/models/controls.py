"""The tables of this server's own controls, which Send AI does not have (as moto keeps its
`moto_api` apart from the services it emulates): registered outcomes, faults, a team's clock,
a connector's last receiver check, and snapshots of a team's state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from .base import ID, Base, UTCDateTime, utcnow


class Outcome(Base):
    """A registered outcome (docs/api/test-helpers.md): a file with this hash, uploaded to this
    project, ends the pipeline with this status and, when given, exactly these pages."""

    __tablename__ = "outcome"
    project_id: Mapped[str] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), primary_key=True
    )
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    pages: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)



class Fault(Base):
    """A fault rule (docs/failures.md, sendai_server/services/faults.py): which of a team's requests
    or deliveries fail, how, and how many more times. `remaining` is counted down by a conditional
    UPDATE, so `times` holds across every worker and host; `matched` numbers the matching
    requests, the index into the seeded probability sequence."""

    __tablename__ = "fault"
    __table_args__ = (Index("ix_fault_team_id_seq", "team_id", "seq"),)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(ID, unique=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("team.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # request, delivery
    match: Mapped[dict[str, Any]] = mapped_column(JSON)
    effect: Mapped[dict[str, Any]] = mapped_column(JSON)
    times: Mapped[int | None] = mapped_column(Integer)
    remaining: Mapped[int | None] = mapped_column(Integer)
    probability: Mapped[float] = mapped_column(Float, default=1.0)
    seed: Mapped[int | None] = mapped_column(BigInteger)
    matched: Mapped[int] = mapped_column(Integer, default=0)
    hits: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReceiverCheck(Base):
    """A connector's last receiver check (docs/receiver-check.md): when it ran, whether every
    case passed, the names of those that failed, and the whole report (no secret in it).
    Replaced by the next check; deleted with its connector."""

    __tablename__ = "receiver_check"
    connector_id: Mapped[str] = mapped_column(
        ForeignKey("connector.id", ondelete="CASCADE"), primary_key=True
    )
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    passed: Mapped[bool] = mapped_column(Boolean)
    failed: Mapped[list[str]] = mapped_column(JSON)
    report: Mapped[dict[str, Any]] = mapped_column(JSON)


class TeamClock(Base):
    """A team's frozen clock (services/team_clock.py: `ticks` order changes, `advancing_*`
    is the lease of the freeze, advance or resume at work; docs/clock.md)."""

    __tablename__ = "team_clock"
    team_id: Mapped[str] = mapped_column(ForeignKey("team.id", ondelete="CASCADE"),
                                         primary_key=True)
    now: Mapped[datetime] = mapped_column(UTCDateTime)
    frozen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    advanced_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    ticks: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    advancing_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    advancing_token: Mapped[str | None] = mapped_column(String(64))


class Snapshot(Base):
    """A saved copy of one team's state (docs/snapshots.md): its rows in `snapshot_table`, the
    stored files it refers to in `snapshot_file` (services/snapshots.py)."""

    __tablename__ = "snapshot"
    __table_args__ = (Index("ix_snapshot_team_id_created_at", "team_id", "created_at"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("team.id", ondelete="CASCADE"))
    name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The Alembic revision its rows were written at: an older one is upgraded on restore.
    schema_revision: Mapped[str] = mapped_column(String(64))
    counts: Mapped[dict[str, int]] = mapped_column(JSON)
    bytes: Mapped[int] = mapped_column(BigInteger)


class SnapshotTable(Base):
    """One table's rows of a snapshot: zlib-compressed JSON `{"columns", "rows"}`."""

    __tablename__ = "snapshot_table"
    snapshot_id: Mapped[str] = mapped_column(
        ForeignKey("snapshot.id", ondelete="CASCADE"), primary_key=True
    )
    table_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    row_count: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class SnapshotFile(Base):
    """A stored file (by hash) a snapshot refers to: kept while any snapshot or upload does."""

    __tablename__ = "snapshot_file"
    snapshot_id: Mapped[str] = mapped_column(
        ForeignKey("snapshot.id", ondelete="CASCADE"), primary_key=True
    )
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    size: Mapped[int] = mapped_column(BigInteger)
