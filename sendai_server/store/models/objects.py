"""The tables of Send AI's objects: teams, keys, projects, folders, uploads and their files,
tasks with their meta, pages and items, events, jobs, connectors, notifications and their
attempts, and the server's secret. Table and column names read like the API's."""

from __future__ import annotations

from dataclasses import dataclass
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
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy import Enum as SAEnum
from sqlalchemy import false as sa_false
from sqlalchemy import true as sa_true
from sqlalchemy.orm import Mapped, mapped_column

from ...domain.lifecycle import TaskStatus
from ...domain.statuses import NotificationStatus
from .base import ID, Base, UTCDateTime, utcnow


class Team(Base):
    __tablename__ = "team"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # How many fault rules (docs/failures.md) the team has, read with the key on every request: a
    # team with none pays no statement for faults. Kept by sendai_server/services/faults.py.
    fault_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The fidelity switches the team sets (docs/profiles.md), read with the key on every
    # request; NULL: the server's default profile. Kept by services/profiles.py.
    profile: Mapped[dict[str, str] | None] = mapped_column(JSON)


class Project(Base):
    """A team's project and its pipeline settings (docs/project-settings.md)."""

    __tablename__ = "project"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("team.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    automation: Mapped[str] = mapped_column(String(16), default="auto_predict")
    threshold: Mapped[float] = mapped_column(Float, default=0.9)
    pipeline: Mapped[str] = mapped_column(String(16), default="auto")
    # Seconds per pipeline step; NULL: the server's SENDAI_PIPELINE_DELAY.
    delay: Mapped[float | None] = mapped_column(Float)
    # Imports (docs/project-settings.md); email_body NULL: the team's profile decides.
    api_import: Mapped[bool] = mapped_column(Boolean, default=True, server_default=sa_true())
    email_senders: Mapped[list[str] | None] = mapped_column(JSON)
    email_body: Mapped[str | None] = mapped_column(String(32))
    email_prepend_body: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=sa_false())


class Folder(Base):
    """Where a project's uploads sit: the four system folders and any custom ones (§8)."""

    __tablename__ = "folder"
    __table_args__ = (UniqueConstraint("project_id", "name"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    system: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Upload(Base):
    """One or more files, each becoming one task (§9). Its status is derived from its tasks'.
    Tasks made without a file (the CLI, the test helpers) have an upload of their own with no
    files, so a task's upload_id is never null."""

    __tablename__ = "upload"
    __table_args__ = (
        Index("ix_upload_project_id_created_at_id", "project_id", "created_at", "id"),
    )
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(500))
    folder_id: Mapped[str | None] = mapped_column(
        ForeignKey("folder.id", ondelete="SET NULL"), index=True
    )
    meta: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    # Set once someone moves it: a COMPLETED upload then stays where it was put (§9 Move).
    moved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class UploadFile(Base):
    """One file of an upload, and the task it became. The bytes are in storage, by sha256."""

    __tablename__ = "upload_file"
    upload_id: Mapped[str] = mapped_column(
        ForeignKey("upload.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[str] = mapped_column(
        ForeignKey("task.id", ondelete="CASCADE"), unique=True
    )
    name: Mapped[str] = mapped_column(String(500))
    file_type: Mapped[str] = mapped_column(String(16))  # pdf, png, jpeg, tiff
    content_type: Mapped[str] = mapped_column(String(64))
    file_size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    # An email attachment's, with the project's email_prepend_body on at upload: the stored
    # text of the email's body, extracted as the task's first page (docs/project-settings.md).
    body_sha256: Mapped[str | None] = mapped_column(String(64), index=True)


class ApiKeyProject(Base):
    """A key reaches a project only once it has been added to it."""

    __tablename__ = "api_key_project"
    key_id: Mapped[str] = mapped_column(
        ForeignKey("api_key.id", ondelete="CASCADE"), primary_key=True
    )
    project_id: Mapped[str] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), primary_key=True
    )


class ApiKey(Base):
    __tablename__ = "api_key"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("team.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    # SHA-256 of the plain key: keys are 256 random bits, so a slow KDF would add nothing.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Task(Base):
    __tablename__ = "task"
    __table_args__ = (
        Index("ix_task_project_id_created_at_id", "project_id", "created_at", "id"),
    )
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[TaskStatus] = mapped_column(
        SAEnum(
            TaskStatus,
            name="status",
            native_enum=False,
            create_constraint=True,
            length=16,
            validate_strings=True,
        )
    )
    step_type: Mapped[str] = mapped_column(String(64), default="EXTRACT")
    upload_id: Mapped[str] = mapped_column(
        ForeignKey("upload.id", ondelete="CASCADE"), index=True
    )
    approved: Mapped[bool] = mapped_column(Boolean, default=False)
    exported_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    export_failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TaskMeta(Base):
    __tablename__ = "task_meta"
    task_id: Mapped[str] = mapped_column(
        ForeignKey("task.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    value: Mapped[str] = mapped_column(Text)


class Page(Base):
    __tablename__ = "page"
    __table_args__ = (Index("ix_page_task_id_position", "task_id", "position"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("task.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)


class _PageItem:
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    confidence: Mapped[float] = mapped_column(Float)


class Annotation(_PageItem, Base):
    __tablename__ = "annotation"
    __table_args__ = (Index("ix_annotation_page_id_position", "page_id", "position"),)
    page_id: Mapped[str] = mapped_column(ForeignKey("page.id", ondelete="CASCADE"))
    entity_id: Mapped[str] = mapped_column(String(200))
    content: Mapped[str] = mapped_column(Text)
    top: Mapped[float] = mapped_column(Float)
    left_of_line: Mapped[float] = mapped_column(Float)


class Checkbox(_PageItem, Base):
    __tablename__ = "checkbox"
    __table_args__ = (Index("ix_checkbox_page_id_position", "page_id", "position"),)
    page_id: Mapped[str] = mapped_column(ForeignKey("page.id", ondelete="CASCADE"))
    checked: Mapped[bool] = mapped_column(Boolean)
    coordinates: Mapped[list[list[float]]] = mapped_column(JSON)


class Segment(_PageItem, Base):
    __tablename__ = "segment"
    __table_args__ = (Index("ix_segment_page_id_position", "page_id", "position"),)
    page_id: Mapped[str] = mapped_column(ForeignKey("page.id", ondelete="CASCADE"))
    coordinates: Mapped[list[list[float]]] = mapped_column(JSON)


class Signature(_PageItem, Base):
    __tablename__ = "signature"
    __table_args__ = (Index("ix_signature_page_id_position", "page_id", "position"),)
    page_id: Mapped[str] = mapped_column(ForeignKey("page.id", ondelete="CASCADE"))
    coordinates: Mapped[list[list[float]]] = mapped_column(JSON)


@dataclass(frozen=True)
class ItemKind:
    """A kind of page item: its key in a public page object (docs/api/tasks.md), its table, and the
    prefix of its ids. Creation, reads and the schemas all derive from `ITEM_KINDS`."""

    key: str
    model: type[Base]
    id_prefix: str

    @property
    def table(self) -> Table:
        return self.model.__table__  # type: ignore[return-value]

    @property
    def public_columns(self) -> tuple[str, ...]:
        """What a client sees of an item: every column but its page and position."""
        return tuple(c.name for c in self.table.c if c.name not in ("page_id", "position"))


ITEM_KINDS = (
    ItemKind("annotations", Annotation, "ann"),
    ItemKind("checkboxes", Checkbox, "cb"),
    ItemKind("segments", Segment, "seg"),
    ItemKind("signatures", Signature, "sig"),
)


class TaskEvent(Base):
    """The audit trail: one row per change, written in the change's own transaction."""

    __tablename__ = "task_event"
    __table_args__ = (Index("ix_task_event_task_id_seq", "task_id", "seq"),)
    # seq orders events exactly, even two created within one clock tick.
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(ID, unique=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("task.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    approved: Mapped[bool] = mapped_column(Boolean)
    key_id: Mapped[str | None] = mapped_column(ID)
    request_id: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Job(Base):
    """Work for the pipeline's workers (jobs.py), written in the same transaction as
    the change that needs it and deleted in the same transaction as its effect. A worker that
    takes it holds a lease; a lease that runs out (the worker died) lets another take it."""

    __tablename__ = "job"
    # AUTOINCREMENT on SQLite too: a job's id is never reused once the table empties (workers'
    # logs and the test barrier name jobs by id).
    __table_args__ = (Index("ix_job_run_at", "run_at"), {"sqlite_autoincrement": True})
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    # Its team: a frozen team's jobs are left to its clock (docs/clock.md).
    team_id: Mapped[str | None] = mapped_column(ForeignKey("team.id", ondelete="CASCADE"),
                                                index=True)
    task_id: Mapped[str | None] = mapped_column(
        ForeignKey("task.id", ondelete="CASCADE"), index=True
    )
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    run_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    leased_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_token: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Connector(Base):
    """An HTTP endpoint that receives a project's notifications (docs/notifications.md). `bearer`
    and `secret` are kept as given (they are sent, and sign): no answer or log shows them."""

    __tablename__ = "connector"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    project_id: Mapped[str] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(String(2000))
    method: Mapped[str] = mapped_column(String(8), default="POST")
    headers: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    bearer: Mapped[str | None] = mapped_column(String(2000))
    secret: Mapped[str | None] = mapped_column(String(2000))
    events: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set when a receiver answered 410 Gone: nothing more is sent to it (docs/notifications.md).
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # {"oauth2": {...}} or {"token_exchange": {...}} (docs/notifications.md), kept as given like
    # `bearer`.
    auth: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # `notification`, or `api_lookup`: asked about `entity_ids` (pipeline/api_lookup.py).
    kind: Mapped[str] = mapped_column(String(16), default="notification",
                                      server_default="notification")
    entity_ids: Mapped[list[str] | None] = mapped_column(JSON)


class Notification(Base):
    """The outbox (docs/notifications.md): one row per notification and connector, written in the
    transaction of the change that caused it, with the exact body every attempt sends. Its
    `deliver` job (pipeline/deliveries.py) exists only while it is its connector's oldest
    pending notification, so one connector's notifications go out in order. The upload and
    task are not foreign keys: a notification about an upload deleted since is still sent."""

    __tablename__ = "notification"
    __table_args__ = (
        Index("ix_notification_project_id_created_at_id", "project_id", "created_at", "id"),
        Index("ix_notification_connector_id_status", "connector_id", "status"),
    )
    # seq orders one connector's notifications exactly (their delivery order).
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(ID, unique=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    connector_id: Mapped[str] = mapped_column(ForeignKey("connector.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(32))
    upload_id: Mapped[str] = mapped_column(ID)
    task_id: Mapped[str | None] = mapped_column(ID)
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=NotificationStatus.PENDING.value)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class NotificationAttempt(Base):
    """One attempt to deliver a notification, and what the receiver answered."""

    __tablename__ = "notification_attempt"
    notification_seq: Mapped[int] = mapped_column(
        ForeignKey("notification.seq", ondelete="CASCADE"), primary_key=True
    )
    n: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int | None] = mapped_column(Integer)


class ServerSecret(Base):
    """Secrets the server makes for itself, shared by every worker and host on this database
    (the key that signs list pagination tokens, unless SENDAI_SECRET_KEY is set)."""

    __tablename__ = "server_secret"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


