"""`peek`: a verdict without I/O for an event loop, else None; safe beside `verify` threads."""

import random
import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from keyward.core.clock import ManualClock
from keyward.core.keys import generate_key
from keyward.core.verdicts import UNKNOWN, KeyCode, Verdict
from keyward.db.engine import Database
from keyward.db.feed import Change, Entity
from keyward.db.models import ApiKey
from keyward.domains.keys import service as keys
from keyward.verifier import Verifier
from tests.factories import admin, make_key, make_workspace, secret
from tests.verifier.test_verifier import counting_statements


def test_peek_answers_a_cached_key_as_verify_does_without_io(
    db: Database, verifier: Verifier
) -> None:
    set_up = make_workspace(db)
    key = secret(set_up.admin_key)
    with counting_statements(db) as statements:
        assert verifier.peek(key) is None
    assert statements == [], "a key not yet read needs I/O: peek leaves it to verify"
    verdict = verifier.verify(key)
    with counting_statements(db) as statements:
        assert verifier.peek(key) is verdict
        assert verifier.peek(key, set_up.workspace.id) is verdict
    assert statements == []


def test_peek_answers_a_key_of_another_workspace_like_an_unknown_key(
    db: Database, verifier: Verifier
) -> None:
    ours, theirs = make_workspace(db), make_workspace(db)
    foreign, stranger = secret(theirs.admin_key), generate_key().secret
    assert verifier.verify(foreign).valid
    assert verifier.verify(stranger, ours.workspace.id) == UNKNOWN
    assert verifier.peek(foreign, ours.workspace.id) == UNKNOWN
    assert verifier.peek(stranger, ours.workspace.id) == UNKNOWN


def test_peek_refuses_malformed_and_recently_unknown_keys_without_io(
    db: Database, verifier: Verifier
) -> None:
    stranger = generate_key().secret
    assert verifier.verify(stranger) == UNKNOWN
    with counting_statements(db) as statements:
        for candidate in ("", "kw_", "not a key", "kw_\ud800", stranger):
            assert verifier.peek(candidate) == UNKNOWN
    assert statements == []
    verifier.apply([Change("ws_any", Entity.KEY, "key_any")])
    assert verifier.peek(stranger) is None, "a new key may be this one: ask storage"


def test_peek_leaves_a_key_due_for_a_refresh_to_verify(
    db: Database, verifier: Verifier, clock: ManualClock
) -> None:
    set_up = make_workspace(db)
    key = secret(set_up.admin_key)
    assert verifier.verify(key).valid
    with db.transaction() as uow:
        keys.revoke_key(uow, admin(db, set_up), set_up.admin_key.id)
    clock.advance(timedelta(seconds=301))
    assert verifier.peek(key) is None
    assert verifier.verify(key).code is KeyCode.KEY_REVOKED
    assert verifier.peek(key) == verifier.verify(key)


def test_keys_answered_by_peek_have_their_usage_written(
    db: Database, verifier: Verifier, clock: ManualClock
) -> None:
    set_up = make_workspace(db)
    key = secret(set_up.admin_key)
    verifier.verify(key)
    verifier.flush_usage()
    clock.advance(timedelta(seconds=60))
    assert verifier.peek(key) is not None
    verifier.flush_usage()
    with db.transaction(write=False) as uow:
        used = uow.session.scalar(
            select(ApiKey.last_used_at).where(ApiKey.id == set_up.admin_key.id)
        )
    assert used == clock.now()


@pytest.fixture
def database(fresh_url: str) -> Iterator[Database]:
    database = Database.connect(fresh_url)
    yield database
    database.dispose()


def test_peek_from_a_loop_and_verify_from_threads_agree_while_the_cache_churns(
    database: Database,
) -> None:
    """Executor threads verify, the follower evicts and clears, the loop peeks, all at once."""
    set_up = make_workspace(database)
    actor = admin(database, set_up)
    created = [make_key(database, actor) for _ in range(20)]
    good = {secret(c): c.id for c in created}
    strangers = [generate_key().secret for _ in range(20)]
    candidates = [*good, *strangers]
    verifier = Verifier(database, max_entries=16)
    failures: list[BaseException] = []
    wrong: list[tuple[str, Verdict | None]] = []
    stop = threading.Event()

    def expect(key: str, verdict: Verdict | None) -> None:
        if verdict is None:
            return
        if key in good and not (verdict.valid and verdict.key_id == good[key]):
            wrong.append((key, verdict))
        if key not in good and verdict != UNKNOWN:
            wrong.append((key, verdict))

    def executor(seed: int) -> None:
        chooser = random.Random(seed)
        try:
            while not stop.is_set():
                key = chooser.choice(candidates)
                expect(key, verifier.verify(key, set_up.workspace.id))
        except BaseException as error:
            failures.append(error)

    def follower() -> None:
        chooser = random.Random(0)
        try:
            while not stop.is_set():
                if chooser.random() < 0.1:
                    verifier.clear()
                else:
                    key_id = good[chooser.choice(list(good))]
                    verifier.apply([Change(set_up.workspace.id, Entity.KEY, key_id)])
                verifier.flush_usage()
                time.sleep(0.001)
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=executor, args=(n,)) for n in range(4)]
    threads.append(threading.Thread(target=follower))
    for thread in threads:
        thread.start()
    chooser = random.Random(1)
    peeked = 0
    deadline = time.monotonic() + 1.0
    try:
        while time.monotonic() < deadline:
            key = chooser.choice(candidates)
            verdict = verifier.peek(key, set_up.workspace.id)
            peeked += verdict is not None
            expect(key, verdict)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert failures == []
    assert wrong == []
    assert peeked > 0
