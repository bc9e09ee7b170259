"""A compiled `dump` for marshmallow schemas: the schema's own fields, planned once.

Marshmallow looks up every field's accessor, default and formatting for every value it dumps:
for a task of 50 pages x 40 annotations that is ~12,000 generic field calls per response.
`CompiledDumpSchema.dump` walks the same fields (`dump_fields`, data keys, attributes, nested
schemas, `many`) but decides once per schema how each field turns a value into JSON, keeping
marshmallow's own code for every case that is not plainly the common one. The schema stays
the single source of truth: add a field to it and the compiled dump has it too. A test checks
that both dumps agree (tests/test_fast_dump.py).

Fast paths, each exactly what the field's `_serialize` returns for that input:
String with a `str`; Boolean with a `bool` (when True/False are in its truthy/falsy sets);
Number subclasses (not `as_string`) through the field's own `_format_num`, or as they are
for the exact types a field declares in `dump_as_is` (schemas.JSONNumber does); DateTime with the
field's format; List and Nested recursively. Anything else, including None for the
simple fields, goes to the field's `_serialize` or, for unusual fields and schemas
(dump hooks, `dump_default`, dotted attributes, a custom `get_value`), to marshmallow itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from marshmallow import Schema, fields
from marshmallow.decorators import POST_DUMP, PRE_DUMP
from marshmallow.utils import get_value, missing

Convert = Callable[[Any], Any]
Dump = Callable[[Any], Any]
_ABSENT = object()


def _generic(field: fields.Field) -> Convert:
    serialize = field._serialize
    return lambda value: serialize(value, None, None)


def _value_converter(field: fields.Field) -> Convert | None:
    """A one-argument converter equivalent to `field._serialize(value, attr, obj)`, or None
    when the field's output may depend on more than the value."""
    cls = type(field)
    if cls._serialize is fields.String._serialize:
        slow = _generic(field)
        return lambda value: value if type(value) is str else slow(value)
    if cls._serialize is fields.Boolean._serialize:
        if True not in field.truthy or False not in field.falsy:  # type: ignore[attr-defined]
            return None
        slow = _generic(field)
        return lambda value: value if type(value) is bool else slow(value)
    if cls._serialize is fields.Number._serialize:
        if field.as_string:  # type: ignore[attr-defined]
            return None
        number = field._format_num  # type: ignore[attr-defined]
        as_is = getattr(field, "dump_as_is", ())
        if as_is:
            slow = _generic(field)
            return lambda value: value if type(value) in as_is else slow(value)
        return lambda value: None if value is None else number(value)
    if cls._serialize is fields.DateTime._serialize:
        time_format = field.format or field.DEFAULT_FORMAT  # type: ignore[attr-defined]
        named = field.SERIALIZATION_FUNCS.get(time_format)  # type: ignore[attr-defined]
        if named is not None:
            return lambda value: None if value is None else named(value)
        return lambda value: None if value is None else value.strftime(time_format)
    if cls._serialize is fields.List._serialize:
        inner = _value_converter(field.inner)  # type: ignore[attr-defined]
        if inner is None:
            return None
        return lambda value: None if value is None else [inner(each) for each in value]
    if cls._serialize is fields.Nested._serialize:
        schema = field.schema  # type: ignore[attr-defined]
        dump = compile_dump(schema)
        if schema.many or field.many:  # type: ignore[attr-defined]
            return lambda value: None if value is None else [dump(each) for each in value]
        return lambda value: None if value is None else dump(value)
    return None


def compile_dump(schema: Schema) -> Dump:
    """A function that dumps one object exactly as `schema.dump(obj, many=False)` does."""
    if schema._hooks[PRE_DUMP] or schema._hooks[POST_DUMP]:
        return lambda obj: Schema.dump(schema, obj, many=False)
    plan: list[tuple[str, str, Convert | None, str, fields.Field]] = []
    for name, field in schema.dump_fields.items():
        key = field.data_key if field.data_key is not None else name
        source = field.attribute if field.attribute is not None else name
        plain = (
            type(field).get_value is fields.Field.get_value
            and type(schema).get_attribute is Schema.get_attribute
            and field._CHECK_ATTRIBUTE
            and field.dump_default is missing
            and "." not in source
        )
        plan.append((key, source, _value_converter(field) if plain else None, name, field))
    accessor = schema.get_attribute

    def dump(obj: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        as_dict = type(obj) is dict
        for key, source, convert, name, field in plan:
            if convert is None:
                value = field.serialize(name, obj, accessor=accessor)
                if value is not missing:
                    out[key] = value
                continue
            if as_dict:
                value = obj.get(source, _ABSENT)
                if value is _ABSENT:
                    value = getattr(obj, source, missing)
            else:
                value = get_value(obj, source, missing)
            if value is not missing:
                out[key] = convert(value)
        return out

    return dump


class CompiledDumpSchema(Schema):
    """A Schema whose `dump` runs the compiled plan (built on first use, per instance)."""

    _compiled: Dump | None = None

    def dump(self, obj: Any, *, many: bool | None = None) -> Any:
        dump = self._compiled
        if dump is None:
            dump = self._compiled = compile_dump(self)
        if (self.many if many is None else many) and obj is not None:
            return [dump(each) for each in obj]
        return dump(obj)
