"""Which operations a new version of a document adds, removes or changes.

Operations are identified by "METHOD /path" (upper-case method, the path template as written).
One is changed when its fingerprint differs: its parameters, request body, responses, security
or anything else `operations` counts, including every schema it reaches through `$ref`s.
Renaming a path parameter (`/pets/{id}` to `/pets/{petId}`) removes one operation and adds
another.
"""

from dataclasses import dataclass

from keyward.core.openapi import Document
from keyward.core.openapi.operations import operations


@dataclass(frozen=True, slots=True)
class Changes:
    """Operation keys ("GET /pets"), each tuple sorted."""

    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[str, ...]


def diff(old: Document, new: Document) -> Changes:
    """What changed in the operations from `old` to `new` (both OpenAPI 3.x documents)."""
    before = {operation.key: operation.fingerprint for operation in operations(old)}
    after = {operation.key: operation.fingerprint for operation in operations(new)}
    return Changes(
        added=tuple(sorted(after.keys() - before.keys())),
        removed=tuple(sorted(before.keys() - after.keys())),
        changed=tuple(
            sorted(key for key in before.keys() & after.keys() if before[key] != after[key])
        ),
    )
