"""What is wrong with an OpenAPI document, located by JSON pointers (RFC 6901) into it.

A `Problem` names one fault: where (`pointer`, "" for the whole document), what to do about it
(`message`, a sentence) and a stable snake_case `code` users can search for. `SpecError` carries
every problem found at once; the API answers it 413 when `too_large`, 422 otherwise.

The JSON pointer helpers live here too, local `$ref` resolution included: every pointer in a
problem is built and read with them.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

# A place in a document as the keys and list indexes that lead to it.
Location = tuple[str | int, ...]
# A chain of `$ref`s longer than this is treated as a loop (real ones are one or two long).
_MAX_REF_CHAIN = 64


@dataclass(frozen=True, slots=True)
class Problem:
    """One fault in a document. `pointer` is RFC 6901, "" meaning the whole document."""

    pointer: str
    message: str
    code: str


class SpecError(Exception):
    """A document refused as a whole: every problem found, and whether it was only its size."""

    def __init__(self, problems: Iterable[Problem], *, too_large: bool = False) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        if not self.problems:
            raise ValueError("a SpecError needs at least one problem")
        self.too_large = too_large
        first = self.problems[0]
        more = len(self.problems) - 1
        summary = f"{first.message} ({first.code} at {first.pointer or 'the document'})"
        super().__init__(summary if not more else f"{summary}, and {more} more problem(s)")


def pointer_to(parts: Iterable[str | int]) -> str:
    """The JSON pointer of a location given as keys and list indexes, e.g. ("paths", "/a")."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in parts)


def parts_of(pointer: str) -> list[str]:
    """The reference tokens of a JSON pointer ("" is the whole document).

    Raises ValueError for a pointer that does not start with "/" or has a bad "~" escape.
    """
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise ValueError(f"a JSON pointer starts with '/': {pointer!r}")
    tokens = pointer[1:].split("/")
    for token in tokens:
        # Only "~0" and "~1" are escapes; any other "~" makes the pointer invalid (RFC 6901 §3).
        if "~" in token.replace("~0", "").replace("~1", ""):
            raise ValueError(f"bad '~' escape in JSON pointer: {pointer!r}")
    return [token.replace("~1", "/").replace("~0", "~") for token in tokens]


def follow(document: Any, parts: Sequence[str]) -> Any:
    """The value at `parts` in `document`, stepping into mappings by key and lists by index.

    Raises LookupError when a step does not exist.
    """
    value = document
    for part in parts:
        if isinstance(value, dict):
            if part not in value:
                raise LookupError(part)
            value = value[part]
        elif isinstance(value, list):
            # RFC 6901 array indexes are decimal without leading zeros; "-" never exists.
            if not part.isdecimal() or (part != "0" and part.startswith("0")):
                raise LookupError(part)
            index = int(part)
            if index >= len(value):
                raise LookupError(part)
            value = value[index]
        else:
            raise LookupError(part)
    return value


def local_ref_parts(ref: str) -> list[str] | None:
    """The pointer tokens of a `$ref` inside the same document ("#/..." or "#"), else None.

    The fragment of a URI is percent-encoded, so "#/paths/~1pets%7Bid%7D" names "/pets{id}".
    Raises ValueError for a local ref whose pointer is malformed.
    """
    if not ref.startswith("#"):
        return None
    fragment = unquote(ref[1:])
    if fragment and not fragment.startswith("/"):
        return None  # "#name" is a plain-name anchor, not a pointer
    return parts_of(fragment)


def dereferenced(document: Any, value: Any, location: Location) -> tuple[Any, Location]:
    """`value` (found at `location`), or what its local `$ref` points to and where that is.

    Chains of references are followed. A reference that is not local, does not resolve or
    loops leaves the value at the last step that resolved (the reference check reports it).
    """
    seen: set[str] = set()
    while isinstance(value, dict) and isinstance(value.get("$ref"), str):
        ref = value["$ref"]
        if ref in seen or len(seen) >= _MAX_REF_CHAIN:
            break
        seen.add(ref)
        try:
            parts = local_ref_parts(ref)
            if parts is None:
                break
            value, location = follow(document, parts), tuple(parts)
        except (ValueError, LookupError):
            break
    return value, location
