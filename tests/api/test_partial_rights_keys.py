"""A key may carry a right its creator holds on some resources only (`apis:update` from a member
who may edit two APIs): it acts on those, now and later, and on nothing else; a right held on
nothing stays refused. Through the REST API, on SQLite and PostgreSQL."""

from typing import Any

from fastapi.testclient import TestClient

from keyward.db.engine import Database
from tests.api.error_bodies import assert_error
from tests.factories import (
    actor_for,
    admin,
    bearer,
    make_api,
    make_key,
    make_member,
    make_workspace,
)


def _rename(api: TestClient, key: str, api_id: str, name: str) -> Any:
    return api.patch(f"/v1/apis/{api_id}", headers=bearer(key), json={"name": name})


def test_a_key_given_a_right_its_creator_holds_on_two_apis_acts_on_exactly_those(
    api: TestClient, db: Database
) -> None:
    set_up = make_workspace(db)
    root = admin(db, set_up)
    first, second, third = (make_api(db, root, name=f"API {n}") for n in ("one", "two", "three"))
    editor = make_member(
        db,
        root,
        permissions=[
            "apis:read",
            f"apis:update@{first.id}",
            f"apis:update@{second.id}",
            "keys:create",
        ],
    )
    own = make_key(
        db,
        actor_for(db, set_up.workspace.id, editor.id),
        permissions=["keys:create", "apis:read", "apis:update"],
    )
    created = api.post(
        "/v1/keys",
        headers=bearer(own),
        json={"name": "editing", "permissions": ["apis:read", "apis:update"]},
    )
    assert created.status_code == 201, created.text
    assert created.json()["permissions"] == ["apis:read", "apis:update"]
    key = created.json()["key"]

    assert _rename(api, key, first.id, "one, renamed").status_code == 200
    assert _rename(api, key, second.id, "two, renamed").status_code == 200
    # The editor sees the third API (apis:read) but may not edit it: 403, and nothing changes.
    assert_error(_rename(api, key, third.id, "three, renamed"), 403, "permission_denied")
    shown = api.get(f"/v1/apis/{third.id}", headers=bearer(key)).json()
    assert shown["name"] == "API three"

    # Narrowing the editor later narrows the key at once.
    narrowed = api.put(
        f"/v1/members/{editor.id}/permissions",
        headers=bearer(set_up.admin_key),
        json={"roles": [], "permissions": ["apis:read", f"apis:update@{first.id}", "keys:create"]},
    )
    assert narrowed.status_code == 200, narrowed.text
    assert _rename(api, key, first.id, "one, again").status_code == 200
    assert_error(_rename(api, key, second.id, "two, again"), 403, "permission_denied")
    assert api.get(f"/v1/apis/{second.id}", headers=bearer(key)).json()["name"] == "two, renamed"


def test_where_the_creator_cannot_see_an_api_the_key_answers_as_if_it_did_not_exist(
    api: TestClient, db: Database
) -> None:
    set_up = make_workspace(db)
    root = admin(db, set_up)
    mine, other = make_api(db, root), make_api(db, root)
    editor = make_member(db, root, permissions=[f"apis:update@{mine.id}", "keys:create"])
    own = make_key(
        db,
        actor_for(db, set_up.workspace.id, editor.id),
        permissions=["keys:create", "apis:update"],
    )
    created = api.post(
        "/v1/keys", headers=bearer(own), json={"name": "edit", "permissions": ["apis:update"]}
    )
    assert created.status_code == 201, created.text
    key = created.json()["key"]
    assert _rename(api, key, mine.id, "mine").status_code == 200
    assert_error(_rename(api, key, other.id, "not mine"), 404, "api_not_found")


def test_a_right_the_creator_holds_on_nothing_is_still_refused(
    api: TestClient, db: Database
) -> None:
    set_up = make_workspace(db)
    root = admin(db, set_up)
    one, two = make_api(db, root), make_api(db, root)
    editor = make_member(db, root, permissions=[f"apis:update@{one.id}", "keys:create"])
    own = make_key(
        db,
        actor_for(db, set_up.workspace.id, editor.id),
        permissions=["keys:create", f"apis:update@{one.id}"],
    )
    for wanted, missing in (
        (["apis:update", "apis:delete"], ["apis:delete"]),
        (["apis:*"], ["apis:*"]),
        ([f"apis:update@{two.id}"], [f"apis:update@{two.id}"]),
    ):
        response = api.post(
            "/v1/keys", headers=bearer(own), json={"name": "wide", "permissions": wanted}
        )
        error = assert_error(response, 403, "permission_escalation")
        assert error["details"]["missing"] == missing, wanted
    listed = api.get("/v1/keys", headers=bearer(set_up.admin_key)).json()["data"]
    assert [k["name"] for k in listed if k["name"] == "wide"] == []
