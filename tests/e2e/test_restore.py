"""Backup and restore around a running `keyward serve`: a backup taken while it serves, a key
revoked over the API afterwards, and the restored database refusing that key; a restore made
without a revocation journal is not served until the operator accepts it."""

from pathlib import Path

import pytest

from keyward.db.engine import Database
from tests.backends import PostgresDatabases, SqliteDatabases
from tests.e2e.processes import CliResult, cli, serve
from tests.factories import admin, make_key, make_workspace, secret

pytestmark = pytest.mark.e2e


def empty_database(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database with no data in it, of the test's own, to restore into."""
    if backend == "postgresql":
        postgres: PostgresDatabases = request.getfixturevalue("postgres")
        return postgres.create()
    return f"sqlite:///{tmp_path / 'restored.db'}"


def ok(result: CliResult) -> dict[str, object]:
    assert result.code == 0, result.stderr
    document: dict[str, object] = result.json()
    return document


def test_a_key_revoked_over_the_api_after_a_backup_is_refused_once_restored(
    fresh_url: str, backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    journal = str(tmp_path / "journal")
    database = Database.connect(fresh_url)
    set_up = make_workspace(database)
    revoked = make_key(database, admin(database, set_up), name="revoked after the backup")
    database.dispose()
    backup = tmp_path / "keyward.backup"
    with serve(fresh_url, tmp_path, part="api", KEYWARD_REVOCATION_JOURNAL=journal) as server:
        ok(cli(fresh_url, "backup", str(backup), "--json", KEYWARD_REVOCATION_JOURNAL=journal))
        with server.client(secret(set_up.admin_key)) as client:
            answer = client.post(f"/v1/keys/{revoked.id}/revoke", json={"reason": "left"})
            assert answer.status_code == 200, answer.text
        with server.client(secret(revoked)) as client:
            assert client.get("/v1/me").status_code == 401

    target = empty_database(backend, request, tmp_path)
    restored = ok(cli(target, "restore", str(backup), "--json", KEYWARD_REVOCATION_JOURNAL=journal))
    assert restored["reapplied"] == 1
    refused = cli(target, "keys", "verify", secret(revoked), "--json")
    assert refused.code == 1
    assert refused.json()["code"] == "key_revoked"


def test_serve_refuses_a_restore_without_a_journal_until_the_operator_accepts_it(
    sqlite: SqliteDatabases, tmp_path: Path
) -> None:
    # The mark is a row like any other: one backend shows it (tests/cli test both).
    fresh_url = sqlite.create()
    database = Database.connect(fresh_url)
    set_up = make_workspace(database)
    database.dispose()
    backup = tmp_path / "keyward.backup"
    ok(cli(fresh_url, "backup", str(backup), "--json"))
    ok(cli(fresh_url, "restore", str(backup), "--replace", "--json"))

    refused = cli(fresh_url, "serve", "api")
    assert refused.code == 1
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error [restore_unaccepted]")
    assert "--accept-without-journal" in lines[0]

    accepted = ok(cli(fresh_url, "restore", "--accept-without-journal", "--json"))
    assert accepted["accepted_workspaces"] == [set_up.workspace.id]
    with (
        serve(fresh_url, tmp_path, part="api") as server,
        server.client(secret(set_up.admin_key)) as client,
    ):
        assert client.get("/v1/me").status_code == 200
