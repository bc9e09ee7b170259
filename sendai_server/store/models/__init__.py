"""The tables, in one metadata: importing this package registers every table, so migrations,
the test databases and the snapshots' table list (services/team_state.py) always see them
all. `base`: what every table shares; `objects`: Send AI's objects; `controls`: this
server's own (outcomes, faults, clocks, receiver checks, snapshots)."""

from __future__ import annotations

from .base import (
    ID,
    NAMING,
    Base,
    UTCDateTime,
    utcnow,
)
from .controls import (
    Fault,
    Outcome,
    ReceiverCheck,
    Snapshot,
    SnapshotFile,
    SnapshotTable,
    TeamClock,
)
from .objects import (
    ITEM_KINDS,
    Annotation,
    ApiKey,
    ApiKeyProject,
    Checkbox,
    Connector,
    Folder,
    ItemKind,
    Job,
    Notification,
    NotificationAttempt,
    Page,
    Project,
    Segment,
    ServerSecret,
    Signature,
    Task,
    TaskEvent,
    TaskMeta,
    Team,
    Upload,
    UploadFile,
)

__all__ = [
    "Annotation", "ApiKey", "ApiKeyProject", "Base", "Checkbox", "Connector", "Fault", "Folder",
    "ID", "ITEM_KINDS", "ItemKind", "Job", "NAMING", "Notification", "NotificationAttempt",
    "Outcome", "Page", "Project", "ReceiverCheck", "Segment", "ServerSecret", "Signature",
    "Snapshot", "SnapshotFile", "SnapshotTable", "Task", "TaskEvent", "TaskMeta", "Team",
    "TeamClock", "UTCDateTime", "Upload", "UploadFile", "utcnow",
]
