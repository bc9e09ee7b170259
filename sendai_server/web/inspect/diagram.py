"""The lifecycle diagram as a small SVG drawn on the server from `lifecycle.TRANSITIONS` (no
Mermaid, no external service): a box per status, an arrow per status-changing transition,
the triggers that keep the status listed under the diagram, and one status marked."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

from markupsafe import Markup, escape

from ...domain.lifecycle import TRANSITIONS, TaskStatus

S = TaskStatus
# Where each status sits (presentation only; the arrows come from the table).
_PLACES: dict[TaskStatus, tuple[float, float]] = {
    S.FAILED: (110, 50), S.COMPLETED: (430, 50),
    S.PROCESSING: (110, 190), S.REVIEWING: (430, 190), S.DISCARDED: (690, 190),
    S.FILTERED: (270, 320),
}
_BOX_W, _BOX_H = 130, 36
WIDTH, HEIGHT = 780, 360


@dataclass(frozen=True)
class _Edge:
    source: TaskStatus
    dest: TaskStatus
    label: str


def _edges() -> list[_Edge]:
    labels: dict[tuple[TaskStatus, TaskStatus], list[str]] = defaultdict(list)
    for row in TRANSITIONS:
        dest = row["dest"]
        sources = row["source"] if isinstance(row["source"], list) else [row["source"]]
        for source in sources:
            if dest is not None and dest != source:
                labels[(S(source), S(dest))].append(row["trigger"])
    return [_Edge(s, d, ", ".join(t)) for (s, d), t in labels.items()]


def internal_triggers() -> list[str]:
    """The triggers that never change the status (approve, report, export...)."""
    return [row["trigger"] for row in TRANSITIONS if row["dest"] is None]


def _border(center: tuple[float, float], dx: float, dy: float) -> tuple[float, float]:
    """Where the ray from the box's center along (dx, dy) leaves the box."""
    t = min((_BOX_W / 2) / abs(dx) if dx else math.inf, (_BOX_H / 2) / abs(dy) if dy else math.inf)
    return center[0] + dx * t, center[1] + dy * t


def _arrow(edge: _Edge, paired: bool) -> str:
    (x1, y1), (x2, y2) = _PLACES[edge.source], _PLACES[edge.dest]
    dx, dy = x2 - x1, y2 - y1
    length = math.hypot(dx, dy)
    ux, uy = dx / length, dy / length
    # A pair of opposite arrows is drawn side by side, each shifted to its own right.
    shift = 7 if paired else 0
    ox, oy = -uy * shift, ux * shift
    sx, sy = _border((x1 + ox, y1 + oy), ux, uy)
    ex, ey = _border((x2 + ox, y2 + oy), -ux, -uy)
    mx, my = (sx + ex) / 2 + ox * 1.6, (sy + ey) / 2 + oy * 1.6
    anchor = "start" if ox > 0 or (not paired and abs(uy) > 0.9) else "end" if ox < 0 else "middle"
    lx = mx + {"start": 4, "end": -4}.get(anchor, 0)
    return (
        f'<line class="edge" x1="{sx:.1f}" y1="{sy:.1f}" x2="{ex:.1f}" y2="{ey:.1f}" '
        f'marker-end="url(#arrowhead)"/>'
        f'<text class="edge-label" x="{lx:.1f}" '
        f'y="{my - 3:.1f}" text-anchor="{anchor}">{escape(edge.label)}</text>'
    )


def lifecycle_svg(current: TaskStatus | None = None) -> Markup:
    edges = _edges()
    pairs = {(e.source, e.dest) for e in edges}
    parts = [
        f'<svg class="lifecycle" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="Task lifecycle{f", this task is {current.value}" if current else ""}" '
        'xmlns="http://www.w3.org/2000/svg">',
        '<defs><marker id="arrowhead" viewBox="0 0 10 10" refX="10" refY="5" '
        'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
        '<path d="M0,0 L10,5 L0,10 z" class="arrowhead"/></marker></defs>',
    ]
    start_x, start_y = _PLACES[S.PROCESSING]
    parts.append(f'<circle class="start" cx="{start_x - 95}" cy="{start_y}" r="6"/>'
                 f'<line class="edge" x1="{start_x - 89}" y1="{start_y}" '
                 f'x2="{start_x - _BOX_W / 2}" y2="{start_y}" marker-end="url(#arrowhead)"/>')
    for edge in edges:
        parts.append(_arrow(edge, (edge.dest, edge.source) in pairs))
    for status, (x, y) in _PLACES.items():
        marked = " current" if status == current else ""
        parts.append(
            f'<g class="state{marked}" data-status="{status.value}">'
            f'<rect x="{x - _BOX_W / 2}" y="{y - _BOX_H / 2}" width="{_BOX_W}" '
            f'height="{_BOX_H}" rx="8"/>'
            f'<text x="{x}" y="{y + 5}" text-anchor="middle">{status.value}</text></g>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
