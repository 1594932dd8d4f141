"""The journal on disk: JSON lines, one file a day, appended and fsync'd, readable only by
keyward's own user (0600 in a 0700 directory).

Several processes (the API, the worker, CLI commands) append to the same file: each batch is
one `write` under an exclusive lock, so lines never interleave.
"""

import fcntl
import json
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from keyward.core.errors import InvalidInput, Unavailable

log = logging.getLogger(__name__)
PREFIX = "revocations-"
SUFFIX = ".jsonl"


class DirectoryJournal:
    """A revocation journal kept in a local directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def __str__(self) -> str:
        return str(self.directory)

    def file_for(self, day: str) -> Path:
        return self.directory / f"{PREFIX}{day}{SUFFIX}"

    def append(self, entries: Sequence[dict[str, Any]]) -> None:
        """Append `entries` to the file of the first one's day and fsync it; raise
        `revocation_journal_unavailable` (503) if that cannot be done."""
        if not entries:
            return
        data = "".join(
            json.dumps(entry, sort_keys=True, separators=(",", ":")) + "\n" for entry in entries
        ).encode()
        path = self.file_for(str(entries[0]["at"])[:10])
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            created = not path.exists()
            fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                size = os.fstat(fd).st_size
                # A line cut short by a crash stays one bad line, never glued to the next entry.
                lines = b"\n" + data if size and os.pread(fd, 1, size - 1) != b"\n" else data
                view = memoryview(lines)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            if created:  # the new file's name must survive a crash too
                directory = os.open(self.directory, os.O_RDONLY | os.O_CLOEXEC)
                try:
                    os.fsync(directory)
                finally:
                    os.close(directory)
        except OSError as error:
            # The caller is told (503, or the command's error) and nothing was changed.
            raise Unavailable(
                f"The revocation journal at {self.directory} cannot be written "
                f"({error.strerror or error}), so nothing was changed: make it writable by "
                "keyward (KEYWARD_REVOCATION_JOURNAL) and try again.",
                code="revocation_journal_unavailable",
                details={"journal": str(self.directory)},
            ) from None

    def entries(self) -> Iterator[dict[str, Any]]:
        """Every entry, file by file in date order. A line that is not a whole JSON object
        (a write cut short by a crash) is skipped and logged."""
        if not self.directory.is_dir():
            raise Unavailable(
                f"The revocation journal {self.directory} is not a directory keyward can read, "
                "so nothing was restored: set KEYWARD_REVOCATION_JOURNAL to the journal's "
                "directory (one nothing was ever written to is created at the first revocation: "
                "create it empty).",
                code="revocation_journal_unavailable",
                details={"journal": str(self.directory)},
            )
        for path in sorted(self.directory.glob(f"{PREFIX}*{SUFFIX}")):
            with path.open("rb") as lines:
                for number, line in enumerate(lines, 1):
                    try:
                        entry = json.loads(line)
                    except ValueError:
                        entry = None
                    if not isinstance(entry, dict):
                        log.warning(
                            "revocation journal %s:%d is not an entry; skipped", path, number
                        )
                        continue
                    yield entry


def open_journal(location: str | None) -> DirectoryJournal | None:
    """The journal `KEYWARD_REVOCATION_JOURNAL` names, or None when it names none."""
    if not location:
        return None
    if "://" in location:
        raise InvalidInput(
            f"KEYWARD_REVOCATION_JOURNAL names {location.partition('://')[0]}:// storage; "
            "keyward keeps its revocation journal in a local directory only: give a path.",
            code="revocation_journal_unsupported",
        )
    return DirectoryJournal(Path(location).expanduser())
