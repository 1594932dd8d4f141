"""Where keyward may connect: one policy for every outbound connection a tenant chose the
destination of (webhooks, connectors, API upstreams), applied to the address a name resolved to,
at the moment of connecting.

Refused unless the operator allows them: loopback, link-local (cloud metadata services live
there), multicast, unspecified and reserved addresses; keyward's own listening ports on
loopback, unless the operator names that very `host:port`; and the other addresses that are not
public (private, shared, documentation ranges) where the policy says so (for webhooks and
connectors, not for upstreams, which are usually internal services). What the operator allows
is written as comma-separated CIDRs, IP addresses, host names or `host:port`.
"""

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class InvalidAllowance(ValueError):
    """An entry of an allow list that is neither a CIDR, an address, a host nor host:port."""


class Refusal(StrEnum):
    LOOPBACK = "loopback"
    LINK_LOCAL = "link_local"
    MULTICAST = "multicast"
    UNSPECIFIED = "unspecified"
    RESERVED = "reserved"
    PRIVATE = "private"
    OWN_PORT = "own_port"


@dataclass(frozen=True, slots=True)
class Allowance:
    """What the operator allows whatever the address: networks, hosts, and host:port pairs."""

    networks: tuple[Network, ...] = ()
    hosts: frozenset[str] = frozenset()
    host_ports: frozenset[tuple[str, int]] = frozenset()

    @classmethod
    def parse(cls, text: str) -> "Allowance":
        networks: list[Network] = []
        hosts: set[str] = set()
        host_ports: set[tuple[str, int]] = set()
        for raw in text.split(","):
            entry = raw.strip().lower()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
                continue
            except ValueError:
                pass
            host, colon, port = entry.rpartition(":")
            if colon and port.isdigit() and host and "]" not in port:
                host_ports.add((host.strip("[]"), int(port)))
            elif all(part and part.replace("-", "").isalnum() for part in entry.split(".")):
                hosts.add(entry)
            else:
                raise InvalidAllowance(
                    f"{raw.strip()!r} is neither a CIDR, an address, a host nor host:port"
                )
        return cls(tuple(networks), frozenset(hosts), frozenset(host_ports))

    def covers(self, host: str, address: Address, port: int) -> bool:
        host = host.lower().strip("[]")
        return (
            host in self.hosts
            or (host, port) in self.host_ports
            or (str(address), port) in self.host_ports
            or any(address in network for network in self.networks)
        )


@dataclass(frozen=True, slots=True)
class EgressPolicy:
    """What one kind of destination may reach. `private`: whether private addresses are
    allowed without being listed; `own_ports`: keyward's own listening ports."""

    allowance: Allowance = field(default_factory=Allowance)
    private: bool = False
    own_ports: frozenset[int] = frozenset()

    def refusal(self, host: str, address: str, port: int) -> Refusal | None:
        """Why connecting to `address` (what `host` resolved to) on `port` is refused, or None
        when it is allowed."""
        ip = _unmapped(ipaddress.ip_address(address.split("%", 1)[0]))
        allowance = self.allowance
        if port in self.own_ports and (ip.is_loopback or ip.is_unspecified):
            # keyward's own listeners: only where the operator names the very port.
            named = (host.lower().strip("[]"), port) in allowance.host_ports
            return None if named or (str(ip), port) in allowance.host_ports else Refusal.OWN_PORT
        if allowance.covers(host, ip, port):
            return None
        if ip.is_loopback:
            return Refusal.LOOPBACK
        if ip.is_link_local:
            return Refusal.LINK_LOCAL
        if ip.is_multicast:
            return Refusal.MULTICAST
        if ip.is_unspecified:
            return Refusal.UNSPECIFIED
        if ip.is_reserved:
            return Refusal.RESERVED
        if not ip.is_global and not self.private:
            return Refusal.PRIVATE
        return None

    def allowed(self, host: str, addresses: Iterable[str], port: int) -> list[str]:
        """The addresses of `addresses` this policy lets a connection reach."""
        return [address for address in addresses if self.refusal(host, address, port) is None]


def _unmapped(address: Address) -> Address:
    """An IPv4 address written as IPv6 (::ffff:127.0.0.1) is judged as the IPv4 one."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
    return address
