"""From uploaded bytes to a stored spec: load, check, and normalise to OpenAPI 3."""

from dataclasses import dataclass

from keyward.core.openapi import Document
from keyward.core.openapi.documents import Location, pointer_to
from keyward.core.openapi.loading import load
from keyward.core.openapi.problems import Problem, SpecError
from keyward.core.openapi.swagger2 import to_openapi3
from keyward.core.openapi.validation import check


@dataclass(frozen=True, slots=True)
class Spec:
    source_version: str
    media_type: str
    normalized: Document


def _nul_pointers(document: object) -> list[str]:
    """Where the document holds a NUL character: storage cannot keep one in JSON text."""
    found: list[Location] = []
    pending: list[tuple[object, Location]] = [(document, ())]
    while pending:
        value, path = pending.pop()
        if path and "\x00" in str(path[-1]):  # a key
            found.append(path)
        if isinstance(value, str):
            if "\x00" in value:
                found.append(path)
        elif isinstance(value, dict):
            pending.extend((item, (*path, key)) for key, item in reversed(value.items()))
        elif isinstance(value, list):
            pending.extend(
                (item, (*path, index)) for index, item in reversed(list(enumerate(value)))
            )
    return [pointer_to(path) for path in found]


def read_spec(raw: bytes, *, max_bytes: int, budget: float | None = None) -> Spec:
    """The spec `raw` holds, normalised to OpenAPI 3; `SpecError` lists every problem, and
    `OverBudget` says checking it took longer than `budget` seconds."""
    loaded = load(raw, max_bytes=max_bytes)
    problems = [
        Problem(pointer, "contains a NUL character", "nul_character")
        for pointer in _nul_pointers(loaded.document)
    ]
    problems += check(loaded, budget=budget)
    if problems:
        raise SpecError(tuple(problems))
    normalized = to_openapi3(loaded.document) if loaded.version == "2.0" else loaded.document
    return Spec(loaded.version, loaded.media_type, normalized)
