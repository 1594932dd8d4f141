"""`keyward webhooks create|list|delete` and `keyward worker --once` as real processes."""

import json
import time

from keyward.jobs.transports import verify_signature
from tests.e2e.processes import cli
from tests.jobs.receivers import hook_receiver


def test_webhooks_from_the_command_line_receive_what_the_worker_sends(fresh_url: str) -> None:
    assert cli(fresh_url, "init", "--json").code == 0
    with hook_receiver() as hooks:
        created = cli(
            fresh_url,
            "webhooks",
            "create",
            "--url",
            hooks.url,
            "--event",
            "key.expired",
            "--json",
        )
        assert created.code == 0, created.stderr
        endpoint = created.json()
        assert endpoint["events"] == ["key.expired"]
        listed = cli(fresh_url, "webhooks", "list", "--json").json()
        assert [e["id"] for e in listed["data"]] == [endpoint["id"]]
        assert endpoint["signing_secret"] not in json.dumps(listed)
        key = cli(
            fresh_url,
            "keys",
            "create",
            "--name",
            "brief",
            "--permission",
            "keys:read",
            "--expires-in",
            "PT1S",
            "--json",
        )
        assert key.code == 0, key.stderr
        time.sleep(1.5)
        worked = cli(fresh_url, "worker", "--once")
        assert worked.code == 0, worked.stderr
        [hook] = hooks.received
    envelope = json.loads(hook.body)
    assert (envelope["type"], envelope["data"]["key"]["id"]) == ("key.expired", key.json()["id"])
    assert verify_signature(
        endpoint["signing_secret"],
        hook.headers["Keyward-Delivery"],
        hook.headers["Keyward-Signature"],
        hook.body,
        time.time(),
    )
    assert key.json()["key"] not in hook.body.decode()
    deleted = cli(fresh_url, "webhooks", "delete", endpoint["id"], "--json")
    assert deleted.json() == {"id": endpoint["id"], "deleted": True}
    assert cli(fresh_url, "webhooks", "list", "--json").json()["data"] == []


def test_bad_webhook_input_fails_with_the_error_json_on_stderr(fresh_url: str) -> None:
    assert cli(fresh_url, "init", "--json").code == 0
    for args, code in [
        (("create", "--url", "ftp://x.example.com"), "invalid_url"),
        (("create", "--url", "https://x.example.com", "--event", "nope"), "validation_failed"),
        (("delete", "whk_nothing"), "webhook_not_found"),
    ]:
        result = cli(fresh_url, "webhooks", *args, "--json")
        assert result.code == 1
        assert result.stdout == ""
        assert result.error()["error"]["code"] == code
