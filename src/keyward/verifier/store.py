"""The verifier's reads: a key by the hash of its secret (or of its rotated-away secret still
in its grace), with its creator's standing."""

import hmac
import sys

import psycopg
from sqlalchemy import or_, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session

from keyward.core.permissions import EMPTY, PermissionSet
from keyward.core.verdicts import AcquisitionTerms, KeySnapshot
from keyward.db.models import Acquisition, ApiKey, Member, Offering
from keyward.db.rights import member_rights

# What storage raises when it cannot answer: the server is down or unreachable, a connection
# broke, or every pooled connection is busy. SQLAlchemy wraps the drivers' errors in DBAPIError.
STORAGE_ERRORS: tuple[type[Exception], ...] = (DBAPIError, PoolTimeout, psycopg.Error)


def _terms(session: Session, acquisition_id: str) -> AcquisitionTerms | None:
    row = session.execute(
        select(Acquisition, Offering.api_id)
        .join(Offering, Offering.id == Acquisition.offering_id)
        .where(Acquisition.id == acquisition_id)
    ).one_or_none()
    if row is None:
        return None
    acquisition, api_id = row
    return AcquisitionTerms(
        acquisition_id=acquisition.id,
        organization_id=acquisition.organization_id,
        offering_id=acquisition.offering_id,
        api_id=api_id,
        valid_from=acquisition.valid_from.timestamp(),
        valid_until=acquisition.valid_until.timestamp() if acquisition.valid_until else None,
    )


def _expiry(key: ApiKey, digest: bytes) -> float | None:
    """When the key stops working for this secret: a rotated-away secret at the end of its
    grace, or the key's own expiry if that comes first."""
    ends = [key.expires_at]
    if not hmac.compare_digest(key.hash, digest):
        ends.append(key.previous_hash_expires_at)
    known = [end.timestamp() for end in ends if end is not None]
    return min(known) if known else None


def load_snapshot(session: Session, digest: bytes) -> KeySnapshot | None:
    """The key whose secret, or whose rotated-away secret still in its grace, hashes to
    `digest`."""
    key = session.scalar(
        select(ApiKey).where(or_(ApiKey.hash == digest, ApiKey.previous_hash == digest))
    )
    if key is None or not (
        hmac.compare_digest(key.hash, digest)
        or hmac.compare_digest(key.previous_hash or b"", digest)
    ):
        return None
    member = session.get(Member, key.creator_member_id) if key.creator_member_id else None
    return KeySnapshot(
        key_id=key.id,
        # Interned: the hot path compares workspace ids, and one shared string compares fastest.
        workspace_id=sys.intern(key.workspace_id),
        member_id=member.id if member else None,
        kind=key.kind,
        acquisition=_terms(session, key.acquisition_id) if key.acquisition_id else None,
        revoked=key.revoked_at is not None,
        member_active=bool(member and member.active),
        expires_at=_expiry(key, digest),
        key_permissions=PermissionSet.parse_stored(key.permissions),
        member_permissions=member_rights(session, member.id) if member else EMPTY,
    )
