"""The inspector's pages. Each view reads the signed-in key's principal afresh, calls the same
services as the API (which run docs/api/index.md's visibility checks: another team's ids are the
same 404 as missing ones) and renders a template. Actions are POSTs with the session's CSRF token,
answered by the task page: the new state, or the API's own error message."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from marshmallow import ValidationError as SchemaError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from ...domain import clock
from ...domain.errors import NotFound, SendAIError, Unauthenticated, ValidationError
from ...domain.lifecycle import USER_ACTIONS, LifecycleState, TaskStatus, fire, past_tense
from ...domain.statuses import NotificationStatus, UploadStatus
from ...services import tasks
from ...services.connector_auth import auth_kind
from ...services.connectors import list_connectors
from ...services.keys import Principal, authenticate
from ...services.motion import tasks_in_motion, uploads_in_motion
from ...services.notifications import NotificationListQuery, list_notifications
from ...services.projects import list_folders, visible_projects
from ...services.receiver_checks import last_checks
from ...services.redelivery import notification_payloads
from ...services.task_list import TaskListQuery, list_tasks
from ...services.uploads import UploadListQuery, file_of_task, list_uploads
from ..api.schemas import ReportSchema
from ..auth import KEY_SHAPE
from ..context import current_storage, current_uow, token_secret
from . import overlay, pages
from .diagram import internal_triggers, lifecycle_svg
from .session import (
    CSRFRefused,
    SignedOut,
    check_csrf,
    csrf_token,
    sign_in,
    sign_out,
    signed_in_principal,
)

log = logging.getLogger("sendai_server.web.inspect")

blp = Blueprint("inspect", __name__, url_prefix="/inspect", template_folder="templates",
                static_folder="static", static_url_path="/static")

PAGE_SIZE = 20
UPLOAD_STATUSES = tuple(s.value for s in UploadStatus)
NOTIFICATION_STATUSES = tuple(s.value for s in NotificationStatus)
PROJECT_ROUTE = "/<team_id>/project/<project_id>"
_TASK = PROJECT_ROUTE + "/task/<task_id>"

# Everything comes from this server; nothing inline but the SVG's presentation attributes.
_CSP = ("default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")


@blp.context_processor
def _template_globals() -> dict[str, Any]:
    return {"csrf_token": csrf_token, "principal": g.get("principal"),
            "when": _when}


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "—"


@blp.after_request
def _headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = _CSP
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    if response.mimetype == "text/html":
        response.headers["Cache-Control"] = "no-store"
    return response


# --- errors: pages, not JSON --------------------------------------------------------------------

@blp.errorhandler(SignedOut)
def _signed_out(exc: SignedOut) -> BaseResponse:
    if exc.message:
        flash(exc.message, "error")
    return redirect(url_for("inspect.sign_in_form"), 303)


@blp.errorhandler(CSRFRefused)
def _csrf_refused(_exc: CSRFRefused) -> tuple[str, int]:
    message = ("The form's security token is missing or out of date, so nothing was changed. "
               "Reload the page and try again.")
    return render_template("error.html", status=403, message=message), 403


@blp.errorhandler(SendAIError)
def _domain_error(error: SendAIError) -> tuple[str, int]:
    # One 404 page for anything the key may not see, whether it exists elsewhere or not.
    message = NotFound.default_message if error.status == 404 else error.message
    return render_template("error.html", status=error.status, message=message), error.status


@blp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> tuple[str, int]:
    status = exc.code or 500
    message = NotFound.default_message if status == 404 else exc.description or exc.name
    return render_template("error.html", status=status, message=message), status


@blp.errorhandler(Exception)
def _unexpected(exc: Exception) -> tuple[str, int]:
    log.exception("unhandled error", extra={"request_id": g.get("request_id")})
    return render_template("error.html", status=500, message=SendAIError.default_message), 500


@blp.route("/<path:_unknown>", methods=["GET", "POST"])
def unknown_page(_unknown: str) -> BaseResponse:
    """Any other path under /inspect: the inspector's own 404 page (a person typed it), not the
    API's JSON. Every real route is more specific, so this one matches only what they do not."""
    raise NotFound()


# --- signing in and out -------------------------------------------------------------------------

@blp.route("/", methods=["GET"])
def home() -> BaseResponse:
    try:
        signed_in_principal()
    except SignedOut:
        return redirect(url_for("inspect.sign_in_form"))
    return redirect(url_for("inspect.projects"))


@blp.route("/sign-in", methods=["GET"])
def sign_in_form() -> str:
    return render_template("sign_in.html")


@blp.route("/sign-in", methods=["POST"])
def sign_in_with_key() -> BaseResponse | tuple[str, int]:
    check_csrf()
    plain_key = request.form.get("key", "").strip()
    try:
        if not KEY_SHAPE.fullmatch(plain_key):
            raise Unauthenticated()
        principal, _ = current_uow().first_read(lambda conn: authenticate(conn, plain_key))
    except Unauthenticated as exc:
        message = exc.message if exc.message != Unauthenticated.default_message else (
            "This server knows no such API key: paste the whole key, sk_ and all.")
        return render_template("sign_in.html", error=message), 401
    sign_in(principal)
    return redirect(url_for("inspect.projects"), 303)


@blp.route("/sign-out", methods=["POST"])
def sign_out_of_key() -> BaseResponse:
    check_csrf()
    sign_out()
    flash("Signed out.", "info")
    return redirect(url_for("inspect.sign_in_form"), 303)


# --- reading ------------------------------------------------------------------------------------

def project_reader(team_id: str, project_id: str, scope: str) -> Principal:
    """The signed-in principal, allowed to read `scope` in this project (404, then 403)."""
    principal = signed_in_principal()
    principal.check_visibility(team_id, project_id)
    principal.check_scope(scope)
    return principal


@blp.route("/projects", methods=["GET"])
def projects() -> str:
    principal = signed_in_principal()
    return render_template("projects.html", projects=visible_projects(current_uow(), principal))


@blp.route(PROJECT_ROUTE + "/tasks", methods=["GET"])
def task_list(team_id: str, project_id: str) -> str:
    principal = project_reader(team_id, project_id, "task.read")
    statuses = tuple(TaskStatus(s) for s in request.args.getlist("status")
                     if s in TaskStatus.__members__)
    query = TaskListQuery(statuses=statuses, limit=PAGE_SIZE, token=request.args.get("token"))
    page = list_tasks(current_uow(), principal, team_id, project_id, query, token_secret())
    processing = {t["id"] for t in page.items if t["status"] == TaskStatus.PROCESSING}
    moving = tasks_in_motion(current_uow(), processing)
    return render_template("tasks.html", team_id=team_id, project_id=project_id, page=page,
                           statuses=TaskStatus, chosen={s.value for s in statuses},
                           refresh=bool(moving), resting=len(processing - moving))


@blp.route(PROJECT_ROUTE + "/uploads", methods=["GET"])
def upload_list(team_id: str, project_id: str) -> str:
    principal = project_reader(team_id, project_id, "upload.read")
    uow = current_uow()
    folders = list_folders(uow, principal, team_id, project_id)
    folder_id = request.args.get("folder") or None
    if folder_id is not None and folder_id not in {f["id"] for f in folders}:
        raise NotFound()
    statuses = tuple(s for s in request.args.getlist("status") if s in UPLOAD_STATUSES)
    query = UploadListQuery(statuses=statuses, folder_id=folder_id, limit=PAGE_SIZE,
                            token=request.args.get("token"))
    page = list_uploads(uow, principal, team_id, project_id, query, token_secret())
    processing = {u["id"] for u in page.items if u["status"] == UploadStatus.PROCESSING}
    moving = uploads_in_motion(uow, processing)
    return render_template(
        "uploads.html", team_id=team_id, project_id=project_id, folders=folders,
        folder_id=folder_id, uploads=page.items, count=page.count, more=page.more,
        token=page.token, statuses=UPLOAD_STATUSES, chosen=set(statuses),
        refresh=bool(moving), resting=len(processing - moving))


@blp.route(PROJECT_ROUTE + "/notifications", methods=["GET"])
def notification_list(team_id: str, project_id: str) -> str:
    """Each delivery to the project's connectors, and what every attempt's receiver answered
    (docs/notifications.md's log; `upload.read`, as `GET …/notifications`)."""
    principal = project_reader(team_id, project_id, "upload.read")
    statuses = tuple(s for s in request.args.getlist("status") if s in NOTIFICATION_STATUSES)
    query = NotificationListQuery(statuses=statuses, limit=PAGE_SIZE,
                                  token=request.args.get("token"))
    page = list_notifications(
        current_uow(), principal, team_id, project_id, query, token_secret())
    payloads = notification_payloads(current_uow(), principal, team_id, project_id,
                                     [n["id"] for n in page.items])
    return render_template(
        "notifications.html", team_id=team_id, project_id=project_id,
        notifications=page.items, count=page.count, more=page.more, token=page.token,
        statuses=NOTIFICATION_STATUSES, chosen=set(statuses),
        refresh=any(n["status"] == NotificationStatus.PENDING for n in page.items),
        payloads=payloads, can_resend="task.edit" in principal.scopes,
        connectors=[{**c, "auth": auth_kind(c)}
                    for c in list_connectors(current_uow(), project_id)],
        checks=last_checks(current_uow(), project_id))


def allowed_actions(principal: Principal, task: dict[str, Any]) -> list[str]:
    """The actions the key's scopes and the task's state allow, asked of the lifecycle machine
    (on a copy), so the buttons follow TRANSITIONS and nothing else."""
    if "task.edit" not in principal.scopes:
        return []
    return [trigger for trigger in USER_ACTIONS
            if fire(LifecycleState.of(task), trigger) is None]


def _task_page(principal: Principal, team_id: str, project_id: str, task_id: str,
               *, error: str | None = None, status: int = 200) -> tuple[str, int]:
    uow = current_uow()
    principal.check_visibility(team_id, project_id)
    principal.check_scope("task.read")
    task = tasks.get_task(uow, principal, team_id, project_id, task_id)
    events = tasks.task_events(uow, principal, team_id, project_id, task_id)
    stored = file_of_task(uow, principal, team_id, project_id, task_id)
    moving = task["status"] == TaskStatus.PROCESSING and bool(tasks_in_motion(uow, {task_id}))
    texts = pages.page_texts(current_storage(), stored,
                             len(task["pages"]))
    html = render_template(
        "task.html", team_id=team_id, project_id=project_id, task=task, events=events,
        sheets=overlay.layout(task["pages"], texts), marks_svg=overlay.marks_svg,
        has_file=stored is not None, actions=allowed_actions(principal, task), error=error,
        diagram=lifecycle_svg(TaskStatus(task["status"])), internal=internal_triggers(),
        refresh=moving,
    )
    return html, status


@blp.route(_TASK, methods=["GET"])
def task_detail(team_id: str, project_id: str, task_id: str) -> tuple[str, int]:
    return _task_page(signed_in_principal(), team_id, project_id, task_id)


@blp.route(_TASK + "/page/<int:number>.png", methods=["GET"])
def page_image(team_id: str, project_id: str, task_id: str, number: int) -> Response:
    """A page drawn from the task's stored file. Like the task's annotations, it is the
    task's to show: `task.read` (docs/inspector.md: the page a reviewer looks at)."""
    principal = project_reader(team_id, project_id, "task.read")
    stored = file_of_task(current_uow(), principal, team_id, project_id, task_id)
    if stored is None:
        raise NotFound()
    storage = current_storage()
    try:
        data, content_type = pages.page_image(storage, stored["sha256"], stored["file_type"],
                                              number)
    except pages.NoSuchPage as exc:
        raise NotFound() from exc
    response = Response(data, content_type=content_type)
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


# --- acting -------------------------------------------------------------------------------------

@blp.route(_TASK + "/<action>", methods=["POST"])
def task_action(team_id: str, project_id: str, task_id: str, action: str) -> Any:
    if action not in USER_ACTIONS:
        raise NotFound()
    principal = signed_in_principal()
    check_csrf()
    try:
        principal.check_visibility(team_id, project_id)
        principal.check_scope("task.edit")
        details = _report_details() if action == "report" else None
        with clock.frozen_at(principal.clock_now):  # a frozen team's change is on its clock
            tasks.change_task(
                current_uow(), tasks.Caller(principal, g.get("request_id")), team_id,
                project_id, task_id, action, details,
                pipeline_delay=current_app.config["SENDAI"].pipeline_delay,
            )
    except SendAIError as error:
        if error.status == 404:
            raise
        return _task_page(principal, team_id, project_id, task_id, error=error.message,
                          status=error.status)
    flash(f"Task {past_tense(action)}.", "info")
    return redirect(url_for("inspect.task_detail", team_id=team_id, project_id=project_id,
                            task_id=task_id), 303)


def _report_details() -> dict[str, Any]:
    """The report form, checked by the API's own schema (the same limits and messages)."""
    body = {"issues": [{"label": request.form.get("label", ""),
                        "value": request.form.get("value", "")}],
            "message": request.form.get("message") or None}
    try:
        report = ReportSchema().load(body)
    except SchemaError as exc:
        raise ValidationError("The report is not valid: " + _flatten(exc.messages)) from exc
    return tasks.report_details(report["issues"], report.get("message"))


def _flatten(messages: Any, path: str = "") -> str:
    if isinstance(messages, dict):
        return "; ".join(_flatten(v, f"{path}.{k}" if path else str(k))
                         for k, v in messages.items())
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return f"{path}: {' '.join(messages)}"
    return f"{path}: {messages}"
