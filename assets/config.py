"""Dagster config classes generated from the core's pydantic configs: one source of fields,
types, defaults and descriptions.

``dagster_config(PipelineConfig)`` mirrors the model field by field: nested configs become
nested ``dg.Config`` classes, tuples become lists (Dagster config has no tuples), ``Literal``
and ``None``-able fields stay as they are. Values set in the launchpad or in
``Definitions(resources=...)`` are validated by the core model itself (``to_core``), so a bad
value fails with the core's own message and nothing is checked twice by hand.
"""

from __future__ import annotations

import types
import typing
from typing import Any, Union, get_args, get_origin

import dagster as dg
from pydantic import BaseModel, Field, create_model
from pydantic.fields import FieldInfo

_CACHE: dict[type, type] = {}


def dagster_config(model: type[BaseModel], *, base: type = dg.Config, name: str = "") -> type:
    """A ``base`` subclass (``dg.Config`` or ``dg.ConfigurableResource``) with one field per
    field of ``model``, same names, defaults and descriptions."""
    return _config_class(model, base=base, name=name, defaults=None)


def _config_class(
    model: type[BaseModel], *, base: type, name: str, defaults: BaseModel | None
) -> type:
    """``defaults``: an instance whose values become the defaults (a nested field's default
    instance: a partial override in the launchpad keeps the parent's other defaults, as
    ``pipeline.stages.load_pipeline_config`` does for config files)."""
    key = model if base is dg.Config and not name and defaults is None else None
    if key is not None and key in _CACHE:
        return _CACHE[key]
    fields: dict[str, Any] = {}
    for fname, info in model.model_fields.items():
        value = getattr(defaults, fname) if defaults is not None else _default(info)
        if isinstance(value, BaseModel):
            nested = _config_class(
                type(value), base=dg.Config, name=f"{model.__name__}_{fname}", defaults=value
            )
            annotation: Any = nested
            value = nested()
        else:
            annotation = _annotation(info.annotation)
            value = _convert_value(value)
        fields[fname] = (annotation, Field(value, description=info.description))
    cls = create_model(  # type: ignore[call-overload]
        name or model.__name__,
        __base__=base,
        __doc__=model.__doc__,
        __module__=__name__,
        **fields,
    )
    if key is not None:
        _CACHE[key] = cls
    return cls


def to_core(model: type[BaseModel], value: Any) -> BaseModel:
    """The core config from a generated Dagster config (validated by the core model)."""
    return model.model_validate(_plain(value, model))


def _plain(value: Any, model: type[BaseModel]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for fname, info in model.model_fields.items():
        v = getattr(value, fname)
        sub = _model_of(info.annotation)
        out[fname] = _plain(v, sub) if sub is not None and v is not None else v
    return out


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def _annotation(annotation: Any, *, in_list: bool = False) -> Any:
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is typing.Literal and in_list:  # Dagster has no list of enums: the core checks
        return type(args[0])
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return dagster_config(annotation)
    if origin is tuple:
        inner = args[0] if args and (len(args) == 2 and args[1] is Ellipsis) else Any
        return list[_annotation(inner, in_list=True)]  # type: ignore[misc]
    if origin in (Union, types.UnionType):
        converted = tuple(_annotation(a) for a in args)
        return typing.Union[converted]  # noqa: UP007 (built at run time)
    return annotation


def _default(info: FieldInfo) -> Any:
    return info.get_default(call_default_factory=True)


def _convert_value(value: Any) -> Any:
    if isinstance(value, BaseModel):
        cls = dagster_config(type(value))
        return cls(**{k: _convert_value(getattr(value, k)) for k in type(value).model_fields})
    if isinstance(value, tuple):
        return [_convert_value(v) for v in value]
    return value
