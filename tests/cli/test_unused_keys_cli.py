"""`keyward keys list --sort` by last use and `keyward workspaces unused-keys`, as real
processes."""

import time

from keyward.db.engine import Database
from keyward.verifier.usage import record_last_used
from tests.e2e.processes import cli


def test_keys_list_sorts_by_last_use_and_refuses_an_unknown_order(fresh_url: str) -> None:
    assert cli(fresh_url, "init", "--json").code == 0
    ids = {}
    for name in ("ci", "laptop"):
        made = cli(fresh_url, "keys", "create", "--name", name, "--json")
        assert made.code == 0, made.stderr
        ids[name] = made.json()["id"]
    database = Database.connect(fresh_url)
    with database.transaction() as uow:  # what the verifier's flush writes after uses
        record_last_used(uow.session, [(ids["ci"], time.time() - 60), (ids["laptop"], time.time())])
    database.dispose()

    def names(*options: str) -> list[str]:
        listed = cli(fresh_url, "keys", "list", *options, "--json")
        assert listed.code == 0, listed.stderr
        return [key["name"] for key in listed.json()["data"]]

    assert names("--sort", "-last_used_at") == ["laptop", "ci", "admin"]
    assert names("--sort=last_used_at") == ["admin", "ci", "laptop"]
    first = cli(fresh_url, "keys", "list", "--sort", "last_used_at", "--limit", "1", "--json")
    cursor = first.json()["next_cursor"]
    assert names("--sort", "last_used_at", "--cursor", cursor) == ["ci", "laptop"]
    refused = cli(fresh_url, "keys", "list", "--sort", "name", "--json")
    assert refused.code != 0


def test_an_admin_sets_shows_and_switches_off_the_unused_keys_policy(fresh_url: str) -> None:
    assert cli(fresh_url, "init", "--json").code == 0
    shown = cli(fresh_url, "workspaces", "unused-keys", "--json")
    assert shown.code == 0, shown.stderr
    assert shown.json() == {"unused_keys": None}
    assert cli(fresh_url, "workspaces", "unused-keys").stdout.strip() == (
        "The unused keys policy is off."
    )
    policy = {"warn_after": "P60D", "revoke_after": "P90D"}
    set_ = cli(
        fresh_url,
        "workspaces",
        "unused-keys",
        "--warn-after",
        "P60D",
        "--revoke-after",
        "P90D",
        "--json",
    )
    assert set_.code == 0, set_.stderr
    assert set_.json() == {"unused_keys": policy}
    human = cli(fresh_url, "workspaces", "unused-keys").stdout
    assert "warn_after    P60D" in human
    assert "revoke_after  P90D" in human
    backwards = cli(
        fresh_url, "workspaces", "unused-keys", "--warn-after", "P90D", "--revoke-after", "P60D"
    )
    assert backwards.code != 0
    assert "warn_after must be shorter than revoke_after" in backwards.stderr
    assert cli(fresh_url, "workspaces", "unused-keys", "--json").json() == {"unused_keys": policy}
    off = cli(fresh_url, "workspaces", "unused-keys", "--off", "--json")
    assert off.json() == {"unused_keys": None}
    both = cli(fresh_url, "workspaces", "unused-keys", "--off", "--warn-after", "P1D")
    assert both.code != 0
    assert "conflicting_options" in both.stderr
