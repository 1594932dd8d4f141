"""What every portal page shares: the portal's parts, the signed-in member, the request's form."""

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, cast
from urllib.parse import parse_qsl

from fastapi import Depends, Request
from pydantic import ValidationError

from keyward.core.sessions import SessionLimits, Throttle, csrf_token
from keyward.db.engine import Database
from keyward.domains.sessions import service as sessions
from keyward.domains.sessions.schemas import Client, SessionPolicy, Signed
from keyward.portal.rendering import Pages
from keyward.portal.security import (
    CSRF_FIELD,
    SESSION_COOKIE,
    check_csrf,
    check_form_origin,
    read_cookie,
)
from keyward.settings import Settings

MAX_FORM_FIELDS = 500


@dataclass(frozen=True)
class Portal:
    database: Database
    settings: Settings
    pages: Pages

    @property
    def policy(self) -> SessionPolicy:
        settings = self.settings
        window = timedelta(seconds=settings.login_failure_window)
        return SessionPolicy(
            SessionLimits(
                idle=timedelta(seconds=settings.session_idle_timeout),
                lifetime=timedelta(seconds=settings.session_lifetime),
            ),
            per_account=Throttle(settings.login_max_failures, window),
            per_address=Throttle(settings.login_max_failures_per_address, window),
        )


def portal(request: Request) -> Portal:
    return cast(Portal, request.app.state.portal)


PortalDep = Annotated[Portal, Depends(portal)]


def client(request: Request) -> Client:
    return Client(
        request.client.host if request.client else None,
        request.headers.get("user-agent"),
        getattr(request.state, "request_id", None),
    )


class SignInRequired(Exception):
    """The page needs a signed-in member and the request has no live session."""

    def __init__(self, presented: bool) -> None:
        super().__init__("sign in first")
        self.presented = presented


class BadForm(Exception):
    """A form body that cannot be read (not UTF-8, too many fields)."""


@dataclass(frozen=True, slots=True)
class Member:
    """The member a request signs in, with the CSRF token their forms carry."""

    signed: Signed
    token: str

    @property
    def csrf(self) -> str:
        return csrf_token(self.token)


def session_token(request: Request, portal: Portal) -> str | None:
    return read_cookie(request, portal.settings, SESSION_COOKIE)


def resume(request: Request, portal: Portal) -> Member | None:
    token = session_token(request, portal)
    if token is None:
        return None
    with portal.database.transaction() as uow:
        signed = sessions.resume(uow, token, client(request), portal.policy)
    if signed is None:
        return None
    # Refusals the services raise are audited as this member's.
    request.state.actor = signed.actor
    member = Member(signed, token)
    request.state.portal_member = member
    return member


def signed_in(request: Request, portal: PortalDep) -> Member:
    member = resume(request, portal)
    if member is None:
        raise SignInRequired(presented=session_token(request, portal) is not None)
    return member


MemberDep = Annotated[Member, Depends(signed_in)]


async def read_form(request: Request) -> dict[str, list[str]]:
    """The request's `application/x-www-form-urlencoded` fields (others: none), by name."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    if media_type != "application/x-www-form-urlencoded":
        return {}
    try:
        pairs = parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            max_num_fields=MAX_FORM_FIELDS,
            errors="strict",
        )
    except (UnicodeDecodeError, ValueError):
        raise BadForm from None
    fields: dict[str, list[str]] = {}
    for name, value in pairs:
        fields.setdefault(name, []).append(value)
    return fields


@dataclass(frozen=True, slots=True)
class Form:
    fields: dict[str, list[str]]

    def one(self, name: str) -> str:
        values = self.fields.get(name)
        return values[0] if values else ""

    def all(self, name: str) -> list[str]:
        return list(self.fields.get(name, ()))


async def form(request: Request) -> Form:
    return Form(await read_form(request))


FormDep = Annotated[Form, Depends(form)]


def checked_form(request: Request, member: MemberDep, form: FormDep) -> Form:
    """The form of a signed-in member's state-changing request, once its CSRF token is
    checked (in constant time) and no other site sent it."""
    check_form_origin(request)
    check_csrf(member.csrf, form.one(CSRF_FIELD))
    return form


CheckedFormDep = Annotated[Form, Depends(checked_form)]


def field_errors(error: ValidationError) -> dict[str, str]:
    """A form's invalid fields, each with its first problem as a sentence."""
    errors: dict[str, str] = {}
    for problem in error.errors():
        loc = problem.get("loc", ())
        name = str(loc[0]) if loc else "form"
        message = str(problem.get("msg", "is not valid")).removeprefix("Value error, ")
        errors.setdefault(name, message[:1].upper() + message[1:] + ".")
    return errors
