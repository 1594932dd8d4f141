"""Where storage connectors write: a path below a destination the operator named, checked the
same way when a connector is made and again by the code that opens the file.

A path is one to sixteen segments joined by `/`; each segment begins with a letter or a digit
and holds only letters, digits, `.`, `_` and `-`. So no path is absolute, climbs (`..`), hides
(`.name`), or carries a scheme, a query, a fragment, a backslash or an encoding.
"""

import re

MAX_SEGMENTS = 16
MAX_LENGTH = 1000
_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


class InvalidStoragePath(ValueError):
    """A path that is not a plain relative path below a destination."""


def storage_segments(path: str) -> tuple[str, ...]:
    """The segments of a storage path; raises InvalidStoragePath for anything else."""
    segments = tuple(path.split("/"))
    if (
        len(path) > MAX_LENGTH
        or len(segments) > MAX_SEGMENTS
        or not all(_SEGMENT.fullmatch(segment) for segment in segments)
    ):
        raise InvalidStoragePath(
            "A storage path is up to 16 names joined by '/', each beginning with a letter or "
            "digit and holding only letters, digits, '.', '_' and '-': globex/petstore.json."
        )
    return segments
