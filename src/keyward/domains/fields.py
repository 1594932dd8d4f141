"""Field types shared by every domain's schemas: clean text, names, permission lists."""

import math
import re
import unicodedata
from datetime import timedelta
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from keyward.core.ids import ID_REGEX
from keyward.core.permissions import InvalidPermission, parse_permission


def _clean(value: str, *, multiline: bool) -> str:
    for char in value:
        category = unicodedata.category(char)
        if category == "Cs" or (category == "Cc" and not (multiline and char in "\t\n\r")):
            raise ValueError(
                f"contains the control character U+{ord(char):04X}, which is not allowed here"
            )
    return value


def _clean_line(value: str) -> str:
    return _clean(value, multiline=False)


def _clean_text(value: str) -> str:
    return _clean(value, multiline=True)


_ISO_DURATION = re.compile(
    r"^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?\Z"
)
MAX_DURATION = timedelta(days=36600)


def _iso_duration(value: object) -> object:
    """On the wire a duration is an ISO-8601 string; numbers of seconds are not accepted."""
    if isinstance(value, timedelta) or (isinstance(value, str) and _ISO_DURATION.match(value)):
        return value
    raise ValueError("must be an ISO-8601 duration such as P90D or PT12H")


def _positive_duration(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be a positive ISO-8601 duration such as P30D or PT12H")
    if value > MAX_DURATION:
        raise ValueError("must be at most 100 years; leave it out for no limit")
    return value


def clean_json(value: Any, depth: int = 0) -> Any:
    """Refuse control characters, lone surrogates and deep nesting anywhere in a JSON value."""
    if depth > 8:
        raise ValueError("is nested more than 8 levels deep")
    if isinstance(value, str):
        return _clean(value, multiline=True)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("contains NaN or Infinity, which JSON does not allow")
    if isinstance(value, dict):
        return {_clean_line(k): clean_json(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [clean_json(v, depth + 1) for v in value]
    return value


def _permission(value: str) -> str:
    try:
        return str(parse_permission(value))
    except InvalidPermission as exc:
        raise ValueError(str(exc)) from None


Line = Annotated[str, StringConstraints(max_length=1000), AfterValidator(_clean_line)]
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_clean_line),
]
PermissionText = Annotated[str, StringConstraints(max_length=120), AfterValidator(_permission)]
Permissions = Annotated[list[PermissionText], Field(max_length=200)]
Description = Annotated[str, StringConstraints(max_length=10_000), AfterValidator(_clean_text)]
Metadata = Annotated[dict[str, Any], AfterValidator(clean_json)]
Duration = Annotated[timedelta, BeforeValidator(_iso_duration), AfterValidator(_positive_duration)]
"""A positive ISO-8601 duration (P90D, PT12H), at most 100 years; shown as ISO-8601 too."""
Id = Annotated[str, StringConstraints(pattern=ID_REGEX)]


def _non_negative_duration(value: timedelta) -> timedelta:
    if value < timedelta(0):
        raise ValueError("must not be negative; PT0S means at once")
    if value > MAX_DURATION:
        raise ValueError("must be at most 100 years")
    return value


Grace = Annotated[timedelta, BeforeValidator(_iso_duration), AfterValidator(_non_negative_duration)]
"""A duration that may be zero (PT0S: at once), ISO-8601 on the wire."""
Reason = Annotated[str, StringConstraints(max_length=2000), AfterValidator(_clean_text)]


class Input(BaseModel):
    """A request body: unknown fields are refused. (Not strict mode: JSON carries enums,
    durations and times as strings; use StrictBool where "yes" must not mean True.)"""

    model_config = ConfigDict(extra="forbid")


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Patch(Input):
    """A partial update: absent fields stay as they are; `null` is refused except for the
    fields in `nullable`, where it clears the value."""

    nullable: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _no_nulls(self) -> "Patch":
        nulls = sorted(
            f for f in self.model_fields_set if getattr(self, f) is None and f not in self.nullable
        )
        if nulls:
            raise ValueError(f"{', '.join(nulls)} cannot be null; leave the field out instead")
        return self


class _ShownOnce:
    """The mark of a field carrying a secret that only the answer creating it shows."""

    def __repr__(self) -> str:
        return "SHOWN_ONCE"


SHOWN_ONCE = _ShownOnce()
ShownOnce = Annotated[str | None, SHOWN_ONCE]
"""A secret in the one answer that creates it: a replay of that answer shows null."""


def shown_once(model: type[BaseModel]) -> frozenset[str]:
    """The fields of `model` that carry a secret shown once."""
    return frozenset(
        name for name, info in model.model_fields.items() if SHOWN_ONCE in info.metadata
    )
