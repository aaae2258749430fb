"""An inbound activity's JSON as botbuilder's Activity model, built straight from the JSON.

msrest's deserialiser walks every attribute of the model for each activity (copying each
attribute description, trying its key extractors, deep-copying every untyped value): about a
tenth of a Teams ``help`` turn's CPU (docs/benchmarks.md, "Where the time goes"). The models
are plain: an attribute per JSON key, from the model's attribute map. This builds them the
way msrest's ``Model.deserialize`` does, with the same values and the same
``additional_properties`` for keys the model does not name, for the shapes Teams sends: a
value of any other type (a number where a string belongs, a model type this does not know)
sends the whole activity through msrest, which converts or refuses it as before.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from botbuilder.schema import Activity, Attachment, ChannelAccount, ConversationAccount, Entity
from msrest.serialization import Deserializer, Model

# The timestamps Teams sends (UTC with Z, or an offset; fractions of up to seven digits), which
# datetime reads as msrest does (isodate, the fraction cut to microseconds), at a tenth of
# the cost; any other form msrest reads itself.
_TEAMS_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,7})?(?:Z|[+-]\d{2}:\d{2})")


class _NotPlain(Exception):
    """A value msrest would convert (or refuse): the activity goes through msrest."""


def _fields(model: type[Model]) -> tuple[tuple[str, str, str], ...]:
    return tuple(
        (attr, desc["key"], desc["type"])
        for attr, desc in model._attribute_map.items()
        if not (attr == "additional_properties" and desc["key"] == "")
    )


# The models this builds (those an inbound Teams activity carries); any other type nested in
# an activity (suggestedActions, reactions, relatesTo, ...) goes through msrest.
_MODELS: dict[str, type[Model]] = {
    model.__name__: model
    for model in (Activity, ChannelAccount, ConversationAccount, Attachment, Entity)
}
_FIELDS = {model: _fields(model) for model in _MODELS.values()}
_KEYS = {model: frozenset(key for _, key, _ in fields) for model, fields in _FIELDS.items()}
assert all(
    not getattr(model, "_subtype_map", None)
    and not any(
        rule.get("readonly") or rule.get("constant")
        for rule in getattr(model, "_validation", {}).values()
    )
    and not any("." in key for key in _KEYS[model])
    for model in _MODELS.values()
), "a model msrest would build differently (subtypes, read-only fields, flattened keys)"


def activity_from_json(body: dict[str, Any]) -> Activity:
    """``body`` as an Activity; raises msrest's DeserializationError where msrest would."""
    try:
        return _model(Activity, body)  # type: ignore[return-value]
    except _NotPlain:
        return Activity().deserialize(body)


def _model(model: type[Model], data: Any) -> Model:
    if type(data) is not dict:
        raise _NotPlain
    built = model(
        **{
            attr: None if (value := data.get(key)) is None else _value(value, kind)
            for attr, key, kind in _FIELDS[model]
        }
    )
    extra = data.keys() - _KEYS[model]
    if extra:
        built.additional_properties = {key: data[key] for key in extra}
    return built


def _value(value: Any, kind: str) -> Any:
    if kind == "str":
        if type(value) is str:
            return value
    elif kind == "object":
        # msrest copies JSON as it walks it; this JSON was parsed for this request alone.
        return value
    elif kind == "bool":
        if type(value) is bool:
            return value
    elif kind == "iso-8601":
        if type(value) is str:
            return _timestamp(value)
    elif kind.startswith("["):
        if type(value) is list:
            inner = kind[1:-1]
            return [_value(item, inner) for item in value]
    elif kind in _MODELS:
        return _model(_MODELS[kind], value)
    raise _NotPlain


def _timestamp(value: str) -> datetime:
    if _TEAMS_TIME.fullmatch(value):
        try:
            parsed = datetime.fromisoformat(value)
            parsed.utctimetuple()  # msrest refuses one whose UTC year is out of range
        except (ValueError, OverflowError):
            pass
        else:
            return parsed
    return Deserializer.deserialize_iso(value)  # type: ignore[no-any-return]
