"""`GET /v1/keys?sort=` by last use, and `/v1/workspace/settings`, where admins set the unused
keys policy: each documented status, refusals audited and changing nothing."""

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from keyward.core.clock import ManualClock
from keyward.db.engine import Database
from keyward.db.models import AuditEvent
from keyward.verifier.usage import record_last_used
from tests.api.error_bodies import assert_error
from tests.factories import actor_for, admin, bearer, make_key, make_member, make_workspace

POLICY = {"unused_keys": {"warn_after": "P60D", "revoke_after": "P90D"}}


def test_keys_are_listed_by_last_use_a_page_at_a_time(
    api: TestClient, db: Database, clock: ManualClock
) -> None:
    set_up = make_workspace(db)  # its admin key is never used
    boss = admin(db, set_up)
    made = {n: make_key(db, boss, name=n).id for n in ("old", "recent", "idle")}
    with db.transaction() as uow:
        now = clock.now()
        record_last_used(
            uow.session,
            [
                (made["old"], (now - timedelta(days=40)).timestamp()),
                (made["recent"], (now - timedelta(hours=1)).timestamp()),
            ],
        )
    headers = bearer(set_up.admin_key)

    def walk(sort: str) -> list[str]:
        names, params = [], {"sort": sort, "limit": "2"}
        while True:
            answer = api.get("/v1/keys", headers=headers, params=params)
            assert answer.status_code == 200, answer.text
            names += [key["name"] for key in answer.json()["data"]]
            if answer.json()["next_cursor"] is None:
                return names
            params["cursor"] = answer.json()["next_cursor"]

    assert walk("last_used_at") == ["admin", "idle", "old", "recent"]
    assert walk("-last_used_at") == ["recent", "old", "idle", "admin"]
    assert walk("-created_at") == ["idle", "recent", "old", "admin"]
    assert_error(api.get("/v1/keys", headers=headers, params={"sort": "name"}), 422)
    first = api.get("/v1/keys", headers=headers, params={"sort": "last_used_at", "limit": "1"})
    cursor = first.json()["next_cursor"]
    assert_error(
        api.get("/v1/keys", headers=headers, params={"sort": "-last_used_at", "cursor": cursor}),
        422,
        "invalid_cursor",
    )


def test_an_admin_sets_shows_and_switches_off_the_unused_keys_policy(
    api: TestClient, db: Database
) -> None:
    set_up = make_workspace(db)
    headers = bearer(set_up.admin_key)
    assert api.get("/v1/workspace/settings", headers=headers).json() == {"unused_keys": None}
    answer = api.put("/v1/workspace/settings", headers=headers, json=POLICY)
    assert answer.status_code == 200, answer.text
    assert answer.json() == POLICY
    assert api.get("/v1/workspace/settings", headers=headers).json() == POLICY
    off = api.put("/v1/workspace/settings", headers=headers, json={"unused_keys": None})
    assert off.json() == {"unused_keys": None}
    with db.transaction(write=False) as uow:
        details = [
            e.details
            for e in uow.session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == "workspace.settings.update")
                .where(AuditEvent.workspace_id == set_up.workspace.id)
                .order_by(AuditEvent.id)
            )
        ]
    assert details == [
        {"before": {"unused_keys": None}, "after": POLICY},
        {"before": POLICY, "after": {"unused_keys": None}},
    ]


def test_a_policy_out_of_order_or_too_short_or_empty_is_refused_and_nothing_changes(
    api: TestClient, db: Database
) -> None:
    set_up = make_workspace(db)
    headers = bearer(set_up.admin_key)
    for unused_keys in (
        {"warn_after": "P90D", "revoke_after": "P60D"},
        {"warn_after": "P90D", "revoke_after": "P90D"},
        {"warn_after": "PT12H"},
        {},
        {"warn_after": "60 days"},
        {"revoke_after": "P90D", "delete_after": "P120D"},
    ):
        answer = api.put(
            "/v1/workspace/settings", headers=headers, json={"unused_keys": unused_keys}
        )
        assert_error(answer, 422, "validation_failed")
    assert api.get("/v1/workspace/settings", headers=headers).json() == {"unused_keys": None}


def test_a_member_who_is_no_admin_may_neither_read_nor_set_the_policy_and_is_audited(
    api: TestClient, db: Database
) -> None:
    set_up = make_workspace(db)
    boss = admin(db, set_up)
    member = make_member(db, boss, roles=["acquirer"])
    key = make_key(db, actor_for(db, set_up.workspace.id, member.id), name="mine")
    headers = bearer(key)
    assert_error(api.get("/v1/workspace/settings", headers=headers), 403)
    assert_error(api.put("/v1/workspace/settings", headers=headers, json=POLICY), 403)
    assert api.get("/v1/workspace/settings", headers=bearer(set_up.admin_key)).json() == {
        "unused_keys": None
    }
    with db.transaction(write=False) as uow:
        refused = uow.session.scalars(
            select(AuditEvent.action).where(
                AuditEvent.actor_member_id == member.id, AuditEvent.outcome != "success"
            )
        ).all()
    assert len(refused) == 2
