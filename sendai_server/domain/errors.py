"""Domain errors: what services raise. Each carries the HTTP status and stable code
docs/api/index.md gives it; turning one into a response is the HTTP edge's business
(api/errors.py)."""

from __future__ import annotations

from typing import Any


class SendAIError(Exception):
    status = 500
    code = "internal_error"
    default_message = "An internal error occurred; it has been logged."
    default_headers: dict[str, str] = {}

    def __init__(
        self,
        message: str | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)
        self.details = details
        self.headers = {**self.default_headers, **(headers or {})}


class ValidationError(SendAIError):
    status = 400
    code = "validation_error"


class InvalidTaskState(SendAIError):
    status = 400
    code = "invalid_task_state"


class Unauthenticated(SendAIError):
    status = 401
    code = "unauthenticated"
    default_message = "A valid API key is required: send 'Authorization: Bearer <api key>'."
    default_headers = {"WWW-Authenticate": "Bearer"}


class InsufficientScope(SendAIError):
    status = 403
    code = "insufficient_scope"

    def __init__(self, required: str) -> None:
        super().__init__(
            f"This API key lacks the '{required}' scope that this endpoint needs.",
            details={"required": required},
        )


class Forbidden(SendAIError):
    """A refusal that is not about scopes: a project the key may not see under the
    `no_access=forbidden` profile (docs/profiles.md), an import the project does not allow
    (docs/project-settings.md)."""

    status = 403
    code = "forbidden"
    default_message = "This API key has no access to this object."


class NotFound(SendAIError):
    status = 404
    code = "not_found"
    default_message = "Nothing was found at this path."


class Conflict(SendAIError):
    """What the request would write is held by another (ids a snapshot file has: 409)."""

    status = 409
    code = "conflict"


class MethodNotAllowed(SendAIError):
    status = 405
    code = "method_not_allowed"


class PayloadTooLarge(SendAIError):
    status = 413
    code = "payload_too_large"


class RateLimited(SendAIError):
    status = 429
    code = "rate_limited"


class Unavailable(SendAIError):
    """The database does not answer, or its schema is not at this server's version."""

    status = 503
    code = "unavailable"
    default_message = "The service is unavailable; retry shortly."
    default_headers = {"Retry-After": "1"}
