"""What keeps the portal's pages safe in a browser: response headers, cookies, CSRF checks,
where a sign-in may send the browser back to."""

from typing import TypeVar
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from keyward.core.sessions import same_secret
from keyward.settings import Settings

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    # Pages may show a secret once (a new key) and always show what only the member may see.
    "Cache-Control": "no-store",
}
SESSION_COOKIE = "keyward_session"
SIGN_IN_COOKIE = "keyward_sign_in"
CSRF_FIELD = "csrf_token"

AnyResponse = TypeVar("AnyResponse", bound=Response)


class CsrfRefused(Exception):
    """A state-changing request without the right CSRF token, or sent by another site."""


def protect(response: AnyResponse) -> AnyResponse:
    for name, value in PAGE_HEADERS.items():
        response.headers[name] = value
    return response


def is_secure(request: Request, settings: Settings) -> bool:
    """Whether the browser reached the portal over TLS (directly, or through a proxy the
    operator says terminates it)."""
    return request.url.scheme == "https" or settings.behind_tls_proxy


def cookie_name(base: str, secure: bool) -> str:
    """`__Host-` cookies are refused by browsers unless Secure, host-only and for `/`."""
    return f"__Host-{base}" if secure else base


def read_cookie(request: Request, settings: Settings, base: str) -> str | None:
    return request.cookies.get(cookie_name(base, is_secure(request, settings))) or None


def set_cookie(
    response: Response, request: Request, settings: Settings, base: str, value: str
) -> None:
    """A cookie for this browser session only (the server decides how long a session lives),
    never readable by scripts, not sent with cross-site subrequests or posts."""
    secure = is_secure(request, settings)
    response.set_cookie(
        cookie_name(base, secure), value, path="/", secure=secure, httponly=True, samesite="lax"
    )


def clear_cookie(response: Response, request: Request, settings: Settings, base: str) -> None:
    secure = is_secure(request, settings)
    response.delete_cookie(
        cookie_name(base, secure), path="/", secure=secure, httponly=True, samesite="lax"
    )


def check_form_origin(request: Request) -> None:
    """Refuse a form another site's page sent, where the browser says so."""
    if request.headers.get("sec-fetch-site", "") == "cross-site":
        raise CsrfRefused
    origin = request.headers.get("origin")
    if origin is not None:
        host = request.headers.get("host", "")
        if urlsplit(origin).netloc.lower() != host.lower():
            raise CsrfRefused


def check_csrf(expected: str, given: str | None) -> None:
    if not same_secret(expected, given):
        raise CsrfRefused


def local_path(target: str | None, default: str = "/") -> str:
    """`target` if it is a path of this site (what a sign-in may return to), else `default`:
    never another host (`//host`, `/\\host`, `https://…`), never a control character."""
    if not target or not target.startswith("/") or len(target) > 2000:
        return default
    if target.startswith(("//", "/\\")) or "\\" in target:
        return default
    if any(ord(c) < 32 or ord(c) == 127 for c in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target
