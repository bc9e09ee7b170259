"""Email uploads (docs/api/uploads.md): a `message/rfc822` file, known by its content, is one
document that becomes several tasks: one for its body (its text, extracted as a PDF's text is) and
one per attachment of an accepted type, in the message's order; other attachments are named in
the body task's meta (`skipped_attachment`). Parsed with the standard library's `email`
package (policy `default`).

A message the parser cannot make sense of (a multipart without its boundaries, a truncated
one, an attachment whose base64 is broken) is still accepted, whole, as one document of type
`email`: its extraction fails with the parser's findings as `details`, as a damaged PDF's does
(pipeline/extraction.py asks `failure_of`). An email is known by its first bytes
(file_types.is_email).

The message is parsed in memory (the `email` package has no other way): at most the request's
bound (SENDAI_MAX_UPLOAD_BYTES), and each document it gives at most 40 MiB.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from email import errors, policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from typing import BinaryIO

from .errors import PayloadTooLarge
from .file_types import EMAIL, TEXT, FileKind, sniff

SKIPPED = "skipped_attachment"

# What makes a message unreadable, rather than merely untidy.
_FATAL = (errors.NoBoundaryInMultipartDefect, errors.StartBoundaryNotFoundDefect,
          errors.CloseBoundaryNotFoundDefect, errors.MultipartInvariantViolationDefect,
          errors.InvalidBase64CharactersDefect, errors.InvalidBase64LengthDefect,
          errors.MissingHeaderBodySeparatorDefect)


@dataclass(frozen=True)
class Document:
    """One document of an email: what becomes one task."""

    name: str
    kind: FileKind
    content: bytes
    skipped: tuple[str, ...] = ()  # the body's: attachments of no accepted type


def documents_of(name: str, stream: BinaryIO, limit: int,
                 senders: Sequence[str] = ()) -> list[Document]:
    """The message's documents: its body, then each attachment of an accepted type; the whole
    message as one `email` document when it cannot be read, or when `senders` (the project's
    allow-list, docs/project-settings.md) does not let its sender in. A body or attachment
    over `limit` bytes is refused (413) like a file of its own."""
    raw = stream.read()
    message = _parse(raw)
    if failure(message) is not None or not sender_allowed(sender_of(message), senders):
        _check_size(raw, name, name, limit)
        return [Document(name, EMAIL, raw)]
    body = message.get_body(preferencelist=("plain", "html"))
    text = _text_of(body) if body is not None else ""
    documents: list[Document] = []
    skipped: list[str] = []
    for index, part in enumerate(_attachments(message, body)):
        filename = (part.get_filename() or f"attachment-{index + 1}")[:500]
        content = part.get_payload(decode=True)
        content = content if isinstance(content, bytes) else b""
        _check_size(content, filename, name, limit)
        kind = sniff(content[:8192]) if content else None
        if kind is None:
            skipped.append(filename)
        else:
            documents.append(Document(filename, kind, content))
    content = text.encode("utf-8")
    _check_size(content, name, name, limit)
    return [Document(name, TEXT, content, tuple(skipped)), *documents]


def failure(message: Message) -> str | None:
    """Why the message cannot be read, or None."""
    found = [defect for part in message.walk() for defect in part.defects
             if isinstance(defect, _FATAL)]
    if not found:
        return None
    said = "; ".join(dict.fromkeys(_said(d) for d in found))
    return f"The email could not be read: {said}"


def failure_of(stream: BinaryIO) -> str:
    """An `email` document's extraction: it is one only because it could not be read, or
    because its sender was not on the project's list (a message that reads well)."""
    message = _parse(stream.read())
    return failure(message) or (
        f"The sender {sender_of(message) or '(none)'} is not on the project's list of email "
        "senders; the email's tasks were not made")


# --- senders (docs/project-settings.md: email_senders) ------------------------------------------

_SENDER_PATTERN = re.compile(r"(?:\*|[^@\s*]+)?@[^@\s*]+\.[^@\s*]+")


def check_sender_pattern(pattern: str) -> str | None:
    """Why `pattern` is no sender pattern (`user@x`, `@x`, `*@x`), or None."""
    if not _SENDER_PATTERN.fullmatch(pattern or ""):
        return f"{pattern!r} is not user@example.com, @example.com or *@example.com"
    return None


def sender_of(message: Message) -> str:
    """The From address, lower case ('' when there is none)."""
    try:
        addresses = getattr(message["From"], "addresses", ())
    except (IndexError, ValueError):
        addresses = ()
    return addresses[0].addr_spec.lower() if addresses else ""


def sender_allowed(sender: str, patterns: Sequence[str]) -> bool:
    """Any sender when `patterns` is empty; else one whose address is a `user@x` pattern or
    whose domain is an `@x` / `*@x` pattern (case-insensitive)."""
    if not patterns:
        return True
    domain = sender.rpartition("@")[2]
    for pattern in (p.lower() for p in patterns):
        if pattern.startswith(("@", "*@")):
            if domain and domain == pattern.rpartition("@")[2]:
                return True
        elif sender == pattern:
            return True
    return False


def _parse(raw: bytes) -> EmailMessage:
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    return message


def _said(defect: errors.MessageDefect) -> str:
    words = re.sub(r"(?<!^)(?=[A-Z])", " ", type(defect).__name__.removesuffix("Defect"))
    return words.lower()


def _attachments(message: EmailMessage, body: Message | None) -> list[EmailMessage]:
    """The message's attachments in order: every leaf part but the body's text."""
    found = []
    for part in message.walk():
        if part.is_multipart() or part is body:
            continue
        if part.get_filename() is None and not part.is_attachment() \
                and part.get_content_maintype() in ("text", "multipart", "message"):
            continue  # another rendering of the body (text/html beside text/plain)
        found.append(part)
    return found


def _text_of(body: Message) -> str:
    try:
        text = body.get_content()  # type: ignore[attr-defined]
    except (LookupError, ValueError):  # an unknown charset: the bytes as Latin-1
        payload = body.get_payload(decode=True)
        text = payload.decode("latin-1") if isinstance(payload, bytes) else ""
    if body.get_content_subtype() == "html":
        text = re.sub(r"(?is)<(script|style).*?</\1>", " ", text)
        text = re.sub(r"(?i)<br\s*/?>|</p>|</div>|</tr>", "\n", text)
        text = html.unescape(re.sub(r"<[^>]+>", " ", text))
    return str(text).replace("\r\n", "\n")


def _check_size(content: bytes, name: str, message_name: str, limit: int) -> None:
    if len(content) > limit:
        raise PayloadTooLarge(
            f"The file {name!r} of the email {message_name!r} is larger than {limit} bytes.",
            details={"file": name, "email": message_name, "limit_bytes": limit},
        )
