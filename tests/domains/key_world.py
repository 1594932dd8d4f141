"""A provider's API with a key policy, an acquirer holding keys of it, and an approver: the
world the key lifecycle tests act in."""

from dataclasses import dataclass
from typing import Any

from keyward.core.actors import Actor
from keyward.db.engine import Database
from keyward.domains.apis import service as apis
from keyward.domains.apis.schemas import KeyPolicy
from keyward.domains.keys.schemas import KeyCreated
from tests.factories import (
    actor_for,
    admin,
    make_acquisition,
    make_acquisition_key,
    make_api,
    make_member,
    make_offering,
    make_organization,
    make_workspace,
)


@dataclass
class World:
    """A provider's API with a key policy, an acquirer's member holding one of its keys, and an
    approver of that API."""

    db: Database
    admin: Actor
    api_id: str
    acquisition_id: str
    acquirer: Actor
    approver: Actor
    key: KeyCreated

    def set_policy(self, **changes: Any) -> None:
        with self.db.transaction() as uow:
            current = apis.get_policy(uow, self.admin, self.api_id).model_dump(
                mode="json", by_alias=True
            )
            current["key_locations"] = [
                {k: v for k, v in loc.items() if k != "synthetic"}
                for loc in current["key_locations"]
            ]
            apis.set_policy(
                uow, self.admin, self.api_id, KeyPolicy.model_validate({**current, **changes})
            )

    def new_key(self, name: str | None = None) -> KeyCreated:
        return make_acquisition_key(self.db, self.acquirer, self.acquisition_id, name=name)

    def acting(self, actor: Actor, call: Any, *args: Any, **kwargs: Any) -> Any:
        with self.db.transaction() as uow:
            return call(uow, actor, *args, **kwargs)


def make_world(db: Database, **policy: Any) -> World:
    set_up = make_workspace(db)
    boss = admin(db, set_up)
    api = make_api(db, boss)
    offering = make_offering(db, boss, api.id, period=None)
    organization = make_organization(db, boss)
    buyer = make_member(db, boss, roles=["acquirer"], organization_ids=[organization.id])
    acquirer = actor_for(db, set_up.workspace.id, buyer.id)
    approver_member = make_member(
        db,
        boss,
        permissions=["keys:read", "keys:revoke", "keys:delete", f"keys:approve@{api.id}"],
    )
    acquisition = make_acquisition(db, acquirer, offering.id, organization.id)
    world = World(
        db,
        boss,
        api.id,
        acquisition.id,
        acquirer,
        actor_for(db, set_up.workspace.id, approver_member.id),
        make_acquisition_key(db, acquirer, acquisition.id, name="alice"),
    )
    world.set_policy(key_lifetime="P90D")
    world.key = world.new_key("bob")
    if policy:
        world.set_policy(key_lifetime="P90D", **policy)
    return world
