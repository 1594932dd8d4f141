"""What is wrong with an OpenAPI document, located by JSON pointers (RFC 6901) into it.

A `Problem` names one fault: where (`pointer`, "" for the whole document), what to do about it
(`message`, a sentence) and a stable snake_case `code` users can search for. `SpecError` carries
every problem found at once; the API answers it 413 when `too_large`, 422 otherwise. Pointers
are built with `documents.pointer_to`.
"""

from collections.abc import Iterable
from dataclasses import dataclass


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
