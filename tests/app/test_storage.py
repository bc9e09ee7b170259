"""Files by hash: one contract, run against a folder and against a real S3 API (moto's server
on a local port, reached over HTTP by boto3 exactly as an S3-compatible store would be)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from sendai_server.store.storage import (
    HEAD_BYTES,
    FileTooLarge,
    FolderStorage,
    S3Storage,
    Storage,
    storage_from_url,
)
from tests.support.storage import MIB, GeneratedStream

REPO_ROOT = Path(__file__).resolve().parents[2]
LIMIT = 40 * MIB  # Send AI's per-file limit
PREFIX = "files"


class BrokenStream(GeneratedStream):
    """A client that goes away: `size` bytes, then an error."""

    def readinto(self, buffer: Any) -> int:
        if self.position >= self.size:
            raise ConnectionResetError("the client went away")
        return super().readinto(buffer)


def generated_sha256(size: int) -> str:
    digest = hashlib.sha256()
    stream = GeneratedStream(size)
    while chunk := stream.read(MIB):
        digest.update(chunk)
    return digest.hexdigest()


# --- the two stores ---------------------------------------------------------------------------

@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 in server mode on a free local port; boto3 finds it through AWS_ENDPOINT_URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        env.setenv("AWS_DEFAULT_REGION", "us-east-1")
        env.setenv("AWS_ENDPOINT_URL", endpoint)
        # Nothing from the machine's own AWS set-up may leak in.
        env.setenv("AWS_CONFIG_FILE", os.devnull)
        env.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
        env.delenv("AWS_PROFILE", raising=False)
        env.delenv("AWS_SESSION_TOKEN", raising=False)
        yield endpoint
    server.stop()


@pytest.fixture
def spool_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the process's temporary files go during the test (S3 spools its uploads there)."""
    folder = tmp_path / "spool"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.fixture(params=["folder", "s3"])
def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "folder":
        return f"file://{tmp_path / 'files'}"
    request.getfixturevalue("s3_endpoint")
    bucket = f"sendai-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    return f"s3://{bucket}/{PREFIX}"


@pytest.fixture
def storage(storage_url: str, spool_dir: Path) -> Storage:
    return storage_from_url(storage_url)


def stored_names(storage: Storage) -> list[str]:
    """Everything the store holds, temporary files and unfinished uploads included."""
    if isinstance(storage, FolderStorage):
        return sorted(os.listdir(storage.root)) if storage.root.exists() else []
    assert isinstance(storage, S3Storage)
    client = storage.client
    objects = client.list_objects_v2(Bucket=storage.bucket).get("Contents", [])
    uploads = client.list_multipart_uploads(Bucket=storage.bucket).get("Uploads", [])
    return sorted([o["Key"] for o in objects] + [f"upload:{u['Key']}" for u in uploads])


def key_of(storage: Storage, sha256: str) -> str:
    return f"{PREFIX}/{sha256}" if isinstance(storage, S3Storage) else sha256


# --- the contract -----------------------------------------------------------------------------

def test_saved_bytes_come_back_under_their_sha256(storage: Storage) -> None:
    data = os.urandom(3 * MIB + 17)  # several chunks and a ragged end

    stored = storage.save(io.BytesIO(data))

    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert stored.size == len(data)
    assert stored.head == data[:HEAD_BYTES]
    assert storage.exists(stored.sha256)
    with storage.open(stored.sha256) as stream:
        assert stream.read() == data
        stream.seek(0)  # readers such as pypdf seek
        assert stream.read(5) == data[:5]
    assert stored_names(storage) == [key_of(storage, stored.sha256)]


def test_an_empty_stream_is_stored_like_any_other(storage: Storage) -> None:
    stored = storage.save(io.BytesIO(b""))

    assert (stored.sha256, stored.size, stored.head) == (hashlib.sha256().hexdigest(), 0, b"")
    with storage.open(stored.sha256) as stream:
        assert stream.read() == b""


def test_the_head_is_the_first_bytes_even_when_the_stream_reads_short(storage: Storage) -> None:
    data = os.urandom(HEAD_BYTES * 2)

    stored = storage.save(_ShortReads(io.BytesIO(data), 1000))  # type: ignore[arg-type]

    assert stored.head == data[:HEAD_BYTES]


class _ShortReads:
    """A stream (a socket, say) that answers at most `most` bytes per read."""

    def __init__(self, stream: io.BytesIO, most: int) -> None:
        self.stream, self.most = stream, most

    def read(self, n: int = -1) -> bytes:
        return self.stream.read(min(n, self.most))


@pytest.mark.parametrize("size", [LIMIT - 1, LIMIT])
def test_a_file_up_to_the_limit_is_kept(storage: Storage, size: int) -> None:
    stored = storage.save(GeneratedStream(size), limit=LIMIT)  # type: ignore[arg-type]

    assert stored.size == size
    assert stored.sha256 == generated_sha256(size)
    assert storage.exists(stored.sha256)


def test_a_file_over_the_limit_is_refused_and_leaves_nothing(
    storage: Storage, spool_dir: Path
) -> None:
    stream = GeneratedStream(41 * MIB)

    with pytest.raises(FileTooLarge) as refused:
        storage.save(stream, limit=LIMIT)  # type: ignore[arg-type]

    assert refused.value.limit == LIMIT
    assert stream.position == LIMIT + 1  # refused at the first byte too many, not at the end
    assert stored_names(storage) == []  # no object, no temporary file, no unfinished upload
    assert os.listdir(spool_dir) == []
    assert not storage.exists(generated_sha256(41 * MIB))


def test_a_stream_that_fails_midway_leaves_nothing(storage: Storage, spool_dir: Path) -> None:
    with pytest.raises(ConnectionResetError):
        storage.save(BrokenStream(3 * MIB))  # type: ignore[arg-type]

    assert stored_names(storage) == []
    assert os.listdir(spool_dir) == []


def test_saving_stored_bytes_again_is_safe_and_changes_nothing(
    storage: Storage, spool_dir: Path
) -> None:
    data = os.urandom(MIB)
    first = storage.save(io.BytesIO(data))

    second = storage.save(io.BytesIO(data))

    assert second == first
    assert stored_names(storage) == [key_of(storage, first.sha256)]
    assert os.listdir(spool_dir) == []
    with storage.open(first.sha256) as stream:
        assert stream.read() == data


def test_saves_of_the_same_bytes_at_once_all_succeed_and_keep_one_copy(
    storage: Storage, spool_dir: Path
) -> None:
    data = os.urandom(2 * MIB)

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: storage.save(io.BytesIO(data)), range(4)))

    assert len({r.sha256 for r in results}) == 1
    assert stored_names(storage) == [key_of(storage, results[0].sha256)]
    assert os.listdir(spool_dir) == []
    with storage.open(results[0].sha256) as stream:
        assert stream.read() == data


def test_saving_stored_bytes_again_uploads_nothing_to_s3(
    s3_endpoint: str, spool_dir: Path
) -> None:
    bucket = f"sendai-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    storage = storage_from_url(f"s3://{bucket}/{PREFIX}")
    assert isinstance(storage, S3Storage)
    data = os.urandom(1000)
    storage.save(io.BytesIO(data))
    calls: list[str] = []
    storage.client.meta.events.register(
        "before-call.s3", lambda model, **_: calls.append(model.name)
    )

    storage.save(io.BytesIO(data))

    assert calls == ["HeadObject"]


def test_deleted_bytes_are_gone_and_deleting_again_is_harmless(storage: Storage) -> None:
    keep = storage.save(io.BytesIO(b"keep me"))
    gone = storage.save(io.BytesIO(b"delete me"))

    storage.delete(gone.sha256)
    storage.delete(gone.sha256)

    assert not storage.exists(gone.sha256)
    with pytest.raises(FileNotFoundError):
        storage.open(gone.sha256)
    assert stored_names(storage) == [key_of(storage, keep.sha256)]


@pytest.mark.parametrize("name", ["../etc/passwd", "ABC", "a" * 63, "g" * 64, "A" * 64, ""])
def test_only_sha256_digests_name_files(storage: Storage, name: str) -> None:
    for call in (storage.open, storage.exists, storage.delete):
        with pytest.raises(ValueError, match="SHA-256"):
            call(name)


MEMORY_PROBE = """
import json, sys, tracemalloc
sys.path.insert(0, sys.argv[1])
from tests.support.storage import GeneratedStream, MIB
from sendai_server.store.storage import storage_from_url
storage = storage_from_url(sys.argv[2])
size = int(sys.argv[3])
storage.save(GeneratedStream(MIB))  # imports and connections are not the file's cost
tracemalloc.start()
stored = storage.save(GeneratedStream(size), limit=size)
print(json.dumps({"peak": tracemalloc.get_traced_memory()[1], "size": stored.size}))
"""


def test_memory_stays_flat_while_a_large_stream_is_saved(
    storage_url: str, spool_dir: Path
) -> None:
    """Saving 40 MiB allocates a few chunks, not the file (measured in a process of its own,
    so that moto's server, which keeps what it is sent in memory, is not counted)."""
    size = LIMIT
    probe = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(REPO_ROOT), storage_url, str(size)],
        capture_output=True, text=True, timeout=300, env={**os.environ, "TMPDIR": str(spool_dir)},
    )
    assert probe.returncode == 0, probe.stderr
    result = json.loads(probe.stdout)

    assert result["size"] == size
    assert result["peak"] < size / 4, f"peak {result['peak'] / MIB:.1f} MiB for 40 MiB"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("file:///srv/sendai/files", FolderStorage(Path("/srv/sendai/files"))),
        ("file://localhost/srv/files", FolderStorage(Path("/srv/files"))),
        ("file:///srv/with%20space", FolderStorage(Path("/srv/with space"))),
        ("instance/files", FolderStorage(Path("instance/files"))),
        ("/abs/files", FolderStorage(Path("/abs/files"))),
    ],
)
def test_folder_urls(url: str, expected: FolderStorage) -> None:
    storage = storage_from_url(url)

    assert isinstance(storage, FolderStorage)
    assert storage.root == expected.root


@pytest.mark.parametrize(
    ("url", "bucket", "prefix"),
    [("s3://bucket/some/prefix/", "bucket", "some/prefix"), ("s3://bucket", "bucket", "")],
)
def test_s3_urls(s3_endpoint: str, url: str, bucket: str, prefix: str) -> None:
    storage = storage_from_url(url)

    assert isinstance(storage, S3Storage)
    assert (storage.bucket, storage.prefix) == (bucket, prefix)


@pytest.mark.parametrize("url", ["", "s3:///prefix", "file://elsewhere/x", "ftp://host/x"])
def test_other_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="storage URL"):
        storage_from_url(url)
