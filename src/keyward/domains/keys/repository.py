"""SQL for API keys. Every read is scoped to a workspace; lookups by hash live in the verifier."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, Select, and_, or_, select, update
from sqlalchemy.orm import Session

from keyward.core.keys import DEFAULT_PREFIX, KeyState
from keyward.db.models import (
    Acquisition,
    Api,
    ApiKey,
    KeyRequest,
    Member,
    Offering,
    Organization,
    Workspace,
)
from keyward.domains.keys.schemas import (
    KeyFilter,
    KeyRequestContext,
    KeyRequestFilter,
    KeyRequestOut,
    KeySort,
    RequestStatus,
)
from keyward.domains.pagination import PageRequest, paginate, paginate_by_time


def _locked(session: Session, query: Select[ApiKey]) -> Select[ApiKey]:
    """Lock the rows read for a change, so that concurrent changes of one key (a revocation
    and an approval, a deletion and a new request) run one after the other. SQLite writers
    already hold the database's write lock from their first statement."""
    return query.with_for_update() if session.get_bind().dialect.name == "postgresql" else query


def key_prefix(session: Session, workspace_id: str) -> str:
    """The prefix of the workspace's keys."""
    prefix = session.scalar(select(Workspace.key_prefix).where(Workspace.id == workspace_id))
    return prefix or DEFAULT_PREFIX


def get(
    session: Session, workspace_id: str, key_id: str, *, for_update: bool = False
) -> ApiKey | None:
    query = select(ApiKey).where(ApiKey.workspace_id == workspace_id, ApiKey.id == key_id)
    return session.scalar(_locked(session, query) if for_update else query)


def many_for_update(session: Session, workspace_id: str, key_ids: list[str]) -> list[ApiKey]:
    query = (
        select(ApiKey)
        .where(ApiKey.workspace_id == workspace_id, ApiKey.id.in_(key_ids))
        .order_by(ApiKey.id)
    )
    return list(session.scalars(_locked(session, query)))


def api_of_acquisition(session: Session, acquisition_id: str) -> Api | None:
    return session.scalar(
        select(Api)
        .join(Offering, Offering.api_id == Api.id)
        .join(Acquisition, Acquisition.offering_id == Offering.id)
        .where(Acquisition.id == acquisition_id)
    )


def unrevoked_keys_of_api(session: Session, api_id: str) -> Sequence[ApiKey]:
    return session.scalars(
        select(ApiKey)
        .join(Acquisition, Acquisition.id == ApiKey.acquisition_id)
        .join(Offering, Offering.id == Acquisition.offering_id)
        .where(Offering.api_id == api_id, ApiKey.revoked_at.is_(None))
        .order_by(ApiKey.id)
    ).all()


def add(session: Session, key: ApiKey) -> None:
    session.add(key)
    session.flush()


def delete(session: Session, key: ApiKey) -> None:
    session.delete(key)
    session.flush()


def named(session: Session, acquisition_id: str, name: str) -> bool:
    """Whether the acquisition has a key of that name."""
    found = session.scalar(
        select(ApiKey.id).where(ApiKey.acquisition_id == acquisition_id, ApiKey.name == name)
    )
    return found is not None


def list_keys(
    session: Session,
    workspace_id: str,
    filters: KeyFilter,
    page: PageRequest,
    now: datetime,
    *,
    visible: ColumnElement[bool],
    sort: KeySort = KeySort.NEWEST,
) -> Sequence[ApiKey]:
    query = select(ApiKey).where(ApiKey.workspace_id == workspace_id, visible)
    if filters.kind is not None:
        query = query.where(ApiKey.kind == filters.kind.value)
    if filters.acquisition_id is not None:
        query = query.where(ApiKey.acquisition_id == filters.acquisition_id)
    if filters.creator_member_id is not None:
        query = query.where(ApiKey.creator_member_id == filters.creator_member_id)
    if filters.api_id is not None:
        # Through the acquisition index: one short range of keys per acquisition of the API.
        of_api = (
            select(Acquisition.id)
            .join(Offering, Offering.id == Acquisition.offering_id)
            .where(Acquisition.workspace_id == workspace_id, Offering.api_id == filters.api_id)
        )
        query = query.where(ApiKey.acquisition_id.in_(of_api))
    if filters.expiring_within is not None:
        query = query.where(
            ApiKey.revoked_at.is_(None),
            ApiKey.expires_at > now,
            ApiKey.expires_at <= now + filters.expiring_within,
        )
    if filters.unused_for is not None:
        since = now - filters.unused_for
        query = query.where(
            ApiKey.created_at < since,
            or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < since),
        )
    if filters.state is KeyState.REVOKED:
        query = query.where(ApiKey.revoked_at.is_not(None))
    elif filters.state is KeyState.PENDING:
        query = query.where(ApiKey.revoked_at.is_(None), ApiKey.awaiting_approval.is_(True))
    elif filters.state is KeyState.EXPIRED:
        query = query.where(
            ApiKey.revoked_at.is_(None),
            ApiKey.awaiting_approval.is_(False),
            ApiKey.expires_at <= now,
        )
    elif filters.state is KeyState.ACTIVE:
        query = query.where(
            ApiKey.revoked_at.is_(None),
            ApiKey.awaiting_approval.is_(False),
            or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > now),
        )
    if sort is KeySort.NEWEST:
        return session.scalars(paginate(query, ApiKey.id, page)).all()
    by_use = paginate_by_time(
        query,
        ApiKey.last_used_at,
        ApiKey.id,
        page,
        order=sort.value,
        descending=sort is KeySort.MOST_RECENTLY_USED,
    )
    return session.scalars(by_use).all()


def unrevoked_created_by(session: Session, workspace_id: str, member_id: str) -> Sequence[ApiKey]:
    return session.scalars(
        select(ApiKey).where(
            ApiKey.workspace_id == workspace_id,
            ApiKey.creator_member_id == member_id,
            ApiKey.revoked_at.is_(None),
        )
    ).all()


def pending_requests(session: Session, key_ids: list[str]) -> dict[str, str]:
    """key id → id of its pending request, for the keys that have one."""
    if not key_ids:
        return {}
    rows = session.execute(
        select(KeyRequest.key_id, KeyRequest.id).where(
            KeyRequest.key_id.in_(key_ids), KeyRequest.status == RequestStatus.PENDING.value
        )
    )
    return {key_id: request_id for key_id, request_id in rows if key_id is not None}


def add_request(session: Session, request: KeyRequest) -> None:
    session.add(request)
    session.flush()


def get_request(session: Session, workspace_id: str, request_id: str) -> KeyRequest | None:
    return session.scalar(
        select(KeyRequest).where(
            KeyRequest.workspace_id == workspace_id, KeyRequest.id == request_id
        )
    )


def settle_request(session: Session, request: KeyRequest, **values: object) -> bool:
    """Move a pending request on, unless something else already did: the one conditional
    UPDATE that decides is what keeps a request from being decided twice."""
    done = session.execute(
        update(KeyRequest)
        .where(KeyRequest.id == request.id, KeyRequest.status == RequestStatus.PENDING.value)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    session.refresh(request)
    return bool(getattr(done, "rowcount", 0) == 1)


def close_pending(session: Session, key_id: str, outcome: str, at: datetime) -> list[KeyRequest]:
    """Close the key's pending request, if any, because the key changed under it."""
    pending = list(
        session.scalars(
            select(KeyRequest).where(
                KeyRequest.key_id == key_id, KeyRequest.status == RequestStatus.PENDING.value
            )
        )
    )
    for request in pending:
        request.status = RequestStatus.CLOSED.value
        request.outcome = outcome
        request.decided_at = at
    session.flush()
    return pending


def list_requests(
    session: Session,
    workspace_id: str,
    filters: KeyRequestFilter,
    page: PageRequest,
    *,
    visible: ColumnElement[bool],
) -> Sequence[KeyRequest]:
    query = select(KeyRequest).where(KeyRequest.workspace_id == workspace_id, visible)
    if filters.status is not None:
        query = query.where(KeyRequest.status == filters.status.value)
    if filters.key_id is not None:
        query = query.where(KeyRequest.key_id == filters.key_id)
    if filters.decided:
        query = query.where(KeyRequest.status != RequestStatus.PENDING.value)
    return session.scalars(paginate(query, KeyRequest.id, page)).all()


def active_members(session: Session, workspace_id: str) -> list[str]:
    return list(
        session.scalars(
            select(Member.id)
            .where(Member.workspace_id == workspace_id, Member.active.is_(True))
            .order_by(Member.id)
        )
    )


def request_contexts(
    session: Session, workspace_id: str, requests: Sequence[KeyRequestOut]
) -> dict[str, KeyRequestContext]:
    """request id → its API's name and key lifetime, its acquisition's offering and
    organization, the names of its requester and decider, and its key's expiry now; four reads
    whatever the number of requests."""
    acquisition_ids = {r.acquisition_id for r in requests if r.acquisition_id}
    member_ids = {m for r in requests for m in (r.requested_by, r.decided_by) if m}
    key_ids = {r.key_id for r in requests if r.key_id}
    api_ids = {r.api_id for r in requests if r.api_id}
    policies = {
        api_id: (name, lifetime)
        for api_id, name, lifetime in session.execute(
            select(Api.id, Api.name, Api.key_lifetime).where(
                Api.workspace_id == workspace_id, Api.id.in_(api_ids)
            )
        )
    }
    acquisitions = {
        acquisition_id: (offering_name, organization_id, organization_name)
        for acquisition_id, offering_name, organization_id, organization_name in session.execute(
            select(Acquisition.id, Offering.name, Organization.id, Organization.name)
            .join(Organization, Organization.id == Acquisition.organization_id)
            .join(Offering, Offering.id == Acquisition.offering_id)
            .where(Acquisition.workspace_id == workspace_id, Acquisition.id.in_(acquisition_ids))
        )
    }
    names: dict[str, str] = dict(
        session.execute(
            select(Member.id, Member.name).where(
                Member.workspace_id == workspace_id, Member.id.in_(member_ids)
            )
        ).all()
    )
    expiries: dict[str, datetime | None] = dict(
        session.execute(
            select(ApiKey.id, ApiKey.expires_at).where(
                ApiKey.workspace_id == workspace_id, ApiKey.id.in_(key_ids)
            )
        ).all()
    )
    contexts = {}
    for request in requests:
        offering_name, organization_id, organization_name = acquisitions.get(
            request.acquisition_id or "", (None, None, None)
        )
        api_name, api_key_lifetime = policies.get(request.api_id or "", (None, None))
        contexts[request.id] = KeyRequestContext(
            api_name=api_name,
            api_key_lifetime=api_key_lifetime,
            acquisition_id=request.acquisition_id,
            offering_name=offering_name,
            organization_id=organization_id,
            organization_name=organization_name,
            requester_name=names.get(request.requested_by or ""),
            decider_name=names.get(request.decided_by or ""),
            key_expires_at=expiries.get(request.key_id or ""),
        )
    return contexts


def workspaces_with_unused_policy(session: Session) -> Sequence[Workspace]:
    return session.scalars(
        select(Workspace)
        .where(
            or_(
                Workspace.unused_warn_after.is_not(None), Workspace.unused_revoke_after.is_not(None)
            )
        )
        .order_by(Workspace.id)
    ).all()


def idle_keys(
    session: Session,
    workspace_id: str,
    idle_before: datetime,
    now: datetime,
    *,
    after_id: str,
    limit: int,
) -> Sequence[ApiKey]:
    """Keys that work now (unrevoked, issued, not expired) and were neither used nor created
    after `idle_before`, in id order from after `after_id`."""
    return session.scalars(
        select(ApiKey)
        .where(
            ApiKey.workspace_id == workspace_id,
            ApiKey.id > after_id,
            ApiKey.revoked_at.is_(None),
            ApiKey.awaiting_approval.is_(False),
            or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > now),
            or_(
                ApiKey.last_used_at <= idle_before,
                and_(ApiKey.last_used_at.is_(None), ApiKey.created_at <= idle_before),
            ),
        )
        .order_by(ApiKey.id)
        .limit(limit)
    ).all()
