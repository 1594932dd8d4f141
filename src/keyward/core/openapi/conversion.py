"""What every OpenAPI converter answers: the converted document, warnings, and the refusal error.

A warning names a place in the *source* document (a JSON pointer), a stable snake_case code and a
sentence; it says what the target version could not express and what was done instead. Also the
small JSON helpers the converters share: pointers, `$ref` parsing, copying plain JSON values.
"""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

from keyward.core.errors import InvalidInput
from keyward.core.openapi import Document

Where = Sequence[str | int]
"""A place in the source document, as the tokens of a JSON pointer."""


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
        self._warnings.append(ConversionWarning(pointer(where), code, message))

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


def pointer(tokens: Iterable[str | int]) -> str:
    """The JSON pointer (RFC 6901) made of `tokens`; no tokens is the whole document, ''."""
    return "".join("/" + str(token).replace("~", "~0").replace("/", "~1") for token in tokens)


def ref_to(tokens: Iterable[str]) -> str:
    """A local `$ref` to `tokens`, escaped as a pointer and as a URI fragment."""
    return "#" + quote(pointer(tokens), safe="/~!$&'()*+,;=:@")


def ref_tokens(ref: str) -> list[str] | None:
    """The pointer tokens of a local `$ref` (`#/a/b`), or None for a remote or malformed one."""
    if not ref.startswith("#"):
        return None
    fragment = unquote(ref[1:])
    if fragment == "":
        return []
    if not fragment.startswith("/"):
        return None
    return [token.replace("~1", "/").replace("~0", "~") for token in fragment[1:].split("/")]


def resolve(doc: Any, tokens: Iterable[str]) -> Any:
    """The value at `tokens` inside `doc`, or None when the path does not exist."""
    node = doc
    for token in tokens:
        if isinstance(node, dict):
            node = node.get(token)
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return None
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


def unique_name(name: str, taken: Iterable[str]) -> str:
    """`name`, or `name2`, `name3`… whichever is not taken."""
    used = set(taken)
    candidate, n = name, 1
    while candidate in used:
        n += 1
        candidate = f"{name}{n}"
    return candidate
