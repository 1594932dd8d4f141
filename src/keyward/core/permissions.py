"""Permissions `resource:action[@resource_id]`, roles as bundles of them, and their algebra.

A permission is a pattern: `*` stands for any resource or any action, and an unbound permission
(no `@id`) holds for every resource of its kind. The algebra is exact over the catalog below: a set
covers a pattern when it covers every concrete `(resource, action)` the pattern names, whether it
holds one wildcard or every action spelled out.
"""

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

WILDCARD = "*"

CATALOG: dict[str, frozenset[str]] = {
    "workspace": frozenset({"read", "update"}),
    "members": frozenset({"read", "create", "update", "delete", "grant"}),
    "organizations": frozenset({"read", "create", "update", "delete"}),
    "keys": frozenset(
        {"read", "create", "update", "revoke", "delete", "verify", "renew", "rotate", "approve"}
    ),
    "audit": frozenset({"read"}),
    "apis": frozenset({"read", "create", "update", "delete"}),
    "offerings": frozenset({"read", "create", "update", "delete"}),
    # `use`: consume an acquisition through the gateway (what acquisition keys carry).
    "acquisitions": frozenset({"read", "create", "update", "delete", "use"}),
    "connectors": frozenset({"read", "create", "update", "delete"}),
    # Workspace-wide notification webhooks (their secrets are shown once, at creation).
    "webhooks": frozenset({"read", "create", "delete"}),
}
ALL_ACTIONS = frozenset().union(*CATALOG.values())

_PERMISSION_PATTERN = re.compile(
    r"^(?P<resource>[a-z_]+|\*):(?P<action>[a-z_]+|\*)(?:@(?P<resource_id>[A-Za-z0-9_.-]{1,64}))?\Z"
)


class InvalidPermission(ValueError):
    """A permission string that is malformed or names something outside the catalog."""


@dataclass(frozen=True, slots=True, order=True)
class Permission:
    resource: str
    action: str
    resource_id: str | None = None

    def __str__(self) -> str:
        text = f"{self.resource}:{self.action}"
        return f"{text}@{self.resource_id}" if self.resource_id is not None else text

    def covers(self, other: "Permission") -> bool:
        """Whether this pattern, on its own, includes every grant `other` names."""
        return (
            self.resource in (WILDCARD, other.resource)
            and self.action in (WILDCARD, other.action)
            and (self.resource_id is None or self.resource_id == other.resource_id)
        )

    def concrete(self) -> Iterator[tuple[str, str]]:
        """Every catalog `(resource, action)` this pattern names."""
        resources = CATALOG if self.resource == WILDCARD else (self.resource,)
        for resource in resources:
            actions = CATALOG.get(resource, frozenset())
            if self.action == WILDCARD:
                yield from ((resource, action) for action in sorted(actions))
            elif self.action in actions:
                yield resource, self.action


def parse_permission(text: str) -> Permission:
    match = _PERMISSION_PATTERN.match(text)
    if match is None:
        raise InvalidPermission(
            f"{text!r} is not a permission: write resource:action, optionally @resource_id"
        )
    resource, action, resource_id = match.group("resource", "action", "resource_id")
    if resource != WILDCARD and resource not in CATALOG:
        raise InvalidPermission(f"{text!r} names the unknown resource {resource!r}")
    known_actions = ALL_ACTIONS if resource == WILDCARD else CATALOG[resource]
    if action != WILDCARD and action not in known_actions:
        raise InvalidPermission(f"{text!r} names the unknown action {action!r} for {resource!r}")
    if resource == WILDCARD and resource_id is not None:
        raise InvalidPermission(f"{text!r} binds a resource id to the wildcard resource")
    return Permission(resource, action, resource_id)


def _meet_part(a: str, b: str) -> str | None:
    if a == WILDCARD:
        return b
    if b in (WILDCARD, a):
        return a
    return None


def _meet(a: Permission, b: Permission) -> Permission | None:
    """The widest pattern covered by both `a` and `b`, if there is one."""
    resource = _meet_part(a.resource, b.resource)
    action = _meet_part(a.action, b.action)
    if resource is None or action is None:
        return None
    if a.resource_id is None:
        resource_id = b.resource_id
    elif b.resource_id in (None, a.resource_id):
        resource_id = a.resource_id
    else:
        return None
    meet = Permission(resource, action, resource_id)
    return meet if any(True for _ in meet.concrete()) else None


class PermissionSet:
    """An immutable set of permission patterns, kept without redundant members."""

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[Permission] = ()) -> None:
        unique = set(items)
        self._items: frozenset[Permission] = frozenset(
            p for p in unique if not any(q != p and q.covers(p) for q in unique)
        )

    @classmethod
    def parse(cls, texts: Iterable[str]) -> "PermissionSet":
        return cls(parse_permission(text) for text in texts)

    @classmethod
    def parse_stored(cls, texts: Iterable[str]) -> "PermissionSet":
        """Parse what storage holds, failing closed: what this version does not know grants
        nothing (a permission or role removed from the catalog, say)."""
        granted = []
        for text in texts:
            try:
                granted.append(parse_permission(text))
            except InvalidPermission:
                continue
        return cls(granted)

    def __iter__(self) -> Iterator[Permission]:
        return iter(sorted(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PermissionSet) and self._items == other._items

    def __hash__(self) -> int:
        return hash(self._items)

    def __repr__(self) -> str:
        return f"PermissionSet({self.strings()!r})"

    def strings(self) -> list[str]:
        return [str(p) for p in self]

    def allows(self, resource: str, action: str, resource_id: str | None = None) -> bool:
        """Whether one concrete action is granted (on `resource_id`, or on the whole kind)."""
        return any(
            p.resource in (WILDCARD, resource)
            and p.action in (WILDCARD, action)
            and (p.resource_id is None or p.resource_id == resource_id)
            for p in self._items
        )

    def covers(self, wanted: Permission) -> bool:
        return all(
            self.allows(resource, action, wanted.resource_id)
            for resource, action in wanted.concrete()
        )

    def missing(self, wanted: "PermissionSet") -> list[Permission]:
        """The members of `wanted` this set does not cover; empty when `wanted` ⊆ self."""
        return [p for p in wanted if not self.covers(p)]

    def allows_somewhere(self, resource: str, action: str) -> bool:
        """Whether one concrete action is granted on the whole kind or on some resource of it."""
        return any(
            p.resource in (WILDCARD, resource) and p.action in (WILDCARD, action)
            for p in self._items
        )

    def reaches(self, wanted: Permission) -> bool:
        """Whether this set grants every action `wanted` names on something: an unbound
        pattern is reached by rights bound to some resources only (a key given it acts on
        those), a bound one only by rights on its resource."""
        if wanted.resource_id is not None:
            return self.covers(wanted)
        return all(self.allows_somewhere(r, a) for r, a in wanted.concrete())

    def unreached(self, wanted: "PermissionSet") -> list[Permission]:
        """The members of `wanted` naming an action this set grants on nothing at all."""
        return [p for p in wanted if not self.reaches(p)]

    def union(self, other: "PermissionSet") -> "PermissionSet":
        return PermissionSet(self._items | other._items)

    def intersection(self, other: "PermissionSet") -> "PermissionSet":
        """What both sets grant: a key's effective rights are its own ∩ its creator's."""
        meets = (_meet(a, b) for a in self._items for b in other._items)
        return PermissionSet(m for m in meets if m is not None)


EMPTY = PermissionSet()
