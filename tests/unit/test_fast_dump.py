"""The compiled dump (web/api/fast_dump.py) answers exactly what marshmallow's own dump answers,
for every schema that uses it, whatever the values: the plain ones the fast paths take, None,
and values of other types that must go through the field's own serialization."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from marshmallow import Schema, fields

from sendai_server.web.api import schemas
from sendai_server.web.api.fast_dump import CompiledDumpSchema, compile_dump

COMPILED = sorted(
    {value for value in vars(schemas).values()
     if isinstance(value, type) and issubclass(value, CompiledDumpSchema)
     and value is not CompiledDumpSchema},
    key=lambda schema: schema.__name__,
)


class _Attrs:
    """An object read by attribute, as a dataclass or a row is."""

    def __init__(self, values: dict[str, Any]) -> None:
        vars(self).update(values)


def _value(field: fields.Field, rng: random.Random, depth: int) -> Any:
    """A value for `field`: mostly the plain type, sometimes None or another type."""
    roll = rng.random()
    if roll < 0.1:
        return None
    if isinstance(field, fields.Nested):
        many = field.many or field.schema.many
        made = [_object(field.schema, rng, depth + 1) for _ in range(rng.randint(0, 3))]
        return made if many else (made[0] if made else _object(field.schema, rng, depth + 1))
    if isinstance(field, fields.List):
        return [_value(field.inner, rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if isinstance(field, fields.DateTime):
        moment = datetime(2026, 12, 7, tzinfo=UTC) + timedelta(seconds=rng.randint(0, 10**8))
        if roll < 0.3:  # the unusual ones: naive, before the year 1000, a date
            return rng.choice([moment.replace(tzinfo=None), moment.date(),
                               datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC),
                               datetime(5, 6, 7, tzinfo=UTC)])
        return moment
    if isinstance(field, fields.Boolean):
        return rng.choice([True, False, 1, 0, "true"]) if roll < 0.3 else rng.random() < 0.5
    if isinstance(field, fields.Number):
        return rng.choice([1, 0.5, 2**40, -3, True, "7"]) if roll < 0.3 else rng.randint(0, 99)
    if isinstance(field, fields.String):
        return rng.choice([5, 2.5, "é ✓", ""]) if roll < 0.3 else f"s{rng.randint(0, 9)}"
    if isinstance(field, fields.Dict):
        return {"k": rng.randint(0, 9)}
    return rng.choice(["x", 1, None])


def _object(schema: Schema, rng: random.Random, depth: int = 0) -> Any:
    values = {
        (field.attribute or name): _value(field, rng, depth)
        for name, field in schema.dump_fields.items()
        if depth < 4 and rng.random() < 0.95  # now and then a key is absent
    }
    return values if rng.random() < 0.7 else _Attrs(values)


@pytest.mark.parametrize("schema_class", COMPILED, ids=lambda schema: schema.__name__)
def test_the_compiled_dump_is_marshmallow_s_dump(schema_class: type[CompiledDumpSchema]) -> None:
    schema = schema_class()
    compiled = compile_dump(schema)
    rng = random.Random(schema_class.__name__)
    for _ in range(300):
        obj = _object(schema, rng)
        assert compiled(obj) == Schema.dump(schema, obj, many=False)
        assert schema.dump(obj) == Schema.dump(schema, obj, many=False)


def test_a_field_name_that_is_no_identifier_is_dumped_under_it() -> None:
    odd = CompiledDumpSchema.from_dict({
        "a'b": fields.String(), "with space": fields.Integer(data_key="x\"y"),
    })()
    obj = {"a'b": "q", "with space": 3}
    assert compile_dump(odd)(obj) == {"a'b": "q", "x\"y": 3} == Schema.dump(odd, obj)
