"""The invoice integration against a real sendai-server, through the `sendai` fixture of the
installed sendai-server's pytest plugin alone: each test gets a project of its own. The first
tests put tasks in any state with the test helpers (the fixture's own project, whose pipeline
is manual); the last ones upload invoices made from the package's sample to a project whose
pipeline runs, and force Send AI's other answers with `outcome`."""

from __future__ import annotations

import threading
from decimal import Decimal
from importlib.resources import files
from pathlib import Path

import pytest
from invoice_client import (
    ImportedInvoice,
    NotForReview,
    SendAI,
    SendAIError,
    handle_notification,
    import_invoice,
    invoice_total,
    triage_invoice,
)

INVOICE_PAGE = {
    "width": 2480, "height": 3508,
    "annotations": [
        {"entity_id": "supplier", "confidence": 0.95, "content": "Acme B.V.",
         "top": 80.0, "left_of_line": 120.0},
        {"entity_id": "total_amount", "confidence": 0.98, "content": "$1,234.56",
         "top": 120.5, "left_of_line": 340.0},
    ],
}
BLANK_PAGE = {"width": 2480, "height": 3508}


@pytest.fixture
def client(sendai) -> SendAI:
    return SendAI(sendai.key("task.read", "task.edit"), sendai.team_id, sendai.project_id,
                  base_url=sendai.base_url, poll_interval=0.05)


def later(seconds, function, *args):
    """What the pipeline would do meanwhile, in `seconds`."""
    timer = threading.Timer(seconds, function, args)
    timer.start()
    return timer


def test_get_task_answers_the_task_with_its_pages(sendai, client):
    task_id = sendai.task(status="REVIEWING", pages=[INVOICE_PAGE], name="Invoice 7")

    task = client.get_task(task_id)

    assert (task["id"], task["name"], task["status"]) == (task_id, "Invoice 7", "REVIEWING")
    assert [a["entity_id"] for a in task["pages"][0]["annotations"]] == [
        "supplier", "total_amount"]


def test_invoice_total_reads_the_total_amount(sendai, client):
    with_total = client.get_task(sendai.task(pages=[BLANK_PAGE, INVOICE_PAGE]))
    without = client.get_task(sendai.task(pages=[BLANK_PAGE]))

    assert invoice_total(with_total) == Decimal("1234.56")
    assert invoice_total(without) is None


def test_wait_until_in_review_returns_once_processing_is_done(sendai, client):
    task_id = sendai.task(status="PROCESSING", pages=[INVOICE_PAGE])
    later(0.3, sendai.advance, task_id, "to_review")

    assert client.wait_until_in_review(task_id, timeout=10)["status"] == "REVIEWING"


@pytest.mark.parametrize("event, status", [("fail", "FAILED"), ("filter", "FILTERED"),
                                           ("auto_complete", "COMPLETED")])
def test_wait_until_in_review_stops_when_the_task_settles_elsewhere(sendai, client, event,
                                                                     status):
    task_id = sendai.task(status="PROCESSING")
    later(0.2, sendai.advance, task_id, event)

    with pytest.raises(NotForReview, match=f"is {status}"):
        client.wait_until_in_review(task_id, timeout=10)


def test_wait_until_in_review_gives_up_after_its_timeout(sendai, client):
    task_id = sendai.task(status="PROCESSING")

    with pytest.raises(TimeoutError, match="still PROCESSING"):
        client.wait_until_in_review(task_id, timeout=0.3)


def test_discard_task_discards_a_task_in_review(sendai, client):
    task_id = sendai.task(status="REVIEWING")

    assert client.discard_task(task_id)["status"] == "DISCARDED"
    assert sendai.get_task(task_id)["status"] == "DISCARDED"


@pytest.mark.parametrize("status", ["PROCESSING", "COMPLETED", "FAILED", "DISCARDED",
                                    "FILTERED"])
def test_discard_task_outside_review_is_an_error_the_client_can_read(sendai, client, status):
    task_id = sendai.task(status=status)

    with pytest.raises(SendAIError) as refused:
        client.discard_task(task_id)

    assert (refused.value.status, refused.value.code) == (400, "invalid_task_state")
    assert sendai.get_task(task_id)["status"] == status


def test_a_read_only_key_cannot_discard(sendai):
    read_only = SendAI(sendai.key("task.read"), sendai.team_id, sendai.project_id,
                       base_url=sendai.base_url)

    with pytest.raises(SendAIError) as refused:
        read_only.discard_task(sendai.task())

    assert (refused.value.status, refused.value.code) == (403, "insufficient_scope")


def test_another_projects_task_is_not_found(sendai, client):
    elsewhere = sendai.project().task()

    with pytest.raises(SendAIError) as refused:
        client.get_task(elsewhere)

    assert (refused.value.status, refused.value.code) == (404, "not_found")


def test_triage_returns_the_total_and_keeps_the_invoice_for_review(sendai, client):
    task_id = sendai.task(status="PROCESSING", pages=[INVOICE_PAGE])
    later(0.2, sendai.advance, task_id, "to_review")

    assert triage_invoice(client, task_id, timeout=10) == Decimal("1234.56")
    assert sendai.get_task(task_id)["status"] == "REVIEWING"


def test_triage_discards_an_invoice_without_a_total(sendai, client):
    task_id = sendai.task(status="PROCESSING", pages=[BLANK_PAGE])
    later(0.2, sendai.advance, task_id, "to_review")

    assert triage_invoice(client, task_id, timeout=10) is None
    sendai.wait_for(task_id, "DISCARDED", timeout=1)


# --- documents in: the upload flow, on a project whose pipeline runs ---------------------------

SAMPLE = files("sendai_server") / "samples/invoice.pdf"  # installed with sendai-server
SAMPLE_TOTAL_LINE = b"(Total: 1,234.56 EUR)"


def make_invoice(folder: Path, total: str | None = "1,234.56 EUR") -> Path:
    """A PDF invoice made from the package's sample, printing `total` as its total (None: no
    total at all). The text is swapped in place, at the same length, so the PDF stays valid;
    each total gives other bytes."""
    sample = SAMPLE.read_bytes()
    text = "Amount due: see web" if total is None else "Total: " + total.rjust(12)
    line = f"({text})".encode()
    assert len(line) == len(SAMPLE_TOTAL_LINE), f"at most 12 characters: {total!r}"
    path = folder / f"invoice {total}.pdf"
    path.write_bytes(sample.replace(SAMPLE_TOTAL_LINE, line))
    return path


@pytest.fixture
def invoices(sendai):
    """A project whose pipeline runs, as Send AI's does (uploads go to review by themselves)."""
    return sendai.project(pipeline="auto")


@pytest.fixture
def importer(invoices) -> SendAI:
    return SendAI(invoices.key("upload.create", "task.read", "task.edit"), invoices.team_id,
                  invoices.project_id, base_url=invoices.base_url, poll_interval=0.05)


def test_upload_answers_the_new_upload_and_its_task_goes_to_review(invoices, importer,
                                                                   tmp_path):
    invoices.clock.freeze()  # the pipeline runs when the test moves the clock (docs/clock.md)
    answer = importer.upload(make_invoice(tmp_path), meta={"order": "42"})

    assert (answer["status"], answer["projectId"]) == ("processing", invoices.project_id)
    [task_id] = answer["taskIds"]
    assert invoices.get_task(task_id)["status"] == "PROCESSING"
    invoices.clock.advance(seconds=1)
    task = invoices.get_task(task_id)
    assert task["status"] == "REVIEWING"
    assert task["meta"] == [{"name": "order", "value": "42"}]
    assert invoice_total(task) == Decimal("1234.56")


def test_import_invoice_reads_the_total_and_discards_the_task(invoices, importer, tmp_path):
    imported = import_invoice(importer, make_invoice(tmp_path), timeout=10)

    assert imported.total == Decimal("1234.56")
    assert invoices.get_task(imported.task_id)["status"] == "DISCARDED"


@pytest.mark.parametrize("printed, total", [("99.00 EUR", Decimal("99.00")),
                                            ("12,000.00 $", Decimal("12000.00")),
                                            (None, None)])
def test_import_invoice_reads_whatever_total_is_printed(invoices, importer, tmp_path, printed,
                                                        total):
    imported = import_invoice(importer, make_invoice(tmp_path, printed), timeout=10)

    assert imported.total == total
    assert invoices.get_task(imported.task_id)["status"] == "DISCARDED"


@pytest.mark.parametrize("status", ["FAILED", "COMPLETED", "FILTERED"])
def test_import_invoice_stops_when_send_ai_settles_the_task_elsewhere(invoices, importer,
                                                                      tmp_path, status):
    invoice = make_invoice(tmp_path)
    invoices.outcome(invoice, status)

    with pytest.raises(NotForReview, match=f"is {status}") as settled:
        import_invoice(importer, invoice, timeout=10)

    assert invoices.get_task(settled.value.task["id"])["status"] == status  # left alone


def test_import_invoice_takes_the_total_send_ai_extracted(invoices, importer, tmp_path):
    invoice = make_invoice(tmp_path)
    invoices.outcome(invoice, "REVIEWING", pages=[BLANK_PAGE, INVOICE_PAGE])

    assert import_invoice(importer, invoice, timeout=10).total == Decimal("1234.56")


def test_wait_until_in_review_follows_an_upload_made_elsewhere(invoices, importer, tmp_path):
    invoices.clock.freeze()
    [task_id] = invoices.upload(make_invoice(tmp_path))["taskIds"]
    with pytest.raises(TimeoutError, match="still PROCESSING"):
        importer.wait_until_in_review(task_id, timeout=0)

    invoices.clock.advance(seconds=1)

    assert importer.wait_until_in_review(task_id, timeout=0)["status"] == "REVIEWING"


def test_import_invoice_gives_up_while_send_ai_is_still_processing(invoices, importer,
                                                                   tmp_path):
    invoices.clock.freeze()  # Send AI takes as long as the test likes: here, for ever

    with pytest.raises(TimeoutError, match="still PROCESSING"):
        import_invoice(importer, make_invoice(tmp_path), timeout=0.3)


def test_a_file_send_ai_cannot_take_is_an_error_the_client_can_read(importer, tmp_path):
    notes = tmp_path / "notes.pdf"
    notes.write_text("not a PDF at all")

    with pytest.raises(SendAIError) as refused:
        importer.upload(notes)

    assert (refused.value.status, refused.value.code) == (400, "validation_error")


# --- notifications in: Send AI says when an upload is in review ---------------------------------
# The team's clock is frozen, so nothing happens by itself: `advance` runs the pipeline and
# sends the notifications, and answers once the receiver has them (docs/clock.md).

def in_review_notifications(project):
    return [n for n in project.notifications if n["event"] == "UPLOAD_IN_REVIEW"]


def test_an_upload_in_review_notification_imports_its_invoices(invoices, importer, tmp_path):
    invoices.clock.freeze()
    upload = invoices.upload(make_invoice(tmp_path, "99.00 EUR"), make_invoice(tmp_path))
    first, second = upload["taskIds"]

    invoices.clock.advance(seconds=1)  # extracted, in review, notified: all done on return
    [notification] = in_review_notifications(invoices)
    imported = handle_notification(importer, notification)

    assert notification["upload"]["id"] == upload["id"]
    assert imported == [ImportedInvoice(first, Decimal("99.00")),
                        ImportedInvoice(second, Decimal("1234.56"))]
    assert {invoices.get_task(t)["status"] for t in (first, second)} == {"DISCARDED"}


def test_the_same_notification_twice_imports_nothing_the_second_time(invoices, importer,
                                                                     tmp_path):
    invoices.clock.freeze()
    invoices.upload(make_invoice(tmp_path))
    invoices.clock.advance(seconds=1)
    [notification] = in_review_notifications(invoices)

    assert len(handle_notification(importer, notification)) == 1
    assert handle_notification(importer, notification) == []  # delivered again: no error


def test_the_upload_processed_notification_that_follows_is_left_alone(invoices, importer,
                                                                      tmp_path):
    invoices.clock.freeze()
    upload = invoices.upload(make_invoice(tmp_path))
    invoices.clock.advance(seconds=1)
    [in_review] = in_review_notifications(invoices)
    handle_notification(importer, in_review)  # its task discarded: the upload is COMPLETED

    invoices.clock.advance(seconds=1)
    [processed] = [n for n in invoices.notifications if n["event"] == "UPLOAD_PROCESSED"]

    assert processed["upload"]["id"] == upload["id"]
    assert processed["upload"]["status"] == "COMPLETED"
    assert handle_notification(importer, processed) == []
