"""Caps on how many of a thing one owner may have: a clear 409 before the next one is made."""

from keyward.core.errors import Conflict


def ensure_room(held: int, cap: int, *, what: str, of: str, code: str, setting: str) -> None:
    """Refuse to add one more `what` to the `held` ones of `of` when `cap` are there already.

    The caller holds a lock on `of` (or, on SQLite, the database's write lock), so two
    requests cannot both take the last place."""
    if held >= cap:
        raise Conflict(
            f"This {of} already has {held} {what}, the most allowed ({cap}); delete one it no "
            f"longer needs first, or ask the operator to raise {setting}.",
            code=code,
            details={"limit": cap},
        )
