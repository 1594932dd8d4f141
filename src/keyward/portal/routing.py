"""Portal routes answer in pages, never in JSON: refusals and failures become pages with the
right status, a request without a session goes to the sign-in page, and every answer carries
the portal's security headers."""

import logging
from collections.abc import Callable, Coroutine
from typing import Any, cast
from urllib.parse import quote, urlencode

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.responses import RedirectResponse

from keyward.core.errors import KeywardError
from keyward.domains.audit import refusals
from keyward.portal.context import BadForm, Portal, SignInRequired
from keyward.portal.security import SESSION_COOKIE, CsrfRefused, clear_cookie, protect

log = logging.getLogger(__name__)

TITLES = {
    400: "This request cannot be read",
    403: "Not allowed",
    404: "Not found",
    409: "Not possible now",
    413: "Too large",
    422: "Not valid",
    429: "Too many attempts",
    500: "Something went wrong",
    503: "Unavailable",
}


def _portal(request: Request) -> Portal:
    return cast(Portal, request.app.state.portal)


def redirect(target: str) -> RedirectResponse:
    return protect(RedirectResponse(target, status_code=303))


def error_page(request: Request, status: int, message: str) -> Response:
    member = getattr(request.state, "portal_member", None)
    return _portal(request).pages.render(
        "error.html",
        status,
        title=TITLES.get(status, "Not possible"),
        message=message,
        member=member,
    )


def _to_sign_in(request: Request, error: SignInRequired) -> Response:
    target = "/login"
    if request.method == "GET":
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        target += "?" + urlencode({"next": here}, quote_via=quote)
    response = redirect(target)
    if error.presented:
        clear_cookie(response, request, _portal(request).settings, SESSION_COOKIE)
    return response


def audit_refusal(request: Request, error: KeywardError) -> None:
    """Record a refusal a service raised, as the API does: its transaction was rolled back."""
    actor = getattr(request.state, "actor", None)
    if actor is None:
        return
    route = request.scope.get("route")
    refusals.record_refusal(
        _portal(request).database,
        actor,
        f"portal.{getattr(route, 'name', None) or request.url.path}",
        error,
        named=request.path_params.values(),
        method=request.method,
    )


class PortalRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                response = await handle(request)
            except SignInRequired as error:
                return _to_sign_in(request, error)
            except CsrfRefused:
                response = error_page(
                    request,
                    403,
                    "This form expired or did not come from this site, so nothing was changed. "
                    "Go back, reload the page and try again.",
                )
            except BadForm:
                response = error_page(request, 400, "The form could not be read; send it again.")
            except KeywardError as error:
                if error.audited:
                    audit_refusal(request, error)
                response = error_page(request, error.status, error.message)
            except RequestValidationError:
                response = error_page(request, 400, "This address is not one the portal knows.")
            except HTTPException as error:
                response = error_page(request, error.status_code, str(error.detail))
            except Exception as error:
                log.error(
                    "unexpected %s on %s %s",
                    type(error).__name__,
                    request.method,
                    request.url.path,
                    exc_info=error,
                )
                response = error_page(
                    request,
                    500,
                    "Something went wrong on our side. Try again; if it keeps happening, give "
                    f"the operator the request id {getattr(request.state, 'request_id', '')}.",
                )
            return protect(response)

        return answer
