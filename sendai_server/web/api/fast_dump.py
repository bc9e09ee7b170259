"""A compiled `dump` for marshmallow schemas: the schema's own fields, planned once.

Marshmallow looks up every field's accessor, default and formatting for every value it dumps:
for a task of 50 pages x 40 annotations that is ~12,000 generic field calls per response.
`CompiledDumpSchema.dump` walks the same fields (`dump_fields`, data keys, attributes, nested
schemas, `many`) but decides once per schema how each field turns a value into JSON, keeping
marshmallow's own code for every case that is not plainly the common one. The schema stays
the single source of truth: add a field to it and the compiled dump has it too. A test checks
that both dumps agree (tests/unit/test_fast_dump.py).

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
from datetime import datetime
from typing import Any

from marshmallow import Schema, fields
from marshmallow.decorators import POST_DUMP, PRE_DUMP
from marshmallow.utils import get_value, missing

Convert = Callable[[Any], Any]
_ISO_SECONDS_Z = "%Y-%m-%dT%H:%M:%SZ"  # services/objects.py's Timestamp
Dump = Callable[[Any], Any]
_ABSENT = object()


def _generic(field: fields.Field) -> Convert:
    serialize = field._serialize
    return lambda value: serialize(value, None, None)


def _value_converter(field: fields.Field) -> Convert | None:
    """A one-argument converter equivalent to `field._serialize(value, attr, obj)`, or None
    when the field's output may depend on more than the value."""
    cls = type(field)
    if cls._serialize is fields.DateTime._serialize:
        time_format = field.format or field.DEFAULT_FORMAT  # type: ignore[attr-defined]
        named = field.SERIALIZATION_FUNCS.get(time_format)  # type: ignore[attr-defined]
        if named is not None:
            return lambda value: None if value is None else named(value)
        if time_format == _ISO_SECONDS_Z:  # isoformat, C all the way: a third of strftime's cost
            return lambda value: None if value is None else (
                value.isoformat(timespec="seconds")[:19] + "Z"
                if type(value) is datetime and value.year >= 1000  # strftime's %Y: no padding
                else value.strftime(time_format))
        return lambda value: None if value is None else value.strftime(time_format)
    if cls._serialize is fields.List._serialize:
        inner = _value_converter(field.inner)  # type: ignore[attr-defined]
        if inner is None:
            return None
        return lambda value: None if value is None else [inner(each) for each in value]
    # The rest as `_expression` writes them, made a function of their own.
    env: dict[str, Any] = {}
    expression = _expression(field, "c", env)
    if expression is None:
        return None
    convert: Convert = eval(f"lambda v: {expression}", env)  # noqa: S307 - our own source
    return convert


def _expression(field: fields.Field, name: str, env: dict[str, Any]) -> str | None:
    """Python source equal to `field._serialize(v, attr, obj)` for the value `v`, using names
    it puts in `env` under `name`; or None when the field needs more than the value."""
    cls = type(field)
    if cls._serialize in (fields.String._serialize, fields.Boolean._serialize):
        exact = str if cls._serialize is fields.String._serialize else bool
        if exact is bool and (True not in field.truthy  # type: ignore[attr-defined]
                              or False not in field.falsy):  # type: ignore[attr-defined]
            return None
        env[name] = _generic(field)
        return f"v if type(v) is {exact.__name__} else {name}(v)"
    if cls._serialize is fields.Number._serialize:
        if field.as_string:  # type: ignore[attr-defined]
            return None
        as_is = getattr(field, "dump_as_is", ())
        if as_is:
            env[name], env[name + "_types"] = _generic(field), tuple(as_is)
            return f"v if type(v) in {name}_types else {name}(v)"
        env[name] = field._format_num  # type: ignore[attr-defined]
        return f"None if v is None else {name}(v)"
    if cls._serialize is fields.Nested._serialize:
        schema = field.schema  # type: ignore[attr-defined]
        env[name] = compile_dump(schema)
        if schema.many or field.many:  # type: ignore[attr-defined]
            return f"None if v is None else [{name}(each) for each in v]"
        return f"None if v is None else {name}(v)"
    if cls._serialize not in (fields.DateTime._serialize, fields.List._serialize):
        return None
    convert = _value_converter(field)  # DateTime, List: one call of their converter
    if convert is None:
        return None
    env[name] = convert
    return f"{name}(v)"


def compile_dump(schema: Schema) -> Dump:
    """A function that dumps one object exactly as `schema.dump(obj, many=False)` does: its
    source written once per schema, a few lines a field, with no loop or call per field for
    strings, booleans and numbers (the "compiled once per shape" of issue 32)."""
    if schema._hooks[PRE_DUMP] or schema._hooks[POST_DUMP]:
        return lambda obj: Schema.dump(schema, obj, many=False)
    env: dict[str, Any] = {"_ABSENT": _ABSENT, "missing": missing, "get_value": get_value,
                           "accessor": schema.get_attribute}
    lines = ["def dump(obj):", "    out = {}", "    as_dict = type(obj) is dict"]
    for index, (name, field) in enumerate(schema.dump_fields.items()):
        key = field.data_key if field.data_key is not None else name
        source = field.attribute if field.attribute is not None else name
        plain = (
            type(field).get_value is fields.Field.get_value
            and type(schema).get_attribute is Schema.get_attribute
            and field._CHECK_ATTRIBUTE
            and field.dump_default is missing
            and "." not in source
        )
        expression = _expression(field, f"c{index}", env) if plain else None
        if expression is None:  # marshmallow's own field.serialize, as it would call it
            env[f"f{index}"] = field
            lines += [f"    v = f{index}.serialize({name!r}, obj, accessor=accessor)",
                      "    if v is not missing:", f"        out[{key!r}] = v"]
            continue
        lines += [
            "    if as_dict:",
            f"        v = obj.get({source!r}, _ABSENT)",
            "        if v is _ABSENT:",
            f"            v = getattr(obj, {source!r}, missing)",
            "    else:",
            f"        v = get_value(obj, {source!r}, missing)",
            "    if v is not missing:",
            f"        out[{key!r}] = {expression}",
        ]
    lines.append("    return out")
    exec(compile("\n".join(lines), f"<dump of {type(schema).__name__}>", "exec"), env)  # noqa: S102
    dump: Dump = env["dump"]
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
