"""`keyward webhooks deliveries|test|redeliver|rotate-secret` and `keyward audit list` (filters,
`--csv`) as real processes, with `keyward worker --once` delivering to a real receiver."""

import csv
import io
import json
import time

from keyward.jobs.transports import verify_signature
from tests.e2e.processes import cli
from tests.jobs.receivers import hook_receiver


def test_a_test_event_from_the_command_line_is_signed_logged_and_redelivered(
    fresh_url: str,
) -> None:
    assert cli(fresh_url, "init", "--json").code == 0
    with hook_receiver() as hooks:
        hooks.statuses = [410]
        endpoint = cli(fresh_url, "webhooks", "create", "--url", hooks.url, "--json").json()
        sent = cli(fresh_url, "webhooks", "test", endpoint["id"], "--json")
        assert sent.code == 0, sent.stderr
        delivery = sent.json()
        assert (delivery["event"], delivery["status"]) == ("webhook.test", "pending")
        assert cli(fresh_url, "worker", "--once").code == 0
        (failed,) = cli(fresh_url, "webhooks", "deliveries", endpoint["id"], "--json").json()[
            "data"
        ]
        assert (failed["status"], failed["attempts"]) == ("failed", 1)
        assert failed["last_error"] == "the webhook refused the delivery: HTTP 410"
        too_long = cli(fresh_url, "webhooks", "rotate-secret", endpoint["id"], "--grace", "P8D")
        assert too_long.code == 1
        assert "at most 7 days (P7D)" in too_long.stderr
        rotated = cli(
            fresh_url, "webhooks", "rotate-secret", endpoint["id"], "--grace", "PT1H", "--json"
        ).json()
        assert rotated["signing_secret"] != endpoint["signing_secret"]
        assert rotated["previous_secret_until"] is not None
        again = cli(fresh_url, "webhooks", "redeliver", endpoint["id"], delivery["id"], "--json")
        assert again.code == 0, again.stderr
        assert again.json()["redelivery_of"] == delivery["id"]
        assert cli(fresh_url, "worker", "--once").code == 0
        [hook] = hooks.received
    assert json.loads(hook.body)["type"] == "webhook.test"
    for signer in (rotated["signing_secret"], endpoint["signing_secret"]):
        assert verify_signature(
            signer,
            hook.headers["Keyward-Delivery"],
            hook.headers["Keyward-Signature"],
            hook.body,
            time.time(),
        ), "during its hour of grace the old secret signs too"
    log = cli(fresh_url, "webhooks", "deliveries", endpoint["id"], "--json").json()["data"]
    assert [d["status"] for d in log] == ["delivered", "failed"]
    pending = cli(fresh_url, "webhooks", "redeliver", endpoint["id"], "msg_nope", "--json")
    assert pending.code == 1
    assert json.loads(pending.stderr)["error"]["code"] == "delivery_not_found"


def test_audit_list_filters_and_prints_csv(fresh_url: str) -> None:
    assert cli(fresh_url, "init", "--json").code == 0
    made = cli(fresh_url, "organizations", "create", "=SUM(A1)", "--kind", "acquirer", "--json")
    assert made.code == 0, made.stderr
    organization = made.json()["id"]
    listed = cli(
        fresh_url,
        "audit",
        "list",
        "--action",
        "organization.create",
        "--outcome",
        "success",
        "--json",
    )
    assert [e["target_id"] for e in listed.json()["data"]] == [organization]
    printed = cli(fresh_url, "audit", "list", "--target", organization, "--csv")
    assert printed.code == 0, printed.stderr
    (row,) = csv.DictReader(io.StringIO(printed.stdout))
    assert row["action"] == "organization.create"
    assert json.loads(row["details"])["name"] == "=SUM(A1)"
    future = cli(fresh_url, "audit", "list", "--since", "2999-01-01T00:00:00+00:00", "--csv").stdout
    assert future.splitlines() == [future.splitlines()[0]], "only the header"
    naive = cli(fresh_url, "audit", "list", "--since", "2020-01-01T00:00:00", "--json")
    assert naive.code != 0
    bad = cli(fresh_url, "audit", "list", "--outcome", "maybe", "--json")
    assert bad.code == 1
    assert json.loads(bad.stderr)["error"]["code"] == "invalid_outcome"
