"""The tests show their pyramid (issue 26): a test module imports what it shares from
tests/support, never from another test module, and an app or unit test never leans on the live
layer. A helper two modules need moves into tests/support/ under a name for what it is."""

from __future__ import annotations

import ast
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

TEST_LAYERS = ("tests.app", "tests.live", "tests.unit")


def imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
    return found


def imports_of_test_modules(source: str) -> list[tuple[int, str]]:
    return [(line, module) for line, module in imported_modules(ast.parse(source))
            if module.startswith(tuple(f"{layer}." for layer in TEST_LAYERS))
            or module in TEST_LAYERS]


def test_a_test_module_found_by_the_check() -> None:
    source = ("from tests.app.test_pipeline import Project\n"
              "def f():\n    import tests.live.test_docs_browser\n"
              "from tests.support.pipeline import drain\n")
    assert imports_of_test_modules(source) == [(1, "tests.app.test_pipeline"),
                                               (3, "tests.live.test_docs_browser")]


def test_no_test_bench_or_support_module_imports_a_test_module() -> None:
    files = sorted([*(REPO_ROOT / "tests").rglob("*.py"), *(REPO_ROOT / "bench").rglob("*.py")])
    assert len(files) > 50
    found = [f"{path.relative_to(REPO_ROOT)}:{line}: {module}"
             for path in files for line, module in imports_of_test_modules(path.read_text())]
    assert found == [], "move what they share into tests/support/:\n" + "\n".join(found)
