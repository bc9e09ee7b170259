"""A task's pages as images for the inspector, from the stored file: PDF pages rendered to PNG
with pypdfium2, PNG and JPEG files as they are, TIFF frames converted to PNG (browsers do not
show TIFF). Rendered images are cached on disk by the file's SHA-256 and the page number (a
file's content never changes under its hash), so a page is rendered once per host."""

from __future__ import annotations

import io
import os
import tempfile
import threading
from pathlib import Path

from ..storage import Storage

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


def _render_pdf(data: bytes, number: int) -> bytes:
    import pypdfium2

    with _PDFIUM:
        try:
            pdf = pypdfium2.PdfDocument(data)
        except pypdfium2.PdfiumError as exc:
            raise NoSuchPage(str(exc)) from exc
        try:
            if not 0 <= number < len(pdf):
                raise NoSuchPage(f"no page {number}")
            page = pdf[number]
            width, height = page.get_size()
            scale = RENDER_LONGEST_SIDE / max(width, height, 1.0)
            image = page.render(scale=scale).to_pil()
        finally:
            pdf.close()
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
