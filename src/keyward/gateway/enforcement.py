"""Deciding one gateway request: route, the operation's security, the verifier, limits, forward.

An operation's security is an OR of ANDs of credentials. An alternative holds when all its
credentials are present, every keyward key in it is valid and entitled to this operation, all
those keys belong to one acquisition, and every `acquisition_id` credential names that
acquisition. A keyward key read from a cookie, which a browser attaches to requests other sites
make, holds for a state-changing request (any method but GET, HEAD and OPTIONS, and every
upgrade) only from the gateway's own origin or one the API allows (else 403
`cross_site_request`). The first alternative that holds wins. When none does, the answer says
why, most telling first: 503 when keys could not be confirmed, 403 when a valid key lacks the
entitlement, else 401 with a `WWW-Authenticate` challenge per acceptable key location.
"""

import asyncio
import json
import logging
import time
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any, Final, final

from keyward.core.errors import error_body
from keyward.core.routing import Credential, KeyRole, Location, Route, RouteMiss
from keyward.core.verdicts import KeyCode, Verdict
from keyward.gateway.catalog import EMPTY, Catalog, GatewayApi
from keyward.gateway.credentials import AmbiguousCredential, Presented, redacted, stripped
from keyward.gateway.floods import Blocked, FailedKeys
from keyward.gateway.http import Decision, Forward, Reply, Request
from keyward.verifier import Verifier
from keyward.verifier.limits import UNCOUNTED, Limit, LimitOutcome, RateLimiter, headers

_logger: Final = logging.getLogger("keyward.gateway")
# Seconds between two lines saying a catch-up before a refusal failed.
CATCH_UP_QUIET: Final = 10.0
_JSON: Final = (b"content-type", b"application/json")
# Enum members as module constants: compiled code reads these at once, where `KeyRole.KEY` is
# an attribute lookup on the class at every use.
_KEY: Final = KeyRole.KEY
_PASSTHROUGH: Final = KeyRole.PASSTHROUGH
_ACQUISITION_ID: Final = KeyRole.ACQUISITION_ID
_VALID: Final = KeyCode.VALID
_UNAVAILABLE: Final = KeyCode.VERIFICATION_UNAVAILABLE
_UNAUTHENTICATED: Final = frozenset(
    {
        KeyCode.KEY_INVALID,
        KeyCode.KEY_EXPIRED,
        KeyCode.KEY_ROTATED,
        KeyCode.KEY_REVOKED,
        KeyCode.KEY_DISABLED,
    }
)
MESSAGES: Final = {
    "key_missing": "No API key was sent; WWW-Authenticate says where this operation takes one.",
    "credential_missing": "This operation needs another credential together with the one sent; "
    "the details name it and where it goes.",
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
    "encoded_separator": "The path has an encoded '/', '\\' or NUL inside a segment, which the "
    "gateway does not forward: send the path with plain separators.",
    "upgrade_not_supported": "The gateway tunnels only WebSocket upgrades; send the request "
    "without Upgrade.",
    "preflight_with_body": "A CORS preflight has neither a body nor an Upgrade.",
    "cross_site_request": "A key in a cookie is not accepted for this request from another "
    "site; the API's allowed_origins name the sites that may send one.",
    "too_many_failed_keys": "Too many unknown or invalid keys came from this address or its "
    "network; retry after the time given, with a valid key.",
}
_WEBSOCKET: Final = b"websocket"
_SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
_COOKIE: Final = Location.COOKIE
# Refusals a change committed before the request may take away: no such API or operation (404,
# 405), no acceptable key (401), a key not entitled (403), a limit since raised (429; refused
# requests are not counted, so deciding again counts the request once).
_CATCH_UP_STATUSES: Final = frozenset({401, 403, 404, 405, 429})


def _body(code: str, message: str) -> bytes:
    return json.dumps(error_body(code, message)).encode()


def _reply(
    status: int,
    code: str,
    extra: Iterable[tuple[bytes, bytes]] = (),
    log: dict[str, str] | None = None,
) -> Reply:
    message = MESSAGES[code] if code in MESSAGES else KeyCode(code).message
    fields = {} if log is None else log
    fields["code"] = code  # counted by the gateway's metrics, and in the access line
    return Reply(status, [_JSON, *extra], _body(code, message), fields)


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


# Seconds a client is told to wait before retrying when keys cannot be confirmed now.
RETRY_UNAVAILABLE: Final = b"5"


def _refusal(
    api: GatewayApi,
    route: Route,
    log: dict[str, str],
    unavailable: bool,
    forbidden: str | None,
    unauthenticated: str | None,
    incomplete: Credential | None,
) -> Reply:
    """Why no alternative held: the most telling failure wins. A refusal of a key keyward knows
    names it in the log fields (`refused_key_id`, `refusal`), for the audit log."""
    if unavailable:
        return _reply(503, "verification_unavailable", [(b"retry-after", RETRY_UNAVAILABLE)], log)
    if forbidden is not None:
        if "refused_key_id" in log:
            log["refusal"] = forbidden
        return _reply(403, forbidden, log=log)
    if unauthenticated is None and incomplete is not None:
        return _incomplete(api, route, log, incomplete)
    code = unauthenticated or KeyCode.KEY_MISSING.value
    if "refused_key_id" in log:
        log["refusal"] = code
    return _reply(401, code, _challenges(api, route), log)


def _incomplete(api: GatewayApi, route: Route, log: dict[str, str], missing: Credential) -> Reply:
    """401 naming the credential an AND still needs besides the ones sent."""
    where = missing.location.value
    name = api.header_names.get(missing.name, missing.name)
    message = (
        f"This operation needs the {missing.scheme!r} credential too, in {where} {name!r}, "
        "together with the one sent."
    )
    details = {"scheme": missing.scheme, "in": where, "name": name}
    body = json.dumps(error_body("credential_missing", message, details)).encode()
    log["code"] = "credential_missing"
    return Reply(401, [_JSON, *_challenges(api, route)], body, log)


class Wait:
    """What a decision waits for before it can go on: a key read from storage (`secret`), or
    the limiter counting a request (`limits`)."""

    __slots__ = ("acquisition_id", "key_id", "limits", "secret", "workspace_id")

    def __init__(
        self,
        *,
        secret: str = "",
        workspace_id: str = "",
        limits: tuple[Limit, ...] | None = None,
        key_id: str = "",
        acquisition_id: str = "",
    ) -> None:
        self.secret = secret
        self.workspace_id = workspace_id
        self.limits = limits
        self.key_id = key_id
        self.acquisition_id = acquisition_id


@final
class Rules:
    """What the operator set about requests before any key is looked at."""

    __slots__ = ("cors_preflight", "encoded_separators")

    def __init__(self, *, cors_preflight: bool = True, encoded_separators: bool = False) -> None:
        self.cors_preflight = cors_preflight
        self.encoded_separators = encoded_separators


VerdictOf = Callable[[str, str], Verdict | None]
"""The verdict on a secret in a workspace as far as it is known without waiting, else None."""
CountOf = Callable[[tuple[Limit, ...], str, str], LimitOutcome | None]
"""Counts a request against limits (by key id and acquisition id) when that needs no waiting,
else None."""


def decide(
    request: Request, catalog: Catalog, rules: Rules, verdict_of: VerdictOf, count: CountOf
) -> Decision | Wait:
    """The gateway's decision on `request`, from the request, the catalog, the rules and what
    `verdict_of` and `count` answer, and nothing else: a reply, a forward (without a tunnel
    guard, which the caller adds), or what the decision must wait for first."""
    raw_path = request.path
    if not rules.encoded_separators and _has_encoded_separator(raw_path):
        # An upstream that decodes and normalises the path would read another resource.
        return _reply(400, "encoded_separator")
    path = raw_path.decode("latin-1")
    resolved = catalog.mounts.resolve(path)
    if resolved is None:
        return _reply(404, "api_not_found")
    api, rest = resolved
    query = request.query
    log = {
        "api_id": api.id,
        "target": redacted(request.path, query, api.key_query_names) if query else path,
    }
    method = request.method
    preflight = rules.cors_preflight and method == "OPTIONS" and _is_preflight(request)
    if preflight:
        if request.upgrade is not None or request.has_body:
            return _reply(400, "preflight_with_body", log=log)
        # Forwarded only for an operation of the spec, with nothing keyward keeps to itself.
        method = _header(request, b"access-control-request-method").decode("latin-1")
    route = api.routes.match(method, rest)
    if isinstance(route, RouteMiss):
        if route.status == 405:
            allow = (b"allow", ", ".join(route.allow).encode())
            return _reply(405, "method_not_allowed", [allow], log)
        return _reply(404, "route_not_found", log=log)
    if route.operation_id is not None:
        log["operation"] = route.operation_id  # the metrics' label: bounded by the spec
    if preflight:
        return _forward(api, rest, request, route, None, log, [])
    if request.upgrade is not None and request.upgrade.lower() != _WEBSOCKET:
        return _reply(400, "upgrade_not_supported", log=log)
    security = route.security
    presented = Presented(request.headers, query)
    try:
        if len(security.keys) > 1:
            secrets = [
                secret
                for credential in security.keys
                if (secret := presented.value(credential)) is not None
            ]
            if len(set(secrets)) < len(secrets):
                return _reply(400, "key_in_two_places", log=log)
        held = _authorize(catalog, api, route, request, presented, log, verdict_of)
    except AmbiguousCredential:
        return _reply(400, "credential_ambiguous", log=log)
    if isinstance(held, (Reply, Wait)):
        return held
    extra: list[tuple[bytes, bytes]] = []
    if held is not None and held.acquisition is not None:
        terms = held.acquisition
        offering = catalog.offerings.get(terms.offering_id)
        if offering is not None and offering.limits:
            key_id = held.key_id or ""
            outcome = count(offering.limits, key_id, terms.acquisition_id)
            if outcome is None:
                return Wait(
                    limits=offering.limits, key_id=key_id, acquisition_id=terms.acquisition_id
                )
            if not outcome.allowed:
                return _reply(429, "rate_limited", headers(outcome), log)
            extra = headers(outcome)
    return _forward(api, rest, request, route, held, log, extra)


def _authorize(
    catalog: Catalog,
    api: GatewayApi,
    route: Route,
    request: Request,
    presented: Presented,
    log: dict[str, str],
    verdict_of: VerdictOf,
) -> Verdict | Reply | Wait | None:
    """The verdict of the first alternative that holds (None when it holds without a key), the
    refusal when none does, or the key to read first."""
    security = route.security
    if not security.alternatives and security.anonymous:
        return None
    unavailable = False
    forbidden: str | None = None
    unauthenticated: str | None = None
    presented_any = False
    incomplete: Credential | None = None
    workspace_id = api.workspace_id
    for alternative in security.alternatives:
        values: list[tuple[Credential, str]] = []
        for credential in alternative:
            value = presented.value(credential)
            if value is None:
                break
            values.append((credential, value))
        if len(values) < len(alternative):
            if any(c.role is not _PASSTHROUGH for c, _ in values):
                presented_any = True
            if incomplete is None and len(alternative) > 1:
                incomplete = _missing_beside_a_key(alternative, presented)
            continue
        presented_any = True
        verdicts: list[Verdict] = []
        failed = False
        for credential, secret in values:
            if credential.role is not _KEY:
                continue
            verdict = verdict_of(secret, workspace_id)
            if verdict is None:
                return Wait(secret=secret, workspace_id=workspace_id)
            code = verdict.code
            if code is not _VALID:
                if code is _UNAVAILABLE:
                    unavailable = failed = True
                    break
                if code in _UNAUTHENTICATED:
                    unauthenticated = code.value
                    if verdict.key_id is not None:
                        log["refused_key_id"] = verdict.key_id
                        log["workspace_id"] = workspace_id
                    failed = True
                    break
            # The key is known from here on: its use is logged and counted, whatever the answer.
            log["key_id"] = verdict.key_id or ""
            log["workspace_id"] = workspace_id
            refusal = _entitlement(catalog, api, route, verdict)
            if refusal is not None:
                forbidden = refusal
                log["refused_key_id"] = verdict.key_id or ""
                failed = True
                break
            verdicts.append(verdict)
        if failed:
            continue
        if any(c.location is _COOKIE and c.role is _KEY for c, _ in values) and _cross_site(
            request, api
        ):
            forbidden = "cross_site_request"
            continue
        if len(verdicts) > 1 and len({v.acquisition_id for v in verdicts}) > 1:
            forbidden = "keys_of_different_acquisitions"
            continue
        claimed = [v for c, v in values if c.role is _ACQUISITION_ID]
        if claimed:
            acquisitions = {v.acquisition_id for v in verdicts}
            if not verdicts or any(v not in acquisitions for v in claimed):
                unauthenticated = "acquisition_id_mismatch"
                continue
        return verdicts[0] if verdicts else None
    if security.anonymous and not presented_any:
        return None
    return _refusal(api, route, log, unavailable, forbidden, unauthenticated, incomplete)


def _missing_beside_a_key(
    alternative: tuple[Credential, ...], presented: Presented
) -> Credential | None:
    """The first credential `alternative` lacks when a keyward key of it was sent, else None."""
    missing = [c for c in alternative if presented.value(c) is None]
    if missing and any(c.role is _KEY and c not in missing for c in alternative):
        return missing[0]
    return None


def _entitlement(catalog: Catalog, api: GatewayApi, route: Route, verdict: Verdict) -> str | None:
    """Why a key that is good in itself may not call this operation, or None."""
    if verdict.code is not _VALID:
        return verdict.code.value  # acquisition_expired, insufficient_rights
    terms = verdict.acquisition
    if terms is None:
        return KeyCode.INSUFFICIENT_RIGHTS.value  # an account key calls the management API
    if terms.api_id != api.id:
        return "wrong_api"
    offering = catalog.offerings.get(terms.offering_id)
    if offering is None or not offering.operations.offers(route.operation_id, route.tags):
        return "operation_not_in_offering"
    return None


def _forward(
    api: GatewayApi,
    rest: str,
    request: Request,
    route: Route,
    verdict: Verdict | None,
    log: dict[str, str],
    response_headers: list[tuple[bytes, bytes]],
) -> Forward:
    """Forward `request` without any keyward credential of the API's policy (whatever the
    operation checks)."""
    security = route.security
    forwarded, query = stripped(
        request.headers,
        request.query,
        security.verified_headers,
        security.verified_queries,
        security.verified_cookies,
    )
    if verdict is not None and verdict.acquisition is not None:
        terms = verdict.acquisition
        forwarded.append((b"x-keyward-key-id", (verdict.key_id or "").encode()))
        forwarded.append((b"x-keyward-acquisition-id", terms.acquisition_id.encode()))
        forwarded.append((b"x-keyward-organization-id", terms.organization_id.encode()))
    # `rest` is the end of the path, decoded byte for byte: its bytes end the raw path.
    raw_path = request.path
    path = raw_path[len(raw_path) - len(rest) + len(api.base_path) :]
    target = api.upstream_path + (path or b"/")
    if query:
        target += b"?" + query
    return Forward(api.upstream, target, forwarded, log, response_headers)


def _may_be_behind(step: Decision | Wait) -> bool:
    """Whether `step` refuses for a reason a change not applied yet may take away: no such API
    or operation, no acceptable key, a key not entitled, or a limit reached."""
    return isinstance(step, Reply) and step.status in _CATCH_UP_STATUSES


CatchUp = Callable[[], None]
"""Applies every change committed before the call (to keys and the catalog), blocking."""


class Enforcer:
    """The gateway's handler: every request is answered here or forwarded upstream, as
    `decide` says.

    Most decisions need no waiting (every key cached, or refused without storage, and limits
    counted in this process): `immediately` returns them at once. A decision that needs a key
    read from storage, or the shared limiter, says so; awaiting the handler does that and
    decides again with what it got, until decided. A forwarded upgrade carries a guard that
    decides again, uncounted, for as long as the tunnel is open.

    With `catch_up`, a refusal that a change committed before the request may take away (401,
    403, 404, 405, 429) is never given from what the gateway had loaded: it catches up with the
    feed first and decides again, so a new offering, key, version or raised limit serves its
    first request.
    Forwarded requests never wait for it. Catch-ups are shared: at most one runs at a time, and
    the requests that arrive meanwhile all wait for the one next after it, so a flood of
    refusals costs one feed read after another, not one per request.
    """

    def __init__(
        self,
        verifier: Verifier,
        limiter: RateLimiter,
        *,
        cors_preflight: bool = True,
        encoded_separators: bool = False,
        catch_up: CatchUp | None = None,
        failed_keys: FailedKeys | None = None,
    ) -> None:
        self.catalog: Catalog = EMPTY
        self._failed_keys = failed_keys if failed_keys is not None and failed_keys.active else None
        self._peek: VerdictOf = verifier.peek
        self._verifier = verifier
        self._count_now: CountOf = limiter.hit_now
        self._limiter = limiter
        self._rules = Rules(cors_preflight=cors_preflight, encoded_separators=encoded_separators)
        self._catch_up = catch_up
        self._catching_up: asyncio.Future[None] | None = None
        self._catch_up_quiet_until = 0.0
        self._catch_up_failures = 0
        self._next_catch_up: asyncio.Future[None] | None = None

    def immediately(self, request: Request) -> Decision | None:
        """The decision when it needs no waiting, else None: then await the handler."""
        step = decide(request, self.catalog, self._rules, self._peek, self._count_now)
        if isinstance(step, Wait) or (self._catch_up is not None and _may_be_behind(step)):
            return None
        if self._failed_keys is not None and _is_unknown_key(step):
            self._failed_keys.failed(request.client[0])
        return self._guarded(request, step)

    async def __call__(self, request: Request) -> Decision:
        catalog = self.catalog
        read: dict[str, Verdict] = {}
        count = self._count_now
        caught_up = self._catch_up is None
        while True:
            step = decide(request, catalog, self._rules, self._known(read), count)
            if not isinstance(step, Wait):
                if caught_up or not _may_be_behind(step):
                    if self._failed_keys is not None and _is_unknown_key(step):
                        self._failed_keys.failed(request.client[0])
                    return self._guarded(request, step)
                caught_up = True
                await self._caught_up()
                catalog, count = self.catalog, self._count_now
                continue
            if step.limits is None:
                if self._failed_keys is not None:
                    blocked = self._failed_keys.blocked(request.client[0])
                    if blocked is not None:
                        return _too_many_failed_keys(request, catalog, step, blocked)
                read[step.secret] = await self._read(step)
            else:
                counted = await self._limiter.hit(step.limits, step.key_id, step.acquisition_id)
                count = _already(counted)

    async def still_allowed(self, request: Request) -> bool:
        """Whether `request` would still be forwarded now, by the current catalog and keys,
        without counting it against any limit: asked of an open tunnel, which is closed once
        its key is revoked, expires or loses the operation."""
        read: dict[str, Verdict] = {}
        uncounted = _already(UNCOUNTED)
        while True:
            step = decide(request, self.catalog, self._rules, self._known(read), uncounted)
            if not isinstance(step, Wait):
                return isinstance(step, Forward)
            read[step.secret] = await self._read(step)

    def _known(self, read: dict[str, Verdict]) -> VerdictOf:
        """What the verifier knows, after the verdicts read from storage in this decision."""
        if not read:
            return self._peek
        peek = self._peek
        return lambda secret, workspace_id: read.get(secret) or peek(secret, workspace_id)

    async def _caught_up(self) -> None:
        """Return once every change committed before this call is applied, or reading the feed
        failed, or it took longer than the storage timeout: then the gateway decides by what
        it has (the catch-up goes on, and applies what it read)."""
        waiting = self._catching_up
        if waiting is None:
            waiting = self._catching_up = self._start_catch_up()
        else:
            # The one running may have read the feed before this request's changes committed.
            if self._next_catch_up is None:
                self._next_catch_up = asyncio.get_running_loop().create_future()
            waiting = self._next_catch_up
        # Neither the deadline nor a request given up on (its client left) stops the shared
        # catch-up: `asyncio.wait` cancels nothing.
        await asyncio.wait((waiting,), timeout=self._verifier.storage_timeout)

    def _start_catch_up(self) -> "asyncio.Future[None]":
        loop = asyncio.get_running_loop()
        running = loop.run_in_executor(None, self._catch_up_now)
        running.add_done_callback(self._catch_up_done)
        return running

    def _catch_up_done(self, done: "asyncio.Future[None]") -> None:
        queued, self._next_catch_up = self._next_catch_up, None
        if queued is None:
            self._catching_up = None
            return
        running = self._catching_up = self._start_catch_up()
        running.add_done_callback(partial(_resolve, queued))

    def _catch_up_now(self) -> None:
        catch_up = self._catch_up
        if catch_up is None:
            return
        try:
            catch_up()
        except Exception:
            # While storage is away every refusal tries: one line (with its cause) now and then.
            now = time.monotonic()
            if now < self._catch_up_quiet_until:
                self._catch_up_failures += 1
                return
            _logger.warning(
                "could not read the change feed before refusing a request (%d more times since "
                "the last such line); deciding by what is loaded",
                self._catch_up_failures,
                exc_info=True,
            )
            self._catch_up_failures = 0
            self._catch_up_quiet_until = now + CATCH_UP_QUIET

    async def _read(self, step: Wait) -> Verdict:
        """The verdict on a key read from storage, waiting at most the storage timeout: a read
        refused by the lookup bounds, failed or too slow is answered as storage being down
        (a cached verdict the cache may still vouch for, else 503)."""
        verifier = self._verifier
        pending = verifier.look_up(step.secret)
        if pending is not None and not pending.done():
            # A read waited for no longer goes on in its lookup thread and fills the cache;
            # `settle` judges its failure, so the wrapper's is taken here, never reported.
            waited = asyncio.wrap_future(pending)
            waited.add_done_callback(_taken)
            await asyncio.wait((waited,), timeout=verifier.storage_timeout)
        return verifier.settle(step.secret, step.workspace_id, pending)

    def _guarded(self, request: Request, decision: Decision) -> Decision:
        if request.upgrade is not None and isinstance(decision, Forward):
            decision.guard = partial(self.still_allowed, request)
        return decision


def _is_unknown_key(step: Decision) -> bool:
    """Whether `step` refuses an unknown or malformed key."""
    return isinstance(step, Reply) and step.log.get("code") == "key_invalid"


def _too_many_failed_keys(
    request: Request, catalog: Catalog, step: Wait, blocked: Blocked
) -> Reply:
    """429 instead of a lookup for a client over its count of unknown keys, named in the log
    fields (`refused_client`) for the audit log of the API's workspace."""
    path = request.path.decode("latin-1")
    resolved = catalog.mounts.resolve(path)
    log = {
        "api_id": resolved[0].id if resolved is not None else "",
        "target": path,  # never the query, which may hold a key
        "workspace_id": step.workspace_id,
        "refused_client": blocked.client,
        "client_address": request.client[0],
        "refusal": "too_many_failed_keys",
    }
    retry_after = (b"retry-after", str(blocked.retry_after).encode())
    return _reply(429, "too_many_failed_keys", [retry_after], log)


def _taken(done: "asyncio.Future[Any]") -> None:
    if not done.cancelled():
        done.exception()


def _resolve(waiting: "asyncio.Future[None]", done: "asyncio.Future[None]") -> None:
    if not waiting.done():
        waiting.set_result(None)


def _already(outcome: LimitOutcome) -> CountOf:
    """A count that was made already: `outcome`, whatever is asked."""
    return lambda limits, key_id, acquisition_id: outcome


def _header(request: Request, name: bytes) -> bytes:
    for field, value in request.headers:
        if field == name:
            return value
    return b""


def _cross_site(request: Request, api: GatewayApi) -> bool:
    """Whether a browser may have sent this state-changing request from a page of another
    site than the gateway's or one the API allows."""
    if request.method in _SAFE_METHODS and request.upgrade is None:
        return False
    origin = _header(request, b"origin").lower()
    if not origin:
        return _header(request, b"sec-fetch-site").lower() == b"cross-site"
    if origin in api.allowed_origins:
        return False
    _, _, authority = origin.partition(b"://")  # "null" (a sandboxed page) has none
    return not authority or authority != _header(request, b"host").lower()


def _is_preflight(request: Request) -> bool:
    names = {name for name, _ in request.headers}
    return b"origin" in names and b"access-control-request-method" in names


def _has_encoded_separator(path: bytes) -> bool:
    """Whether a segment of the raw path hides a `/`, a `\\` or a NUL behind `%`."""
    if b"%" not in path:
        return False
    lowered = path.lower()
    return b"%2f" in lowered or b"%5c" in lowered or b"%00" in lowered
