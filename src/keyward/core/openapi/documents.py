"""Vocabulary for plain OpenAPI documents: JSON pointers, local `$ref`s, HTTP methods, free names.

A place in a document is a `Location` (the keys and list indexes that lead to it) or its JSON
pointer (RFC 6901). Local `$ref`s are read in two ways. The checks and the operation index read
them strictly, as RFC 6901 says: `local_ref_parts` raises on a malformed pointer and `follow`
on a missing step. The converters carry a document as far as it makes sense: with
`strict=False` a `~` that escapes nothing is read as written, and `lookup` answers None where
there is nothing (and takes list indexes with leading zeros).
"""

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote, unquote

from keyward.core.openapi import Document

# A place in a document as the keys and list indexes that lead to it.
Location = tuple[str | int, ...]

# The operations a 3.x path item may hold, in the order the specification lists them.
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# OpenAPI 2.0 has no `trace` operations.
SWAGGER2_HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch")

# A chain of `$ref`s longer than this is treated as a loop (real ones are one or two long).
_MAX_REF_CHAIN = 64


# JSON pointers


def pointer_to(parts: Iterable[str | int]) -> str:
    """The JSON pointer of a location given as keys and list indexes, e.g. ("paths", "/a").

    No parts is the whole document, "".
    """
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in parts)


def parts_of(pointer: str, *, strict: bool = True) -> list[str]:
    """The reference tokens of a JSON pointer ("" is the whole document).

    Raises ValueError for a pointer that does not start with "/" and, when `strict`, for one
    with a bad "~" escape; not strict, such a "~" is kept as written.
    """
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise ValueError(f"a JSON pointer starts with '/': {pointer!r}")
    tokens = pointer[1:].split("/")
    if strict:
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
        value = _step(value, part, leading_zeros=False)
    return value


def lookup(document: Any, parts: Iterable[str]) -> Any:
    """The value at `parts` in `document`, or None when a step does not exist.

    A list index may have leading zeros ("01"), unlike in `follow`.
    """
    value = document
    for part in parts:
        try:
            value = _step(value, part, leading_zeros=True)
        except LookupError:
            return None
    return value


def _step(value: Any, part: str, *, leading_zeros: bool) -> Any:
    """The child of `value` that `part` names; raises LookupError when there is none."""
    if isinstance(value, dict) and part in value:
        return value[part]
    # RFC 6901 array indexes are decimal without leading zeros; "-" never exists.
    if (
        isinstance(value, list)
        and part.isdecimal()
        and (leading_zeros or part == "0" or not part.startswith("0"))
        and int(part) < len(value)
    ):
        return value[int(part)]
    raise LookupError(part)


# Local references


def ref_to(parts: Iterable[str]) -> str:
    """A local `$ref` to `parts`, escaped as a pointer and as a URI fragment."""
    return "#" + quote(pointer_to(parts), safe="/~!$&'()*+,;=:@")


def local_ref_parts(ref: str, *, strict: bool = True) -> list[str] | None:
    """The pointer tokens of a `$ref` inside the same document ("#/..." or "#"), else None.

    The fragment of a URI is percent-encoded, so "#/paths/~1pets%7Bid%7D" names "/pets{id}".
    Raises ValueError for a local ref whose pointer has a bad "~" escape, unless not `strict`
    (see `parts_of`).
    """
    if not ref.startswith("#"):
        return None
    fragment = unquote(ref[1:])
    if fragment and not fragment.startswith("/"):
        return None  # "#name" is a plain-name anchor, not a pointer
    return parts_of(fragment, strict=strict)


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


# Operations


def path_operations(item: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(method, operation) for each operation written in a path item, in `HTTP_METHODS` order.

    A method whose value is not an object is skipped.
    """
    for method in HTTP_METHODS:
        operation = item.get(method)
        if isinstance(operation, dict):
            yield method, operation


def iter_operations(doc: Document) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(path, method, operation) for every operation written directly under `paths` (3.x).

    Path items are taken as written: a path item's `$ref` is not followed, so what is yielded
    can be changed in place (`operations.operations` reads through references instead).
    """
    for path, item in (doc.get("paths") or {}).items():
        if isinstance(item, dict):
            for method, operation in path_operations(item):
                yield path, method, operation


# Names


def unique_name(name: str, taken: Iterable[str]) -> str:
    """`name`, or `name2`, `name3`… whichever is not taken."""
    used = set(taken)
    candidate, n = name, 1
    while candidate in used:
        n += 1
        candidate = f"{name}{n}"
    return candidate
