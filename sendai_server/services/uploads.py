"""Uploads (docs/api/uploads.md): documents in, one task per file, the pipeline's jobs with them.

An upload's files are streamed into storage (by their SHA-256) before anything is written;
then the upload, its files, its tasks (PROCESSING) and one `extract` job per task commit in
one write. A request refused on the way (a file too large, of a type the pipeline cannot
read, bad `meta`) writes nothing and leaves no file that nothing refers to.

An email (docs/api/uploads.md) is split before anything is written: its body and each attachment of
an accepted type are files of the upload, each with its task (domain/emails.py).

An upload's status is not stored: it follows its tasks (statuses.py's rule: PROCESSING,
IN_REVIEW, FAILED, PARTIAL or COMPLETED). Once it is done (COMPLETED, PARTIAL or FAILED) it
moves from Inbox to Processed by itself, unless someone moved it before (`settle_upload`,
called in the write of every task change).
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import IO, Any, BinaryIO, cast

from sqlalchemy import Connection, delete, insert, select, update

from ..domain import clock, emails
from ..domain.errors import Forbidden, NotFound, PayloadTooLarge, ValidationError
from ..domain.file_types import TEXT, is_email, sniff
from ..domain.ids import is_lookup_id, new_id
from ..domain.lifecycle import TaskStatus
from ..domain.profiles import server_default
from ..domain.storable_text import refuse_unstorable
from ..store import jobs
from ..store.models import Folder, Task, Upload, UploadFile
from ..store.storage import HEAD_BYTES, FileTooLarge, Storage
from ..store.uow import UnitOfWork
from .keys import Principal
from .paging import Keyset, Page, fetch_page
from .profiles import unseen
from .projects import INBOX, ProjectSettings, find_folder, project_settings
from .stored_files import forget_unreferenced
from .task_creation import TaskSpec, write_tasks
from .tasks import Caller
from .upload_reads import select_uploads, with_files
from .upload_status import status_of

MAX_FILE_BYTES = 40 * 1024 * 1024  # Send AI's limit per file
MAX_FILES = 100
UPLOADS = Keyset(Upload.__table__, Upload.created_at, Upload.id, salt="sendai.upload-list.v1")


@dataclass(frozen=True)
class IncomingFile:
    name: str
    stream: IO[bytes]


@dataclass(frozen=True)
class _Stored:
    name: str
    file_type: str
    content_type: str
    size: int
    sha256: str
    meta: tuple[dict[str, str], ...] = ()  # besides the upload's: an email body's skipped files
    body_sha256: str | None = None  # an email attachment's body text to prepend (its 1st page)


def _hashes(stored: list[_Stored]) -> list[str]:
    """Every stored file the upload refers to: its files and the email bodies they prepend."""
    return [h for s in stored for h in (s.sha256, s.body_sha256) if h is not None]


# --- create -------------------------------------------------------------------------------------

def create_upload(
    uow: UnitOfWork,
    storage: Storage,
    caller: Caller,
    team_id: str,
    project_id: str,
    files: list[IncomingFile],
    *,
    name: str | None = None,
    meta: list[dict[str, str]] | None = None,
    default_delay: float,
) -> dict[str, Any]:
    """Store the files, then write the upload, its files, its tasks and their jobs in one
    transaction. Answers Send AI's documented object (camelCase, docs/api/uploads.md)."""
    caller.principal.check_visibility(team_id, project_id)
    with uow.read() as conn:
        settings = project_settings(conn, project_id)
    if not settings.api_import:  # docs/project-settings.md
        raise Forbidden("Import via API is off for this project.",
                        {"setting": "api_import", "project_id": project_id})
    return _create(uow, storage, project_id, files, name, meta or [], default_delay,
                   key_id=caller.principal.key_id, request_id=caller.request_id,
                   email_body=email_body_choice(settings, caller.principal.profile),
                   email_senders=settings.email_senders,
                   email_prepend_body=settings.email_prepend_body)


def create_upload_as_operator(
    uow: UnitOfWork,
    storage: Storage,
    project_id: str,
    files: list[IncomingFile],
    *,
    name: str | None = None,
    default_delay: float,
) -> dict[str, Any]:
    """`sendai-server uploads create`: the same upload, made by the operator (no key)."""
    with uow.read() as conn:
        settings = project_settings(conn, project_id)
    return _create(uow, storage, project_id, files, name, [], default_delay,
                   key_id=None, request_id=None,
                   email_body=email_body_choice(settings, server_default()),
                   email_senders=settings.email_senders,
                   email_prepend_body=settings.email_prepend_body)


def email_body_choice(settings: ProjectSettings, profile: Mapping[str, str]) -> str:
    """Whether an email's body becomes a task (`always`, `without_attachments`): the
    project's `email_body` when set, else the team's profile's (docs/project-settings.md)."""
    return settings.email_body or profile["email_body"]


def _create(
    uow: UnitOfWork, storage: Storage, project_id: str, files: list[IncomingFile],
    name: str | None, meta: list[dict[str, str]], default_delay: float, *,
    key_id: str | None, request_id: str | None, email_body: str,
    email_senders: Sequence[str] = (), email_prepend_body: bool = False,
) -> dict[str, Any]:
    if not 1 <= len(files) <= MAX_FILES:
        raise _invalid("file", f"An upload has 1 to {MAX_FILES} files; got {len(files)}.")
    stored = _store(uow, storage, files, email_body, email_senders, email_prepend_body)
    try:
        _refuse_unstorable_names(stored)
        return _write_upload(uow, project_id, stored, name, meta, default_delay,
                             key_id=key_id, request_id=request_id)
    except BaseException:
        forget_unreferenced(uow, storage, _hashes(stored))
        raise


def _refuse_unstorable_names(stored: list[_Stored]) -> None:
    """Every name the upload writes (a file's, an email attachment's, a skipped attachment's
    in the body's meta) as text a database can store (storable_text.py), or 400 naming the
    field the name came in: `file`."""
    for s in stored:
        refuse_unstorable("file", s.name, "The file name")
        for pair in s.meta:
            refuse_unstorable("file", pair["value"], "The attachment name")


def _store(uow: UnitOfWork, storage: Storage, files: list[IncomingFile],
           email_body: str, email_senders: Sequence[str],
           email_prepend_body: bool = False) -> list[_Stored]:
    stored: list[_Stored] = []
    try:
        for incoming in files:
            if _is_email(incoming.stream):
                _store_email(storage, incoming, stored, email_body, email_senders,
                             email_prepend_body)
            else:
                stored.append(_store_one(storage, incoming))
    except BaseException:
        forget_unreferenced(uow, storage, _hashes(stored))
        raise
    return stored


def _store_one(storage: Storage, incoming: IncomingFile) -> _Stored:
    try:
        saved = storage.save(cast(BinaryIO, incoming.stream), limit=MAX_FILE_BYTES)
    except FileTooLarge as exc:
        raise PayloadTooLarge(
            f"The file {incoming.name!r} is larger than {MAX_FILE_BYTES} bytes.",
            details={"file": incoming.name, "limit_bytes": MAX_FILE_BYTES},
        ) from exc
    kind = sniff(saved.head) if saved.size else None
    if kind is None:
        forget_unreferenced(None, storage, [saved.sha256])
        what = "empty" if not saved.size else "not a PDF, PNG, JPEG, TIFF or email"
        raise _invalid("file", f"The file {incoming.name!r} is {what}.")
    return _Stored(incoming.name, kind.file_type, kind.content_type, saved.size, saved.sha256)


def _is_email(stream: IO[bytes]) -> bool:
    """Whether the file is an email (docs/api/uploads.md), by its first bytes; the stream is left
    where it was. A stream that cannot seek is not looked into (the upload form's always can)."""
    if not stream.seekable():
        return False
    start = stream.tell()
    head = stream.read(HEAD_BYTES)
    stream.seek(start)
    return is_email(head)


def _store_email(storage: Storage, incoming: IncomingFile, stored: list[_Stored],
                 email_body: str, email_senders: Sequence[str],
                 email_prepend_body: bool = False) -> None:
    """An email's documents, each stored as a file of its own and added to `stored`: its
    body's text, then its attachments of accepted types (the skipped ones named in the body's
    meta). Nothing is stored before every document has been found acceptable. With
    `email_body` `without_attachments`, the body is no document when an attachment is (the
    skipped ones are then named in the first attachment's meta). A sender off the project's
    `email_senders` list: the email is kept whole as one document, whose task fails naming
    the sender (services/emails.py), so the upload ends FAILED.

    With `email_prepend_body` (docs/project-settings.md), the body's text is stored by its hash
    (the same stored file as the body task's, when there is one) and each attachment's file
    refers to it (`body_sha256`): the pipeline extracts it as the task's first page. A body
    with no text (only white space) is prepended to nothing."""
    documents = emails.documents_of(incoming.name, cast(BinaryIO, incoming.stream),
                                    MAX_FILE_BYTES, email_senders)
    body = documents[0]
    prepends = email_prepend_body and len(documents) > 1 and bool(body.content.strip())
    if email_body == "without_attachments" and len(documents) > 1:
        _, first, *rest = documents
        documents = [replace(first, skipped=body.skipped), *rest]
    start = len(stored)
    for document in documents:
        saved = storage.save(io.BytesIO(document.content), limit=MAX_FILE_BYTES)
        stored.append(_Stored(
            document.name, document.kind.file_type, document.kind.content_type,
            saved.size, saved.sha256,
            tuple({"name": emails.SKIPPED, "value": n} for n in document.skipped)))
    if prepends:  # saved last: each file saved before it is in `stored`, forgotten on failure
        body_sha256 = storage.save(io.BytesIO(body.content), limit=MAX_FILE_BYTES).sha256
        stored[start:] = [s if s.file_type == TEXT.file_type
                          else replace(s, body_sha256=body_sha256) for s in stored[start:]]


def _write_upload(
    uow: UnitOfWork,
    project_id: str,
    stored: list[_Stored],
    name: str | None,
    meta: list[dict[str, str]],
    default_delay: float,
    *,
    key_id: str | None,
    request_id: str | None,
) -> dict[str, Any]:
    upload_id = new_id("upl")
    now = clock.now()
    with uow.write() as conn:
        settings = project_settings(conn, project_id)
        inbox = find_folder_by_name(conn, project_id, INBOX)
        conn.execute(insert(Upload), {
            "id": upload_id, "project_id": project_id, "name": name or stored[0].name,
            "folder_id": inbox, "meta": meta, "moved_at": None, "created_at": now,
            "updated_at": now,
        })
        task_ids = write_tasks(
            conn, project_id,
            [TaskSpec(name=s.name, status=TaskStatus.PROCESSING, meta=[*meta, *s.meta],
                      upload_id=upload_id)
             for s in stored],
            key_id=key_id, request_id=request_id, inbox=inbox,
        )
        conn.execute(insert(UploadFile), [
            {"upload_id": upload_id, "position": index, "task_id": task_id, "name": s.name,
             "file_type": s.file_type, "content_type": s.content_type, "file_size": s.size,
             "sha256": s.sha256, "body_sha256": s.body_sha256}
            for index, (s, task_id) in enumerate(zip(stored, task_ids, strict=True))
        ])
        delay = settings.delay if settings.delay is not None else default_delay
        for task_id in task_ids:
            jobs.enqueue(conn, jobs.EXTRACT, task_id=task_id,
                         run_at=now + timedelta(seconds=delay))
    return {
        "id": upload_id, "name": name or stored[0].name, "projectId": project_id,
        "status": "processing", "fileType": stored[0].file_type,
        "fileSize": sum(s.size for s in stored), "createdAt": now, "updatedAt": now,
        "taskIds": task_ids,
    }


def find_folder_by_name(conn: Connection, project_id: str, name: str) -> str:
    found = conn.scalar(
        select(Folder.id).where(Folder.project_id == project_id, Folder.name == name)
    )
    if found is None:
        raise NotFound(f"No project {project_id}.")
    return str(found)


def _invalid(field: str, message: str) -> ValidationError:
    return ValidationError(message, {"fields": {field: [message]}})


# --- read ---------------------------------------------------------------------------------------

def _visible_upload(principal: Principal, team_id: str, project_id: str | None,
                    upload_id: str) -> None:
    if project_id is not None:
        principal.check_visibility(team_id, project_id)
    elif team_id != principal.team_id:
        raise NotFound()
    if not is_lookup_id(upload_id):
        raise NotFound(f"Upload {upload_id[:64]!r} was not found.")


def get_upload(
    uow: UnitOfWork, principal: Principal, team_id: str, project_id: str | None,
    upload_id: str,
) -> dict[str, Any]:
    """The upload object. Without a project (the import guide's path), any project of the
    key's team that the key may see."""
    _visible_upload(principal, team_id, project_id, upload_id)
    query = select_uploads().where(Upload.id == upload_id)
    query = query.where(
        Upload.project_id == project_id if project_id is not None
        else Upload.project_id.in_(sorted(principal.project_ids))
    )
    with uow.read() as conn:
        row = conn.execute(query).mappings().first()
        if row is not None:
            [upload] = with_files(conn, [dict(row)])
            return upload
    if project_id is None:  # the team's path: 403 under no_access=forbidden (docs/profiles.md)
        refusal = unseen(uow, principal, team_id, upload_id=upload_id)
        if isinstance(refusal, Forbidden):
            raise refusal
    raise NotFound(f"Upload {upload_id} was not found.")


@dataclass(frozen=True)
class UploadListQuery:
    statuses: tuple[str, ...] = ()
    folder_id: str | None = None
    descending: bool = True
    limit: int = 20
    token: str | None = None

    def binding(self, team_id: str, project_id: str) -> list[Any]:
        return [team_id, project_id, sorted(set(self.statuses)), self.folder_id,
                self.descending]


def list_uploads(
    uow: UnitOfWork, principal: Principal, team_id: str, project_id: str,
    query: UploadListQuery, secret: str,
) -> Page:
    """One page of the project's uploads (§4's paging)."""
    principal.check_visibility(team_id, project_id)
    conditions: list[Any] = [Upload.project_id == project_id]
    if query.statuses:
        conditions.append(status_of(Upload.id).in_(sorted(set(query.statuses))))
    if query.folder_id is not None:
        conditions.append(Upload.folder_id == query.folder_id)
    return fetch_page(
        uow, UPLOADS, select_uploads(), conditions, secret=secret,
        binding=query.binding(team_id, project_id), descending=query.descending,
        limit=query.limit, token=query.token, finish=with_files,
    )


def file_of_upload(
    uow: UnitOfWork, storage: Storage, principal: Principal, team_id: str, project_id: str,
    upload_id: str, index: int,
) -> tuple[dict[str, Any], Iterator[bytes]]:
    """The upload's index-th file (0-based): its row, and its bytes in chunks."""
    _visible_upload(principal, team_id, project_id, upload_id)
    with uow.read() as conn:
        row = conn.execute(
            select(UploadFile.name, UploadFile.content_type, UploadFile.file_size,
                   UploadFile.sha256)
            .join(Upload, Upload.id == UploadFile.upload_id)
            .where(Upload.id == upload_id, Upload.project_id == project_id,
                   UploadFile.position == index)
        ).mappings().first()
    if row is None:
        raise NotFound(f"Upload {upload_id} has no file {index}.")
    stream = storage.open(row["sha256"])
    return dict(row), _chunks(stream)


def _chunks(stream: BinaryIO, size: int = 256 * 1024) -> Iterator[bytes]:
    try:
        while chunk := stream.read(size):
            yield chunk
    finally:
        stream.close()


# --- move and delete ----------------------------------------------------------------------------

def move_upload(
    uow: UnitOfWork, principal: Principal, team_id: str, project_id: str, upload_id: str,
    folder_id: str,
) -> dict[str, Any]:
    _visible_upload(principal, team_id, project_id, upload_id)
    now = clock.now()
    with uow.write() as conn:
        target = find_folder(conn, project_id, folder_id)
        moved = conn.execute(
            update(Upload).where(Upload.id == upload_id, Upload.project_id == project_id)
            .values(folder_id=target, moved_at=now, updated_at=now)
        ).rowcount
        if not moved:
            raise NotFound(f"Upload {upload_id} was not found.")
    return get_upload(uow, principal, team_id, project_id, upload_id)


def delete_upload(
    uow: UnitOfWork, storage: Storage, principal: Principal, team_id: str, project_id: str,
    upload_id: str,
) -> dict[str, Any]:
    """The upload, its tasks (with their events and pages) and their jobs go in one write;
    then each stored file that no upload refers to any longer."""
    _visible_upload(principal, team_id, project_id, upload_id)
    with uow.write() as conn:
        hashes = [h for row in conn.execute(
            select(UploadFile.sha256, UploadFile.body_sha256)
            .where(UploadFile.upload_id == upload_id)
        ) for h in row if h is not None]
        gone = conn.execute(
            delete(Upload).where(Upload.id == upload_id, Upload.project_id == project_id)
        ).rowcount
        if not gone:
            raise NotFound(f"Upload {upload_id} was not found.")
    forget_unreferenced(uow, storage, hashes)
    return {"id": upload_id, "deleted": True}


def file_of_task(
    uow: UnitOfWork, principal: Principal, team_id: str, project_id: str, task_id: str
) -> dict[str, Any] | None:
    """The stored file a task was made from (its sha256 and file_type), or None for a task
    made without a file. 404 for a task the principal may not see."""
    principal.check_visibility(team_id, project_id)
    if not is_lookup_id(task_id):
        raise NotFound(f"Task {task_id[:64]!r} was not found.")
    with uow.read() as conn:
        row = conn.execute(
            select(Task.id, UploadFile.sha256, UploadFile.file_type)
            .outerjoin(UploadFile, UploadFile.task_id == Task.id)
            .where(Task.id == task_id, Task.project_id == project_id)
        ).first()
    if row is None:
        raise NotFound(f"Task {task_id} was not found.")
    if row.sha256 is None:
        return None
    return {"sha256": row.sha256, "file_type": row.file_type}
