"""Setting a password from an e-mailed link (`/welcome/{token}` for an invitation,
`/reset/{token}` for a reset) and asking for a reset (`/forgot`).

These pages have no session: their forms carry the sign-in form's token (a cookie of its own,
as `/login` does). A link that is unknown, used or expired answers one page that says so,
whatever the reason; asking for a reset answers the same whether or not the address is a
member's.
"""

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from starlette.concurrency import run_in_threadpool

from keyward.core.sessions import new_token, same_secret
from keyward.domains.members.schemas import password_problem
from keyward.domains.passwords import service as passwords
from keyward.domains.sessions import service as sessions
from keyward.domains.workspaces import service as workspaces
from keyward.portal.context import FormDep, Portal, PortalDep, client
from keyward.portal.routing import PortalRoute, redirect
from keyward.portal.security import (
    CSRF_FIELD,
    SIGN_IN_COOKIE,
    CsrfRefused,
    check_form_origin,
    read_cookie,
    set_cookie,
)

router = APIRouter(route_class=PortalRoute, include_in_schema=False)

Token = Annotated[str, Path(max_length=100)]
PAGES = {"welcome": "Welcome to keyward", "reset": "Choose a new password"}
UNUSABLE = (
    "This link does not work any more: it was used already, it expired, or it was not "
    "copied whole. Ask whoever invited you for a new invitation, or ask for a new reset link."
)
RESET_SENT = (
    "If that address belongs to a member, an e-mail with a link to choose a new password is on "
    "its way. The link works once, for a limited time."
)


def _workspace_id(portal: Portal) -> str:
    with portal.database.transaction(write=False) as uow:
        return workspaces.resolve_workspace(uow, portal.settings.portal_workspace).id


def _page(
    request: Request, portal: Portal, template: str, status: int = 200, **values: object
) -> Response:
    """A page with a form of its own, its token in the sign-in form's cookie."""
    token = read_cookie(request, portal.settings, SIGN_IN_COOKIE) or new_token()
    response = portal.pages.render(template, status, form_token=token, **values)
    set_cookie(response, request, portal.settings, SIGN_IN_COOKIE, token)
    return response


def _check_form(request: Request, portal: Portal, form: FormDep) -> None:
    check_form_origin(request)
    if not same_secret(
        read_cookie(request, portal.settings, SIGN_IN_COOKIE) or "", form.one(CSRF_FIELD)
    ):
        raise CsrfRefused


def _password_page(
    request: Request,
    portal: Portal,
    kind: str,
    token: str,
    *,
    email: str,
    error: str | None = None,
    status: int = 200,
) -> Response:
    return _page(
        request,
        portal,
        "password_set.html",
        status,
        title=PAGES[kind],
        kind=kind,
        action=f"/{kind}/{token}",
        email=email,
        error=error,
    )


def _link_page(request: Request, portal: Portal, kind: str, token: str) -> Response:
    workspace_id = _workspace_id(portal)
    with portal.database.transaction(write=False) as uow:
        holder = passwords.link_holder(uow, workspace_id, token)
        email = holder.email if holder is not None else None
    if email is None:
        return portal.pages.render("error.html", 404, title="Link not usable", message=UNUSABLE)
    return _password_page(request, portal, kind, token, email=email)


async def _set(request: Request, portal: Portal, form: FormDep, kind: str, token: str) -> Response:
    _check_form(request, portal, form)
    password, again = form.one("password"), form.one("password_again")
    problem = password_problem(password)
    error = None
    if problem is not None:
        error = f"The password {problem}."
    elif password != again:
        error = "The two passwords differ; type the same password twice."
    workspace_id = _workspace_id(portal)
    if error is not None:
        with portal.database.transaction(write=False) as uow:
            holder = passwords.link_holder(uow, workspace_id, token)
            email = holder.email if holder is not None else None
        if email is not None:
            return _password_page(
                request, portal, kind, token, email=email, error=error, status=422
            )

    def store() -> bool:
        with portal.database.transaction() as uow:
            actor = sessions.anonymous(workspace_id, client(request))
            return passwords.set_password(uow, workspace_id, token, password, actor) is not None

    if error is not None or not await run_in_threadpool(store):
        return portal.pages.render("error.html", 404, title="Link not usable", message=UNUSABLE)
    return redirect("/login?done=password-set")


@router.get("/welcome/{token}", name="invitation_form")
def invitation_form(request: Request, portal: PortalDep, token: Token) -> Response:
    return _link_page(request, portal, "welcome", token)


@router.post("/welcome/{token}", name="invitation_accept")
async def invitation_accept(
    request: Request, portal: PortalDep, form: FormDep, token: Token
) -> Response:
    return await _set(request, portal, form, "welcome", token)


@router.get("/reset/{token}", name="reset_form")
def reset_form(request: Request, portal: PortalDep, token: Token) -> Response:
    return _link_page(request, portal, "reset", token)


@router.post("/reset/{token}", name="reset_accept")
async def reset_accept(
    request: Request, portal: PortalDep, form: FormDep, token: Token
) -> Response:
    return await _set(request, portal, form, "reset", token)


@router.get("/forgot", name="forgot_form")
def forgot_form(request: Request, portal: PortalDep) -> Response:
    return _page(request, portal, "forgot.html", title="Forgot your password?", notice=None)


@router.post("/forgot", name="forgot")
async def forgot(request: Request, portal: PortalDep, form: FormDep) -> Response:
    _check_form(request, portal, form)
    email = form.one("email").strip()
    workspace_id = _workspace_id(portal)

    def ask() -> None:
        with portal.database.transaction() as uow:
            actor = sessions.anonymous(workspace_id, client(request))
            passwords.request_reset(uow, workspace_id, email, actor, portal.settings)

    if email:
        await run_in_threadpool(ask)
    return _page(request, portal, "forgot.html", title="Forgot your password?", notice=RESET_SENT)
