"""`keyward backup` and `keyward restore`: a snapshot taken while keyward writes, and a restore
that re-applies the revocation journal, so that nothing revoked after the backup works again."""

import json
import stat
import threading
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from keyward.cli import app
from keyward.core.actors import Via
from keyward.core.verdicts import KeyCode
from keyward.db.engine import Database
from keyward.db.models import ApiKey, AuditEvent, ChangeFeedEntry, Member
from keyward.domains.journal.files import DirectoryJournal
from keyward.domains.keys import service as keys
from keyward.domains.members import service as members
from keyward.domains.members.schemas import MemberPermissionsUpdate, MemberUpdate
from keyward.domains.workspaces import service as workspaces
from keyward.verifier import Verifier
from tests.backends import PostgresDatabases
from tests.e2e.processes import CliResult
from tests.factories import admin, make_key, make_member, make_workspace, secret


def empty_database(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database with no data in it, of the test's own: what a restore goes into."""
    if backend == "postgresql":
        postgres: PostgresDatabases = request.getfixturevalue("postgres")
        return postgres.create()
    return f"sqlite:///{tmp_path / 'restored.db'}"


def cli(url: str, *args: str, KEYWARD_REVOCATION_JOURNAL: str | None = None) -> CliResult:
    """Run `keyward ARGS...` in this process (the commands themselves, as a script runs
    them), on the database at `url`."""
    env = {
        "KEYWARD_DATABASE_URL": url,
        "KEYWARD_SECRET_KEY": "the backup tests' server secret",
        "KEYWARD_REVOCATION_JOURNAL": KEYWARD_REVOCATION_JOURNAL,
    }
    done = CliRunner().invoke(app, list(args), env=env)
    if done.exception is not None and not isinstance(done.exception, SystemExit):
        raise done.exception
    return CliResult(done.exit_code, done.stdout, done.stderr)


def ok(result: CliResult) -> dict[str, object]:
    assert result.code == 0, result.stderr
    document: dict[str, object] = result.json()
    return document


def verdicts(url: str, *secrets: str) -> list[KeyCode]:
    """What the one verification path answers for each secret, on the database at `url`."""
    database = Database.connect(url)
    try:
        verifier = Verifier(database)
        return [verifier.verify(secret).code for secret in secrets]
    finally:
        database.dispose()


def test_what_was_taken_away_after_the_backup_stays_taken_away_after_a_restore(
    fresh_url: str, backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    journal = tmp_path / "journal"
    env = {"KEYWARD_REVOCATION_JOURNAL": str(journal)}
    source = Database.connect(fresh_url)
    source.journal = DirectoryJournal(journal)
    set_up = make_workspace(source)
    actor = admin(source, set_up)
    revoked = make_key(source, actor, name="revoked later")
    deleted = make_key(source, actor, name="deleted later")
    kept = make_key(source, actor, name="kept")
    dana = make_member(source, actor, email="dana@example.com", permissions=["keys:read"])
    erin = make_member(source, actor, email="erin@example.com", permissions=["keys:read"])
    backup = tmp_path / "keyward.backup"
    taken = ok(cli(fresh_url, "backup", str(backup), "--json", **env))
    assert taken["backend"] == backend
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600

    with source.transaction() as uow:
        keys.revoke_key(uow, actor, revoked.id, "leaked")
    with source.transaction() as uow:
        keys.delete_key(uow, actor, deleted.id, revoke=True)
    with source.transaction() as uow:
        members.update_member(uow, actor, dana.id, MemberUpdate(active=False))
    with source.transaction() as uow:
        narrowed = MemberPermissionsUpdate(roles=[], permissions=["apis:read"])
        members.set_permissions(uow, actor, erin.id, narrowed)
    source.dispose()

    target = empty_database(backend, request, tmp_path)
    restored = ok(cli(target, "restore", str(backup), "--json", **env))
    assert restored["backup_feed_seq"] == taken["feed_seq"]
    # The revocation, the deletion (a revocation, then the deletion), the deactivation and
    # the permission taken away (the one given at the same time is not the journal's).
    assert restored["reapplied"] == 5
    assert restored["serving_allowed"] is True

    assert verdicts(target, secret(revoked), secret(deleted), secret(kept)) == [
        KeyCode.KEY_REVOKED,
        KeyCode.KEY_INVALID,
        KeyCode.VALID,
    ]
    database = Database.connect(target)
    try:
        with database.transaction(write=False) as uow:
            member = uow.session.get(Member, dana.id)
            assert member is not None
            assert member.active is False
            rights = members.get_permissions(uow, admin(database, set_up), erin.id)
            reapplied = uow.session.scalars(
                select(AuditEvent.target_id).where(AuditEvent.action == "restore.reapplied")
            ).all()
    finally:
        database.dispose()
    assert rights.permissions == []
    assert sorted(map(str, reapplied)) == sorted(
        [revoked.id, deleted.id, deleted.id, dana.id, erin.id]
    )

    # Restoring again re-applies what is already so: the same outcome, nothing refused.
    again = ok(cli(target, "restore", str(backup), "--replace", "--json", **env))
    assert again["reapplied"] == 5
    assert verdicts(target, secret(revoked), secret(kept)) == [KeyCode.KEY_REVOKED, KeyCode.VALID]


def test_a_journal_entry_never_holds_a_secret(fresh_url: str, tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    database = Database.connect(fresh_url)
    actor = admin(database, make_workspace(database))
    leaked = make_key(database, actor, name="leaked")
    database.dispose()
    env = {"KEYWARD_REVOCATION_JOURNAL": str(journal)}
    # Someone pastes the secret into the reason: the journal still never holds it.
    revoke = ["keys", "revoke", leaked.id, "--reason", f"leaked as {secret(leaked)}", "--json"]
    ok(cli(fresh_url, *revoke, **env))

    files = list(journal.iterdir())
    assert [f.name[:12] for f in files] == ["revocations-"]
    assert stat.S_IMODE(journal.stat().st_mode) == 0o700
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    text = files[0].read_text()
    entries = [json.loads(line) for line in text.splitlines()]
    assert [(e["action"], e["target_id"]) for e in entries] == [("key.revoke", leaked.id)]
    assert secret(leaked) not in text
    assert secret(leaked)[-20:] not in text
    assert "[redacted]" in entries[0]["reason"]


def test_a_journal_that_cannot_be_written_stops_the_revocation(
    fresh_url: str, tmp_path: Path
) -> None:
    database = Database.connect(fresh_url)
    actor = admin(database, make_workspace(database))
    active = make_key(database, actor, name="still active")
    database.dispose()
    blocked = tmp_path / "a file, not a directory"
    blocked.write_text("")
    refused = cli(
        fresh_url, "keys", "revoke", active.id, "--json", KEYWARD_REVOCATION_JOURNAL=str(blocked)
    )
    assert refused.code == 1
    assert refused.error()["error"]["code"] == "revocation_journal_unavailable"
    # Nothing was changed: the key was not revoked without being journaled.
    assert verdicts(fresh_url, secret(active)) == [KeyCode.VALID]


def test_restore_refuses_a_database_holding_data_unless_told_to_replace_it(
    fresh_url: str, tmp_path: Path
) -> None:
    database = Database.connect(fresh_url)
    actor = admin(database, make_workspace(database))
    made = make_key(database, actor, name="made before the backup")
    backup = tmp_path / "keyward.backup"
    ok(cli(fresh_url, "backup", str(backup), "--json"))
    with database.transaction() as uow:
        keys.delete_key(uow, actor, made.id, revoke=True)
    database.dispose()

    refused = cli(fresh_url, "restore", str(backup), "--json")
    assert refused.code == 1
    assert refused.error()["error"]["code"] == "restore_target_not_empty"
    assert verdicts(fresh_url, secret(made)) == [KeyCode.KEY_INVALID]  # untouched

    replaced = ok(cli(fresh_url, "restore", str(backup), "--replace", "--json"))
    assert replaced["serving_allowed"] is False
    # Without a journal nothing is known of the deletion: the key is back (serve refuses).
    assert verdicts(fresh_url, secret(made)) == [KeyCode.VALID]


def test_restore_refuses_a_file_that_is_no_backup(fresh_url: str, tmp_path: Path) -> None:
    other = tmp_path / "notes.txt"
    other.write_text("not a backup")
    refused = cli(fresh_url, "restore", str(other), "--replace", "--json")
    assert refused.code == 1
    assert refused.error()["error"]["code"] == "backup_unreadable"


def test_a_backup_taken_while_keys_are_being_created_is_one_moment_of_the_database(
    fresh_url: str, backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    database = Database.connect(fresh_url)
    actor = admin(database, make_workspace(database))
    stop = threading.Event()
    made: list[str] = []

    def write() -> None:
        while not stop.is_set():
            made.append(make_key(database, actor, name=f"key {len(made)}").id)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        while len(made) < 5:
            stop.wait(0.05)
        backup = tmp_path / "keyward.backup"
        taken = ok(cli(fresh_url, "backup", str(backup), "--json"))
        during = len(made)
        while len(made) < during + 5:
            stop.wait(0.05)
    finally:
        stop.set()
        writer.join()
        database.dispose()

    target = empty_database(backend, request, tmp_path)
    ok(cli(target, "restore", str(backup), "--json"))
    restored = Database.connect(target)
    try:
        with restored.transaction(write=False) as uow:
            key_ids = set(uow.session.scalars(select(ApiKey.id)))
            feed = uow.session.execute(
                select(ChangeFeedEntry.seq, ChangeFeedEntry.entity_id).where(
                    ChangeFeedEntry.entity == "key"
                )
            ).all()
    finally:
        restored.dispose()
    # Every key has its feed entry and every feed entry its key: no transaction half in.
    assert {entity_id for _, entity_id in feed} == key_ids
    assert max(seq for seq, _ in feed) == taken["feed_seq"]
    # The keys made before the backup are in it, those made after it are not.
    assert set(made[:5]) <= key_ids
    assert not set(made[during:]) & key_ids


def test_a_postgresql_backup_without_pg_dump_says_what_to_install(
    postgres: PostgresDatabases, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = postgres.create()
    database = Database.connect(url)
    make_workspace(database)
    database.dispose()
    monkeypatch.setenv("PATH", str(tmp_path))  # no pg_dump there
    refused = cli(url, "backup", str(tmp_path / "keyward.backup"))
    assert refused.code == 1
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error [postgresql_client_missing]")
    assert "postgresql-client" in lines[0]
    assert not (tmp_path / "keyward.backup").exists()


def test_a_restore_never_leaves_a_workspace_without_an_active_admin(
    fresh_url: str, backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    journal = tmp_path / "journal"
    source = Database.connect(fresh_url)
    source.journal = DirectoryJournal(journal)
    set_up = make_workspace(source)
    first = admin(source, set_up)
    backup = tmp_path / "keyward.backup"
    ok(cli(fresh_url, "backup", str(backup), "--json"))
    # After the snapshot another admin takes over and deactivates the first one.
    second = make_member(source, first, email="second@example.com", roles=["admin"])
    with source.transaction() as uow:
        taking_over = workspaces.actor_for_member(uow, set_up.workspace.id, second.id, Via.CLI)
        members.update_member(uow, taking_over, set_up.admin_member_id, MemberUpdate(active=False))
    source.dispose()

    target = empty_database(backend, request, tmp_path)
    restored = ok(
        cli(target, "restore", str(backup), "--json", KEYWARD_REVOCATION_JOURNAL=str(journal))
    )
    assert restored["reapplied"] == 0
    assert restored["kept_last_admin"] == 1
    assert verdicts(target, secret(set_up.admin_key)) == [KeyCode.VALID]


def test_restore_stops_before_touching_the_database_when_the_journal_cannot_be_read(
    fresh_url: str, tmp_path: Path
) -> None:
    database = Database.connect(fresh_url)
    actor = admin(database, make_workspace(database))
    made = make_key(database, actor, name="made before the backup")
    backup = tmp_path / "keyward.backup"
    ok(cli(fresh_url, "backup", str(backup), "--json"))
    with database.transaction() as uow:
        keys.delete_key(uow, actor, made.id, revoke=True)
    database.dispose()
    missing = str(tmp_path / "a journal that is not there")
    refused = cli(
        fresh_url, "restore", str(backup), "--replace", KEYWARD_REVOCATION_JOURNAL=missing
    )
    assert refused.code == 1
    assert refused.stderr.startswith("error [revocation_journal_unavailable]")
    assert verdicts(fresh_url, secret(made)) == [KeyCode.KEY_INVALID]  # not restored


def test_a_backup_that_cannot_be_written_is_one_line_naming_the_file(
    fresh_url: str, tmp_path: Path
) -> None:
    database = Database.connect(fresh_url)
    make_workspace(database)
    database.dispose()
    blocked = tmp_path / "a file"
    blocked.write_text("")
    refused = cli(fresh_url, "backup", str(blocked / "keyward.backup"))
    assert refused.code == 1
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error [backup_not_written]")
    assert str(blocked / "keyward.backup") in lines[0]
