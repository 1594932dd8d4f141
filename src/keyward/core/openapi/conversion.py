"""What every OpenAPI converter answers: the converted document, warnings, and the refusal error.

A warning names a place in the *source* document (a JSON pointer), a stable snake_case code and a
sentence; it says what the target version could not express and what was done instead. Also
what the converters share: reading a document leniently (as far as it makes sense), copying
plain JSON values, and the spellings the 2.0 <-> 3.0 pair must agree on.
"""

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from keyward.core.errors import InvalidInput
from keyward.core.openapi import Document
from keyward.core.openapi.documents import local_ref_parts, lookup, pointer_to, unique_name

Where = Sequence[str | int]
"""A place in the source document, as the tokens of a JSON pointer."""

FORM_MEDIA_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
# Where 3.0 keeps the name of a 2.0 body parameter, which 3.0 request bodies do not have.
BODY_NAME_EXTENSION = "x-codegen-request-body-name"
_INVALID_NAME_CHARACTER = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True, slots=True)
class ConversionWarning:
    """Something the target version cannot say, at `pointer` in the source document."""

    pointer: str
    code: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"pointer": self.pointer, "code": self.code, "message": self.message}


@dataclass(frozen=True, slots=True)
class Conversion:
    """A converted document and what was lost or approximated on the way."""

    document: Document
    warnings: tuple[ConversionWarning, ...] = ()


class ConversionError(InvalidInput):
    """The document cannot be converted: a refusal (e.g. `cookie_api_key`) or, in strict mode,
    the warnings that made the conversion lossy. `problems` lists each with its pointer."""

    def __init__(
        self, message: str, problems: Iterable[ConversionWarning], *, code: str | None = None
    ) -> None:
        self.problems = tuple(problems)
        codes = {problem.code for problem in self.problems}
        super().__init__(
            message,
            code=code or (codes.pop() if len(codes) == 1 else "conversion_refused"),
            details={"problems": [problem.to_dict() for problem in self.problems]},
        )


class WarningLog:
    """Warnings collected while converting, in the order they were found."""

    def __init__(self) -> None:
        self._warnings: list[ConversionWarning] = []

    def add(self, where: Iterable[str | int], code: str, message: str) -> None:
        self._warnings.append(ConversionWarning(pointer_to(where), code, message))

    def conversion(self, document: Document, *, strict: bool, target: str) -> Conversion:
        """The result, or in strict mode a `ConversionError` if anything was lost."""
        warnings = tuple(self._warnings)
        if strict and warnings:
            raise ConversionError(
                f"The document cannot be converted to {target} without loss "
                f"({len(warnings)} problem(s)); convert without strict mode to approximate.",
                warnings,
                code="conversion_lossy",
            )
        return Conversion(document, warnings)


def ref_parts(ref: str) -> list[str] | None:
    """The pointer tokens of a local `$ref`, else None (see `documents.local_ref_parts`).

    Never raises: a "~" that escapes nothing is read as written, so a malformed reference to
    something the document has still finds it.
    """
    return local_ref_parts(ref, strict=False)


def ref_target(document: Any, node: Any) -> Any:
    """`node` with local `$ref`s followed to what they name.

    Stops at the reference that is not local, names nothing (or null) or loops, and answers it.
    """
    seen: set[str] = set()
    while isinstance(node, dict) and isinstance(node.get("$ref"), str):
        ref = node["$ref"]
        parts = ref_parts(ref)
        if parts is None or ref in seen:
            return node
        seen.add(ref)
        target = lookup(document, parts)
        if target is None:
            return node
        node = target
    return node


def as_dict(value: Any) -> dict[str, Any]:
    """`value` if it is a JSON object, else an empty one (for fields a document may get wrong)."""
    return value if isinstance(value, dict) else {}


def copy_json(value: Any, refs: Callable[[str], str] | None = None) -> Any:
    """A deep copy of a plain JSON value (faster than `copy.deepcopy` on large specs).

    With `refs`, every string `$ref` in it is replaced by `refs($ref)`: extensions are opaque,
    but tools resolve the references in them, so they must follow the components they name.
    """
    if isinstance(value, dict):
        return {
            key: refs(item)
            if refs is not None and key == "$ref" and isinstance(item, str)
            else copy_json(item, refs)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [copy_json(item, refs) for item in value]
    return value


def extensions(node: Any, refs: Callable[[str], str] | None = None) -> dict[str, Any]:
    """The `x-` specification extensions of an object, copied (see `copy_json` for `refs`)."""
    if not isinstance(node, dict):
        return {}
    return {
        key: copy_json(value, refs)
        for key, value in node.items()
        if isinstance(key, str) and key.startswith("x-")
    }


def is_form(media_type: str) -> bool:
    """Whether a media type, its parameters (`; charset=...`) aside, is a form's."""
    return media_type.split(";")[0].strip().lower() in FORM_MEDIA_TYPES


def component_name(wanted: str, taken: Iterable[str], *, fallback: str) -> str:
    """A free name for a component, close to `wanted`: each character a 3.0 component name
    cannot have becomes "_" (`fallback` when nothing is left)."""
    return unique_name(_INVALID_NAME_CHARACTER.sub("_", wanted) or fallback, taken)
