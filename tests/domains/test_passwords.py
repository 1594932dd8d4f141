"""Invitations and password resets: single-use, expiring links, on SQLite and PostgreSQL."""

from datetime import timedelta

import pytest
from pydantic import SecretStr, ValidationError
from sqlalchemy import select

from keyward.core.actors import Actor, Via
from keyward.core.clock import ManualClock
from keyward.core.errors import Conflict, PermissionDenied
from keyward.core.ownership import NOBODY
from keyward.core.sessions import token_digest
from keyward.db.engine import Database
from keyward.db.models import OutboxMessage, PasswordLink
from keyward.domains.members import service as members
from keyward.domains.members.schemas import MemberCreate, MemberUpdate, password_problem
from keyward.domains.passwords import service
from keyward.domains.passwords.schemas import Purpose
from keyward.domains.sessions import service as sessions
from keyward.domains.sessions.schemas import SignedIn
from keyward.domains.workspaces.service import WorkspaceSetUp
from keyward.settings import Settings
from tests.domains.test_sessions import HERE, PASSWORD, POLICY
from tests.factories import actor_for, admin, make_workspace

NEW_PASSWORD = "violet anchor marmalade tunnel"
SETTINGS = Settings(invitation_lifetime=3600, password_reset_lifetime=600)


def _anonymous(set_up: WorkspaceSetUp) -> Actor:
    return Actor(set_up.workspace.id, None, None, NOBODY, Via.PORTAL)


def _invitee(db: Database, set_up: WorkspaceSetUp, email: str = "sam@example.com") -> str:
    body = MemberCreate(email=email, name="Sam", roles=["acquirer"])
    with db.transaction() as uow:
        return members.create_member(uow, admin(db, set_up), body).id


def _member_with_password(db: Database, set_up: WorkspaceSetUp) -> str:
    body = MemberCreate(
        email="sam@example.com", name="Sam", password=SecretStr(PASSWORD), roles=["acquirer"]
    )
    with db.transaction() as uow:
        return members.create_member(uow, admin(db, set_up), body).id


def _links(db: Database) -> list[PasswordLink]:
    with db.transaction(write=False) as uow:
        return list(uow.session.scalars(select(PasswordLink).order_by(PasswordLink.created_at)))


def _sent(db: Database, link_id: str) -> service.Sending | None:
    with db.transaction() as uow:
        return service.prepare_sending(uow, link_id)


def _set(db: Database, set_up: WorkspaceSetUp, token: str, password: str = NEW_PASSWORD) -> bool:
    with db.transaction() as uow:
        actor = _anonymous(set_up)
        return service.set_password(uow, set_up.workspace.id, token, password, actor) is not None


def _signs_in(db: Database, set_up: WorkspaceSetUp, password: str = NEW_PASSWORD) -> bool:
    with db.transaction() as uow:
        outcome = sessions.sign_in(
            uow, set_up.workspace.id, "sam@example.com", password, HERE, POLICY
        )
    return isinstance(outcome, SignedIn)


def test_an_invitation_link_sets_the_password_once_and_its_token_exists_only_in_the_mail(
    db: Database,
) -> None:
    set_up = make_workspace(db)
    member_id = _invitee(db, set_up)
    with db.transaction() as uow:
        invited = service.invite(uow, admin(db, set_up), member_id, SETTINGS)
    (link,) = _links(db)
    assert (link.id, link.member_id, link.purpose) == (invited.id, member_id, "invitation")
    assert link.token_hash is None  # no token until the e-mail is sent
    with db.transaction(write=False) as uow:
        queued = uow.session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == service.LINK_EMAIL)
        ).one()
    assert queued.payload == {"link_id": link.id}
    sending = _sent(db, link.id)
    assert sending is not None
    assert sending.purpose is Purpose.INVITATION
    assert sending.token.startswith("pwl_")
    (link,) = _links(db)
    assert link.token_hash == token_digest(sending.token)
    assert not _signs_in(db, set_up)
    assert _set(db, set_up, sending.token)
    assert _signs_in(db, set_up)
    assert not _set(db, set_up, sending.token, "another fine long passphrase")  # used up
    assert _signs_in(db, set_up)
    assert _sent(db, link.id) is None  # nothing left to send


def test_sending_again_makes_a_new_token_and_the_earlier_one_stops_working(db: Database) -> None:
    set_up = make_workspace(db)
    with db.transaction() as uow:
        invited = service.invite(uow, admin(db, set_up), _invitee(db, set_up), SETTINGS)
    first, second = _sent(db, invited.id), _sent(db, invited.id)
    assert first is not None
    assert second is not None
    assert first.token != second.token
    assert not _set(db, set_up, first.token)
    assert _set(db, set_up, second.token)


def test_an_expired_link_does_nothing(db: Database, clock: ManualClock) -> None:
    set_up = make_workspace(db)
    with db.transaction() as uow:
        invited = service.invite(uow, admin(db, set_up), _invitee(db, set_up), SETTINGS)
    sending = _sent(db, invited.id)
    assert sending is not None
    clock.advance(timedelta(seconds=SETTINGS.invitation_lifetime + 1))
    assert not _set(db, set_up, sending.token)
    assert not _signs_in(db, set_up)
    assert _sent(db, invited.id) is None


def test_inviting_needs_the_right_to_update_the_member_and_an_active_member(
    db: Database,
) -> None:
    set_up = make_workspace(db)
    member_id = _invitee(db, set_up)
    other_id = _invitee(db, set_up, "kim@example.com")
    kim = actor_for(db, set_up.workspace.id, other_id)
    with db.transaction() as uow, pytest.raises(PermissionDenied):
        service.invite(uow, kim, member_id, SETTINGS)
    with db.transaction() as uow:
        members.update_member(uow, admin(db, set_up), member_id, MemberUpdate(active=False))
    with db.transaction() as uow, pytest.raises(Conflict) as refused:
        service.invite(uow, admin(db, set_up), member_id, SETTINGS)
    assert refused.value.code == "member_inactive"
    assert _links(db) == []


def test_a_reset_is_sent_only_to_a_member_at_most_so_often_and_ends_their_sessions(
    db: Database,
) -> None:
    set_up = make_workspace(db)
    _member_with_password(db, set_up)
    assert _signs_in(db, set_up, PASSWORD)
    anonymous = _anonymous(set_up)
    settings = Settings(password_resets_per_hour=2)
    for email in ("nobody@example.com", " SAM@example.com ", "sam@example.com", "sam@example.com"):
        with db.transaction() as uow:
            service.request_reset(uow, set_up.workspace.id, email, anonymous, settings)
    links = _links(db)
    assert [link.purpose for link in links] == ["reset", "reset"]  # the third is refused
    sending = _sent(db, links[-1].id)
    assert sending is not None
    with db.transaction(write=False) as uow:
        assert sessions.sessions_of(uow, sending.member.id) == 1
    assert _set(db, set_up, sending.token)
    with db.transaction(write=False) as uow:
        assert sessions.sessions_of(uow, sending.member.id) == 0
    assert _signs_in(db, set_up)
    other = _sent(db, links[0].id)
    assert other is None  # setting the password used up every open link


@pytest.mark.parametrize(
    "password",
    ["short", "aaaaaaaaaaaaaaaa", "passwordpassword", "qwertyuiopasdf", "1234567890123"],
)
def test_easy_passwords_are_refused(password: str) -> None:
    assert password_problem(password) is not None
    with pytest.raises(ValidationError):
        MemberCreate(email="x@example.com", name="X", password=SecretStr(password))


def test_a_passphrase_is_accepted() -> None:
    assert password_problem(NEW_PASSWORD) is None


def test_a_new_password_set_by_anyone_ends_the_members_sessions_and_a_rename_does_not(
    db: Database,
) -> None:
    set_up = make_workspace(db)
    member_id = _member_with_password(db, set_up)
    assert _signs_in(db, set_up, PASSWORD)
    with db.transaction() as uow:
        service.update_member(uow, admin(db, set_up), member_id, MemberUpdate(name="Sam R"))
        assert sessions.sessions_of(uow, member_id) == 1
    with db.transaction() as uow:
        service.update_member(
            uow, admin(db, set_up), member_id, MemberUpdate(password=SecretStr(NEW_PASSWORD))
        )
        assert sessions.sessions_of(uow, member_id) == 0
    assert _signs_in(db, set_up)
