"""Extraction (docs/pipeline.md): deterministic pages from a file's bytes, or a failure saying
why."""

from __future__ import annotations

import hashlib
import io
from importlib import resources
from typing import Any

import pytest

from sendai_server.domain.file_types import JPEG, PDF, PNG, TIFF, sniff
from sendai_server.pipeline.extraction import SCALE, Extraction, extract
from tests.support import documents
from tests.support.documents import A4, INVOICE_LINES, INVOICE_TOTAL, TIFF_FRAME_SIZES, make_pdf


def run(data: bytes, file_type: str = "pdf") -> Extraction:
    return extract(io.BytesIO(data), file_type, hashlib.sha256(data).hexdigest())


def fields_of(extraction: Extraction, page: int = 0) -> dict[str, dict[str, Any]]:
    return {a["entity_id"]: a for a in extraction.pages[page]["annotations"]}


def line_of(text: str) -> tuple[float, float, float, str]:
    return next(line for line in INVOICE_LINES if text in line[3])


# --- the invoice --------------------------------------------------------------------------------

def test_the_invoice_is_one_a4_page_at_300_dpi() -> None:
    extraction = run(documents.invoice_pdf())

    assert extraction.failure is None
    assert [(p["width"], p["height"]) for p in extraction.pages] == [(2480, 3508)]
    assert extraction.pages[0]["checkboxes"] == extraction.pages[0]["signatures"] == []


def test_the_invoice_total_is_the_printed_amount_after_total_not_the_subtotal() -> None:
    found = fields_of(run(documents.invoice_pdf()))

    assert found["total_amount"]["content"] == INVOICE_TOTAL


@pytest.mark.parametrize(
    ("entity_id", "content"),
    [
        ("total_amount", INVOICE_TOTAL),
        ("date", "15.03.2024"),
        ("invoice_number", "INV-2024-001"),
        ("email", "billing@acme-supplies.example"),
        ("iban", "DE89 3704 0044 0532 0130 00"),
    ],
)
def test_each_invoice_field_is_found_where_it_is_printed(entity_id: str, content: str) -> None:
    annotation = fields_of(run(documents.invoice_pdf()))[entity_id]
    x, y, size, text = line_of(content)

    assert annotation["content"] == content
    # PDF points from the bottom-left become pixels from the top-left: the annotation's top
    # lies within its printed line, and it starts where the value starts on that line.
    line_top = (A4[1] - y - size) * SCALE
    baseline = (A4[1] - y) * SCALE
    assert line_top <= annotation["top"] <= baseline
    assert x * SCALE <= annotation["left_of_line"] < 2480
    if text.startswith(content):
        assert annotation["left_of_line"] == pytest.approx(x * SCALE)
    else:
        assert annotation["left_of_line"] > x * SCALE


def test_the_invoice_has_its_five_fields_in_reading_order() -> None:
    found = run(documents.invoice_pdf()).pages[0]["annotations"]

    assert [a["entity_id"] for a in found] == [
        "email", "invoice_number", "date", "total_amount", "iban",
    ]
    assert [a["top"] for a in found] == sorted(a["top"] for a in found)


def test_confidences_are_two_decimals_in_half_open_range_from_one_half_to_one() -> None:
    page = run(documents.invoice_pdf()).pages[0]

    for item in page["annotations"] + page["segments"]:
        assert 0.5 <= item["confidence"] < 1
        assert item["confidence"] == round(item["confidence"], 2)


def test_one_segment_surrounds_the_text_of_the_page() -> None:
    page = run(documents.invoice_pdf()).pages[0]

    [segment] = page["segments"]
    (left, top), (right, top_2), (right_2, bottom), (left_2, bottom_2) = segment["coordinates"]
    assert (left, top, right, bottom) == (left_2, top_2, right_2, bottom_2)
    assert 0 <= left < right <= page["width"] and 0 <= top < bottom <= page["height"]
    assert left == pytest.approx(72 * SCALE)  # the leftmost line starts at 72 pt
    for annotation in page["annotations"]:
        assert left <= annotation["left_of_line"] <= right
        assert top <= annotation["top"] <= bottom


# --- determinism --------------------------------------------------------------------------------

def test_the_same_bytes_give_the_same_extraction() -> None:
    data = documents.invoice_pdf()

    assert run(data) == run(data)


def test_different_files_give_different_confidences() -> None:
    ours, theirs = run(documents.invoice_pdf()), run(documents.other_invoice_pdf())

    def confidences(extraction: Extraction) -> list[float]:
        return [a["confidence"] for a in extraction.pages[0]["annotations"]]

    assert [a["entity_id"] for a in ours.pages[0]["annotations"]] == [
        a["entity_id"] for a in theirs.pages[0]["annotations"]
    ]
    assert confidences(ours) != confidences(theirs)


def test_the_shipped_sample_invoice_is_the_generated_one() -> None:
    """`python -m tests.support.documents` rewrites it when the generator changes."""
    shipped = resources.files("sendai_server").joinpath("samples/invoice.pdf").read_bytes()

    assert shipped == documents.invoice_pdf()


# --- other PDFs ---------------------------------------------------------------------------------

def test_a_two_page_pdf_gives_two_pages_each_with_its_own_fields() -> None:
    extraction = run(documents.two_page_pdf())

    assert len(extraction.pages) == 2
    assert {k: a["content"] for k, a in fields_of(extraction, 0).items()} == {
        "invoice_number": "7781", "date": "2024-01-31",
    }
    assert {k: a["content"] for k, a in fields_of(extraction, 1).items()} == {
        "total_amount": "$99.00",
    }


def test_a_blank_page_has_no_annotations_and_no_segment() -> None:
    [page] = run(documents.blank_pdf()).pages

    assert (page["width"], page["height"]) == (2480, 3508)
    assert page["annotations"] == page["segments"] == []


def test_a_page_turned_a_quarter_is_as_wide_as_it_is_shown() -> None:
    data = make_pdf([[(72, 770, 12, "Total: 5.00")]], rotate=90)

    [page] = run(data).pages

    assert (page["width"], page["height"]) == (3508, 2480)
    total = fields_of(run(data))["total_amount"]
    assert 0 <= total["left_of_line"] <= 3508 and 0 <= total["top"] <= 2480


@pytest.mark.parametrize(
    ("text", "entity_id", "content"),
    [
        ("Total due: $1,234.56", "total_amount", "$1,234.56"),
        ("TOTAL EUR 1.234,56", "total_amount", "EUR 1.234,56"),
        ("Grand total 1234.50", "total_amount", "1234.50"),
        ("Total: 99", "total_amount", "99"),
        ("Subtotal: 10.00", "total_amount", None),
        ("Total VAT: 1.90", "total_amount", None),
        ("Invoice #: A-17", "invoice_number", "A-17"),
        ("Invoice Number 2024/118", "invoice_number", "2024/118"),
        ("invoice no 42", "invoice_number", "42"),
        ("Invoice No. ABC", "invoice_number", None),
        ("Invoice to be paid", "invoice_number", None),
        ("Date: 2024-03-15", "date", "2024-03-15"),
        ("Issued 03/15/2024", "date", "03/15/2024"),
        ("on 15 March 2024", "date", "15 March 2024"),
        ("on March 15, 2024", "date", "March 15, 2024"),
        ("version 1.2.3", "date", None),
        ("on 45.45.2024", "date", None),
        ("mail jane.doe+inv@example.co.uk.", "email", "jane.doe+inv@example.co.uk"),
        ("IBAN GB82 WEST 1234 5698 7654 32", "iban", "GB82 WEST 1234 5698 7654 32"),
        ("IBAN DE89370400440532013000", "iban", "DE89370400440532013000"),
        ("IBAN DE89 3704 0044 0532 0130 00 BANK", "iban", "DE89 3704 0044 0532 0130 00"),
        ("IBAN DE88 3704 0044 0532 0130 00", "iban", None),  # wrong check digits
    ],
)
def test_fields_in_a_line_of_text(text: str, entity_id: str, content: str | None) -> None:
    found = fields_of(run(make_pdf([[(72, 700, 12, text)]])))

    assert found.get(entity_id, {}).get("content") == content


def test_a_field_split_over_several_text_runs_is_found_on_its_line() -> None:
    data = make_pdf([[(72, 700, 12, "Total:"), (300, 700, 12, "$1,234.56"), (72, 650, 12, "x")]])

    total = fields_of(run(data))["total_amount"]

    assert total["content"] == "$1,234.56"
    assert total["left_of_line"] == pytest.approx(300 * SCALE)


@pytest.mark.parametrize(
    "data",
    [documents.damaged_pdf(), b"%PDF-1.4\n" + b"\x00" * 100, b"%PDF-"],
    ids=["truncated", "garbage", "header-only"],
)
def test_a_pdf_that_cannot_be_read_fails_with_a_reason(data: bytes) -> None:
    extraction = run(data)

    assert extraction.pages == []
    assert extraction.failure is not None
    assert extraction.failure.startswith("The PDF could not be read: ")
    assert len(extraction.failure) > len("The PDF could not be read: ")


# --- images -------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("data", "file_type", "size"),
    [(documents.png((640, 480)), "png", (640, 480)), (documents.jpeg((300, 200)), "jpeg",
                                                         (300, 200))],
)
def test_an_image_is_one_page_of_its_pixel_size_without_items(
    data: bytes, file_type: str, size: tuple[int, int]
) -> None:
    extraction = run(data, file_type)

    assert extraction.pages == [{
        "width": size[0], "height": size[1], "annotations": [], "checkboxes": [],
        "segments": [], "signatures": [],
    }]


def test_a_tiff_gives_one_page_per_frame() -> None:
    extraction = run(documents.multi_frame_tiff(), "tiff")

    assert [(p["width"], p["height"]) for p in extraction.pages] == TIFF_FRAME_SIZES


@pytest.mark.parametrize(
    ("data", "file_type"),
    [(documents.truncated_png(), "png"), (documents.jpeg()[:100], "jpeg"),
     (documents.multi_frame_tiff()[:5000], "tiff"), (documents.png(), "tiff")],
    ids=["truncated-png", "truncated-jpeg", "truncated-tiff", "png-called-tiff"],
)
def test_an_image_that_cannot_be_read_fails_with_a_reason(data: bytes, file_type: str) -> None:
    extraction = run(data, file_type)

    assert extraction.pages == []
    assert extraction.failure is not None
    assert extraction.failure.startswith("The image could not be read: ")


def test_an_unknown_file_type_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="docx"):
        run(b"PK", "docx")


# --- sniffing -----------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (documents.invoice_pdf(), PDF),
        (documents.png(), PNG),
        (documents.jpeg(), JPEG),
        (documents.multi_frame_tiff(), TIFF),
        (b"MM\x00*\x00\x00\x00\x08", TIFF),  # big-endian
        (documents.damaged_pdf(), PDF),  # a damaged PDF is accepted, and fails later
    ],
    ids=["pdf", "png", "jpeg", "tiff", "tiff-big-endian", "damaged-pdf"],
)
def test_sniff_knows_each_accepted_type_by_its_content(data: bytes, kind: object) -> None:
    assert sniff(data[:8192]) == kind


def test_sniffed_kinds_name_their_type_and_content_type() -> None:
    assert [(k.file_type, k.content_type) for k in (PDF, PNG, JPEG, TIFF)] == [
        ("pdf", "application/pdf"), ("png", "image/png"), ("jpeg", "image/jpeg"),
        ("tiff", "image/tiff"),
    ]


@pytest.mark.parametrize(
    "data",
    [b"", b"Total: 1,234.56 EUR\n", b"  %PDF-1.4 after spaces", documents.zip_file(),
     b"GIF89a\x01\x00", b"\x89PN"],
    ids=["empty", "text", "pdf-not-at-start", "zip", "gif", "cut-png-signature"],
)
def test_sniff_refuses_anything_else(data: bytes) -> None:
    assert sniff(data) is None
