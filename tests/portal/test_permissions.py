"""What the key form offers: the member's own current rights, spelled out, bound ones named."""

from keyward.db.engine import Database
from keyward.portal.permissions import permission_choices
from tests.factories import actor_for, admin, make_api, make_key, make_member, make_workspace


def test_the_form_offers_exactly_what_the_member_holds(db: Database) -> None:
    set_up = make_workspace(db)
    root = admin(db, set_up)
    deploy = make_key(db, root, name="deploy")
    member = make_member(
        db, root, permissions=["keys:read", "keys:create", f"keys:revoke@{deploy.id}"]
    )
    actor = actor_for(db, set_up.workspace.id, member.id)
    with db.transaction(write=False) as uow:
        [group] = permission_choices(uow, actor)
    assert group.resource == "keys"
    assert [c.value for c in group.choices] == [
        "keys:create",
        "keys:read",
        "keys:revoke",
        f"keys:revoke@{deploy.id}",
    ]
    bound = group.choices[-1]
    assert (bound.action, bound.bound_to, bound.bound_name) == ("revoke", deploy.id, "deploy")
    assert [c.value for c in group.choices if c.only_where_held] == ["keys:revoke"]


def test_a_right_held_on_some_resources_only_is_offered_for_all_of_them(db: Database) -> None:
    set_up = make_workspace(db)
    root = admin(db, set_up)
    one, two = make_api(db, root, name="Billing"), make_api(db, root, name="Search")
    member = make_member(
        db, root, permissions=["apis:read", f"apis:update@{one.id}", f"apis:update@{two.id}"]
    )
    with db.transaction(write=False) as uow:
        [group] = permission_choices(uow, actor_for(db, set_up.workspace.id, member.id))
    offered = {c.value: c for c in group.choices}
    assert set(offered) == {
        "apis:read",
        "apis:update",
        f"apis:update@{one.id}",
        f"apis:update@{two.id}",
    }
    assert offered["apis:update"].only_where_held
    assert not offered["apis:read"].only_where_held
    assert offered[f"apis:update@{two.id}"].bound_name == "Search"


def test_a_wildcard_is_offered_spelled_out(db: Database) -> None:
    set_up = make_workspace(db)
    root = admin(db, set_up)
    with db.transaction(write=False) as uow:
        groups = permission_choices(uow, root)
    offered = {c.value for g in groups for c in g.choices}
    assert "*:*" not in offered
    assert {"members:grant", "keys:approve", "audit:read", "webhooks:create"} <= offered
    assert all(":" in value and "*" not in value for value in offered)


def test_a_member_without_rights_is_offered_nothing(db: Database) -> None:
    set_up = make_workspace(db)
    nobody = make_member(db, admin(db, set_up))
    with db.transaction(write=False) as uow:
        assert permission_choices(uow, actor_for(db, set_up.workspace.id, nobody.id)) == []
