"""Who is acting: a member through one of their keys, the CLI as a member, or the system."""

from dataclasses import dataclass
from enum import StrEnum

from keyward.core.errors import PermissionDenied
from keyward.core.ids import looks_like_id
from keyward.core.ownership import Standing
from keyward.core.permissions import Permission, PermissionSet


class Via(StrEnum):
    KEY = "key"
    CLI = "cli"
    PORTAL = "portal"
    SYSTEM = "system"


@dataclass(frozen=True, slots=True)
class Actor:
    """The caller of a service, with the standing it may use right now.

    For a key that is its creator's standing narrowed to the key's permissions; for the CLI and
    the portal the member's own standing.
    """

    workspace_id: str
    member_id: str | None
    key_id: str | None
    standing: Standing
    via: Via
    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None

    @property
    def permissions(self) -> PermissionSet:
        """Every right the actor holds somewhere (the ownership rule says where)."""
        return self.standing.rights

    def can(self, resource: str, action: str, resource_id: str | None = None) -> bool:
        return self.permissions.allows(resource, action, resource_id)

    def require(self, resource: str, action: str, resource_id: str | None = None) -> None:
        """Raise `permission_denied`, naming the permission, unless the actor holds it."""
        if not self.can(resource, action, resource_id):
            needed = f"{resource}:{action}"
            # The id comes from the request: named only when it is one of ours in shape.
            shown = resource_id if resource_id and looks_like_id(resource_id) else None
            raise PermissionDenied(
                f"This needs the permission {needed!r}"
                + (f" on {shown}" if shown else "")
                + ", which the caller does not hold.",
                details={"required": needed, "resource_id": shown},
            )

    def require_reached(self, wanted: PermissionSet, what: str) -> None:
        """Refuse with `permission_escalation` unless the actor holds every action of `wanted`
        on something. A key may carry a right its creator holds on some resources only: its
        effective rights are its own ∩ its creator's, now and later, so it acts on those."""
        self._refuse_escalation(self.permissions.unreached(wanted), what)

    def require_all(
        self, wanted: PermissionSet, what: str, *, held: PermissionSet | None = None
    ) -> None:
        """Refuse with `permission_escalation` unless every permission in `wanted` is held
        (somewhere, or in `held`)."""
        self._refuse_escalation((self.permissions if held is None else held).missing(wanted), what)

    @staticmethod
    def _refuse_escalation(missing: list[Permission], what: str) -> None:
        if missing:
            names = [str(p) for p in missing]
            raise PermissionDenied(
                f"Cannot {what}: it would grant permissions the caller does not hold: "
                f"{', '.join(names)}.",
                code="permission_escalation",
                details={"missing": names},
            )
