"""Where the task page draws each annotation: a box around its value, and a label naming its
entity placed where it covers none of the page's text, joined to its box by a leader line
with a marker at the box's end (review screens such as Send AI's and Rossum's never hide the
document under their labels).

Everything is in the task's page coordinates (pixels at 300 dpi, docs/pipeline.md), the SVG's
viewBox, so the layout holds at any zoom. The label's text is drawn with `textLength` set to
the width reserved for it here, so what the browser draws is the rectangle computed here.

- The value's box: a PDF's characters matching the annotation's `content` (whitespace aside)
  nearest its (`left_of_line`, `top`), from pdfium (inspect/pages.py); without a file or a
  match, a box estimated from the content's length, as extraction estimates positions.
- The label: the first place, nearest first (right of the box on its line, above, below, left,
  then further rows, then the page's margins), inside the page, that overlaps no text line,
  no annotation's box, checkbox or signature, and no label placed before it. When there is
  none, a gutter right of the page takes it: a label never covers the document.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape

from .pages import PageText, Rect

# Sizes in fractions of the page's longer side (A4 at 300 dpi: 3508 px).
LABEL_FONT = 1 / 80  # a label's font size: 10 pt on paper
VALUE_EM = 1 / 84  # an estimated value's font size: 10 pt, as extraction assumes
CHAR_WIDTH = 0.62  # a label character's reserved width, in ems (bold sans, with room)
VALUE_CHAR_WIDTH = 0.5  # extraction's average character width, in ems
GRID_CELLS = 24  # the collision grid's cells along the page's longer side


@dataclass(frozen=True)
class Mark:
    """One annotation as drawn: `key` ties its SVG group to its row of the table."""

    key: str
    page: int
    entity_id: str
    content: str
    confidence: float
    top: float
    left_of_line: float
    box: Rect
    label: Rect
    text_width: float
    leader: tuple[float, float, float, float]


@dataclass(frozen=True)
class Sheet:
    """One page as drawn: its size, the viewBox (the page, and a gutter when a label needed
    one), its text lines (the geometry the labels avoid) and its marks."""

    number: int
    width: float
    height: float
    view: Rect
    font: float
    text_lines: list[Rect]
    marks: list[Mark]

    @property
    def view_box(self) -> str:
        x0, y0, x1, y1 = self.view
        return f"{_n(x0)} {_n(y0)} {_n(x1 - x0)} {_n(y1 - y0)}"


def marks_svg(sheet: Sheet) -> Markup:
    """The sheet's text lines and marks as SVG, built here rather than in the template: a
    page of 40 annotations is some 800 numbers, and Jinja escapes each one (the 50-page
    benchmark task's page took 3 times as long)."""
    font = sheet.font
    parts = ['<g class="text-lines">']
    parts += [f'<rect x="{_n(x0)}" y="{_n(y0)}" width="{_n(x1 - x0)}" height="{_n(y1 - y0)}"/>'
              for x0, y0, x1, y1 in sheet.text_lines]
    parts.append(f'</g>\n<g class="marks" font-size="{_n(font)}">')
    for m in sheet.marks:
        bx0, by0, bx1, by1 = m.box
        lx0, ly0, lx1, ly1 = m.label
        sx, sy, ex, ey = m.leader
        low = " low" if m.confidence < 0.9 else ""
        title = escape(f"{m.entity_id}: {m.content} ({m.confidence:.2f})")
        parts.append(
            f'<g class="mark{low}" id="mark-{m.key}" data-mark="{m.key}" tabindex="0">'
            f"<title>{title}</title>"
            f'<rect class="mark-box" x="{_n(bx0)}" y="{_n(by0)}" width="{_n(bx1 - bx0)}" '
            f'height="{_n(by1 - by0)}"/>'
            f'<line class="leader" x1="{_n(sx)}" y1="{_n(sy)}" x2="{_n(ex)}" y2="{_n(ey)}"/>'
            f'<circle class="marker" cx="{_n(sx)}" cy="{_n(sy)}" r="{_n(font / 5)}"/>'
            f'<rect class="label-box" x="{_n(lx0)}" y="{_n(ly0)}" width="{_n(lx1 - lx0)}" '
            f'height="{_n(ly1 - ly0)}"/>'
            f'<text class="label" x="{_n(lx0 + font * 0.4)}" y="{_n((ly0 + ly1) / 2)}" '
            f'textLength="{_n(m.text_width)}" lengthAdjust="spacingAndGlyphs">'
            f"{escape(m.entity_id)}</text></g>")
    parts.append("</g>")
    return Markup("\n".join(parts))  # noqa: S704 - every text in it is escaped above


def layout(pages: Sequence[dict[str, Any]], texts: Sequence[PageText | None]) -> list[Sheet]:
    """Every page's sheet; `texts[n]` is page n's text (None: none known)."""
    return [layout_page(number, page, texts[number] if number < len(texts) else None)
            for number, page in enumerate(pages)]


def layout_page(number: int, page: dict[str, Any], text: PageText | None) -> Sheet:
    width, height = float(page["width"]), float(page["height"])
    longer = max(width, height, 1.0)
    font = longer * LABEL_FONT
    gap = font * 0.4
    lines: list[Rect] = []
    scale_x = scale_y = 1.0
    if text is not None and text.width > 0 and text.height > 0:
        scale_x, scale_y = width / text.width, height / text.height
        lines = [_scaled(r, scale_x, scale_y) for r in text.lines]
    boxes = [_value_box(a, text, scale_x, scale_y, longer * VALUE_EM)
             for a in page.get("annotations", [])]

    obstacles = _Grid(longer / GRID_CELLS)
    for rect in lines:
        obstacles.add(_grown(rect, gap / 2))
    for rect in boxes:
        obstacles.add(rect)
    for kind in ("checkboxes", "signatures"):
        for item in page.get(kind, []):
            obstacles.add(_bounds(item["coordinates"]))

    marks: list[Mark] = []
    gutter: list[Rect] = []
    for index, (annotation, box) in enumerate(zip(page.get("annotations", []), boxes,
                                                  strict=True)):
        entity = str(annotation["entity_id"])
        text_width = len(entity) * CHAR_WIDTH * font
        size = (text_width + font * 0.8, font * 1.5)
        label = next((rect for rect in _candidates(box, size, gap, width, height)
                      if not obstacles.hits(rect)), None)
        if label is None:
            label = _in_gutter(box, size, gap, width, gutter)
            gutter.append(label)
        obstacles.add(_grown(label, gap / 2))
        marks.append(Mark(
            key=f"p{number}-a{index}", page=number, entity_id=entity,
            content=str(annotation["content"]), confidence=float(annotation["confidence"]),
            top=float(annotation["top"]), left_of_line=float(annotation["left_of_line"]),
            box=_rounded(box), label=_rounded(label), text_width=round(text_width, 1),
            leader=_leader(box, label),
        ))
    right = max([width] + [r[2] + gap for r in gutter])
    return Sheet(number=number, width=width, height=height, view=(0.0, 0.0, right, height),
                 font=round(font, 1), text_lines=[_rounded(r) for r in lines], marks=marks)


def overlaps(a: Rect, b: Rect) -> bool:
    """Whether two rectangles share any area (touching edges do not)."""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


# --- the value's box ----------------------------------------------------------------------------

def _value_box(annotation: dict[str, Any], text: PageText | None, scale_x: float,
               scale_y: float, em: float) -> Rect:
    left, top = float(annotation["left_of_line"]), float(annotation["top"])
    content = str(annotation.get("content") or "")
    if text is not None:
        found = _found_in_text(content, text, left / scale_x, top / scale_y)
        if found is not None:
            return _grown(_scaled(found, scale_x, scale_y), em * 0.12)
    width = max(len(content), 1) * VALUE_CHAR_WIDTH * em
    return (left, top, left + width, top + em * 0.95)


def _found_in_text(content: str, text: PageText, left: float, top: float) -> Rect | None:
    """The ink box of the occurrence of `content` in the page's text nearest (left, top), in
    the text's points; whitespace is ignored on both sides (extraction joins runs its way)."""
    wanted = re.sub(r"\s+", "", content)
    if not wanted:
        return None
    indices = [i for i, char in enumerate(text.text) if not char.isspace()]
    squeezed = "".join(text.text[i] for i in indices)
    best: tuple[float, Rect] | None = None
    for match in re.finditer(re.escape(wanted), squeezed):
        boxes = [text.chars[indices[i]] for i in range(match.start(), match.end())
                 if indices[i] < len(text.chars)]
        inked = [b for b in boxes if b is not None]
        if not inked:
            continue
        box = (min(b[0] for b in inked), min(b[1] for b in inked),
               max(b[2] for b in inked), max(b[3] for b in inked))
        distance = math.hypot(box[0] - left, box[1] - top)
        if best is None or distance < best[0]:
            best = (distance, box)
    return best[1] if best else None


# --- the label's place --------------------------------------------------------------------------

def _candidates(box: Rect, size: tuple[float, float], gap: float, width: float,
                height: float) -> Iterator[Rect]:
    """Places for a label of `size` near `box`, inside the page: beside, above, below it
    first; then every other place (further rows, further along the line, the page's margins)
    nearest first, a vertical step counting three times (a leader along its own line crosses less
    text than one across other lines)."""
    w, h = size
    x0, y0, x1, y1 = box
    middle = (y0 + y1) / 2 - h / 2
    above, below = y0 - gap - h, y1 + gap
    right, left = x1 + gap, x0 - gap - w

    def inside(x: float, y: float) -> bool:
        return 0 <= x <= width - w and 0 <= y <= height - h

    near = ((right, middle), (x0, above), (x0, below), (left, middle),
            (x1 - w, above), (x1 - w, below))
    for x, y in near:
        if inside(x, y):
            yield (x, y, x + w, y + h)
    far: list[tuple[float, float]] = []
    for step in range(1, 13):
        for y in (above - step * (h + gap), below + step * (h + gap)):
            far += [(x0, y), (x1 - w, y), (right, y), (left, y)]
        far += [(right + step * w / 2, middle), (left - step * w / 2, middle)]
    for step in range(int(2 * height / h) + 1):
        offset = (step + 1) // 2 * (h / 2) * (1 if step % 2 else -1)
        far += [(gap, middle + offset), (width - gap - w, middle + offset)]
    centre_x, centre_y = (x0 + x1) / 2 - w / 2, middle
    far.sort(key=lambda p: math.hypot(p[0] - centre_x, 3 * (p[1] - centre_y)))
    for x, y in far:
        if inside(x, y):
            yield (x, y, x + w, y + h)


def _in_gutter(box: Rect, size: tuple[float, float], gap: float, width: float,
               taken: list[Rect]) -> Rect:
    """A place right of the page, level with the box, below any gutter label it would hit."""
    w, h = size
    y = max(0.0, (box[1] + box[3]) / 2 - h / 2)
    rect = (width + gap, y, width + gap + w, y + h)
    while any(overlaps(_grown(rect, gap / 2), other) for other in taken):
        y += h / 2
        rect = (width + gap, y, width + gap + w, y + h)
    return rect


def _leader(box: Rect, label: Rect) -> tuple[float, float, float, float]:
    """From the point of the box nearest the label's centre to the label's nearest point."""
    cx, cy = (label[0] + label[2]) / 2, (label[1] + label[3]) / 2
    sx, sy = _clamp(cx, box[0], box[2]), _clamp(cy, box[1], box[3])
    ex, ey = _clamp(sx, label[0], label[2]), _clamp(sy, label[1], label[3])
    return (round(sx, 1), round(sy, 1), round(ex, 1), round(ey, 1))


class _Grid:
    """Rectangles bucketed by grid cell: a collision test looks at its own cells only."""

    def __init__(self, cell: float) -> None:
        self.cell = max(cell, 1.0)
        self.cells: dict[tuple[int, int], list[Rect]] = {}

    def _keys(self, rect: Rect) -> Iterator[tuple[int, int]]:
        c = self.cell
        for gx in range(math.floor(rect[0] / c), math.floor(rect[2] / c) + 1):
            for gy in range(math.floor(rect[1] / c), math.floor(rect[3] / c) + 1):
                yield gx, gy

    def add(self, rect: Rect) -> None:
        for key in self._keys(rect):
            self.cells.setdefault(key, []).append(rect)

    def hits(self, rect: Rect) -> bool:
        return any(overlaps(rect, other)
                   for key in self._keys(rect) for other in self.cells.get(key, ()))


# --- small geometry -----------------------------------------------------------------------------

def _bounds(points: Sequence[Sequence[float]]) -> Rect:
    xs, ys = [float(p[0]) for p in points], [float(p[1]) for p in points]
    return (min(xs), min(ys), max(xs), max(ys))


def _scaled(rect: Rect, sx: float, sy: float) -> Rect:
    return (rect[0] * sx, rect[1] * sy, rect[2] * sx, rect[3] * sy)


def _grown(rect: Rect, by: float) -> Rect:
    return (rect[0] - by, rect[1] - by, rect[2] + by, rect[3] + by)


def _rounded(rect: Rect) -> Rect:
    return (round(rect[0], 1), round(rect[1], 1), round(rect[2], 1), round(rect[3], 1))


def _clamp(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


def _n(value: float) -> str:
    """A coordinate as SVG wants it: at most one decimal, no exponent."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text
