"""The unused keys policy's decisions: warn once idle for warn_after, revoke once idle for
revoke_after but never sooner after the warning than the policy promises."""

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from keyward.core.unused import UnusedPolicy, UnusedStep

DAY = timedelta(days=1)
T0 = datetime(2026, 1, 1, tzinfo=UTC)
BOTH = UnusedPolicy(warn_after=60 * DAY, revoke_after=90 * DAY)


def test_a_key_is_warned_at_warn_after_and_revoked_at_revoke_after() -> None:
    assert BOTH.step(T0, None, T0 + 60 * DAY - timedelta(seconds=1)) is UnusedStep.NOTHING
    assert BOTH.step(T0, None, T0 + 60 * DAY) is UnusedStep.WARN
    warned = T0 + 60 * DAY
    assert BOTH.step(T0, warned, T0 + 75 * DAY) is UnusedStep.NOTHING, "warned once"
    assert BOTH.step(T0, warned, T0 + 90 * DAY) is UnusedStep.REVOKE


def test_a_key_idle_long_already_is_warned_first_and_revoked_after_the_promised_time() -> None:
    now = T0 + 400 * DAY
    assert BOTH.step(T0, None, now) is UnusedStep.WARN
    assert BOTH.step(T0, now, now + 30 * DAY - timedelta(seconds=1)) is UnusedStep.NOTHING
    assert BOTH.step(T0, now, now + 30 * DAY) is UnusedStep.REVOKE


def test_without_warn_after_keys_are_revoked_unwarned_and_without_revoke_after_never() -> None:
    revoke_only = UnusedPolicy(warn_after=None, revoke_after=90 * DAY)
    assert revoke_only.step(T0, None, T0 + 89 * DAY) is UnusedStep.NOTHING
    assert revoke_only.step(T0, None, T0 + 90 * DAY) is UnusedStep.REVOKE
    warn_only = UnusedPolicy(warn_after=60 * DAY, revoke_after=None)
    assert warn_only.step(T0, None, T0 + 60 * DAY) is UnusedStep.WARN
    assert warn_only.step(T0, T0 + 60 * DAY, T0 + 9000 * DAY) is UnusedStep.NOTHING
    assert not UnusedPolicy(None, None).active


@given(
    warn=st.integers(1, 400),
    extra=st.integers(1, 400),
    warned_after=st.one_of(st.none(), st.integers(0, 2000)),
    now_after=st.integers(0, 4000),
)
def test_no_key_is_revoked_before_revoke_after_nor_sooner_after_its_warning(
    warn: int, extra: int, warned_after: int | None, now_after: int
) -> None:
    policy = UnusedPolicy(warn_after=warn * DAY, revoke_after=(warn + extra) * DAY)
    warned = None if warned_after is None else T0 + (warn + warned_after) * DAY
    now = T0 + now_after * DAY
    step = policy.step(T0, warned, now)
    if step is UnusedStep.REVOKE:
        assert warned is not None
        assert now >= T0 + (warn + extra) * DAY
        assert now - warned >= extra * DAY
    if step is UnusedStep.WARN:
        assert warned is None
        assert now >= T0 + warn * DAY
