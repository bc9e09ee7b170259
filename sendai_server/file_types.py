"""The file types an upload accepts (PDF, PNG, JPEG, TIFF), known by their first bytes: what
services/uploads.py checks before it writes anything, and pipeline/extraction.py reads by.
Plain bytes, no imaging library: services import it without pulling in the pipeline."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FileKind:
    file_type: str
    content_type: str


PDF = FileKind("pdf", "application/pdf")
PNG = FileKind("png", "image/png")
JPEG = FileKind("jpeg", "image/jpeg")
TIFF = FileKind("tiff", "image/tiff")

# Magic numbers: the first bytes of each accepted type. TIFF in either byte order, classic
# (42) or BigTIFF (43).
_SIGNATURES: tuple[tuple[bytes, FileKind], ...] = (
    (b"%PDF-", PDF),
    (b"\x89PNG\r\n\x1a\n", PNG),
    (b"\xff\xd8\xff", JPEG),
    (b"II*\x00", TIFF),
    (b"MM\x00*", TIFF),
    (b"II+\x00", TIFF),
    (b"MM\x00+", TIFF),
)
# The media types an upload's file is served with (GET .../files/{n}, documented there).
CONTENT_TYPES = tuple(dict.fromkeys(kind.content_type for _, kind in _SIGNATURES))


def sniff(head: bytes) -> FileKind | None:
    """The accepted type the file's first bytes announce (by content, never by name)."""
    for signature, kind in _SIGNATURES:
        if head.startswith(signature):
            return kind
    return None
