"""Deciding one gateway request: route, the operation's security, the verifier, limits, forward.

An operation's security is an OR of ANDs of credentials. An alternative holds when all its
credentials are present, every keyward key in it is valid and entitled to this operation, all
those keys belong to one acquisition, and every `acquisition_id` credential names that
acquisition. The first alternative that holds wins. When none does, the answer says why, most
telling first: 503 when keys could not be confirmed, 403 when a valid key lacks the
entitlement, else 401 with a `WWW-Authenticate` challenge per acceptable key location.
"""

import asyncio
import json
from collections.abc import Iterable
from dataclasses import dataclass

from keyward.core.routing import Credential, KeyRole, Location, Route, RouteMiss
from keyward.core.verdicts import KeyCode, Verdict
from keyward.gateway.catalog import EMPTY, Catalog, GatewayApi
from keyward.gateway.credentials import AmbiguousCredential, Presented, redacted, without
from keyward.gateway.http import Decision, Forward, Reply, Request
from keyward.verifier import Verifier
from keyward.verifier.limits import RateLimiter, headers

_JSON = (b"content-type", b"application/json")
_UNAUTHENTICATED = frozenset(
    {KeyCode.KEY_INVALID, KeyCode.KEY_EXPIRED, KeyCode.KEY_REVOKED, KeyCode.KEY_DISABLED}
)
MESSAGES = {
    "key_missing": "No API key was sent; WWW-Authenticate says where this operation takes one.",
    "api_not_found": "No API is mounted at this path.",
    "route_not_found": "The API has no operation at this path.",
    "method_not_allowed": "The API's operation at this path does not accept this method.",
    "credential_ambiguous": "A credential was sent more than once with different values.",
    "key_in_two_places": "The same key was sent in two places; send it once.",
    "acquisition_id_mismatch": "The acquisition id sent does not belong to the key sent.",
    "keys_of_different_acquisitions": "The keys sent belong to different acquisitions.",
    "wrong_api": "The key belongs to an acquisition of another API.",
    "operation_not_in_offering": "The key's offering does not include this operation.",
    "rate_limited": "Too many requests for this key or acquisition; retry after the time given.",
}


def _body(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message}}).encode()


def _reply(
    status: int,
    code: str,
    extra: Iterable[tuple[bytes, bytes]] = (),
    log: dict[str, str] | None = None,
) -> Reply:
    message = MESSAGES[code] if code in MESSAGES else KeyCode(code).message
    return Reply(status, [_JSON, *extra], _body(code, message), log or {})


def _challenges(api: GatewayApi, route: Route) -> list[tuple[bytes, bytes]]:
    """One `WWW-Authenticate: ApiKey` per place a keyward key is accepted for the operation."""
    realm = api.name.replace("\\", "\\\\").replace('"', '\\"')
    seen: set[tuple[Location, str]] = set()
    found = []
    for alternative in route.security.alternatives:
        for credential in alternative:
            place = (credential.location, credential.name)
            if credential.role is KeyRole.KEY and place not in seen:
                seen.add(place)
                name = api.header_names.get(credential.name, credential.name)
                found.append(
                    (
                        b"www-authenticate",
                        f'ApiKey realm="{realm}", in="{credential.location.value}", '
                        f'name="{name}"'.encode("latin-1", "replace"),
                    )
                )
    return found


@dataclass(slots=True)
class _Outcome:
    """Why no alternative held so far: the most telling failure wins."""

    unavailable: bool = False
    forbidden: str | None = None
    unauthenticated: str | None = None
    presented: bool = False

    def refuse(self, api: GatewayApi, route: Route, log: dict[str, str]) -> Reply:
        if self.unavailable:
            return _reply(503, "verification_unavailable", [(b"retry-after", b"5")], log)
        if self.forbidden is not None:
            return _reply(403, self.forbidden, log=log)
        code = self.unauthenticated or KeyCode.KEY_MISSING.value
        return _reply(401, code, _challenges(api, route), log)


@dataclass(frozen=True, slots=True)
class _Held:
    verdict: Verdict | None  # None: an alternative of provider credentials only


class Enforcer:
    """The gateway's handler: every request is answered here or forwarded upstream."""

    def __init__(
        self, verifier: Verifier, limiter: RateLimiter, *, cors_preflight: bool = True
    ) -> None:
        self.catalog: Catalog = EMPTY
        self._verifier = verifier
        self._limiter = limiter
        self._cors_preflight = cors_preflight

    async def __call__(self, request: Request) -> Decision:
        path = request.path.decode("latin-1")
        resolved = self.catalog.mounts.resolve(path)
        if resolved is None:
            return _reply(404, "api_not_found")
        api, rest = resolved
        log = {
            "api_id": api.id,
            "target": redacted(request.path, request.query, api.key_query_names),
        }
        if self._cors_preflight and _is_preflight(request):
            return self._forward(api, rest, request, (), None, log)
        route = api.routes.match(request.method, rest)
        if isinstance(route, RouteMiss):
            if route.status == 405:
                allow = (b"allow", ", ".join(route.allow).encode())
                return _reply(405, "method_not_allowed", [allow], log)
            return _reply(404, "route_not_found", log=log)
        presented = Presented(request.headers, request.query)
        try:
            secrets = [
                secret
                for credential in route.security.keys
                if (secret := presented.value(credential)) is not None
            ]
            if len(set(secrets)) < len(secrets):
                return _reply(400, "key_in_two_places", log=log)
            held = await self._authorize(api, route, presented, log)
        except AmbiguousCredential:
            return _reply(400, "credential_ambiguous", log=log)
        if isinstance(held, Reply):
            return held
        verdict = held.verdict
        extra: list[tuple[bytes, bytes]] = []
        if verdict is not None and verdict.acquisition is not None:
            offering = self.catalog.offerings.get(verdict.acquisition.offering_id)
            if offering is not None and offering.limits:
                outcome = await self._limiter.hit(
                    offering.limits, verdict.key_id or "", verdict.acquisition.acquisition_id
                )
                if not outcome.allowed:
                    return _reply(429, "rate_limited", headers(outcome), log)
                extra = headers(outcome)
        return self._forward(api, rest, request, route.security.verified, verdict, log, extra)

    async def _authorize(
        self, api: GatewayApi, route: Route, presented: Presented, log: dict[str, str]
    ) -> _Held | Reply:
        security = route.security
        if not security.alternatives and security.anonymous:
            return _Held(None)
        outcome = _Outcome()
        for alternative in security.alternatives:
            values: dict[Credential, str] = {}
            for credential in alternative:
                value = presented.value(credential)
                if value is None:
                    break
                values[credential] = value
            if len(values) < len(alternative):
                if any(c.role is not KeyRole.PASSTHROUGH for c in values):
                    outcome.presented = True
                continue
            outcome.presented = True
            held = await self._holds(api, route, values, outcome, log)
            if held is not None:
                return held
        if security.anonymous and not outcome.presented:
            return _Held(None)
        return outcome.refuse(api, route, log)

    async def _holds(
        self,
        api: GatewayApi,
        route: Route,
        values: dict[Credential, str],
        outcome: _Outcome,
        log: dict[str, str],
    ) -> _Held | None:
        """The alternative's verdict when it holds; else None, with the reason in `outcome`."""
        secrets = [value for credential, value in values.items() if credential.role is KeyRole.KEY]
        verdicts: list[Verdict] = []
        for secret in secrets:
            verdict = await self._verify(secret, api.workspace_id)
            code = verdict.code
            if code is KeyCode.VERIFICATION_UNAVAILABLE:
                outcome.unavailable = True
                return None
            if code in _UNAUTHENTICATED:
                outcome.unauthenticated = code.value
                return None
            # The key is known from here on: its use is logged and counted, whatever the answer.
            log["key_id"] = verdict.key_id or ""
            log["workspace_id"] = api.workspace_id
            refusal = self._entitlement(api, route, verdict)
            if refusal is not None:
                outcome.forbidden = refusal
                return None
            verdicts.append(verdict)
        acquisitions = {verdict.acquisition_id for verdict in verdicts}
        if len(acquisitions) > 1:
            outcome.forbidden = "keys_of_different_acquisitions"
            return None
        claimed = [v for c, v in values.items() if c.role is KeyRole.ACQUISITION_ID]
        if claimed and (not verdicts or any(v not in acquisitions for v in claimed)):
            outcome.unauthenticated = "acquisition_id_mismatch"
            return None
        return _Held(verdicts[0] if verdicts else None)

    def _entitlement(self, api: GatewayApi, route: Route, verdict: Verdict) -> str | None:
        """Why a key that is good in itself may not call this operation, or None."""
        if verdict.code is not KeyCode.VALID:
            return verdict.code.value  # acquisition_expired, insufficient_rights
        terms = verdict.acquisition
        if terms is None:
            return KeyCode.INSUFFICIENT_RIGHTS.value  # an account key calls the management API
        if terms.api_id != api.id:
            return "wrong_api"
        offering = self.catalog.offerings.get(terms.offering_id)
        if offering is None or not offering.operations.offers(route.operation_id, route.tags):
            return "operation_not_in_offering"
        return None

    async def _verify(self, secret: str, workspace_id: str) -> Verdict:
        verdict = self._verifier.peek(secret, workspace_id)
        if verdict is None:
            loop = asyncio.get_running_loop()
            verdict = await loop.run_in_executor(None, self._verifier.verify, secret, workspace_id)
        return verdict

    def _forward(
        self,
        api: GatewayApi,
        rest: str,
        request: Request,
        stripped: Iterable[Credential],
        verdict: Verdict | None,
        log: dict[str, str],
        response_headers: list[tuple[bytes, bytes]] | None = None,
    ) -> Forward:
        forwarded, query = without(request.headers, request.query, stripped)
        if verdict is not None and verdict.acquisition is not None:
            terms = verdict.acquisition
            forwarded += [
                (b"x-keyward-key-id", (verdict.key_id or "").encode()),
                (b"x-keyward-acquisition-id", terms.acquisition_id.encode()),
                (b"x-keyward-organization-id", terms.organization_id.encode()),
            ]
        path = rest.encode("latin-1")[len(api.base_path) :]
        target = api.upstream_path + (path or b"/")
        if query:
            target += b"?" + query
        return Forward(api.upstream, target, forwarded, log, response_headers or [])


def _is_preflight(request: Request) -> bool:
    if request.method != "OPTIONS":
        return False
    names = {name for name, _ in request.headers}
    return b"origin" in names and b"access-control-request-method" in names
