"""`/v1/webhooks/{id}/deliveries`, `/test`, `/deliveries/{id}/redeliver`, `/rotate-secret`: each
documented status, for an admin, another workspace and a narrowed account key."""

from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from keyward.db.engine import Database
from keyward.domains.notifications.events import WEBHOOK
from keyward.domains.outbox import service as outbox
from tests.api.error_bodies import assert_error
from tests.conftest import START
from tests.factories import admin, bearer, make_key, make_workspace

HOOK = {"url": "https://hooks.example.com/keyward"}


def _endpoint(api: TestClient, key: object) -> dict[str, str]:
    made = api.post("/v1/webhooks", headers=bearer(key), json=HOOK)  # type: ignore[arg-type]
    assert made.status_code == 201, made.text
    body: dict[str, str] = made.json()
    return body


def _give_up_due_deliveries(db: Database) -> None:
    """What the worker does with a delivery the receiver refuses for good."""
    with db.transaction() as uow:
        for message in outbox.claim(uow, [WEBHOOK], 50, timedelta(minutes=1)):
            outbox.settle(
                uow, message.id, "the webhook refused the delivery: HTTP 410", permanent=True
            )


def test_a_test_event_is_queued_listed_and_redelivered_once_settled(
    api: TestClient, db: Database
) -> None:
    set_up = make_workspace(db)
    headers = bearer(set_up.admin_key)
    endpoint = _endpoint(api, set_up.admin_key)
    sent = api.post(f"/v1/webhooks/{endpoint['id']}/test", headers=headers)
    assert sent.status_code == 202, sent.text
    delivery = sent.json()
    assert (delivery["event"], delivery["status"], delivery["attempts"]) == (
        "webhook.test",
        "pending",
        0,
    )
    assert delivery["endpoint_id"] == endpoint["id"]
    redeliver = f"/v1/webhooks/{endpoint['id']}/deliveries/{delivery['id']}/redeliver"
    assert_error(api.post(redeliver, headers=headers), 409, "delivery_pending")
    _give_up_due_deliveries(db)
    log = api.get(f"/v1/webhooks/{endpoint['id']}/deliveries", headers=headers)
    assert log.status_code == 200
    (failed,) = log.json()["data"]
    assert (failed["id"], failed["status"], failed["attempts"]) == (delivery["id"], "failed", 1)
    assert failed["last_error"] == "the webhook refused the delivery: HTTP 410"
    assert failed["finished_at"] is not None
    assert failed["next_attempt_at"] is None
    again = api.post(redeliver, headers=headers)
    assert again.status_code == 202, again.text
    assert again.json()["redelivery_of"] == delivery["id"]
    assert again.json()["event_id"] == delivery["event_id"]
    assert again.json()["id"] != delivery["id"]
    newest_first = api.get(f"/v1/webhooks/{endpoint['id']}/deliveries?limit=1", headers=headers)
    assert [d["id"] for d in newest_first.json()["data"]] == [again.json()["id"]]
    assert newest_first.json()["next_cursor"]
    actions = [
        e["action"]
        for e in api.get(
            f"/v1/audit-events?target={endpoint['id']}&outcome=success", headers=headers
        ).json()["data"]
    ]
    assert actions == ["webhook.redeliver", "webhook.test", "webhook.create"]


def test_rotating_the_secret_shows_a_new_one_once_and_the_old_signs_for_24_hours(
    api: TestClient, db: Database
) -> None:
    set_up = make_workspace(db)
    headers = bearer(set_up.admin_key)
    endpoint = _endpoint(api, set_up.admin_key)
    rotated = api.post(f"/v1/webhooks/{endpoint['id']}/rotate-secret", headers=headers)
    assert rotated.status_code == 200, rotated.text
    assert rotated.headers["cache-control"] == "no-store"
    secret = rotated.json()["signing_secret"]
    assert secret.startswith("whsec_")
    assert secret != endpoint["signing_secret"]
    until = rotated.json()["previous_secret_until"]
    assert datetime.fromisoformat(until) == START + timedelta(hours=24)
    shown = api.get(f"/v1/webhooks/{endpoint['id']}", headers=headers)
    assert secret not in shown.text
    assert "signing_secret" not in shown.json()
    assert shown.json()["previous_secret_until"] == until
    events = api.get(f"/v1/audit-events?target={endpoint['id']}", headers=headers).text
    assert secret not in events


GRACES = [("PT1H", timedelta(hours=1)), ("P7D", timedelta(days=7)), ("PT0S", None)]


@pytest.mark.parametrize(("grace", "kept_for"), GRACES)
def test_the_rotation_body_names_how_long_the_old_secret_keeps_signing(
    api: TestClient, db: Database, grace: str, kept_for: timedelta | None
) -> None:
    set_up = make_workspace(db)
    headers = bearer(set_up.admin_key)
    endpoint = _endpoint(api, set_up.admin_key)
    rotated = api.post(
        f"/v1/webhooks/{endpoint['id']}/rotate-secret", headers=headers, json={"grace": grace}
    )
    assert rotated.status_code == 200, rotated.text
    until = rotated.json()["previous_secret_until"]
    assert (None if until is None else datetime.fromisoformat(until) - START) == kept_for
    (event,) = api.get(
        f"/v1/audit-events?target={endpoint['id']}&action=webhook.rotate_secret",
        headers=headers,
    ).json()["data"]
    recorded = event["details"]["previous_secret_until"]
    assert (None if recorded is None else datetime.fromisoformat(recorded) - START) == kept_for
    assert event["details"]["grace"] == grace


def test_a_grace_over_7_days_is_refused_with_the_maximum_and_changes_nothing(
    api: TestClient, db: Database
) -> None:
    set_up = make_workspace(db)
    headers = bearer(set_up.admin_key)
    endpoint = _endpoint(api, set_up.admin_key)
    path = f"/v1/webhooks/{endpoint['id']}/rotate-secret"
    refused = api.post(path, headers=headers, json={"grace": "P8D"})
    assert_error(refused, 422, "grace_too_long")
    assert "at most 7 days (P7D)" in refused.json()["error"]["message"]
    assert api.get(f"/v1/webhooks/{endpoint['id']}", headers=headers).json() == {
        key: value for key, value in endpoint.items() if key not in ("signing_secret", "notice")
    } | {"previous_secret_until": None}
    actions = [
        e["action"]
        for e in api.get(
            f"/v1/audit-events?target={endpoint['id']}&outcome=success", headers=headers
        ).json()["data"]
    ]
    assert actions == ["webhook.create"]
    assert_error(api.post(path, headers=headers, json={"grace": "-PT1H"}), 422)
    assert_error(api.post(path, headers=headers, json={"grace": "soon"}), 422)


def test_unknown_deliveries_and_endpoints_are_not_found(api: TestClient, db: Database) -> None:
    set_up = make_workspace(db)
    headers = bearer(set_up.admin_key)
    endpoint = _endpoint(api, set_up.admin_key)
    missing = f"/v1/webhooks/{endpoint['id']}/deliveries/msg_01m9000000000000000000000/redeliver"
    assert_error(api.post(missing, headers=headers), 404, "delivery_not_found")
    for method, path in (
        ("GET", "/v1/webhooks/whk_01m9000000000000000000000/deliveries"),
        ("POST", "/v1/webhooks/whk_01m9000000000000000000000/test"),
        ("POST", "/v1/webhooks/whk_01m9000000000000000000000/rotate-secret"),
    ):
        assert_error(api.request(method, path, headers=headers), 404, "webhook_not_found")


def test_another_workspaces_endpoint_and_deliveries_are_not_found(
    api: TestClient, db: Database
) -> None:
    ours, theirs = make_workspace(db), make_workspace(db)
    endpoint = _endpoint(api, theirs.admin_key)
    delivery = api.post(
        f"/v1/webhooks/{endpoint['id']}/test", headers=bearer(theirs.admin_key)
    ).json()
    headers = bearer(ours.admin_key)
    base = f"/v1/webhooks/{endpoint['id']}"
    for method, path in (
        ("GET", f"{base}/deliveries"),
        ("POST", f"{base}/test"),
        ("POST", f"{base}/deliveries/{delivery['id']}/redeliver"),
        ("POST", f"{base}/rotate-secret"),
    ):
        assert_error(api.request(method, path, headers=headers), 404, "webhook_not_found")
    # Our own endpoint does not reach their delivery either.
    mine = _endpoint(api, ours.admin_key)
    assert_error(
        api.post(
            f"/v1/webhooks/{mine['id']}/deliveries/{delivery['id']}/redeliver", headers=headers
        ),
        404,
        "delivery_not_found",
    )


@pytest.mark.parametrize(
    ("method", "suffix", "status"),
    [
        ("GET", "/deliveries", 200),
        ("POST", "/test", 403),
        ("POST", "/rotate-secret", 403),
    ],
)
def test_a_key_narrowed_to_reading_webhooks_reads_the_log_and_changes_nothing(
    api: TestClient, db: Database, method: str, suffix: str, status: int
) -> None:
    set_up = make_workspace(db)
    endpoint = _endpoint(api, set_up.admin_key)
    narrowed = make_key(db, admin(db, set_up), permissions=["webhooks:read"])
    answer = api.request(method, f"/v1/webhooks/{endpoint['id']}{suffix}", headers=bearer(narrowed))
    if status == 403:
        assert assert_error(answer, 403)["details"]["required"] == "webhooks:create"
    else:
        assert answer.status_code == status
    assert_error(api.request(method, f"/v1/webhooks/{endpoint['id']}{suffix}"), 401)
