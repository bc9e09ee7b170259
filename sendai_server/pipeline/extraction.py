"""Deterministic extraction (docs/pipeline.md): a file's bytes in, public page objects out.

Pure functions, no database: the same bytes always give the same pages, items, confidences
and outcome. A PDF gives one page per PDF page at 300 dpi, with annotations found in its text
(pypdf) and one segment around that text; an image gives one page per frame (Pillow) and no
items; an email's body text gives one A4 page, set as a PDF would print it. A file that cannot
be read gives a `failure` saying why, never an exception.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from PIL import Image, ImageSequence
from pypdf import PdfReader

from ..domain.emails import failure_of
from ..domain.file_types import EMAIL, JPEG, PDF, PNG, TEXT, TIFF

DPI = 300
POINTS_PER_INCH = 72
SCALE = DPI / POINTS_PER_INCH
# Glyph metrics in ems, used to turn a text run's origin and length into a box. PDF text runs
# carry no width of their own; half an em per character is Helvetica's average, near enough
# for positions that only need to land on the right line and roughly the right column.
CHAR_WIDTH = 0.5
ASCENT = 0.75
DESCENT = 0.2
LINE_GAP = 1.2


@dataclass(frozen=True)
class Extraction:
    """Either `pages` (public page objects without ids, docs/api/tasks.md) or a `failure`."""

    pages: list[dict[str, Any]] = field(default_factory=list)
    failure: str | None = None


def extract(stream: BinaryIO, file_type: str, sha256: str) -> Extraction:
    """Pages of a seekable stream of type `file_type` ("pdf", "png", "jpeg", "tiff").

    `sha256` is the file's hash, from which confidences are derived.
    """
    if file_type == PDF.file_type:
        return _extract_pdf(stream, sha256)
    if file_type in _PILLOW_FORMATS:
        return _extract_image(stream, file_type)
    if file_type == TEXT.file_type:
        return _extract_text(stream, sha256)
    if file_type == EMAIL.file_type:  # an email kept whole: it could not be read
        return Extraction(failure=failure_of(stream))
    raise ValueError(f"no extraction for file type {file_type!r}")


def confidence(sha256: str, page: int, kind: str, index: int) -> float:
    """A confidence in [0.5, 1) with two decimals, fixed by the file and the item's position."""
    digest = hashlib.sha256(f"{sha256}:{page}:{kind}:{index}".encode()).digest()
    return (50 + int.from_bytes(digest[:8], "big") % 50) / 100


# --- images -------------------------------------------------------------------------------------

_PILLOW_FORMATS = {PNG.file_type: "PNG", JPEG.file_type: "JPEG", TIFF.file_type: "TIFF"}


def _extract_image(stream: BinaryIO, file_type: str) -> Extraction:
    try:
        # Only the format the file was accepted as: Pillow tries no other parser on it.
        with Image.open(stream, formats=[_PILLOW_FORMATS[file_type]]) as image:
            sizes = []
            for frame in ImageSequence.Iterator(image):
                frame.load()  # decode: a truncated image fails here, not at open
                sizes.append(frame.size)
    # Pillow raises OSError, SyntaxError, ValueError and more for damaged files (and
    # DecompressionBombError for absurd sizes): every one of them means "cannot be read".
    except Exception as exc:  # noqa: BLE001
        return Extraction(failure=f"The image could not be read: {_reason(exc)}")
    return Extraction(pages=[_page(width, height) for width, height in sizes])


def _page(width: int, height: int) -> dict[str, Any]:
    return {"width": width, "height": height, "annotations": [], "checkboxes": [],
            "segments": [], "signatures": []}


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


# --- PDFs ---------------------------------------------------------------------------------------

def _extract_pdf(stream: BinaryIO, sha256: str) -> Extraction:
    try:
        reader = PdfReader(stream, strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            return Extraction(failure="The PDF could not be read: it is encrypted")
        pages = [_pdf_page(page, number, sha256) for number, page in enumerate(reader.pages)]
    # pypdf raises its own errors and, on damaged files, plain ValueError, KeyError,
    # AttributeError and more: every one of them means "cannot be read".
    except Exception as exc:  # noqa: BLE001
        return Extraction(failure=f"The PDF could not be read: {_reason(exc)}")
    if not pages:
        return Extraction(failure="The PDF could not be read: it has no pages")
    return Extraction(pages=pages)


@dataclass(frozen=True)
class _Frame:
    """A page's display frame: user space (points) to pixels from the top-left, /Rotate on."""

    left: float
    bottom: float
    width: float  # points, before rotation
    height: float
    rotation: int

    def pixels(self, x: float, y: float) -> tuple[float, float]:
        u, v = x - self.left, y - self.bottom
        w, h = self.width, self.height
        # /Rotate turns the page clockwise for display.
        shown = {0: (u, h - v), 90: (v, u), 180: (w - u, v), 270: (h - v, w - u)}
        px, py = shown[self.rotation]
        return px * SCALE, py * SCALE

    @property
    def size(self) -> tuple[int, int]:
        width, height = round(self.width * SCALE), round(self.height * SCALE)
        return (height, width) if self.rotation in (90, 270) else (width, height)


@dataclass(frozen=True)
class _Run:
    """A piece of text on one line: its baseline origin and em sizes, in user space."""

    text: str
    x: float
    y: float
    em_x: float  # the font's em, horizontally and vertically, after every transformation
    em_y: float

    @property
    def end(self) -> float:
        return self.x + len(self.text) * CHAR_WIDTH * self.em_x

    def box(self, start: int, stop: int) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1) in user space around characters start..stop."""
        x0 = self.x + start * CHAR_WIDTH * self.em_x
        x1 = self.x + stop * CHAR_WIDTH * self.em_x
        return x0, self.y - DESCENT * self.em_y, x1, self.y + ASCENT * self.em_y


def _pdf_page(page: Any, number: int, sha256: str) -> dict[str, Any]:
    box = page.mediabox
    rotation = int(page.rotation or 0) % 360
    frame = _Frame(float(box.left), float(box.bottom), float(box.width), float(box.height),
                   rotation if rotation in (0, 90, 180, 270) else 0)
    return _page_of_runs(frame, _text_runs(page), number, sha256)


def _page_of_runs(frame: _Frame, runs: list[_Run], number: int, sha256: str) -> dict[str, Any]:
    """A page of this frame with these text runs: its annotations and its text's segment."""
    width, height = frame.size
    result = _page(width, height)

    # Top to bottom, then left to right: a stable order, and each item's index in it.
    found = sorted(
        ((_clamp(top, height), _clamp(left, width), entity, content)
         for entity, top, left, content in _annotations(runs, frame)),
    )
    result["annotations"] = [
        {"entity_id": entity, "confidence": confidence(sha256, number, "annotation", index),
         "content": content, "top": top, "left_of_line": left}
        for index, (top, left, entity, content) in enumerate(found)
    ]
    if runs:
        boxes = [_pixel_box(frame, run.box(0, len(run.text))) for run in runs]
        left = _clamp(min(b[0] for b in boxes), width)
        top = _clamp(min(b[1] for b in boxes), height)
        right = _clamp(max(b[2] for b in boxes), width)
        bottom = _clamp(max(b[3] for b in boxes), height)
        result["segments"] = [{
            "confidence": confidence(sha256, number, "segment", 0),
            "coordinates": [[left, top], [right, top], [right, bottom], [left, bottom]],
        }]
    return result


# --- text (an email's body) ---------------------------------------------------------------------

_TEXT_FRAME = _Frame(0.0, 0.0, 595.28, 841.89, 0)  # A4 in points: 2480 × 3508 at 300 dpi
_TEXT_EM, _TEXT_MARGIN = 10.0, 72.0


def _extract_text(stream: BinaryIO, sha256: str) -> Extraction:
    """One page of text, set as a PDF would print it (10 pt lines from a one-inch margin), its
    annotations found as a PDF's are."""
    text = stream.read().decode("utf-8", errors="replace")
    runs = []
    for number, line in enumerate(text.splitlines()):
        if line.strip():
            indent = (len(line) - len(line.lstrip())) * CHAR_WIDTH * _TEXT_EM
            y = _TEXT_FRAME.height - _TEXT_MARGIN - _TEXT_EM - number * LINE_GAP * _TEXT_EM
            runs.append(_Run(line.strip(), _TEXT_MARGIN + indent, y, _TEXT_EM, _TEXT_EM))
    return Extraction(pages=[_page_of_runs(_TEXT_FRAME, runs, 0, sha256)])


def _clamp(value: float, most: int) -> float:
    return round(min(max(value, 0.0), float(most)), 1)


def _pixel_box(frame: _Frame, box: tuple[float, float, float, float]
               ) -> tuple[float, float, float, float]:
    """(left, top, right, bottom) in pixels of a user-space box, whatever the rotation."""
    x0, y0, x1, y1 = box
    corners = [frame.pixels(x, y) for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1))]
    xs, ys = [c[0] for c in corners], [c[1] for c in corners]
    return min(xs), min(ys), max(xs), max(ys)


def _text_runs(page: Any) -> list[_Run]:
    """The page's text as positioned runs, from pypdf's text visitor."""
    runs: list[_Run] = []

    def visit(text: str, cm: list[float], tm: list[float], font: Any, size: float) -> None:
        if not text.strip():
            return
        # The run's matrix is the text matrix in the current transformation: tm × cm.
        a = tm[0] * cm[0] + tm[1] * cm[2]
        b = tm[0] * cm[1] + tm[1] * cm[3]
        c = tm[2] * cm[0] + tm[3] * cm[2]
        d = tm[2] * cm[1] + tm[3] * cm[3]
        x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
        y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
        em_x, em_y = abs(size) * math.hypot(a, b), abs(size) * math.hypot(c, d)
        # pypdf hands over a line break inside a run as "\n": the rest goes on lines below.
        # It also puts a space of its own before a run far from the previous one; the run's
        # origin is that of its first glyph, so the space is dropped (_lines adds its own).
        for line_number, piece in enumerate(text.split("\n")):
            if piece.strip():
                y_piece = y - line_number * LINE_GAP * em_y
                runs.append(_Run(piece.strip(), x, y_piece, em_x, em_y))

    page.extract_text(visitor_text=visit)
    return runs


def _lines(runs: list[_Run]) -> Iterator[tuple[str, list[tuple[int, _Run]]]]:
    """Runs joined into lines (baselines within a third of an em), top to bottom: each line's
    text, and where in it each run starts."""
    lines: list[list[_Run]] = []
    for run in sorted(runs, key=lambda r: (-r.y, r.x)):
        if lines and abs(run.y - lines[-1][0].y) <= 0.3 * run.em_y:
            lines[-1].append(run)
        else:
            lines.append([run])
    for line in lines:
        text, starts = "", []
        previous: _Run | None = None
        for run in sorted(line, key=lambda r: r.x):
            # Runs apart on the line are separate words; touching ones continue a word.
            if previous is not None and run.x - previous.end > 0.1 * run.em_x:
                text += " "
            starts.append((len(text), run))
            text += run.text
            previous = run
        yield text, starts


# --- what annotations are found -----------------------------------------------------------------

_AMOUNT = (r"(?:(?:[$€£]|EUR|USD|GBP|CHF)\s?)?"
           r"(?:\d{1,3}(?:[,.' ]\d{3})+(?:[.,]\d{2})?|\d+(?:[.,]\d{2})?)"
           r"(?:\s?(?:EUR|USD|GBP|CHF|[$€£]))?")
_MONTH = (r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
          r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)")

_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("total_amount", re.compile(
        r"\bTotal\b(?:\s+(?:amount|due|payable|to\s+pay))?\s*[:\-]?\s*"
        rf"(?P<value>{_AMOUNT})(?![\d,.]*\d)", re.IGNORECASE)),
    ("date", re.compile(
        r"\b(?P<value>\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[./-]\d{1,2}[./-](?:\d{4}|\d{2})"
        rf"|\d{{1,2}}\.?\s+{_MONTH}\.?,?\s+\d{{4}}|{_MONTH}\.?\s+\d{{1,2}},?\s+\d{{4}})\b",
        re.IGNORECASE)),
    ("invoice_number", re.compile(
        r"\bInvoice\s*(?:#|No\.?|Nr\.?|Number)\s*[:#.]?\s*"
        r"(?P<value>[A-Z0-9](?:[A-Z0-9/_.-]*[A-Z0-9])?)", re.IGNORECASE)),
    ("email", re.compile(r"(?P<value>[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,})")),
    ("iban", re.compile(r"\b(?P<value>[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?)\b")),
)


def _plausible_date(text: str) -> bool:
    numbers = [int(n) for n in re.findall(r"\d+", text)]
    if len(numbers) != 3:  # a month by name: the regex has checked it
        return True
    if numbers[0] > 31:  # year first
        return 1 <= numbers[1] <= 12 and 1 <= numbers[2] <= 31
    first, second = numbers[0], numbers[1]  # day.month or month/day
    return 1 <= min(first, second) <= 12 and 1 <= max(first, second) <= 31


def _valid_iban(text: str) -> str | None:
    """The longest prefix (in printed groups) of `text` whose ISO 13616 check digits hold."""
    groups = text.split(" ")
    for count in range(len(groups), 0, -1):
        compact = "".join(groups[:count])
        if 15 <= len(compact) <= 34:
            rearranged = compact[4:] + compact[:4]
            if int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1:
                return " ".join(groups[:count])
    return None


_CHECKS: dict[str, Callable[[str], str | None]] = {
    "date": lambda value: value if _plausible_date(value) else None,
    "invoice_number": lambda value: value if any(ch.isdigit() for ch in value) else None,
    "iban": _valid_iban,
}


def _annotations(runs: list[_Run], frame: _Frame) -> Iterator[tuple[str, float, float, str]]:
    """(entity_id, top, left, content) for every field found, positions in pixels."""
    for text, starts in _lines(runs):
        for entity, pattern in _PATTERNS:
            for match in pattern.finditer(text):
                content: str | None = match.group("value")
                check = _CHECKS.get(entity)
                if check is not None:
                    content = check(content or "")
                if not content:
                    continue
                offset = match.start("value")
                start, run = next((s, r) for s, r in reversed(starts) if s <= offset)
                left, top, _, _ = _pixel_box(
                    frame, run.box(offset - start, offset - start + len(content))
                )
                yield entity, top, left, content
