"""Emails for the upload-by-email tests: `email_with` writes a message with the given attachments
beside a body that is itself an invoice; `PDFS`, two PDFs to attach."""

from __future__ import annotations

from email.message import EmailMessage

from tests.support import documents

BODY = """Hello,

please find our invoices attached.

Invoice No. MAIL-2024-7
Date: 03.12.2024
Total: 99.50 EUR

Questions: billing@sender.example
"""


def email_with(*attachments: tuple[str, str, bytes]) -> bytes:
    message = EmailMessage()
    message["From"] = "billing@sender.example"
    message["To"] = "inbox@receiver.example"
    message["Subject"] = "Invoices for December"
    message.set_content(BODY)
    for filename, mime, content in attachments:
        maintype, subtype = mime.split("/")
        message.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
    return message.as_bytes()


PDFS = [("a.pdf", "application/pdf", documents.invoice_pdf()),
        ("b.pdf", "application/pdf", documents.two_page_pdf())]
