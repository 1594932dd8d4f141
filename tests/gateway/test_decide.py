"""`decide`, the gateway's whole decision on one request, as a function: generated security
requirements (ORs of ANDs of header, query, cookie, acquisition-id and passthrough credentials,
public `[]` and optional `{}`) against generated requests carrying valid, revoked, unknown,
foreign and not-yet-read keys.

What must hold whatever the spec and the request: nothing is forwarded unless one alternative
holds in full, with keys of one acquisition entitled to the operation; an alternative that
holds is forwarded; no keyward credential reaches the upstream; the order of alternatives and
whether a key was read before or during the decision change nothing.
"""

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl

from hypothesis import example, given, settings
from hypothesis import strategies as st

from keyward.core.openapi.export import OperationFilter
from keyward.core.openapi.security import KeyLocation
from keyward.core.routing import KeyRole, Location, Mounts, compile_routes
from keyward.core.verdicts import AcquisitionTerms, KeyCode, Verdict
from keyward.gateway.catalog import Catalog, GatewayApi, GatewayOffering
from keyward.gateway.enforcement import Rules, Wait, decide
from keyward.gateway.http import Forward, Reply, Request, Upstream
from keyward.verifier.limits import UNCOUNTED, LimitOutcome

API_ID, OTHER_API = "api_shop", "api_other"
OFFERING, NARROW = "off_all", "off_narrow"
PLACES = {
    "h1": KeyLocation("h1", Location.HEADER, "X-K1", KeyRole.KEY),
    "h2": KeyLocation("h2", Location.HEADER, "X-K2", KeyRole.KEY),
    "q": KeyLocation("q", Location.QUERY, "api_key", KeyRole.KEY),
    "c": KeyLocation("c", Location.COOKIE, "shop_key", KeyRole.KEY),
    "acq": KeyLocation("acq", Location.HEADER, "X-Acquisition", KeyRole.ACQUISITION_ID),
    "partner": KeyLocation("partner", Location.HEADER, "X-Partner", KeyRole.PASSTHROUGH),
}
SCHEMES = {
    name: {"type": "apiKey", "in": place.location.value, "name": place.name}
    for name, place in PLACES.items()
}


def terms(acquisition: str, api: str = API_ID, offering: str = OFFERING) -> AcquisitionTerms:
    return AcquisitionTerms(acquisition, "org_1", offering, api, 0.0, None)


def valid(key_id: str, acquisition: str, **where: str) -> Verdict:
    return Verdict(KeyCode.VALID, key_id, "ws_1", acquisition=terms(acquisition, **where))


# Every secret a request may carry, with the verdict the verifier has on it.
VERDICTS = {
    "kw_a1": valid("key_a1", "acq_a"),
    "kw_a2": valid("key_a2", "acq_a"),
    "kw_b": valid("key_b", "acq_b"),
    "kw_foreign_api": valid("key_f", "acq_f", api=OTHER_API),
    "kw_narrow": valid("key_n", "acq_n", offering=NARROW),
    "kw_revoked": Verdict(KeyCode.KEY_REVOKED),
    "kw_unknown": Verdict(KeyCode.KEY_INVALID),
}
UNKNOWN = Verdict(KeyCode.KEY_INVALID)
# The keys that may call the operation: valid, of this API, in an offering that has it.
ENTITLED = {"kw_a1": "acq_a", "kw_a2": "acq_a", "kw_b": "acq_b"}


def catalog(security: list[dict[str, list[str]]]) -> Catalog:
    spec = {
        "openapi": "3.0.3",
        "info": {"title": "Shop", "version": "1"},
        "components": {"securitySchemes": SCHEMES},
        "paths": {
            "/items": {
                "get": {
                    "operationId": "listItems",
                    "security": security,
                    "responses": {"200": {"description": "ok"}},
                }
            }
        },
    }
    routes = compile_routes(spec, list(PLACES.values()))
    api = GatewayApi(
        id=API_ID,
        workspace_id="ws_1",
        name="Shop",
        upstream=Upstream("http", "127.0.0.1", 9),
        upstream_path=b"",
        base_path=b"",
        routes=routes,
        key_query_names=frozenset({"api_key"}),
        header_names={"x-k1": "X-K1", "x-k2": "X-K2", "x-acquisition": "X-Acquisition"},
        allowed_origins=frozenset(),
    )
    offerings = {
        OFFERING: GatewayOffering(OFFERING, API_ID, OperationFilter(), ()),
        NARROW: GatewayOffering(
            NARROW, API_ID, OperationFilter(operation_ids=frozenset({"other"})), ()
        ),
    }
    return Catalog(Mounts({"shop": api}), offerings)


@dataclass(frozen=True)
class Sent:
    """What a request carries: a value for some of the places."""

    values: dict[str, str]

    def request(self) -> Request:
        headers = [(b"host", b"gateway.test")]
        query = []
        cookies = []
        for scheme, value in self.values.items():
            place = PLACES[scheme]
            if place.location is Location.HEADER:
                headers.append((place.name.lower().encode(), value.encode()))
            elif place.location is Location.QUERY:
                query.append(f"{place.name}={value}")
            else:
                cookies.append(f"{place.name}={value}")
        if cookies:
            headers.append((b"cookie", "; ".join(cookies).encode()))
        raw_query = "&".join(query).encode()
        target = b"/shop/items" + (b"?" + raw_query if raw_query else b"")
        return Request("GET", target, b"/shop/items", raw_query, "1.1", headers, ("1", 1), None)


NO_SCOPES: list[str] = []
requirements = st.lists(
    st.dictionaries(st.sampled_from(sorted(PLACES)), st.just(NO_SCOPES), max_size=3),
    max_size=4,
)
KEYS = [*VERDICTS, "kw_never_made"]
# Keys entitled to the operation come up more often: how they combine is what matters most.
DRAWN_KEYS = [*KEYS, *ENTITLED, *ENTITLED]
# For each place, what a request may carry there, or nothing.
CARRIED = {
    scheme: st.none()
    | st.sampled_from(
        {
            KeyRole.KEY: DRAWN_KEYS,
            KeyRole.ACQUISITION_ID: ["acq_a", "acq_b", "acq_f"],
            KeyRole.PASSTHROUGH: ["partner-secret", "kw_a1"],
        }[place.role]
    )
    for scheme, place in PLACES.items()
}
requests = st.fixed_dictionaries(CARRIED).map(
    lambda carried: Sent({scheme: value for scheme, value in carried.items() if value})
)


def known(read: set[str]) -> Callable[[str, str], Verdict | None]:
    """The verifier as `decide` asks it: secrets outside `read` are not known yet."""
    return lambda secret, workspace_id: VERDICTS.get(secret, UNKNOWN) if secret in read else None


def count_all(limits: object, key_id: str, acquisition_id: str) -> LimitOutcome:
    return UNCOUNTED


def decided(security: list[dict[str, list[str]]], sent: Sent) -> Forward | Reply:
    """The decision once every key it asks for has been read, as the enforcer does it."""
    table, request, read = catalog(security), sent.request(), set[str]()
    while True:
        step = decide(request, table, Rules(), known(read), count_all)
        if not isinstance(step, Wait):
            return step
        assert step.secret not in read, "a key already read is asked for again"
        read.add(step.secret)


def holds(alternative: dict[str, list[str]], sent: Sent) -> bool:
    """Whether an alternative is met in full: every credential present, every key valid and
    entitled, the keys of one acquisition, every acquisition id theirs."""
    if not all(scheme in sent.values for scheme in alternative):
        return False
    keys = [sent.values[s] for s in alternative if PLACES[s].role is KeyRole.KEY]
    if not all(key in ENTITLED for key in keys):
        return False
    acquisitions = {ENTITLED[key] for key in keys}
    claimed = {sent.values[s] for s in alternative if PLACES[s].role is KeyRole.ACQUISITION_ID}
    return len(acquisitions) <= 1 and claimed <= acquisitions


def one_value_per_key(sent: Sent) -> bool:
    keys = [v for s, v in sent.values.items() if PLACES[s].role is KeyRole.KEY]
    return len(keys) == len(set(keys))


@settings(max_examples=400, deadline=None)
@given(requirements, requests)
@example([{"h1": [], "h2": []}], Sent({"h1": "kw_a1", "h2": "kw_b"}))
@example([{"h1": [], "acq": []}], Sent({"h1": "kw_a1", "acq": "acq_b"}))
@example([{"acq": []}], Sent({"acq": "acq_a"}))
def test_nothing_is_forwarded_unless_an_alternative_holds_in_full(
    security: list[dict[str, list[str]]], sent: Sent
) -> None:
    decision = decided(security, sent)
    public = security == [] or {} in security
    if isinstance(decision, Forward) and not public:
        assert any(holds(alternative, sent) for alternative in security)


@settings(max_examples=400, deadline=None)
@given(requirements, requests)
def test_an_alternative_that_holds_is_forwarded(
    security: list[dict[str, list[str]]], sent: Sent
) -> None:
    if any(holds(alternative, sent) for alternative in security if alternative) and (
        one_value_per_key(sent)
    ):
        assert isinstance(decided(security, sent), Forward)


@settings(max_examples=400, deadline=None)
@given(requirements, requests)
def test_no_keyward_credential_reaches_the_upstream(
    security: list[dict[str, list[str]]], sent: Sent
) -> None:
    decision = decided(security, sent)
    if not isinstance(decision, Forward):
        return
    names = {name for name, _ in decision.headers}
    assert not names & {b"x-k1", b"x-k2", b"x-acquisition"}
    cookies = b"; ".join(value for name, value in decision.headers if name == b"cookie")
    assert b"shop_key" not in cookies
    _, _, query = decision.target.partition(b"?")
    assert "api_key" not in dict(parse_qsl(query.decode()))
    if "partner" in sent.values:
        assert (b"x-partner", sent.values["partner"].encode()) in decision.headers
    forwarded_key = dict(decision.headers).get(b"x-keyward-acquisition-id")
    if forwarded_key is not None:
        assert forwarded_key.decode() in set(ENTITLED.values())


@settings(max_examples=300, deadline=None)
@given(requirements, requests, st.randoms(use_true_random=False))
def test_the_order_of_alternatives_does_not_decide_whether_a_request_passes(
    security: list[dict[str, list[str]]], sent: Sent, random: object
) -> None:
    shuffled = list(security)
    random.shuffle(shuffled)  # type: ignore[attr-defined]
    first, second = decided(security, sent), decided(shuffled, sent)
    assert isinstance(first, Forward) == isinstance(second, Forward)


@settings(max_examples=300, deadline=None)
@given(requirements, requests)
def test_a_key_read_during_the_decision_decides_as_one_known_before(
    security: list[dict[str, list[str]]], sent: Sent
) -> None:
    table, request = catalog(security), sent.request()
    at_once = decide(
        request,
        table,
        Rules(),
        known({*KEYS, "acq_a", "acq_b", "acq_f", "partner-secret"}),
        count_all,
    )
    assert not isinstance(at_once, Wait)
    step = decided(security, sent)
    assert type(step) is type(at_once)
    if isinstance(step, Reply) and isinstance(at_once, Reply):
        assert (step.status, step.body) == (at_once.status, at_once.body)


@settings(max_examples=200, deadline=None)
@given(requirements)
def test_a_request_without_credentials_is_told_where_keys_go(
    security: list[dict[str, list[str]]],
) -> None:
    decision = decided(security, Sent({}))
    if security == [] or {} in security:
        assert isinstance(decision, Forward)
        return
    assert isinstance(decision, Reply)
    assert decision.status == 401
    key_places = {
        PLACES[scheme].name
        for alternative in security
        for scheme in alternative
        if PLACES[scheme].role is KeyRole.KEY
    }
    challenged = {
        value.decode().split('name="')[1].rstrip('"')
        for name, value in decision.headers
        if name == b"www-authenticate"
    }
    assert challenged == key_places
