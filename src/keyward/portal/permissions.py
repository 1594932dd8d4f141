"""The permissions a member may give a key, as the key form offers them: every concrete right
they hold, grouped by resource, a right bound to one resource shown with that resource, and a
right held on some resources only also offered for all of them (the key acts on those only)."""

from dataclasses import dataclass, field

from keyward.core.actors import Actor
from keyward.core.permissions import Permission
from keyward.db.engine import UnitOfWork
from keyward.domains import access


@dataclass(frozen=True, slots=True)
class Choice:
    value: str
    action: str
    bound_to: str | None = None
    bound_name: str | None = None
    only_where_held: bool = False
    """Unbound, but held on some resources only: a key given it acts on those."""


@dataclass(slots=True)
class ChoiceGroup:
    resource: str
    choices: list[Choice] = field(default_factory=list)


def permission_choices(uow: UnitOfWork, actor: Actor) -> list[ChoiceGroup]:
    """What the actor holds right now, spelled out (`*:*` becomes every resource and action),
    so a key can be given exactly some of it; an action held only on some resources is offered
    bound to each of them and unbound, "wherever you hold it"."""
    found: dict[str, Choice] = {}
    for held in actor.permissions:
        for resource, action in held.concrete():
            unbound = str(Permission(resource, action))
            if held.resource_id is None:
                found[unbound] = Choice(unbound, action)
                continue
            value = str(Permission(resource, action, held.resource_id))
            if value not in found:
                name = access.name_of(uow, actor.workspace_id, held.resource_id)
                found[value] = Choice(value, action, held.resource_id, name)
            found.setdefault(unbound, Choice(unbound, action, only_where_held=True))
    groups: dict[str, ChoiceGroup] = {}
    for value in sorted(found):
        resource = value.split(":", 1)[0]
        groups.setdefault(resource, ChoiceGroup(resource)).choices.append(found[value])
    return list(groups.values())
