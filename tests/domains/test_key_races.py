"""Concurrent changes of one key end in a consistent state: two databases handles (two pools),
real commits, threads released together. On PostgreSQL they truly overlap (row locks decide);
on SQLite writers take turns."""

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import select

from keyward.core.errors import KeywardError
from keyward.db.engine import Database
from keyward.db.models import ApiKey, AuditEvent, KeyRequest
from keyward.domains.keys import requests, service
from keyward.domains.keys.schemas import KeyRequestOut, RequestStatus
from tests.domains.key_world import World, make_world

ROUNDS = 5


def _together(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls at once; each result is its value or the KeywardError it raised."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int, call: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            results[index] = call()
        except KeywardError as error:
            results[index] = error

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


@pytest.fixture
def databases(fresh_url: str) -> Iterator[list[Database]]:
    handles = [Database.connect(fresh_url) for _ in range(2)]
    yield handles
    for handle in handles:
        handle.dispose()


def _in(db: Database, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[[], Any]:
    def run() -> Any:
        with db.transaction() as uow:
            return call(uow, *args, **kwargs)

    return run


def _row(db: Database, model: type[Any], row_id: str) -> Any:
    with db.transaction(write=False) as uow:
        return uow.session.get(model, row_id)


def _pending_renewal(world: World) -> KeyRequestOut:
    request = world.acting(world.acquirer, service.renew_key, world.key.id, allow_request=True)
    assert isinstance(request, KeyRequestOut)
    return request


def test_revocation_racing_a_renewal_approval(databases: list[Database]) -> None:
    one, two = databases
    for _ in range(ROUNDS):
        world = make_world(one, renewal_requires_approval=True)
        request = _pending_renewal(world)
        approved, revoked = _together(
            _in(one, requests.approve, world.approver, request.id, ""),
            _in(two, service.revoke_key, world.approver, world.key.id, "compromised"),
        )
        assert not isinstance(revoked, KeywardError)
        key = _row(one, ApiKey, world.key.id)
        decided = _row(one, KeyRequest, request.id)
        assert key.revoked_at is not None
        if isinstance(approved, KeywardError):
            # The revocation came first and closed the request; the approval found it closed.
            assert approved.code == "key_request_not_pending"
            assert (decided.status, decided.outcome) == ("closed", "key_revoked")
        else:
            # The approval came first: renewed, then revoked. Never a renewal after it.
            assert decided.status == approved.status == RequestStatus.APPROVED


def test_two_approvers_at_once_apply_a_request_once(databases: list[Database]) -> None:
    one, two = databases
    for _ in range(ROUNDS):
        world = make_world(one, renewal_requires_approval=True)
        request = _pending_renewal(world)
        results = _together(
            _in(one, requests.approve, world.approver, request.id, "a"),
            _in(two, requests.approve, world.admin, request.id, "b"),
        )
        refused = [r for r in results if isinstance(r, KeywardError)]
        assert len(refused) == 1
        assert refused[0].code == "key_request_not_pending"
        with one.transaction(write=False) as uow:
            renewals = uow.session.scalars(
                select(AuditEvent).where(
                    AuditEvent.target_id == world.key.id, AuditEvent.action == "key.renew"
                )
            ).all()
        assert len(renewals) == 1


def test_deletion_racing_an_approved_revocation(databases: list[Database]) -> None:
    one, two = databases
    for _ in range(ROUNDS):
        world = make_world(one, revocation_requires_approval=True)
        request = world.acting(world.acquirer, service.revoke_key, world.key.id, allow_request=True)
        approved, deleted = _together(
            _in(one, requests.approve, world.approver, request.id, ""),
            _in(two, service.delete_key, world.acquirer, world.key.id),
        )
        assert not isinstance(approved, KeywardError)
        assert _row(one, KeyRequest, request.id).status == "approved"
        key = _row(one, ApiKey, world.key.id)
        if isinstance(deleted, KeywardError):
            # Deletion looked while the request was pending (or the key not yet revoked).
            assert deleted.code in ("key_request_pending", "key_not_revoked")
            assert key is not None
            assert key.revoked_at is not None
        else:
            assert key is None


def test_bulk_delete_racing_a_new_request(databases: list[Database]) -> None:
    one, two = databases
    for _ in range(ROUNDS):
        world = make_world(one, revocation_requires_approval=True)
        revoked = world.new_key()
        world.acting(world.approver, service.revoke_key, revoked.id)
        bulk, asked = _together(
            _in(one, service.bulk_delete, world.admin, [revoked.id, world.key.id]),
            _in(two, service.revoke_key, world.acquirer, world.key.id, "", allow_request=True),
        )
        assert isinstance(asked, KeyRequestOut)
        assert _row(one, KeyRequest, asked.id).status == "pending"
        assert _row(one, ApiKey, world.key.id) is not None
        if isinstance(bulk, KeywardError):
            # The request came first: nothing at all was deleted.
            assert bulk.code == "key_request_pending"
            assert _row(one, ApiKey, revoked.id) is not None
        else:
            assert [r.result for r in bulk.results] == ["deleted", "skipped"]
            assert _row(one, ApiKey, revoked.id) is None
