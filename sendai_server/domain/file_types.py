"""The file types an upload accepts (PDF, PNG, JPEG, TIFF, and emails), known by their first
bytes: what services/uploads.py checks before it writes anything, and pipeline/extraction.py
reads by. Plain bytes, no imaging library: services import it without pulling in the pipeline.

An email (docs/api/uploads.md) is not kept as itself: domain/emails.py splits it into a body (TEXT)
and its attachments, and keeps it whole (EMAIL) only when it cannot be read."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class FileKind:
    file_type: str
    content_type: str


PDF = FileKind("pdf", "application/pdf")
PNG = FileKind("png", "image/png")
JPEG = FileKind("jpeg", "image/jpeg")
TIFF = FileKind("tiff", "image/tiff")
# An email's body, as text; and an email that could not be read (domain/emails.py).
TEXT = FileKind("text", "text/plain; charset=utf-8")
EMAIL = FileKind("email", "message/rfc822")

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
# The media types an upload's file is served with (GET .../files/{n}, documented there, as
# media types without their parameters): the accepted kinds', and an email's body and
# unreadable message.
CONTENT_TYPES = tuple(dict.fromkeys(
    kind.content_type.split(";")[0]
    for kind in [*(kind for _, kind in _SIGNATURES), TEXT, EMAIL]))

# Header fields that open an email (RFC 5322); two of them among the first lines make a file
# an email, so that a text file that happens to start with "Note: …" is not one.
_OPENING_FIELDS = {"from", "to", "subject", "date", "message-id", "mime-version", "received",
                   "return-path", "delivered-to", "reply-to", "cc", "sender", "x-mailer",
                   "dkim-signature", "arc-seal", "authentication-results", "content-type"}
_FIELD = re.compile(rb"([!-9;-~]+)[ \t]*:")


def sniff(head: bytes) -> FileKind | None:
    """The accepted type the file's first bytes announce (by content, never by name); an
    email is asked about with `is_email`."""
    for signature, kind in _SIGNATURES:
        if head.startswith(signature):
            return kind
    return None


def is_email(head: bytes) -> bool:
    """Whether a file's first bytes are an email's header (by content, never by name)."""
    if sniff(head) is not None:
        return False
    fields: set[bytes] = set()
    for line in head.split(b"\n")[:60]:
        line = line.rstrip(b"\r")
        if not line:
            break  # the end of the header
        if line[:1] in (b" ", b"\t"):
            continue  # a folded field's continuation
        match = _FIELD.match(line)
        if match is None:
            return False
        fields.add(match.group(1).lower())
    return len({f.decode() for f in fields} & _OPENING_FIELDS) >= 2
