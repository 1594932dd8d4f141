"""`keyward gateways list`, and the receipt `keyward keys revoke|delete` print, as real processes,
beside a gateway's feed follower that keeps up and one gateway that is stuck."""

from collections.abc import Iterator
from contextlib import contextmanager

from keyward.db import feed
from keyward.db.engine import Database
from keyward.verifier import FeedFollower, Verifier
from keyward.verifier.heartbeat import Heartbeat
from tests.e2e.processes import cli

# Long enough that a row stays live while a slow machine starts the CLI's processes.
INTERVAL = 120.0
WAIT = {"KEYWARD_ENFORCEMENT_WAIT": "5"}


@contextmanager
def following_gateway(url: str) -> Iterator[Heartbeat]:
    """A gateway's follower with its heartbeat, reading the feed as a gateway does."""
    database = Database.connect(url)
    heartbeat = Heartbeat(database, address="127.0.0.1:8081", version="9.9.9", interval=INTERVAL)
    follower = FeedFollower(database, Verifier(database), interval=0.05, heartbeat=heartbeat)
    follower.start()
    try:
        yield heartbeat
    finally:
        follower.stop()
        database.dispose()


def stuck_gateway(url: str) -> Heartbeat:
    """A gateway that beat once, at the feed's current position, and never read it again."""
    database = Database.connect(url)
    with database.transaction(write=False) as uow:
        position = feed.bounds(uow.session)[1]
    heartbeat = Heartbeat(database, address="127.0.0.1:8082", version="9.9.9", interval=INTERVAL)
    heartbeat.beat(position)
    database.dispose()
    return heartbeat


def _key(url: str, name: str) -> str:
    made = cli(url, "keys", "create", "--name", name, "--json")
    assert made.code == 0, made.stderr
    return str(made.json()["id"])


def test_revoke_and_delete_print_whether_every_gateway_enforces_them(fresh_url: str) -> None:
    assert cli(fresh_url, "init", "--json").code == 0
    first, second, third = (_key(fresh_url, name) for name in ("ci", "laptop", "old"))
    alone = cli(fresh_url, "keys", "revoke", first, "--yes", "--json")
    assert alone.code == 0, alone.stderr
    assert alone.json()["enforcement"] == {"enforced_at": None, "gateways": 0, "lagging": []}
    with following_gateway(fresh_url):
        revoked = cli(fresh_url, "keys", "revoke", second, "--yes", **WAIT)
        assert revoked.code == 0, revoked.stderr
        assert revoked.stdout.splitlines()[-1] == "enforced by 1 gateway"
        stuck = stuck_gateway(fresh_url)
        deleted = cli(fresh_url, "keys", "delete", third, "--revoke", "--yes", "--json")
        assert deleted.code == 0, deleted.stderr
        receipt = deleted.json()["enforcement"]
        assert deleted.json()["deleted"] is True
        assert receipt["enforced_at"] is None
        assert receipt["gateways"] == 2
        assert [(g["id"], g["behind"]) for g in receipt["lagging"]] == [(stuck.id, 2)]
        deleted = cli(fresh_url, "keys", "delete", first, "--yes")
        assert deleted.code == 0, deleted.stderr
        assert deleted.stdout.splitlines()[-1] == (
            f"not yet enforced by: {stuck.id} at 127.0.0.1:8082 (3 behind)"
        )
        made = cli(fresh_url, "members", "create", "--email", "m@example.com", "--name", "M")
        assert made.code == 0, made.stderr
        gone = cli(fresh_url, "members", "delete", "m@example.com", "--yes", "--json")
        assert gone.code == 0, gone.stderr
        assert gone.json()["deleted"] is True
        assert [g["id"] for g in gone.json()["enforcement"]["lagging"]] == [stuck.id]


def test_gateways_list_shows_each_gateway_and_its_lag(fresh_url: str) -> None:
    assert cli(fresh_url, "init", "--json").code == 0
    stuck = stuck_gateway(fresh_url)
    _key(fresh_url, "ci")
    with following_gateway(fresh_url) as following:
        listed = cli(fresh_url, "gateways", "list", "--json")
        assert listed.code == 0, listed.stderr
        shown = {g["id"]: g for g in listed.json()["data"]}
        position = listed.json()["feed_position"]
        assert set(shown) == {stuck.id, following.id}
        assert shown[stuck.id]["applied"] == position - 1
        assert shown[stuck.id]["lag"]["changes"] == 1
        assert shown[stuck.id]["lag"]["seconds"] > 0
        assert shown[following.id]["address"] == "127.0.0.1:8081"
        assert all(g["live"] for g in shown.values())
        human = cli(fresh_url, "gateways", "list")
        assert human.code == 0, human.stderr
        lines = human.stdout.splitlines()
        assert lines[0].split()[:3] == ["ID", "ADDRESS", "VERSION"]
        stuck_line = next(line for line in lines if line.startswith(stuck.id))
        assert "127.0.0.1:8082" in stuck_line
        assert " 1 (" in stuck_line
        assert lines[-1] == f"feed position: {position}"
    # A gateway that stops cleanly takes its row with it.
    listed = cli(fresh_url, "gateways", "list", "--json")
    assert [g["id"] for g in listed.json()["data"]] == [stuck.id]
