"""Console forms generated from pydantic models: one field per model field, checked by the same model.

A DMS adapter's ``adapter_config`` is described by its kind's configuration model (``adapters/<kind>/config.py``,
e.g. :class:`adapters.hotfolder.config.HotfolderConfig`), the model the adapter itself validates with on
load. The console's adapter form is made from that model -- its fields' types, defaults, bounds and
descriptions (``Field(description=...)``, or the ``#:`` comment above the field as the adapters write them)
-- and what is posted is validated by that model, so the console can accept nothing the adapter would
refuse and needs no second set of rules. Errors come back per field (``loc[0]``), the model's own checks
across fields as a general error.

What a form posts is text; it becomes the model's input as follows: an empty field is left out (the
model's default applies), ``true``/``false`` become booleans, a mapping is written one ``key = value`` per
line, a list one item per line. What is stored is the model's JSON dump of the fields that were set.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import re
import types
from dataclasses import dataclass, field
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from adapters.base import ConfigError
from adapters.registry import adapter_class, adapter_kinds

FieldKind = Literal["text", "number", "select", "mapping", "lines"]


@dataclass(frozen=True, slots=True)
class FormField:
    """One input of a generated form."""

    name: str
    kind: FieldKind
    required: bool
    #: the default as the form would show it ("" when there is none)
    default: str
    help: str | None
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    integer: bool = False
    #: the field takes a boolean (alone or beside another type): "true"/"false" are read as booleans
    boolean: bool = False


@dataclass(slots=True)
class FormResult:
    """A posted form checked by its model: the values to store, or errors by field name ("" for the form)."""

    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


class FormError(ValueError):
    """The posted text cannot even be read as the field's type (e.g. a mapping line without ``=``)."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message


# -- the model's fields ----------------------------------------------------------------------------------


_COMMENTED_FIELD = re.compile(r"^\s+([A-Za-z_]\w*)\s*:")


@functools.cache
def attribute_comments(model: type[BaseModel]) -> dict[str, str]:
    """The ``#:`` comment lines directly above each field in the model's source (Sphinx's convention)."""
    found: dict[str, str] = {}
    for cls in reversed(model.__mro__):
        if not (isinstance(cls, type) and issubclass(cls, BaseModel)) or cls is BaseModel:
            continue
        try:
            lines = inspect.getsource(cls).splitlines()
        except (OSError, TypeError):
            continue
        pending: list[str] = []
        for line in lines:
            stripped = line.strip()
            if stripped.startswith("#:"):
                pending.append(stripped[2:].strip())
                continue
            match = _COMMENTED_FIELD.match(line)
            if match and pending:
                found[match.group(1)] = " ".join(pending)
            pending = []
    return found


def _without_none(annotation: Any) -> tuple[Any, bool]:
    """The annotation without ``None``, and whether None was part of it."""
    origin = get_origin(annotation)
    if origin is Union or origin is types.UnionType:
        args = [a for a in get_args(annotation) if a is not type(None)]
        optional = len(args) < len(get_args(annotation))
        if len(args) == 1:
            return args[0], optional
        return Union[tuple(args)], optional  # noqa: UP007 -- rebuilt at run time from a tuple
    return annotation, False


def _before_validators(model: type[BaseModel], name: str) -> list[Any]:
    """The field's ``mode="before"`` validators: they read more than the type says (e.g. "0640" as octal)."""
    return [
        getattr(model, decorator.cls_var_name)
        for decorator in model.__pydantic_decorators__.field_validators.values()
        if decorator.info.mode == "before" and name in decorator.info.fields
    ]


def _has_before_validator(model: type[BaseModel], name: str) -> bool:
    return bool(_before_validators(model, name))


def value_text(model: type[BaseModel], name: str, value: Any) -> str:
    """``value`` of field ``name`` as text that the field reads back as the same value.

    A field with a before-validator may read text differently from ``str`` (a file mode 416 is typed
    "0640"): the first of ``str(value)`` and its octal form that reads back as ``value`` is shown."""
    validators = _before_validators(model, name)
    if not validators or not isinstance(value, int) or isinstance(value, bool):
        return to_text(value)
    for candidate in (str(value), f"0{value:o}"):
        read: Any = candidate
        try:
            for validate in validators:
                read = validate(read)
        except (ValueError, TypeError):
            continue
        if read == value:
            return candidate
    return to_text(value)


def _bounds(info: FieldInfo) -> tuple[float | None, float | None]:
    low = high = None
    for item in info.metadata:
        if isinstance(item, annotated_types.Ge | annotated_types.Gt):
            low = float(item.ge if isinstance(item, annotated_types.Ge) else item.gt)  # type: ignore[arg-type]
        if isinstance(item, annotated_types.Le | annotated_types.Lt):
            high = float(item.le if isinstance(item, annotated_types.Le) else item.lt)  # type: ignore[arg-type]
    return low, high


def _default_text(model: type[BaseModel], name: str, info: FieldInfo) -> str:
    if info.default is not PydanticUndefined:
        value = info.default
    elif info.default_factory is not None:
        value = info.default_factory()  # type: ignore[call-arg]
    else:
        return ""
    return value_text(model, name, value)


def to_text(value: Any) -> str:
    """A stored value as the form shows it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "\n".join(f"{k} = {v}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return "\n".join(str(v) for v in value)
    return str(value)


def form_fields(model: type[BaseModel], *, skip: tuple[str, ...] = ("kind",)) -> list[FormField]:
    """The model's fields as form inputs, in the model's order (made once per model and skip)."""
    return list(_form_fields(model, skip))


@functools.cache
def _form_fields(model: type[BaseModel], skip: tuple[str, ...]) -> tuple[FormField, ...]:
    comments = attribute_comments(model)
    out = []
    for name, info in model.model_fields.items():
        if name in skip:
            continue
        annotation, _ = _without_none(info.annotation)
        origin = get_origin(annotation)
        kind: FieldKind = "text"
        choices: tuple[str, ...] = ()
        low = high = None
        integer = False
        if _has_before_validator(model, name):
            kind = "text"
        elif origin is Literal:
            kind, choices = "select", tuple(str(a) for a in get_args(annotation))
        elif annotation is bool:
            kind, choices = "select", ("true", "false")
        elif annotation in (int, float):
            kind, integer = "number", annotation is int
            low, high = _bounds(info)
        elif origin is dict:
            kind = "mapping"
        elif origin in (list, tuple):
            kind = "lines"
        out.append(
            FormField(
                name=name,
                kind=kind,
                required=info.is_required(),
                default=_default_text(model, name, info),
                help=info.description or comments.get(name),
                choices=choices,
                minimum=low,
                maximum=high,
                integer=integer,
                boolean=annotation is bool or bool in get_args(annotation),
            )
        )
    return tuple(out)


# -- posted text -> the model's input ------------------------------------------------------------------


def _mapping(name: str, text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise FormError(name, f"line {number}: write key = value")
        out[key.strip().strip('"')] = value.strip().strip('"')
    return out


def _value(spec: FormField, text: str) -> Any:
    if spec.kind == "mapping":
        return _mapping(spec.name, text)
    if spec.kind == "lines":
        return [line.strip() for line in text.splitlines() if line.strip()]
    if spec.boolean and text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text


def read_form(model: type[BaseModel], posted: dict[str, str], *, prefix: str, fixed: dict[str, Any]) -> FormResult:
    """Check what was posted (fields named ``prefix + field``) with ``model``; ``fixed`` values are always set."""
    result = FormResult()
    raw: dict[str, Any] = dict(fixed)
    for spec in form_fields(model, skip=tuple(fixed)):
        text = posted.get(prefix + spec.name, "").strip()
        if not text:
            continue
        try:
            raw[spec.name] = _value(spec, text)
        except FormError as exc:
            result.errors[spec.name] = exc.message
    if result.errors:
        return result
    try:
        checked = model.model_validate(raw)
    except ValidationError as exc:
        result.errors = errors_by_field(exc, set(model.model_fields))
        return result
    result.values = checked.model_dump(mode="json", exclude_unset=True)
    for key, value in fixed.items():
        result.values.setdefault(key, value)
    return result


def problem_text(item: Any) -> str:
    """Pydantic's message without its "Value error, " prefix; an unknown key says so."""
    if item.get("type") == "extra_forbidden":
        return "unknown key"
    return str(item.get("msg", "")).removeprefix("Value error, ")


def errors_by_field(
    error: ValidationError, names: set[str], *, aliases: dict[str, str] | None = None
) -> dict[str, str]:
    """Each problem beside its field: the longest dotted prefix of its location found in ``aliases``, else the
    location's first part when it names a field; the rest under "" (the form as a whole)."""
    aliases = aliases or {}
    out: dict[str, str] = {}
    for item in error.errors():
        loc = [str(p) for p in item["loc"]]
        target = aliases.get("", "") if not loc else ""
        for depth in range(len(loc), 0, -1):
            dotted = ".".join(loc[:depth])
            if dotted in aliases:
                target = aliases[dotted]
                break
        else:
            if loc and loc[0] in names:
                target = loc[0]
        text = problem_text(item)
        if not target and loc:
            text = f"{'.'.join(loc)}: {text}"
        out[target] = f"{out[target]}; {text}" if target in out else text
    return out


# -- adapter kinds -------------------------------------------------------------------------------------


@functools.cache
def adapter_model(kind: str) -> type[BaseModel] | None:
    """The configuration model of an installed adapter kind, or None when it has none to find.

    The adapter class may name it (``config_model``); otherwise it is the model with ``kind = "<kind>"`` in
    the ``config`` module beside the adapter's module (``adapters/<kind>/config.py``). Looked up once per
    kind: installed packages do not change while the gateway runs."""
    try:
        cls = adapter_class(kind)
    except ConfigError:
        return None
    named = getattr(cls, "config_model", None)
    if isinstance(named, type) and issubclass(named, BaseModel):
        return named
    package = cls.__module__.rsplit(".", 1)[0]
    try:
        module = importlib.import_module(f"{package}.config")
    except ImportError:
        return None
    for candidate in vars(module).values():
        if (
            isinstance(candidate, type)
            and issubclass(candidate, BaseModel)
            and candidate.__module__ == module.__name__
            and "kind" in candidate.model_fields
            and candidate.model_fields["kind"].default == kind
        ):
            return candidate
    return None


def installed_kinds() -> list[str]:
    return list(_installed_kinds())


@functools.cache
def _installed_kinds() -> tuple[str, ...]:
    return tuple(sorted(adapter_kinds()))


__all__ = [
    "FormError",
    "FormField",
    "FormResult",
    "adapter_model",
    "attribute_comments",
    "errors_by_field",
    "form_fields",
    "installed_kinds",
    "read_form",
    "to_text",
    "value_text",
]
