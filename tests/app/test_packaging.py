"""What a user's `pip install sendai-server` gets: setup.cfg lists every package and every file
the package reads at run time. (`make examples-test` installs the wheel in a fresh virtual
environment and runs examples/ against it; these catch an omission in a second.)"""

from __future__ import annotations

import configparser
import fnmatch
from pathlib import Path

from sendai_server.store import migrate
from tests.support.helpers import REPO_ROOT


def _options() -> configparser.SectionProxy:
    parser = configparser.ConfigParser()
    parser.read(REPO_ROOT / "setup.cfg")
    return parser["options"]


def _lines(value: str) -> list[str]:
    return [line.strip() for line in value.splitlines() if line.strip()]


def _package_dirs() -> dict[str, Path]:
    """Each package the wheel holds, and the folder of the checkout it is built from."""
    mapped = dict(line.split(" = ") for line in _lines(_options()["package_dir"]))
    dirs = {}
    for package in _lines(_options()["packages"]):
        parent = next((p for p in mapped if package == p or package.startswith(p + ".")), None)
        if parent is None:
            dirs[package] = REPO_ROOT / package.replace(".", "/")
        else:
            rest = package[len(parent):].lstrip(".").replace(".", "/")
            dirs[package] = REPO_ROOT / mapped[parent] / rest
    return dirs


def test_every_package_under_sendai_server_is_listed_in_setup_cfg() -> None:
    found = {
        ".".join(init.parent.relative_to(REPO_ROOT).parts)
        for init in (REPO_ROOT / "sendai_server").rglob("__init__.py")
    }
    missing = sorted(found - set(_package_dirs()))
    assert missing == [], "add these to [options] packages in setup.cfg"


def test_the_migrations_travel_inside_the_package_from_the_top_level_folder() -> None:
    dirs = _package_dirs()
    assert dirs["sendai_server.migrations"] == REPO_ROOT / "migrations"
    assert dirs["sendai_server.migrations.versions"] == REPO_ROOT / "migrations" / "versions"


def test_every_file_besides_python_modules_is_declared_as_package_data() -> None:
    parser = configparser.ConfigParser()
    parser.read(REPO_ROOT / "setup.cfg")
    patterns = {package: [p.strip() for p in value.split(",")]
                for package, value in parser["options.package_data"].items()}
    undeclared = []
    for package, folder in _package_dirs().items():
        for path in folder.iterdir():
            if not path.is_file() or path.suffix in {".py", ".pyc"}:
                continue
            if not any(fnmatch.fnmatch(path.name, p) for p in patterns.get(package, [])):
                undeclared.append(f"{package}: {path.relative_to(REPO_ROOT)}")
    assert undeclared == [], "declare these in [options.package_data] of setup.cfg"


def test_a_checkout_migrates_with_the_top_level_migrations_folder() -> None:
    assert migrate.MIGRATIONS_DIR == REPO_ROOT / "migrations"
    assert (REPO_ROOT / "alembic.ini").read_text().count("script_location = migrations") == 1


def test_the_pytest_plugin_is_an_entry_point_and_an_extra() -> None:
    parser = configparser.ConfigParser()
    parser.read(REPO_ROOT / "setup.cfg")
    assert _lines(parser["options.entry_points"]["pytest11"]) == [
        "sendai = sendai_server.testing.plugin"]
    assert _lines(parser["options.extras_require"]["pytest"]) == ["pytest>=8.0"]
