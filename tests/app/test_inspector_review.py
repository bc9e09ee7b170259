"""The task page's labels (issue 21 item 7), in-process: on the page as rendered from the PDF,
no label covers ink, and each annotation's box holds its value's ink; a page with no room
left puts its labels in a gutter beside the page, never on it."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image

from sendai_server.store.uow import UnitOfWork
from sendai_server.web.inspect import overlay
from sendai_server.web.inspect.pages import PageText
from tests.support.helpers import auth
from tests.support.inspector import run_extraction, sign_in, statement_pdf, task_page

INK = 160  # a grey level below which a rendered pixel is ink (the page is white, text black)
_NUMBER = r"(-?[\d.]+)"


def rects(svg: str, css_class: str) -> list[tuple[float, float, float, float]]:
    """(left, top, right, bottom) of every <rect class=css_class> in `svg`."""
    found = re.findall(rf'<rect class="{css_class}" x="{_NUMBER}" y="{_NUMBER}" '
                       rf'width="{_NUMBER}" height="{_NUMBER}"', svg)
    return [(float(x), float(y), float(x) + float(w), float(y) + float(h))
            for x, y, w, h in found]


def sheet_of(html: str, number: int) -> str:
    match = re.search(rf'<figure class="sheet" id="page-{number}".*?</figure>', html, re.S)
    assert match, f"no page {number}"
    return match.group(0)


@pytest.fixture
def statement(client: FlaskClient, seed: dict[str, Any], app: Flask, uow: UnitOfWork) -> str:
    """The statement uploaded to the seed's project and extracted: its task's id."""
    answer = client.post(f"/v2/{seed['team_id']}/project/{seed['project_id']}/upload",
                         data={"file": (io.BytesIO(statement_pdf()), "statement.pdf")},
                         headers=auth(seed["keys"]["helpers"]))
    [task_id] = answer.json["taskIds"]
    run_extraction(app, uow)
    return str(task_id)


def test_no_label_covers_ink_and_every_box_holds_its_values_ink(
    client: FlaskClient, seed: dict[str, Any], statement: str
) -> None:
    assert sign_in(client, seed["keys"]["edit"]).status_code == 303
    task = client.get(f"/v2/{seed['team_id']}/project/{seed['project_id']}/task/{statement}",
                      headers=auth(seed["keys"]["edit"])).get_json()["payload"]
    html = client.get(task_page(seed, statement)).text
    counts = [len(page["annotations"]) for page in task["pages"]]
    assert counts[1] >= 50, counts  # the dense page: 3 fields on each of 18 lines, and more
    for number, page in enumerate(task["pages"]):
        svg = sheet_of(html, number)
        png = client.get(task_page(seed, statement, f"page/{number}.png")).data
        image = Image.open(io.BytesIO(png)).convert("L")
        scale = image.width / page["width"]

        def darkest(rect: tuple[float, float, float, float],
                    image: Image.Image = image, scale: float = scale) -> int:
            box = [round(v * scale) for v in rect]
            box[2], box[3] = min(box[2], image.width), min(box[3], image.height)
            if box[0] >= box[2] or box[1] >= box[3]:
                return 255  # wholly off the page (a gutter): no ink there
            return int(image.crop(tuple(box)).getextrema()[0])  # type: ignore[arg-type]

        labels, boxes = rects(svg, "label-box"), rects(svg, "mark-box")
        assert len(labels) == len(boxes) == counts[number]
        assert [darkest(label) for label in labels if darkest(label) < INK] == [], number
        assert all(darkest(box) < INK for box in boxes), number


def test_marks_and_rows_name_each_other(
    client: FlaskClient, seed: dict[str, Any], statement: str
) -> None:
    assert sign_in(client, seed["keys"]["edit"]).status_code == 303
    html = client.get(task_page(seed, statement)).text
    marks = re.findall(r'<g class="mark[^"]*" id="mark-([\w-]+)" data-mark="([\w-]+)"', html)
    rows = re.findall(r'<tr id="row-([\w-]+)" data-mark="([\w-]+)" data-page="(\d+)"', html)
    assert marks and all(a == b for a, b in marks) and all(a == b for a, b, _ in rows)
    assert [m for m, _ in marks] == [r for r, _, _ in rows]
    assert all(r.startswith(f"p{page}-") for r, _, page in rows)


def test_a_page_without_room_puts_its_labels_in_a_gutter_beside_it() -> None:
    width, height = 2480.0, 3508.0
    # Text lines over the whole page, 40 px apart: no place on it is free for a label.
    lines = [(0.0, y, width, y + 36.0) for y in range(0, 3508, 40)]
    text = PageText(width=width, height=height, text="", chars=[],
                    lines=[(x0, float(y0), x1, float(y1)) for x0, y0, x1, y1 in lines])
    page = {"width": width, "height": height, "annotations": [
        {"entity_id": f"field_{n}", "content": "", "confidence": 0.9, "top": 100.0 + n * 300,
         "left_of_line": 500.0} for n in range(5)]}
    sheet = overlay.layout_page(0, page, text)
    assert sheet.view[2] > width
    for mark in sheet.marks:
        assert mark.label[0] >= width
        assert not any(overlay.overlaps(mark.label, line) for line in sheet.text_lines)
    labels = [m.label for m in sheet.marks]
    assert not any(overlay.overlaps(a, b) for i, a in enumerate(labels) for b in labels[i + 1:])
