"""From uploaded bytes to a stored spec: load, check, and normalise to OpenAPI 3."""

from dataclasses import dataclass

from keyward.core.openapi import Document
from keyward.core.openapi.documents import pointer_to
from keyward.core.openapi.loading import load
from keyward.core.openapi.problems import Problem, SpecError
from keyward.core.openapi.swagger2 import to_openapi3
from keyward.core.openapi.validation import check


@dataclass(frozen=True, slots=True)
class Spec:
    source_version: str
    media_type: str
    normalized: Document


def _nul_pointers(value: object, pointer: str = "") -> list[str]:
    """Where the document holds a NUL character: storage cannot keep one in JSON text."""
    if isinstance(value, str):
        return [pointer] if "\x00" in value else []
    found = []
    if isinstance(value, dict):
        for key, item in value.items():
            here = pointer + pointer_to([key])
            if "\x00" in str(key):
                found.append(here)
            found += _nul_pointers(item, here)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _nul_pointers(item, f"{pointer}/{index}")
    return found


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
