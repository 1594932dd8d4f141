"""The revocation journal without a database: which audited changes become entries, which
entries a snapshot predates, and the files they are kept in."""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from keyward.core.errors import Unavailable
from keyward.db.models import AuditEvent
from keyward.domains.journal import entries
from keyward.domains.journal.files import DirectoryJournal, open_journal
from keyward.domains.journal.service import after_snapshot

AT = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def event(action: str, details: dict[str, Any], outcome: str = "success") -> AuditEvent:
    return AuditEvent(
        id="evt_01jd0000000000000000000000",
        workspace_id="ws_01jd0000000000000000000000",
        occurred_at=AT,
        actor_type="key",
        actor_key_id=None,
        actor_member_id="mem_01jd0000000000000000000000",
        action=action,
        target_type="key",
        target_id="key_01jd0000000000000000000000",
        outcome=outcome,
        code=None,
        ip=None,
        user_agent=None,
        request_id=None,
        details=details,
    )


@pytest.mark.parametrize(
    ("action", "details", "journaled"),
    [
        ("key.revoke", {"reason": "left"}, "key.revoke"),
        ("key.delete", {}, "key.delete"),
        ("member.delete", {}, "member.delete"),
        ("member.update", {"active": False}, "member.deactivate"),
        ("member.update", {"active": True}, None),
        ("member.update", {"name": {"from": "A", "to": "B"}}, None),
        (
            "member.permissions.update",
            {"roles": {"from": ["admin"], "to": []}, "permissions": {"from": [], "to": []}},
            "member.permissions.remove",
        ),
        (
            "member.permissions.update",
            {"roles": {"from": [], "to": ["admin"]}, "permissions": {"from": [], "to": []}},
            None,
        ),
        ("key.create", {}, None),
        ("key.rotate", {}, None),
    ],
)
def test_only_what_takes_access_away_is_journaled(
    action: str, details: dict[str, Any], journaled: str | None
) -> None:
    entry = entries.entry_of(event(action, details))
    assert (entry["action"] if entry else None) == journaled


def test_a_refused_attempt_is_not_journaled() -> None:
    assert entries.entry_of(event("key.revoke", {}, outcome="refused")) is None


def test_an_entry_names_what_was_taken_and_by_whom() -> None:
    entry = entries.entry_of(
        event(
            "member.permissions.update",
            {
                "roles": {"from": ["admin", "viewer"], "to": ["viewer"]},
                "permissions": {"from": ["keys:read"], "to": ["apis:read"]},
            },
        )
    )
    assert entry is not None
    assert entry["roles"] == ["admin"]
    assert entry["permissions"] == ["keys:read"]
    assert entry["actor_member_id"] == "mem_01jd0000000000000000000000"
    assert entry["at"] == AT.isoformat()


def journaled(seq: int | None, at: datetime, action: str = "key.revoke") -> dict[str, Any]:
    return {"v": 1, "action": action, "seq": seq, "at": at.isoformat(), "target_id": str(seq)}


def test_a_snapshot_predates_the_entries_past_its_feed_position_and_unnumbered_later_ones() -> None:
    journal = [
        journaled(7, AT + timedelta(seconds=2)),
        journaled(3, AT - timedelta(seconds=5)),
        journaled(5, AT + timedelta(seconds=1)),  # in the snapshot: its position is
        journaled(None, AT - timedelta(seconds=1)),
        journaled(None, AT + timedelta(seconds=3)),
        journaled(9, AT, action="key.restore"),  # no action the journal knows
        {**journaled(8, AT), "v": 2},  # a format this keyward does not read
    ]
    later = after_snapshot(journal, feed_seq=5, taken_at=AT)
    assert [(e["seq"], e["at"]) for e in later] == [
        (7, (AT + timedelta(seconds=2)).isoformat()),
        (None, (AT + timedelta(seconds=3)).isoformat()),
    ]


def test_the_journal_reads_back_what_it_wrote_and_skips_a_line_cut_short(tmp_path: Path) -> None:
    journal = DirectoryJournal(tmp_path / "journal")
    journal.append([journaled(1, AT), journaled(2, AT)])
    journal.append([journaled(3, AT + timedelta(days=1))])
    with journal.file_for(AT.date().isoformat()).open("a") as cut:
        cut.write('{"v": 1, "act')
    # The next entry after a crash cut a line short is still whole.
    journal.append([journaled(4, AT)])
    assert [e["seq"] for e in journal.entries()] == [1, 2, 4, 3]
    assert len(list((tmp_path / "journal").iterdir())) == 2


def test_a_journal_that_is_not_a_directory_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(Unavailable) as refused:
        list(DirectoryJournal(tmp_path / "missing").entries())
    assert refused.value.code == "revocation_journal_unavailable"


def test_only_a_local_directory_is_a_journal() -> None:
    assert open_journal(None) is None
    assert open_journal("") is None
    with pytest.raises(Exception, match="local directory") as refused:
        open_journal("s3://bucket/prefix")
    assert getattr(refused.value, "code", None) == "revocation_journal_unsupported"
