"""The inspector's sign-in: Flask's signed cookie session holding only the key's id (never
the key), re-checked against the database on every request, and a CSRF token of its own.

The cookie is signed with SENDAI_SECRET_KEY or, unset, the secret the server keeps in its
database (services/signing.py), so every worker and host accepts every other's sessions. It is
HttpOnly, SameSite=Strict and scoped to /inspect: API requests neither send nor open it.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from flask import Flask, current_app, g, request, session
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer

from ...domain.errors import SendAIError, Unauthenticated
from ...services.keys import Principal, principal_of_key_id, touch_key
from ..context import current_uow, token_secret

PREFIX = "/inspect"
_KEY_ID = "key_id"
_CSRF = "csrf"


class InspectorSessionInterface(SecureCookieSessionInterface):
    salt = "sendai.inspector-session"

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        try:
            secret = token_secret()
        except SendAIError:  # the database is down: no session now; the view answers 503
            return None
        return URLSafeTimedSerializer(
            secret, salt=self.salt, serializer=self.serializer,
            signer_kwargs={"key_derivation": self.key_derivation,
                           "digest_method": self.digest_method},
        )

    def open_session(self, app: Flask, request: Any) -> Any:
        if not request.path.startswith(PREFIX + "/"):
            return None  # not the inspector's: a null session, no secret, no database
        return super().open_session(app, request)

    def get_cookie_name(self, app: Flask) -> str:
        return "sendai_inspector"

    def get_cookie_path(self, app: Flask) -> str:
        return PREFIX

    def get_cookie_httponly(self, app: Flask) -> bool:
        return True

    def get_cookie_samesite(self, app: Flask) -> str:
        return "Strict"


class SignedOut(Exception):
    """No signed-in key (or it was revoked meanwhile): the view sends the browser to sign in."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or "")
        self.message = message


class CSRFRefused(Exception):
    """A POST without this session's CSRF token: refused before anything is read or changed."""


def csrf_token() -> str:
    """This session's token, made on first use (the forms render it)."""
    token = session.get(_CSRF)
    if not isinstance(token, str):
        token = session[_CSRF] = secrets.token_urlsafe(32)
    return token


def check_csrf() -> None:
    expected = session.get(_CSRF)
    sent = request.form.get("csrf_token", "")
    if not isinstance(expected, str) or not hmac.compare_digest(expected, sent):
        raise CSRFRefused()


def sign_in(principal: Principal) -> None:
    session.clear()
    session[_KEY_ID] = principal.key_id
    session[_CSRF] = secrets.token_urlsafe(32)  # a fresh token for the signed-in session


def sign_out() -> None:
    session.clear()


def signed_in_principal() -> Principal:
    """The signed-in key's principal, read afresh: a key revoked or deleted since sign-in ends
    the session here (SignedOut, with why)."""
    key_id = session.get(_KEY_ID)
    if not isinstance(key_id, str):
        raise SignedOut()
    uow = current_uow()
    try:
        principal, last_used_at = uow.first_read(lambda conn: principal_of_key_id(conn, key_id))
    except Unauthenticated as exc:
        sign_out()
        revoked = "revoked" in exc.message
        raise SignedOut("You were signed out: this API key has been revoked." if revoked
                        else "You were signed out: this API key no longer exists.") from exc
    config = current_app.config["SENDAI"]
    touch_key(uow, principal.key_id, last_used_at, config.key_touch_interval_seconds)
    g.principal = principal
    return principal
