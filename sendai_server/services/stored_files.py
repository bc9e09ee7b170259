"""Stored files are kept once, by hash (store/storage.py), and referred to by uploads and by
snapshots (docs/snapshots.md): a file is deleted only when nothing refers to it any more."""

from __future__ import annotations

import logging

from sqlalchemy import Connection, select

from ..domain.errors import Unavailable
from ..store.models import SnapshotFile, UploadFile
from ..store.storage import Storage
from ..store.uow import UnitOfWork

log = logging.getLogger("sendai_server.uploads")


def forget_unreferenced(uow: UnitOfWork | None, storage: Storage, hashes: list[str]) -> None:
    """Delete stored files no upload and no snapshot refers to (a refused or deleted upload's,
    a deleted snapshot's, a reset team's: docs/snapshots.md)."""
    hashes = list(dict.fromkeys(hashes))
    if not hashes:
        return
    referenced: set[str] = set()
    if uow is not None:
        try:
            referenced = uow.first_read(lambda conn: _referenced(conn, hashes))
        except Unavailable:
            # A clean-up after a failure, often the database's own: the files stay (an
            # unreferenced file only takes space; deleting a referenced one loses an upload),
            # and the request answers with the failure that brought it here.
            log.warning("upload clean-up skipped: the database does not answer")
            return
    for sha256 in hashes:
        if sha256 not in referenced:
            storage.delete(sha256)


def _referenced(conn: Connection, hashes: list[str]) -> set[str]:
    """Which of the files an upload (a file's, or an email body it prepends) or a snapshot
    still refers to."""
    found: set[str] = set()
    for column in (UploadFile.sha256, UploadFile.body_sha256, SnapshotFile.sha256):
        found |= set(conn.scalars(select(column).where(column.in_(hashes))))
    return found
