"""Portal sessions over plain data: tokens, CSRF tokens, timeouts and the sign-in throttle."""

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from keyward.core.sessions import (
    SessionLimits,
    SessionPhase,
    Throttle,
    csrf_token,
    email_digest,
    needs_touch,
    new_token,
    same_secret,
    session_phase,
    token_digest,
    whole_minutes,
)

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
LIMITS = SessionLimits(idle=timedelta(minutes=30), lifetime=timedelta(hours=12))


def test_tokens_are_random_url_safe_and_only_their_digest_is_kept() -> None:
    tokens = {new_token() for _ in range(100)}
    assert len(tokens) == 100
    token = tokens.pop()
    assert len(token) >= 43
    assert all(c.isalnum() or c in "-_" for c in token)
    assert len(token_digest(token)) == 32
    assert token.encode() not in token_digest(token)
    assert token_digest(token) == token_digest(token)


def test_an_e_mail_address_is_counted_however_it_is_written() -> None:
    assert email_digest(" Pat@Example.COM ") == email_digest("pat@example.com")
    assert email_digest("pat@example.com") != email_digest("pam@example.com")


def test_the_csrf_token_belongs_to_its_session_and_is_not_the_session_token() -> None:
    one, other = new_token(), new_token()
    assert csrf_token(one) == csrf_token(one)
    assert csrf_token(one) != csrf_token(other)
    assert one not in csrf_token(one)


def test_a_csrf_token_matches_only_itself() -> None:
    token = csrf_token(new_token())
    assert same_secret(token, token)
    assert not same_secret(token, token[:-1] + ("0" if token[-1] != "0" else "1"))
    assert not same_secret(token, None)
    assert not same_secret(token, "")
    assert not same_secret("", "")
    assert not same_secret(token, token + "x")
    assert not same_secret(token, "\udcff")


@given(st.text(max_size=80))
def test_no_forged_text_passes_as_a_csrf_token(forged: str) -> None:
    token = csrf_token("the session")
    assert same_secret(token, forged) == (forged == token)


def test_a_session_lives_until_idle_or_too_old() -> None:
    assert session_phase(T0, T0, T0, LIMITS) is SessionPhase.ACTIVE
    later = T0 + timedelta(minutes=29, seconds=59)
    assert session_phase(T0, T0, later, LIMITS) is SessionPhase.ACTIVE
    assert session_phase(T0, T0, T0 + timedelta(minutes=30), LIMITS) is SessionPhase.IDLE
    busy = T0 + timedelta(hours=12)
    assert session_phase(T0, busy - timedelta(seconds=1), busy, LIMITS) is SessionPhase.EXPIRED


def test_a_live_session_is_marked_seen_now_and_then() -> None:
    assert not needs_touch(T0, T0 + timedelta(seconds=59), LIMITS)
    assert needs_touch(T0, T0 + timedelta(minutes=1), LIMITS)
    short = SessionLimits(idle=timedelta(seconds=20), lifetime=timedelta(hours=1))
    assert short.touch_every == timedelta(seconds=2)
    assert needs_touch(T0, T0 + timedelta(seconds=2), short)


def test_the_throttle_allows_up_to_its_limit_within_the_window() -> None:
    throttle = Throttle(5, timedelta(minutes=15))
    failures = [T0 + timedelta(minutes=m) for m in range(4)]
    assert throttle.wait(failures, T0 + timedelta(minutes=5)) is None
    failures.append(T0 + timedelta(minutes=4))
    now = T0 + timedelta(minutes=5)
    # The oldest failure leaves the window at T0 + 15 min: ten minutes from now.
    assert throttle.wait(failures, now) == timedelta(minutes=10)
    assert throttle.wait(failures, T0 + timedelta(minutes=15)) is None


def test_the_throttle_counts_only_failures_inside_the_window() -> None:
    throttle = Throttle(2, timedelta(minutes=15))
    old = [T0 - timedelta(hours=1), T0 - timedelta(minutes=20)]
    assert throttle.wait([*old, T0], T0) is None
    many = [T0 - timedelta(minutes=m) for m in (1, 2, 3, 14)]
    # Two must leave for another attempt: the second-newest leaves at T0 + 13 min.
    assert throttle.wait(many, T0) == timedelta(minutes=13)


def test_waits_are_told_in_whole_minutes_rounded_up() -> None:
    assert whole_minutes(timedelta(seconds=1)) == 1
    assert whole_minutes(timedelta(seconds=60)) == 1
    assert whole_minutes(timedelta(seconds=61)) == 2
    assert whole_minutes(timedelta(minutes=15)) == 15
    assert whole_minutes(timedelta(0)) == 1
