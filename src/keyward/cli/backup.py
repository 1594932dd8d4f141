"""`keyward backup` and `keyward restore`: a consistent snapshot while keyward serves, and a
restore that does not bring revoked keys back.

A restore re-applies what the revocation journal (`KEYWARD_REVOCATION_JOURNAL`) recorded after
the snapshot: revocations, deletions, deactivations. Without a journal it cannot know what
happened since, so the restored database is marked and `keyward serve` refuses it until the
operator runs `keyward restore --accept-without-journal`.
"""

from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from keyward.cli.context import JsonFlag, emit, open_database, reporting, state
from keyward.cli.database import location, reach
from keyward.cli.files import missing
from keyward.core.errors import Conflict, InvalidInput, KeywardError
from keyward.db import backup as snapshots
from keyward.db.engine import Database
from keyward.db.migrate import upgrade
from keyward.domains.journal import files
from keyward.domains.journal import service as journal

ACCEPT_HINT = (
    "revoke again by hand whatever was revoked or deleted since the backup, then run "
    "'keyward restore --accept-without-journal'"
)


def backup(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="Where to write the backup (replaced if there).")],
    as_json: JsonFlag = False,
) -> None:
    """Write a consistent snapshot of the database to FILE, while keyward goes on serving."""
    settings = state(ctx).settings
    with reporting(as_json):
        database = open_database(settings)
        try:
            taken = snapshots.backup(database, file)
        finally:
            database.dispose()
    document = {"file": str(file.expanduser().resolve()), **asdict(taken)}
    if as_json:
        emit(document, True)
        return
    typer.echo(
        f"Backed up {location(settings.database_url)} to {document['file']} "
        f"(taken at {taken.taken_at}, change feed at {taken.feed_seq})."
    )


def _accept(database: Database, as_json: bool) -> None:
    with database.transaction() as uow:
        accepted = journal.accept(uow)
    if as_json:
        emit({"accepted_workspaces": accepted}, True)
    elif accepted:
        typer.echo(f"Accepted the restore without a journal in {len(accepted)} workspace(s).")
    else:
        typer.echo("No restore was waiting to be accepted.")


def restore(
    ctx: typer.Context,
    file: Annotated[
        Path | None, typer.Argument(help="A file made by 'keyward backup'.", show_default=False)
    ] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="Overwrite a database that already holds data.")
    ] = False,
    accept_without_journal: Annotated[
        bool,
        typer.Option(
            "--accept-without-journal",
            help="Let keyward serve a database restored without a revocation journal.",
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Restore FILE into KEYWARD_DATABASE_URL, then re-apply the revocations, deletions and
    deactivations the revocation journal recorded after the backup was taken."""
    settings = state(ctx).settings
    with reporting(as_json):
        if accept_without_journal:
            if file is not None:
                raise InvalidInput(
                    "--accept-without-journal takes no FILE: restore first, then accept.",
                    code="restore_usage",
                )
            _accept(open_database(settings), as_json)
            return
        if file is None:
            raise InvalidInput(
                "Name the backup file to restore: keyward restore FILE.", code="restore_usage"
            )
        if not file.exists():
            raise missing(file, "backup")
        taken = snapshots.read_snapshot(file)
        sink = files.open_journal(settings.revocation_journal)
        # Read before the target is touched: a journal that cannot be read stops the restore.
        later = (
            journal.after_snapshot(
                sink.entries(), taken.feed_seq, datetime.fromisoformat(taken.taken_at)
            )
            if sink is not None
            else []
        )
        database = reach(settings.database_url, create=True)
        try:
            where = location(settings.database_url)
            if snapshots.holds_data(database) and not replace:
                raise Conflict(
                    f"The database at {where} already holds data: restore into an empty "
                    "database, or add --replace to overwrite it (stop keyward first).",
                    code="restore_target_not_empty",
                    details={"database": where},
                )
            snapshots.restore(database, file, taken)
            with database.engine.begin() as connection:
                upgrade(connection)
            details = {
                "backup_taken_at": taken.taken_at,
                "backup_feed_seq": taken.feed_seq,
                "journal": str(sink) if sink is not None else None,
            }
            with database.transaction() as uow:
                done = journal.reapply(uow, later)
                journal.mark_restored(
                    uow,
                    {**details, "reapplied": done.changed},
                    journaled=sink is not None,
                )
        finally:
            database.dispose()
    document = {
        "database": where,
        **details,
        "journal_entries_after_backup": done.considered,
        "reapplied": done.changed,
        "kept_last_admin": done.kept_last_admin,
        "serving_allowed": sink is not None,
    }
    if as_json:
        emit(document, True)
        return
    typer.echo(f"Restored {file} (taken at {taken.taken_at}) into {where}.")
    if sink is not None:
        typer.echo(
            f"Re-applied {done.changed} of {done.considered} journal entries made after the "
            f"backup, from {sink}."
        )
        if done.kept_last_admin:
            typer.echo(
                f"{done.kept_last_admin} of them would have left a workspace without an active "
                "admin and were not applied (audited as restore.reapplied, refused): see "
                "'keyward audit list'."
            )
    else:
        typer.echo(
            "No revocation journal is configured: keyward serve refuses this database until "
            f"you {ACCEPT_HINT}."
        )


def ensure_servable(database: Database) -> None:
    """Refuse (`restore_unaccepted`) a database restored without a journal and not accepted."""
    with database.transaction(write=False) as uow:
        waiting = journal.unaccepted(uow)
    if waiting:
        raise KeywardError(
            "This database was restored from a backup without a revocation journal, so keys "
            f"revoked after the backup may work again: {ACCEPT_HINT}.",
            code="restore_unaccepted",
            details={"workspaces": waiting},
        )
