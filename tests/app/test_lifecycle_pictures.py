"""The lifecycle's drawn copies, which need the app's modules (the inspector's SVG, the CLI):
docs/lifecycle.svg and `sendai-server lifecycle` are what the table draws (the Mermaid copy in
docs/lifecycle.md is checked in the unit layer)."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from sendai_server.cli import main
from sendai_server.domain.lifecycle import mermaid_diagram

DOCS = Path(__file__).resolve().parents[2] / "docs"
LIFECYCLE_PAGE = DOCS / "lifecycle.md"
LIFECYCLE_SVG = DOCS / "lifecycle.svg"


def test_the_docs_picture_is_the_inspectors_svg_of_the_table() -> None:
    """docs/lifecycle.svg is the inspector's drawing (web/inspect/diagram.py) with its styles
    inlined after the opening tag, so that it stands alone as an image."""
    from sendai_server.web.inspect.diagram import lifecycle_svg

    drawn = re.sub(r"<style>.*?</style>", "", LIFECYCLE_SVG.read_text(), count=1, flags=re.S)
    assert drawn.strip() == str(lifecycle_svg()), (
        "docs/lifecycle.svg is stale: regenerate it from web/inspect/diagram.py's lifecycle_svg()"
    )
    assert re.search(r"!\[The task lifecycle[^\]]*\]\(lifecycle\.svg\)", LIFECYCLE_PAGE.read_text())



def test_lifecycle_command_prints_the_diagram() -> None:
    result = CliRunner().invoke(main, ["lifecycle"])
    assert result.exit_code == 0
    assert result.output == mermaid_diagram()
