"""A webhook receiver for Send AI's notifications that passes every case of
`sendai-server check-receiver` (docs/receiver-check.md).

It does four things, in this order, before it acts on anything:
1. verifies the signature over the raw body bytes, with the `standardwebhooks` library
   (which also refuses a timestamp more than 5 minutes away): 401 otherwise;
2. parses the body as JSON: 400 when it is not;
3. answers 200 without acting for an event id it has already acted on (a sender retries after
   a lost answer, and an attacker may replay a captured delivery);
4. acts on the events it knows, and answers 200 to any other (ignored, so it is not retried).

Run it:  SENDAI_WEBHOOK_SECRET=whsec_... python safe_receiver.py
Check it: sendai-server check-receiver http://127.0.0.1:5005/webhooks/sendai --secret whsec_...
"""

from __future__ import annotations

import json
import os
import threading

from flask import Flask, request
from standardwebhooks import Webhook, WebhookVerificationError

KNOWN_EVENTS = {"UPLOAD_IN_REVIEW", "UPLOAD_PROCESSED", "TASK_EXPORT"}


def create_app(secret: str) -> Flask:
    app = Flask(__name__)
    webhook = Webhook(secret)
    # The ids of the events acted on. In a real receiver: a table with a unique key on the id,
    # written in the same transaction as the work the event causes.
    acted_on: list[str] = []
    lock = threading.Lock()
    app.config["ACTED_ON"] = acted_on

    @app.post("/webhooks/sendai")
    def receive() -> tuple[str, int]:
        body = request.get_data()  # the raw bytes: what was signed
        try:
            webhook.verify(body, dict(request.headers), json_parse=False)
        except WebhookVerificationError:
            return "bad signature", 401
        try:
            event = json.loads(body)
        except ValueError:
            return "not JSON", 400
        if not isinstance(event, dict) or not isinstance(event.get("id"), str):
            return "not a notification", 400
        with lock:
            if event["id"] in acted_on:
                return "already handled", 200
            if event.get("event") not in KNOWN_EVENTS:
                return "ignored", 200
            acted_on.append(event["id"])
        handle(event)
        return "ok", 200

    return app


def handle(event: dict) -> None:
    """Your integration's work: fetch the task, store the invoice, ..."""


if __name__ == "__main__":
    create_app(os.environ["SENDAI_WEBHOOK_SECRET"]).run(port=5005)
