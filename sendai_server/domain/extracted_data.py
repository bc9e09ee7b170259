"""`extracted_data` (docs/profiles.md): a task's annotations as values a program can use, keyed
by entity id, as Send AI's payloads page shows them. Amounts are numbers, dates ISO 8601
(`YYYY-MM-DD`), everything else the content as printed. Of several annotations of one entity,
the first in page order wins. A value that cannot be parsed is kept as printed. No I/O."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

_CURRENCY = re.compile(r"[$€£]|EUR|USD|GBP|CHF|\s|'", re.IGNORECASE)
_MONTHS = {name: n for n, name in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}


def is_amount(entity_id: str) -> bool:
    return entity_id == "amount" or entity_id.endswith("_amount")


def is_date(entity_id: str) -> bool:
    return entity_id == "date" or entity_id.endswith("_date")


def parse_amount(text: str) -> int | float | None:
    """`€1,234.56`, `1.234,56 EUR`, `1 234`, `99` → 1234.56, 1234.56, 1234, 99."""
    digits = _CURRENCY.sub("", text)
    if not re.fullmatch(r"-?[\d.,]+", digits) or not any(c.isdigit() for c in digits):
        return None
    decimals = re.search(r"[.,](\d{1,2})$", digits)
    whole = digits[: decimals.start()] if decimals else digits
    whole = re.sub(r"[.,]", "", whole)
    if decimals:
        return float(f"{whole or '0'}.{decimals.group(1)}")
    return int(whole)


def parse_date(text: str) -> str | None:
    """`2024-01-15`, `15.01.2024`, `01/15/2024`, `15 Jan 2024`, `January 15, 2024` →
    `2024-01-15`. Day first when both readings are possible (as most of Send AI's documents
    are European); None when it is no date."""
    words = re.findall(r"[A-Za-z]+|\d+", text)
    try:
        if len(words) == 3 and words[0].isdigit() and len(words[0]) == 4:
            return date(int(words[0]), int(words[1]), int(words[2])).isoformat()
        month_words = [w for w in words if w[:3].lower() in _MONTHS and not w.isdigit()]
        numbers = [int(w) for w in words if w.isdigit()]
        if month_words and len(numbers) == 2:
            return date(numbers[1], _MONTHS[month_words[0][:3].lower()], numbers[0]).isoformat()
        if len(numbers) == 3:
            first, second, year = numbers
            year += 2000 if year < 100 else 0
            day, month = (second, first) if first <= 12 < second else (first, second)
            return date(year, month, day).isoformat()
    except ValueError:
        return None
    return None


def parse_value(entity_id: str, content: str) -> Any:
    parsed: Any = None
    if is_amount(entity_id):
        parsed = parse_amount(content)
    elif is_date(entity_id):
        parsed = parse_date(content)
    return content if parsed is None else parsed


def extracted_data(pages: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """{entity_id: parsed value} of a public task's pages (API objects, as dumped)."""
    data: dict[str, Any] = {}
    for page in pages:
        for annotation in page.get("annotations", ()):
            entity = annotation["entity_id"]
            if entity not in data:
                data[entity] = parse_value(entity, annotation["content"])
    return data

