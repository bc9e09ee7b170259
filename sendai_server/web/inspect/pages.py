"""A task's pages as images for the inspector, from the stored file: PDF pages rendered to PNG
with pypdfium2, PNG and JPEG files as they are, TIFF frames converted to PNG (browsers do not
show TIFF); and where a PDF page's text is, so that labels can be drawn beside it. Both are
cached on disk by the file's SHA-256 and the page number (a file's content never changes under
its hash), so a page is read once per host."""

from __future__ import annotations

import io
import json
import logging
import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...store.storage import Storage

log = logging.getLogger("sendai_server.web.inspect")

# The longest side of a rendered PDF page, in pixels: enough to read, small to send. The
# overlay is drawn in the task's own page coordinates, so the image's scale does not matter.
RENDER_LONGEST_SIDE = 1600
# pdfium is not thread-safe: one render at a time per process (gthread workers run threads).
_PDFIUM = threading.Lock()


class NoSuchPage(Exception):
    """The file has no page (or frame) of that number, or cannot be read."""


def cache_dir() -> Path:
    return Path(tempfile.gettempdir()) / "sendai-inspector-pages"


def page_image(storage: Storage, sha256: str, file_type: str, number: int) -> tuple[bytes, str]:
    """The image of page `number` (0-based) of the stored file: its bytes and content type."""
    if file_type in ("png", "jpeg") and number == 0:
        with storage.open(sha256) as stream:
            return stream.read(), f"image/{file_type}"
    cached = cache_dir() / f"{sha256}-{number}.png"
    try:
        return cached.read_bytes(), "image/png"
    except FileNotFoundError:
        pass
    with storage.open(sha256) as stream:
        data = stream.read()
    png = _render_pdf(data, number) if file_type == "pdf" else _image_frame(data, number)
    _store(cached, png)
    return png, "image/png"


@contextmanager
def _pdf_page(data: bytes, number: int) -> Iterator[Any]:
    """Page `number` of the PDF, open under the process's pdfium lock; NoSuchPage when the
    file cannot be read or has no such page."""
    import pypdfium2

    with _PDFIUM:
        try:
            pdf = pypdfium2.PdfDocument(data)
        except pypdfium2.PdfiumError as exc:
            raise NoSuchPage(str(exc)) from exc
        try:
            if not 0 <= number < len(pdf):
                raise NoSuchPage(f"no page {number}")
            yield pdf[number]
        finally:
            pdf.close()


def _render_pdf(data: bytes, number: int) -> bytes:
    with _pdf_page(data, number) as page:
        width, height = page.get_size()
        scale = RENDER_LONGEST_SIDE / max(width, height, 1.0)
        image = page.render(scale=scale).to_pil()
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _image_frame(data: bytes, number: int) -> bytes:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.seek(number)
            frame = image.convert("RGBA" if image.mode in ("RGBA", "LA", "P") else "RGB")
    except (EOFError, UnidentifiedImageError, OSError, ValueError) as exc:
        raise NoSuchPage(str(exc)) from exc
    out = io.BytesIO()
    frame.save(out, format="PNG")
    return out.getvalue()


def _store(path: Path, data: bytes) -> None:
    """Written under a temporary name and renamed: a reader never sees half a file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except OSError:  # a cache that cannot be written is only slower
        pass


# --- the page's text, for placing labels where they cover none of it --------------------------

Rect = tuple[float, float, float, float]  # left, top, right, bottom


@dataclass(frozen=True)
class PageText:
    """Where a PDF page's text is, in points from the page's top-left as it is shown (its
    /Rotate applied): the page's text, each character's ink box (empty for a space), and one
    box per run of text on a line (pdfium's text rectangles)."""

    width: float
    height: float
    text: str
    chars: list[Rect | None]
    lines: list[Rect]


def page_texts(storage: Storage, stored: dict[str, Any] | None, count: int
               ) -> list[PageText | None]:
    """The text of each of a task's `count` pages (`stored`: its file, or None). A file that
    cannot be read gives no text, and the page is drawn without it."""
    if stored is None:
        return [None] * count
    texts: list[PageText | None] = []
    for number in range(count):
        try:
            texts.append(page_text(storage, stored["sha256"], stored["file_type"], number))
        except Exception:  # noqa: BLE001 - a missing or damaged file: no text, not a 500
            log.warning("no text for page %d of file %s", number, stored["sha256"],
                        exc_info=True)
            texts.append(None)
    return texts


def page_text(storage: Storage, sha256: str, file_type: str, number: int) -> PageText | None:
    """The text of page `number` of a stored PDF (None for an image, or a page that cannot be
    read), cached on disk beside the page's image."""
    if file_type != "pdf":
        return None
    cached = cache_dir() / f"{sha256}-{number}.text.json"
    try:
        found = json.loads(cached.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        with storage.open(sha256) as stream:
            data = stream.read()
        try:
            found = _pdf_text(data, number)
        except NoSuchPage:
            return None
        _store(cached, json.dumps(found, separators=(",", ":")).encode())
    return PageText(width=found["size"][0], height=found["size"][1], text=found["text"],
                    chars=[tuple(c) if c else None for c in found["chars"]],
                    lines=[tuple(r) for r in found["lines"]])


def _pdf_text(data: bytes, number: int) -> dict[str, Any]:
    with _pdf_page(data, number) as page:
        left, bottom, right, top = page.get_mediabox()
        shown = _Shown(left, bottom, right - left, top - bottom, int(page.get_rotation()) % 360)
        textpage = page.get_textpage()
        text = textpage.get_text_range(0, -1)
        chars: list[Rect | None] = []
        for index in range(textpage.count_chars()):
            char = text[index] if index < len(text) else " "
            chars.append(None if char.isspace() else shown.rect(textpage.get_charbox(index)))
        lines = [shown.rect(textpage.get_rect(i)) for i in range(textpage.count_rects())]
    return {"size": shown.size, "text": text, "chars": chars, "lines": lines}


@dataclass(frozen=True)
class _Shown:
    """PDF user space to points from the top-left of the page as shown (as extraction's frame,
    pipeline/extraction.py, does in pixels)."""

    left: float
    bottom: float
    width: float
    height: float
    rotation: int

    @property
    def size(self) -> tuple[float, float]:
        turned = self.rotation in (90, 270)
        return (self.height, self.width) if turned else (self.width, self.height)

    def point(self, x: float, y: float) -> tuple[float, float]:
        u, v, w, h = x - self.left, y - self.bottom, self.width, self.height
        return {90: (v, u), 180: (w - u, v), 270: (h - v, w - u)}.get(self.rotation, (u, h - v))

    def rect(self, box: tuple[float, float, float, float]) -> Rect:
        x0, y0, x1, y1 = box
        corners = [self.point(x, y) for x, y in ((x0, y0), (x1, y1))]
        xs, ys = [c[0] for c in corners], [c[1] for c in corners]
        return (round(min(xs), 2), round(min(ys), 2), round(max(xs), 2), round(max(ys), 2))
