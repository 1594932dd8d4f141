"""Field types shared by every domain's schemas: clean text, names, permission lists."""

import math
import unicodedata
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
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
Metadata = Annotated[dict[str, Any], AfterValidator(clean_json)]
Id = Annotated[str, StringConstraints(pattern=ID_REGEX)]


class Input(BaseModel):
    """A request body: unknown fields are refused. (Not strict mode: JSON carries enums,
    durations and times as strings; use StrictBool where "yes" must not mean True.)"""

    model_config = ConfigDict(extra="forbid")


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Patch(Input):
    """A partial update: absent fields stay as they are; `null` is refused for every field."""

    @model_validator(mode="after")
    def _no_nulls(self) -> "Patch":
        nulls = sorted(f for f in self.model_fields_set if getattr(self, f) is None)
        if nulls:
            raise ValueError(f"{', '.join(nulls)} cannot be null; leave the field out instead")
        return self
