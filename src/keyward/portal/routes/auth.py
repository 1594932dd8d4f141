"""Signing in and out: `/login`, `/logout`, `/logout/everywhere`."""

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from keyward.core.sessions import new_token, same_secret
from keyward.domains.sessions import service as sessions
from keyward.domains.sessions.schemas import SignedIn, SignInRefused
from keyward.domains.workspaces import service as workspaces
from keyward.portal.context import (
    CheckedFormDep,
    FormDep,
    MemberDep,
    Portal,
    PortalDep,
    client,
    resume,
    session_token,
)
from keyward.portal.routing import PortalRoute, redirect
from keyward.portal.security import (
    CSRF_FIELD,
    SESSION_COOKIE,
    SIGN_IN_COOKIE,
    CsrfRefused,
    check_form_origin,
    clear_cookie,
    local_path,
    read_cookie,
    set_cookie,
)

router = APIRouter(route_class=PortalRoute, include_in_schema=False)

NOTICES = {
    "signed-out": "You have signed out.",
    "signed-out-everywhere": "You have signed out on every device.",
    "password-set": "Your password is set: sign in with it.",
}


def _sign_in_page(
    request: Request,
    portal: Portal,
    *,
    next_path: str,
    email: str = "",
    error: str | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    """The sign-in form, with its form token in a cookie of its own (the CSRF token of a
    browser that has no session yet). The browser keeps one token for all its sign-in forms,
    so that a form left open in another tab still works."""
    token = read_cookie(request, portal.settings, SIGN_IN_COOKIE) or new_token()
    response = portal.pages.render(
        "login.html",
        status,
        title="Sign in",
        form_token=token,
        next_path=next_path,
        email=email,
        error=error,
        notice=notice,
    )
    set_cookie(response, request, portal.settings, SIGN_IN_COOKIE, token)
    return response


@router.get("/login", name="sign_in_form")
def sign_in_form(
    request: Request,
    portal: PortalDep,
    next_path: Annotated[str | None, Query(alias="next")] = None,
    done: str | None = None,
) -> Response:
    target = local_path(next_path)
    if resume(request, portal) is not None:
        return redirect(target)
    return _sign_in_page(request, portal, next_path=target, notice=NOTICES.get(done or ""))


def _workspace_id(portal: Portal) -> str:
    with portal.database.transaction(write=False) as uow:
        return workspaces.resolve_workspace(uow, portal.settings.portal_workspace).id


@router.post("/login", name="sign_in")
async def sign_in(request: Request, portal: PortalDep, form: FormDep) -> Response:
    check_form_origin(request)
    if not same_secret(
        read_cookie(request, portal.settings, SIGN_IN_COOKIE) or "", form.one(CSRF_FIELD)
    ):
        raise CsrfRefused
    email, password = form.one("email").strip(), form.one("password")
    target = local_path(form.one("next"))
    if not email or not password:
        return _sign_in_page(
            request,
            portal,
            next_path=target,
            email=email,
            error="Enter your e-mail address and your password.",
            status=422,
        )

    def attempt() -> SignedIn | SignInRefused:
        workspace_id = _workspace_id(portal)
        with portal.database.transaction() as uow:
            return sessions.sign_in(
                uow,
                workspace_id,
                email,
                password,
                client(request),
                portal.policy,
                replacing=session_token(request, portal),
            )

    outcome = await run_in_threadpool(attempt)
    if isinstance(outcome, SignInRefused):
        response = _sign_in_page(
            request,
            portal,
            next_path=target,
            email=email,
            error=outcome.message,
            status=422 if outcome.wait is None else 429,
        )
        if outcome.wait is not None:
            response.headers["Retry-After"] = str(max(1, int(outcome.wait.total_seconds())))
        return response
    response = redirect(target)
    set_cookie(response, request, portal.settings, SESSION_COOKIE, outcome.token)
    return response


@router.post("/logout", name="sign_out")
def sign_out(request: Request, portal: PortalDep, member: MemberDep, _: CheckedFormDep) -> Response:
    with portal.database.transaction() as uow:
        sessions.sign_out(uow, member.signed)
    response = redirect("/login?done=signed-out")
    clear_cookie(response, request, portal.settings, SESSION_COOKIE)
    return response


@router.post("/logout/everywhere", name="sign_out_everywhere")
def sign_out_everywhere(
    request: Request, portal: PortalDep, member: MemberDep, _: CheckedFormDep
) -> Response:
    with portal.database.transaction() as uow:
        sessions.sign_out_everywhere(uow, member.signed)
    response = redirect("/login?done=signed-out-everywhere")
    clear_cookie(response, request, portal.settings, SESSION_COOKIE)
    return response
