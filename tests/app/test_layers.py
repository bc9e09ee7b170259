"""The layers the code is built in (docs/contributing.md; import-linter keeps the arrows): here,
what a contract cannot see, checked by importing for real."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import pytest
from flask import Flask

import sendai_server.services
from sendai_server import create_app
from sendai_server.config import Config
from sendai_server.services.keys import SCOPES
from sendai_server.web import auth
from tests.support.helpers import REPO_ROOT

SERVICES = sorted(f"sendai_server.services.{m.name}"
                  for m in pkgutil.iter_modules(sendai_server.services.__path__))
# Below the web layer besides the services: what a worker or a CLI command imports to write.
LOWER = ["sendai_server.store.jobs", "sendai_server.services.objects", "sendai_server.store.uow",
         "sendai_server.domain.notification_events", "sendai_server.pipeline.steps",
         "sendai_server.pipeline.deliveries"]


def _imported_after(modules: list[str]) -> set[str]:
    """The top-level packages in sys.modules after a fresh interpreter imports `modules`."""
    program = ("import importlib, json, sys\n"
               f"for name in {modules!r}: importlib.import_module(name)\n"
               "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n")
    done = subprocess.run([sys.executable, "-c", program], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=120, check=True)
    return set(json.loads(done.stdout))


def test_every_service_module_is_listed() -> None:
    assert len(SERVICES) >= 15 and "sendai_server.services.tasks" in SERVICES


def test_importing_any_service_leaves_flask_out() -> None:
    imported = _imported_after(SERVICES + LOWER)
    assert "sendai_server" in imported  # the imports ran
    assert not imported & {"flask", "flask_smorest", "werkzeug", "webargs"}


def test_every_view_that_requires_a_scope_is_checked(app: Flask) -> None:
    scopes = {getattr(view, "sendai_scope", None) for view in app.view_functions.values()}
    assert {"task.read", "task.edit", "upload.read", "upload.create", "test_helpers"} <= scopes


def test_a_view_requiring_an_unknown_scope_fails_the_apps_build(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As a typo in `@requires("upload.delet")` would: the registry lacks the view's scope."""
    monkeypatch.setattr(auth, "SCOPES", tuple(s for s in SCOPES if s != "upload.delete"))
    with pytest.raises(ValueError, match="'upload.delete'"):
        create_app(config)


def test_no_module_is_over_450_lines() -> None:
    package = REPO_ROOT / "sendai_server"
    long = {str(path.relative_to(package)): lines for path in package.rglob("*.py")
            if (lines := len(path.read_text().splitlines())) > 450}
    assert long == {}
