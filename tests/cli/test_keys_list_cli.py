"""`keyward keys list` by expiry and idleness, as a real process."""

from tests.e2e.processes import cli


def test_keys_list_narrows_to_keys_expiring_soon_and_refuses_a_bad_duration(
    fresh_url: str,
) -> None:
    assert cli(fresh_url, "init", "--json").code == 0
    made = {}
    for name, lifetime in (("soon", "P5D"), ("later", "P60D")):
        created = cli(
            fresh_url, "keys", "create", "--name", name, "--expires-in", lifetime, "--json"
        )
        assert created.code == 0, created.stderr
        made[name] = created.json()["id"]
    listed = cli(fresh_url, "keys", "list", "--expiring-within", "P30D", "--json")
    assert listed.code == 0, listed.stderr
    assert [k["id"] for k in listed.json()["data"]] == [made["soon"]]
    # Just made: none has gone unused for a day.
    idle = cli(fresh_url, "keys", "list", "--unused-for", "P1D", "--json")
    assert idle.json()["data"] == []
    refused = cli(fresh_url, "keys", "list", "--expiring-within", "30 days", "--json")
    assert refused.code != 0
    assert "validation_failed" in refused.stderr
