"""Every sealed secret keyward keeps, across workspaces: counted by the key that sealed it, and
sealed again under the keyring's current key (`keyward secrets ...`, the operator's commands).
"""

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from sqlalchemy import select

from keyward.core.sealing import SealBroken, Sealer, key_id_of, place
from keyward.db.engine import UnitOfWork
from keyward.db.models import Connector, WebhookEndpoint

Holder = Connector | WebhookEndpoint
# Each table holding sealed values, with its sealed columns.
SEALED: tuple[tuple[type[Holder], tuple[str, ...]], ...] = (
    (Connector, ("sealed_key", "sealed_signing_secret")),
    (WebhookEndpoint, ("sealed_secret", "previous_sealed_secret")),
)


@dataclass(frozen=True, slots=True)
class Resealed:
    resealed: int
    """Values sealed again under the current key."""
    unchanged: int
    """Values already under it."""
    broken: list[str] = field(default_factory=list)
    """Places of values no key of the keyring opens (left as they are)."""


def _values(uow: UnitOfWork, *, for_update: bool) -> Iterator[tuple[Holder, str, bytes, str]]:
    for model, columns in SEALED:
        query = select(model)
        if for_update and uow.session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update()
        rows: Iterable[Holder] = uow.session.scalars(query)
        for row in rows:
            for column in columns:
                value = getattr(row, column)
                if value is not None:
                    yield row, column, value, place(model.__tablename__, row.id, column)


def census(uow: UnitOfWork) -> dict[str, int]:
    """How many sealed values each key sealed ("fernet": before key ids; "?": unreadable)."""
    return dict(
        Counter(key_id_of(value) or "?" for _, _, value, _ in _values(uow, for_update=False))
    )


def reseal(uow: UnitOfWork, sealer: Sealer) -> Resealed:
    """Seal every value not yet under the current key again under it."""
    resealed = unchanged = 0
    broken = []
    for row, column, value, where in _values(uow, for_update=True):
        if key_id_of(value) == sealer.current:
            unchanged += 1
            continue
        try:
            plaintext = sealer.open(value, where)
        except SealBroken:
            broken.append(where)
            continue
        setattr(row, column, sealer.seal(plaintext, where))
        resealed += 1
    uow.session.flush()
    return Resealed(resealed, unchanged, broken)
