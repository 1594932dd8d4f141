"""Signing members in to the portal and out again, on SQLite and PostgreSQL."""

from datetime import timedelta

from pydantic import SecretStr
from sqlalchemy import select

from keyward.core.clock import ManualClock
from keyward.core.sessions import SessionLimits, Throttle, token_digest
from keyward.db.engine import Database
from keyward.db.models import AuditEvent, LoginAttempt, PortalSession
from keyward.domains.members import service as members
from keyward.domains.members.schemas import MemberCreate, MemberUpdate
from keyward.domains.sessions import service
from keyward.domains.sessions.schemas import (
    SIGN_IN_REFUSED,
    Client,
    SessionPolicy,
    Signed,
    SignedIn,
    SignInRefused,
)
from keyward.domains.workspaces.service import WorkspaceSetUp
from tests.factories import admin, make_workspace

PASSWORD = "correct horse battery staple"
POLICY = SessionPolicy(
    SessionLimits(idle=timedelta(minutes=30), lifetime=timedelta(hours=12)),
    per_account=Throttle(5, timedelta(minutes=15)),
    per_address=Throttle(20, timedelta(minutes=15)),
)
HERE = Client("203.0.113.7", "a browser", "req-1")


def _person(db: Database, set_up: WorkspaceSetUp, email: str = "pat@example.com") -> str:
    body = MemberCreate(email=email, name="Pat", password=SecretStr(PASSWORD), roles=["acquirer"])
    with db.transaction() as uow:
        return members.create_member(uow, admin(db, set_up), body).id


def _sign_in(
    db: Database,
    workspace_id: str,
    email: str = "pat@example.com",
    password: str = PASSWORD,
    client: Client = HERE,
    replacing: str | None = None,
) -> SignedIn | SignInRefused:
    with db.transaction() as uow:
        return service.sign_in(
            uow, workspace_id, email, password, client, POLICY, replacing=replacing
        )


def _signed_in(
    db: Database, workspace_id: str, email: str = "pat@example.com", replacing: str | None = None
) -> SignedIn:
    outcome = _sign_in(db, workspace_id, email, replacing=replacing)
    assert isinstance(outcome, SignedIn), outcome
    return outcome


def _resume(db: Database, token: str) -> Signed | None:
    with db.transaction() as uow:
        return service.resume(uow, token, HERE, POLICY)


def _audited(db: Database, workspace_id: str) -> list[tuple[str, str, str | None]]:
    with db.transaction(write=False) as uow:
        rows = uow.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.workspace_id == workspace_id, AuditEvent.action.like("session.%"))
            .order_by(AuditEvent.id)
        ).all()
        return [(row.action, row.outcome, row.code) for row in rows]


def test_signing_in_makes_a_session_whose_token_is_stored_only_as_its_digest(
    db: Database,
) -> None:
    set_up = make_workspace(db)
    member_id = _person(db, set_up)
    signed_in = _signed_in(db, set_up.workspace.id, email=" Pat@Example.com ")
    assert signed_in.member_id == member_id
    with db.transaction(write=False) as uow:
        row = uow.session.scalars(select(PortalSession)).one()
    assert row.token_hash == token_digest(signed_in.token)
    assert (row.id, row.member_id, row.ip) == (signed_in.session_id, member_id, HERE.ip)
    signed = _resume(db, signed_in.token)
    assert signed is not None
    assert (signed.actor.member_id, signed.actor.via.value, signed.name) == (
        member_id,
        "portal",
        "Pat",
    )
    assert signed.actor.can("keys", "create")
    assert _audited(db, set_up.workspace.id) == [("session.sign_in", "success", None)]


def test_a_wrong_password_and_an_unknown_address_are_refused_alike(db: Database) -> None:
    set_up = make_workspace(db)
    member_id = _person(db, set_up)
    wrong = _sign_in(db, set_up.workspace.id, password="not the password at all")
    unknown = _sign_in(db, set_up.workspace.id, email="nobody@example.com")
    not_an_address = _sign_in(db, set_up.workspace.id, email="pat\x00@example.com")
    for refused in (wrong, unknown, not_an_address):
        assert refused == SignInRefused("sign_in_failed", SIGN_IN_REFUSED)
    assert (
        _audited(db, set_up.workspace.id) == [("session.sign_in", "refused", "sign_in_failed")] * 3
    )
    # The audit log, unlike the answer, tells whose account was tried.
    with db.transaction(write=False) as uow:
        targets = uow.session.scalars(
            select(AuditEvent.target_id)
            .where(AuditEvent.action == "session.sign_in")
            .order_by(AuditEvent.id)
        ).all()
    assert targets == [member_id, None, None]
    with db.transaction(write=False) as uow:
        assert uow.session.scalars(select(PortalSession)).all() == []


def test_a_member_without_a_password_cannot_sign_in(db: Database) -> None:
    set_up = make_workspace(db)
    # The workspace's first admin was made without a password.
    with db.transaction(write=False) as uow:
        email = members.get_member(uow, admin(db, set_up), set_up.admin_member_id).email
    assert isinstance(_sign_in(db, set_up.workspace.id, email=email, password=""), SignInRefused)


def test_sign_in_is_refused_for_a_while_after_too_many_failures_for_one_address(
    db: Database, clock: ManualClock
) -> None:
    set_up = make_workspace(db)
    _person(db, set_up)
    for _ in range(5):
        failed = _sign_in(db, set_up.workspace.id, password="wrong wrong wrong")
        assert isinstance(failed, SignInRefused)
        assert failed.code == "sign_in_failed"
        clock.advance(timedelta(minutes=1))
    throttled = _sign_in(db, set_up.workspace.id)
    assert isinstance(throttled, SignInRefused)
    assert throttled.code == "sign_in_throttled"
    assert throttled.wait == timedelta(minutes=10)
    assert throttled.message == "Too many attempts; try again in 10 minutes."
    # An unknown address is throttled exactly the same way: nothing tells them apart.
    for _ in range(5):
        _sign_in(
            db,
            set_up.workspace.id,
            email="ghost@example.com",
            client=Client("198.51.100.1", None, None),
        )
    ghost = _sign_in(
        db,
        set_up.workspace.id,
        email="ghost@example.com",
        client=Client("198.51.100.1", None, None),
    )
    assert isinstance(ghost, SignInRefused)
    assert ghost.code == "sign_in_throttled"
    clock.advance(timedelta(minutes=10))
    assert isinstance(_sign_in(db, set_up.workspace.id), SignedIn)
    assert ("session.sign_in", "refused", "sign_in_throttled") in _audited(db, set_up.workspace.id)


def test_a_successful_sign_in_clears_the_failures_counted_for_its_e_mail_address(
    db: Database, clock: ManualClock
) -> None:
    set_up = make_workspace(db)
    _person(db, set_up)
    for _ in range(4):
        _sign_in(db, set_up.workspace.id, password="wrong wrong wrong")
    _signed_in(db, set_up.workspace.id)
    for _ in range(4):
        _sign_in(db, set_up.workspace.id, password="wrong wrong wrong")
    assert isinstance(_sign_in(db, set_up.workspace.id), SignedIn)


def test_one_client_failing_for_many_addresses_is_throttled(db: Database) -> None:
    set_up = make_workspace(db)
    _person(db, set_up)
    for n in range(20):
        _sign_in(db, set_up.workspace.id, email=f"guess{n}@example.com")
    throttled = _sign_in(db, set_up.workspace.id)
    assert isinstance(throttled, SignInRefused)
    assert throttled.code == "sign_in_throttled"
    elsewhere = Client("192.0.2.50", None, None)
    assert isinstance(_sign_in(db, set_up.workspace.id, client=elsewhere), SignedIn)


def test_a_session_ends_when_idle_or_too_old(db: Database, clock: ManualClock) -> None:
    set_up = make_workspace(db)
    _person(db, set_up)
    idle = _signed_in(db, set_up.workspace.id)
    clock.advance(timedelta(minutes=30))
    assert _resume(db, idle.token) is None
    busy = _signed_in(db, set_up.workspace.id)
    for _ in range(47):
        clock.advance(timedelta(minutes=15))
        assert _resume(db, busy.token) is not None
    clock.advance(timedelta(minutes=15))
    assert _resume(db, busy.token) is None
    with db.transaction(write=False) as uow:
        assert uow.session.scalars(select(PortalSession)).all() == []


def test_signing_in_again_ends_the_session_the_browser_had(db: Database) -> None:
    set_up = make_workspace(db)
    _person(db, set_up)
    first = _signed_in(db, set_up.workspace.id)
    second = _signed_in(db, set_up.workspace.id, replacing=first.token)
    assert second.token != first.token
    assert _resume(db, first.token) is None
    assert _resume(db, second.token) is not None
    # A token the server never issued is never accepted, before or after signing in with it.
    planted = "a-token-someone-planted-in-the-browser"
    assert _resume(db, planted) is None
    third = _signed_in(db, set_up.workspace.id, replacing=planted)
    assert third.token != planted
    assert _resume(db, planted) is None


def test_signing_out_ends_one_session_and_everywhere_ends_them_all(db: Database) -> None:
    set_up = make_workspace(db)
    _person(db, set_up)
    sessions = [_signed_in(db, set_up.workspace.id) for _ in range(3)]
    current = _resume(db, sessions[0].token)
    assert current is not None
    with db.transaction() as uow:
        service.sign_out(uow, current)
    assert _resume(db, sessions[0].token) is None
    assert _resume(db, sessions[1].token) is not None
    current = _resume(db, sessions[1].token)
    assert current is not None
    with db.transaction() as uow:
        assert service.sign_out_everywhere(uow, current) == 2
    assert all(_resume(db, s.token) is None for s in sessions)
    actions = [action for action, _, _ in _audited(db, set_up.workspace.id)]
    assert actions[-2:] == ["session.sign_out", "session.sign_out_everywhere"]


def test_a_deactivated_member_cannot_sign_in_and_their_sessions_stop(db: Database) -> None:
    set_up = make_workspace(db)
    member_id = _person(db, set_up)
    signed_in = _signed_in(db, set_up.workspace.id)
    with db.transaction() as uow:
        members.update_member(
            uow, admin(db, set_up), member_id, MemberUpdate.model_validate({"active": False})
        )
    assert _resume(db, signed_in.token) is None
    assert _sign_in(db, set_up.workspace.id) == SignInRefused("sign_in_failed", SIGN_IN_REFUSED)


def test_deleting_a_member_deletes_their_sessions(db: Database) -> None:
    set_up = make_workspace(db)
    member_id = _person(db, set_up)
    signed_in = _signed_in(db, set_up.workspace.id)
    with db.transaction() as uow:
        members.delete_member(uow, admin(db, set_up), member_id)
    assert _resume(db, signed_in.token) is None
    with db.transaction(write=False) as uow:
        assert uow.session.scalars(select(PortalSession)).all() == []


def test_attempts_are_kept_only_as_long_as_the_window_needs_them(
    db: Database, clock: ManualClock
) -> None:
    set_up = make_workspace(db)
    _person(db, set_up)
    _sign_in(db, set_up.workspace.id, password="wrong wrong wrong")
    clock.advance(timedelta(minutes=16))
    _signed_in(db, set_up.workspace.id)
    with db.transaction(write=False) as uow:
        kept = uow.session.scalars(select(LoginAttempt)).all()
    assert [attempt.succeeded for attempt in kept] == [True]
    assert b"pat@example.com" not in kept[0].email_hash
