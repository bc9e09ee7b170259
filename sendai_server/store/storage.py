"""Files kept by their SHA-256, in a folder or an S3 bucket (docs/api/uploads.md, "Storage").

`storage_from_url(url)` takes SENDAI_STORAGE_URL's value (config.py reads the environment, not
this module): `file:///abs/path` or a plain path for a folder, `s3://bucket/prefix` for S3.
Either way a file is written whole under a temporary name and only then appears under its
hash, so a crash leaves at most an unreferenced file, never a name without its bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO
from urllib.parse import unquote, urlsplit

CHUNK_BYTES = 1024 * 1024
# Enough for content sniffing (PDF, PNG, JPEG and TIFF are all known by their first bytes).
HEAD_BYTES = 8 * 1024
_SHA256 = re.compile(r"[0-9a-f]{64}")
_TEMP_PREFIX = ".tmp-"


class FileTooLarge(Exception):
    """The stream passed `limit` bytes; nothing of it was kept."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the file is larger than {limit} bytes")
        self.limit = limit


@dataclass(frozen=True)
class StoredFile:
    sha256: str
    size: int
    head: bytes


class Storage(ABC):
    """Files by SHA-256: save a stream, then open, test or delete it by its hash."""

    @abstractmethod
    def save(self, stream: BinaryIO, *, limit: int | None = None) -> StoredFile:
        """Store the stream's bytes under their hash, reading CHUNK_BYTES at a time.

        Raises FileTooLarge as soon as more than `limit` bytes have been read, leaving
        nothing behind. Saving bytes that are already stored is safe and leaves them as
        they were.
        """

    @abstractmethod
    def open(self, sha256: str) -> BinaryIO:
        """A seekable stream of the stored bytes (the caller closes it).

        Raises FileNotFoundError when nothing is stored under `sha256`.
        """

    @abstractmethod
    def exists(self, sha256: str) -> bool: ...

    @abstractmethod
    def delete(self, sha256: str) -> None:
        """Remove the stored bytes; deleting what is not there is not an error."""


def storage_from_url(url: str) -> Storage:
    """The storage SENDAI_STORAGE_URL names: `file:///abs/path`, a plain path, `s3://b/prefix`."""
    parts = urlsplit(url)
    if parts.scheme == "s3":
        if not parts.netloc:
            raise ValueError(f"storage URL {url!r} names no bucket")
        return S3Storage(parts.netloc, unquote(parts.path).strip("/"))
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise ValueError(f"storage URL {url!r} names a host; use file:///absolute/path")
        return FolderStorage(Path(unquote(parts.path)))
    if parts.scheme == "" and url:
        return FolderStorage(Path(url))
    raise ValueError(f"storage URL {url!r} is neither a folder (file://) nor S3 (s3://)")


def _checked(sha256: str) -> str:
    # The hash becomes a file name or an object key: never let anything else through.
    if not _SHA256.fullmatch(sha256):
        raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
    return sha256


def _copy_hashing(stream: BinaryIO, out: IO[bytes], limit: int | None) -> StoredFile:
    """Copy `stream` into `out` chunk by chunk, hashing as it passes; FileTooLarge past limit."""
    digest = hashlib.sha256()
    size = 0
    head = b""
    while True:
        # Read at most one byte past the limit, so a huge stream is refused without reading it.
        want = CHUNK_BYTES if limit is None else min(CHUNK_BYTES, limit + 1 - size)
        chunk = stream.read(want)
        if not chunk:
            break
        size += len(chunk)
        if limit is not None and size > limit:
            raise FileTooLarge(limit)
        digest.update(chunk)
        if len(head) < HEAD_BYTES:
            head += chunk[: HEAD_BYTES - len(head)]
        out.write(chunk)
    return StoredFile(sha256=digest.hexdigest(), size=size, head=head)


class FolderStorage(Storage):
    """One file per hash in one folder; temporary files beside them start with '.tmp-'."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def __repr__(self) -> str:
        return f"FolderStorage({str(self.root)!r})"

    def _path(self, sha256: str) -> Path:
        return self.root / _checked(sha256)

    def save(self, stream: BinaryIO, *, limit: int | None = None) -> StoredFile:
        self.root.mkdir(parents=True, exist_ok=True)
        # In the same folder as the final name, so that os.replace is an atomic rename.
        fd, temp_name = tempfile.mkstemp(prefix=_TEMP_PREFIX, dir=self.root)
        try:
            with os.fdopen(fd, "wb") as out:
                stored = _copy_hashing(stream, out, limit)
                out.flush()
                os.fsync(out.fileno())
            target = self._path(stored.sha256)
            if target.exists():
                # Same hash, same bytes: what is there already is what we would write.
                os.unlink(temp_name)
            else:
                os.replace(temp_name, target)
                _fsync_folder(self.root)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp_name)
            raise
        return stored

    def open(self, sha256: str) -> BinaryIO:
        return self._path(sha256).open("rb")

    def exists(self, sha256: str) -> bool:
        return self._path(sha256).is_file()

    def delete(self, sha256: str) -> None:
        self._path(sha256).unlink(missing_ok=True)


def _fsync_folder(folder: Path) -> None:
    """Make a rename in `folder` durable (POSIX; a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# s3transfer's default of 10 parts in flight would cost ~20 MiB per save; 4 keeps a 40 MiB
# file (five 8 MiB parts) nearly as fast.
UPLOAD_CONCURRENCY = 4


class S3Storage(Storage):
    """One object per hash under `prefix` in `bucket`; boto3 reads the AWS_* variables.

    A save spools the stream to a local temporary file while hashing it, then uploads that
    file straight to its final key with `upload_file` (multipart for large files). The key is
    the hash, known only once the last byte is read; spooling first means a refused file
    (over its limit) never reaches the bucket, a file already stored costs one HEAD and no
    upload, and there is no temporary object to copy and delete. An S3 object (multipart or
    not) appears only when its upload completes, so a crash leaves no key without its bytes,
    at most an incomplete multipart upload, which s3transfer aborts on errors and a bucket's
    AbortIncompleteMultipartUpload rule clears otherwise. Uploading from a file name (rather
    than a file object) lets s3transfer read each part from disk as it sends it; memory then
    grows with the parts in flight (about 2 MiB each, UPLOAD_CONCURRENCY at most), never with
    the file's size.
    """

    def __init__(self, bucket: str, prefix: str = "", client: Any = None) -> None:
        # Imported here, so that only S3 deployments pay for importing boto3.
        import boto3
        from boto3.s3.transfer import TransferConfig

        self.client = client if client is not None else boto3.client("s3")
        self.transfer = TransferConfig(max_concurrency=UPLOAD_CONCURRENCY)
        self.bucket = bucket
        self.prefix = prefix

    def __repr__(self) -> str:
        return f"S3Storage({self.bucket!r}, {self.prefix!r})"

    def _key(self, sha256: str) -> str:
        return f"{self.prefix}/{_checked(sha256)}" if self.prefix else _checked(sha256)

    def save(self, stream: BinaryIO, *, limit: int | None = None) -> StoredFile:
        with tempfile.NamedTemporaryFile(prefix=_TEMP_PREFIX) as spool:
            stored = _copy_hashing(stream, spool, limit)
            spool.flush()
            if not self.exists(stored.sha256):
                self.client.upload_file(
                    spool.name, self.bucket, self._key(stored.sha256), Config=self.transfer
                )
        return stored

    def open(self, sha256: str) -> BinaryIO:
        # A local temporary copy rather than the streaming body: readers (pypdf, Pillow)
        # need to seek, and the copy is on disk, not in memory.
        copy = tempfile.TemporaryFile(prefix=_TEMP_PREFIX)  # noqa: SIM115 - returned open
        try:
            self.client.download_fileobj(
                self.bucket, self._key(sha256), copy, Config=self.transfer
            )
        except Exception as exc:
            copy.close()
            if _is_not_found(exc):
                raise FileNotFoundError(f"no stored file {sha256}") from exc
            raise
        copy.seek(0)
        return copy

    def exists(self, sha256: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(sha256))
        except Exception as exc:
            if _is_not_found(exc):
                return False
            raise
        return True

    def delete(self, sha256: str) -> None:
        # S3's DeleteObject succeeds for a missing key, as delete() promises.
        self.client.delete_object(Bucket=self.bucket, Key=self._key(sha256))


def _is_not_found(exc: Exception) -> bool:
    """A botocore ClientError saying 404 (HEAD answers '404', GET 'NoSuchKey')."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return False
    code = str(response.get("Error", {}).get("Code", ""))
    return code in ("404", "NoSuchKey", "NotFound")
