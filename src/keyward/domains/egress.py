"""The egress policies of this installation, and the check a destination gets when a tenant
names it: a webhook, a connector, an API's upstream.

The check at creation answers early (`422 destination_not_allowed`, `insecure_destination`);
what enforces the policy is the check of the address actually connected to, every time (the
worker's deliveries, the gateway's upstream connections), so a name that later resolves
elsewhere gains nothing.
"""

import socket
from urllib.parse import urlsplit

from keyward.core.egress import Allowance, EgressPolicy
from keyward.core.errors import InvalidInput
from keyward.settings import Settings

_DEFAULT_PORTS = {"http": 80, "https": 443}


def tenant_policy(settings: Settings) -> EgressPolicy:
    """Where webhooks and connectors may deliver: public addresses, and what the operator
    allows."""
    return EgressPolicy(
        Allowance.parse(settings.egress_allow),
        private=False,
        own_ports=frozenset({settings.port, settings.gateway_port}),
    )


def upstream_policy(settings: Settings) -> EgressPolicy:
    """Where API upstreams may be: public and private addresses, and what the operator allows
    (the demo's own upstream when it is served)."""
    allowed = settings.upstream_allow
    if settings.demo_upstream:
        allowed = f"{allowed},{settings.host}:{settings.port}"
    return EgressPolicy(
        Allowance.parse(allowed),
        private=True,
        own_ports=frozenset({settings.port, settings.gateway_port}),
    )


def resolve(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to now (empty when it does not)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def check_destination(url: str, policy: EgressPolicy, *, plain_http: bool) -> None:
    """Refuse a URL whose scheme is not allowed, or whose host resolves to an address the
    policy refuses. A host that does not resolve yet is let through: the connection is checked
    again when it is made."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "http" and not plain_http:
        raise InvalidInput(
            "Deliveries carry keys: give an https:// URL (the operator allows http:// with "
            "KEYWARD_EGRESS_ALLOW_HTTP).",
            code="insecure_destination",
        )
    try:
        port = parts.port or _DEFAULT_PORTS.get(scheme, 0)
    except ValueError:
        raise InvalidInput("The URL has an invalid port.", code="invalid_url") from None
    host = parts.hostname or ""
    refused = {
        address: reason
        for address in resolve(host, port)
        if (reason := policy.refusal(host, address, port)) is not None
    }
    if refused:
        reasons = sorted({reason.value for reason in refused.values()})
        raise InvalidInput(
            f"{host} is not a destination keyward may reach from here ({', '.join(reasons)}); "
            "the operator can allow it.",
            code="destination_not_allowed",
            details={"host": host, "reasons": reasons},
        )
