"""The receiver of safe_receiver.py with its verification removed, as Send AI's own receiver
template is: it acts on whatever reaches it. `sendai-server check-receiver` fails it on
bad_signature, no_signature, altered_body and stale (docs/receiver-check.md): anyone who
knows its URL can make it act on a notification they wrote.

Run it:  python unsafe_receiver.py
Check it: sendai-server check-receiver http://127.0.0.1:5006/webhooks/sendai --secret whsec_...
"""

from __future__ import annotations

import json
import threading

from flask import Flask, request

KNOWN_EVENTS = {"UPLOAD_IN_REVIEW", "UPLOAD_PROCESSED", "TASK_EXPORT"}


def create_app(secret: str) -> Flask:
    app = Flask(__name__)
    acted_on: list[str] = []
    lock = threading.Lock()
    app.config["ACTED_ON"] = acted_on

    @app.post("/webhooks/sendai")
    def receive() -> tuple[str, int]:
        body = request.get_data()
        # (no signature check: `secret` is never used)
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
        return "ok", 200

    return app


if __name__ == "__main__":
    create_app("").run(port=5006)
