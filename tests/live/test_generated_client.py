"""A client generated from the served /openapi.json by openapi-python-client has methods named
after the operations (discardTask -> api.tasks.discard_task) and works against a live server."""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.helpers import LiveServer

PACKAGE = "sendai_generated_client"


def _generator() -> str:
    # The console script beside this interpreter (the dev extra installs it), else PATH's.
    beside = Path(sys.executable).parent / "openapi-python-client"
    found = str(beside) if beside.exists() else shutil.which("openapi-python-client")
    if found is None:
        pytest.fail("openapi-python-client is not installed (pip install -e '.[dev]')")
    return found


@pytest.fixture
def generated_client(live_server: LiveServer, tmp_path: Path) -> Iterator[Any]:
    spec = requests.get(f"{live_server.url}/openapi.json", timeout=10)
    assert spec.status_code == 200
    (tmp_path / "openapi.json").write_bytes(spec.content)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(
        [_generator(), "generate", "--path", "openapi.json", "--meta", "none",
         "--output-path", PACKAGE],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


@pytest.mark.slow
def test_a_generated_client_discards_a_task_with_methods_named_like_the_docs(
    generated_client: Any, live_server: LiveServer, seed: dict[str, Any]
) -> None:
    tasks_api = Path(importlib.import_module(f"{PACKAGE}.api.tasks").__file__).parent
    methods = {path.stem for path in tasks_api.glob("*.py")}
    assert {"discard_task", "get_task", "list_tasks", "get_task_events",
            "complete_task"} <= methods, methods
    discard_task = importlib.import_module(f"{PACKAGE}.api.tasks.discard_task")
    get_task = importlib.import_module(f"{PACKAGE}.api.tasks.get_task")

    task_id = seed["tasks"]["REVIEWING"][0]
    ids = (seed["team_id"], seed["project_id"], task_id)
    with generated_client.AuthenticatedClient(
        base_url=live_server.url, token=seed["keys"]["edit"], timeout=30.0,
    ) as client:
        discarded = discard_task.sync_detailed(*ids, client=client)
        assert discarded.status_code == 200, discarded.content
        assert discarded.parsed.payload.id == task_id
        assert discarded.parsed.payload.status == "DISCARDED"

        again = discard_task.sync_detailed(*ids, client=client)
        assert again.status_code == 400
        assert again.parsed.error.code == "invalid_task_state"  # the Error model, parsed

        read = get_task.sync(*ids, client=client)
        assert read.payload.status == "DISCARDED"
