"""The verifier's reads: keys with their creator's standing and their acquisition's terms.

One key is read by the hash of its secret (or of its rotated-away secret still in its grace);
many are read in one go to warm a cache. Either way a key costs one row of one joined query, and
its creator's standing two more queries shared by every key read with it.
"""

import hmac
import math
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import psycopg
from sqlalchemy import or_, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session

from keyward.core.keys import KeyKind
from keyward.core.ownership import NOBODY, Standing
from keyward.core.permissions import PermissionSet
from keyward.core.verdicts import AcquisitionTerms, KeySnapshot
from keyward.db.models import Acquisition, Api, ApiKey, Member, Offering
from keyward.db.rights import standings

# What storage raises when it cannot answer: the server is down or unreachable, a connection
# broke, or every pooled connection is busy. SQLAlchemy wraps the drivers' errors in DBAPIError.
STORAGE_ERRORS: tuple[type[Exception], ...] = (DBAPIError, PoolTimeout, psycopg.Error)

_KEYS = (
    select(
        ApiKey.id,
        ApiKey.workspace_id,
        ApiKey.kind,
        ApiKey.hash,
        ApiKey.previous_hash,
        ApiKey.previous_hash_expires_at,
        ApiKey.expires_at,
        ApiKey.revoked_at,
        ApiKey.awaiting_approval,
        ApiKey.permissions,
        Member.id.label("member_id"),
        Member.active,
        Acquisition.id.label("acquisition_id"),
        Acquisition.organization_id,
        Acquisition.offering_id,
        Offering.api_id,
        Acquisition.valid_from,
        Acquisition.valid_until,
        # For the ownership rule's view of the acquisition. No role holds `acquisitions:use`
        # through the provider's reach, so an API changing hands does not change a verdict.
        Api.provider_organization_id,
    )
    .outerjoin(Member, Member.id == ApiKey.creator_member_id)
    .outerjoin(Acquisition, Acquisition.id == ApiKey.acquisition_id)
    .outerjoin(Offering, Offering.id == Acquisition.offering_id)
    .outerjoin(Api, Api.id == Offering.api_id)
)


def load_snapshot(session: Session, digest: bytes) -> KeySnapshot | None:
    """The key whose secret, or whose rotated-away secret still in its grace, hashes to
    `digest`."""
    row = session.execute(
        _KEYS.where(or_(ApiKey.hash == digest, ApiKey.previous_hash == digest))
    ).first()
    if row is None or not (
        hmac.compare_digest(row.hash, digest)
        or hmac.compare_digest(row.previous_hash or b"", digest)
    ):
        return None
    return _snapshot(row, digest, standings(session, [row.member_id] if row.member_id else []))


def load_snapshots(
    session: Session, key_ids: Sequence[str], now: datetime
) -> list[tuple[bytes, KeySnapshot]]:
    """The keys of `key_ids` that exist, each under the digest of its secret and, while its
    grace lasts at `now`, of its rotated-away secret."""
    rows = session.execute(_KEYS.where(ApiKey.id.in_(key_ids))).all()
    rights = standings(session, {row.member_id for row in rows if row.member_id})
    found = []
    for row in rows:
        found.append((row.hash, _snapshot(row, row.hash, rights)))
        ends = row.previous_hash_expires_at
        if row.previous_hash is not None and ends is not None and ends > now:
            found.append((row.previous_hash, _snapshot(row, row.previous_hash, rights)))
    return found


def keys_in_use(session: Session, now: datetime, limit: int) -> list[str]:
    """Up to `limit` acquisition keys that may work at `now`, most recently used first: the
    keys worth caching before the first request asks for them."""
    return list(
        session.scalars(
            select(ApiKey.id)
            .where(
                ApiKey.kind == KeyKind.ACQUISITION,
                ApiKey.revoked_at.is_(None),
                or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > now),
            )
            .order_by(ApiKey.last_used_at.desc().nulls_last(), ApiKey.id)
            .limit(limit)
        )
    )


def _snapshot(row: Sequence[Any], digest: bytes, rights: dict[str, Standing]) -> KeySnapshot:
    (
        key_id,
        workspace_id,
        kind,
        key_hash,
        _,
        previous_ends,
        expires_at,
        revoked_at,
        awaiting_approval,
        permissions,
        member_id,
        member_active,
        acquisition_id,
        organization_id,
        offering_id,
        api_id,
        valid_from,
        valid_until,
        provider_organization_id,
    ) = row
    # A rotated-away secret stops working at the end of its grace (or the key's expiry).
    rotated_out_at = None
    if not hmac.compare_digest(key_hash, digest):
        rotated_out_at = previous_ends.timestamp() if previous_ends is not None else -math.inf
    return KeySnapshot(
        key_id=key_id,
        # Interned: the hot path compares workspace ids, and one shared string compares fastest.
        workspace_id=sys.intern(workspace_id),
        member_id=member_id,
        kind=kind,
        acquisition=AcquisitionTerms(
            acquisition_id=acquisition_id,
            organization_id=organization_id,
            offering_id=offering_id,
            api_id=api_id,
            valid_from=valid_from.timestamp(),
            valid_until=valid_until.timestamp() if valid_until else None,
            provider_organization_id=provider_organization_id,
        )
        if acquisition_id is not None
        else None,
        revoked=revoked_at is not None,
        awaiting_approval=bool(awaiting_approval),
        member_active=bool(member_active),
        expires_at=expires_at.timestamp() if expires_at is not None else None,
        rotated_out_at=rotated_out_at,
        key_permissions=PermissionSet.parse_stored(permissions),
        member_standing=rights.get(member_id, NOBODY) if member_id else NOBODY,
    )
