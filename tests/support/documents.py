"""Documents for the extraction tests, made in code (no binary files in tests/).

The PDFs come from a tiny writer of our own: Helvetica text placed with BT/Tf/Td/Tj, enough for
pypdf to read back with positions. `python -m tests.support.documents` rewrites the sample
invoice that ships with the package (sendai_server/samples/invoice.pdf); a test checks the two
agree.
"""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

A4 = (595.28, 841.89)  # points
SAMPLE_INVOICE = Path(__file__).resolve().parents[2] / "sendai_server/samples/invoice.pdf"

# (x, y from the bottom-left in points, font size, text)
Line = tuple[float, float, float, str]

INVOICE_TOTAL = "1,234.56 EUR"
INVOICE_LINES: list[Line] = [
    (72, 770, 20, "ACME Supplies GmbH"),
    (72, 748, 10, "Hauptstrasse 1, 10115 Berlin"),
    (72, 734, 10, "billing@acme-supplies.example"),
    (360, 700, 12, "Invoice No. INV-2024-001"),
    (360, 684, 12, "Date: 15.03.2024"),
    (72, 640, 12, "Bill to: Example Customer Ltd"),
    (72, 560, 11, "Office chairs  4 x 250.00"),
    (72, 544, 11, "Delivery  37.45"),
    (72, 520, 11, "Subtotal: 1,037.45 EUR"),
    (72, 504, 11, "VAT 19%: 197.11 EUR"),
    (72, 480, 14, f"Total: {INVOICE_TOTAL}"),
    (72, 400, 10, "Please pay within 30 days to IBAN DE89 3704 0044 0532 0130 00"),
]


def _pdf_string(text: str) -> bytes:
    escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    return b"(" + escaped.encode("cp1252") + b")"


def _content(lines: list[Line]) -> bytes:
    ops = []
    for x, y, size, text in lines:
        ops.append(b"BT /F1 %g Tf %g %g Td %s Tj ET" % (size, x, y, _pdf_string(text)))
    return b"\n".join(ops) + b"\n"


def make_pdf(pages: list[list[Line]], size: tuple[float, float] = A4, rotate: int = 0) -> bytes:
    """A PDF 1.4 file: one page per list of lines, one Helvetica font, a classic xref table."""
    page_ids = [4 + 2 * i for i in range(len(pages))]
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>"
        % (b" ".join(b"%d 0 R" % n for n in page_ids), len(pages)),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    for page_id, lines in zip(page_ids, pages, strict=True):
        content = _content(lines)
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %g %g] /Rotate %d /Resources << /Font "
            b"<< /F1 3 0 R >> >> /Contents %d 0 R >>" % (size[0], size[1], rotate, page_id + 1)
        )
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content))

    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n%s\nendobj\n" % (number, body))
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(
        b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    )
    return out.getvalue()


def invoice_pdf() -> bytes:
    """An A4 invoice: total, date, invoice number, email and IBAN, each on a line of its own."""
    return make_pdf([INVOICE_LINES])


def other_invoice_pdf() -> bytes:
    """The same kinds of fields in another file (so with other confidences)."""
    lines = [(x, y, size, text.replace("INV-2024-001", "INV-2024-002")) for x, y, size, text
             in INVOICE_LINES]
    return make_pdf([lines])


def two_page_pdf() -> bytes:
    return make_pdf([
        [(72, 770, 12, "Invoice # 7781"), (72, 750, 12, "Issued 2024-01-31")],
        [(72, 770, 12, "Terms and conditions"), (72, 750, 12, "Total due: $99.00")],
    ])


def blank_pdf() -> bytes:
    """A page with nothing written on it."""
    return make_pdf([[]])


def damaged_pdf() -> bytes:
    """The invoice cut off after its first 200 bytes: a header and part of one object."""
    return invoice_pdf()[:200]


def png(size: tuple[int, int] = (640, 480)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (240, 240, 230)).save(out, format="PNG")
    return out.getvalue()


def jpeg(size: tuple[int, int] = (300, 200)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, format="JPEG")
    return out.getvalue()


def truncated_png() -> bytes:
    data = png((640, 480))
    return data[: len(data) // 2]


TIFF_FRAME_SIZES = [(850, 1100), (850, 1100), (1100, 850)]


def multi_frame_tiff() -> bytes:
    """Three frames, the last one landscape."""
    frames = [Image.new("L", size, 255 - 40 * i) for i, size in enumerate(TIFF_FRAME_SIZES)]
    out = io.BytesIO()
    frames[0].save(out, format="TIFF", save_all=True, append_images=frames[1:])
    return out.getvalue()


def zip_file() -> bytes:
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("invoice.txt", "Total: 1,234.56 EUR")
    return out.getvalue()


if __name__ == "__main__":
    SAMPLE_INVOICE.parent.mkdir(parents=True, exist_ok=True)
    SAMPLE_INVOICE.write_bytes(invoice_pdf())
    print(f"wrote {SAMPLE_INVOICE}")
