"""The key lifecycle over plain facts: what each state allows, and what waits for an approver."""

from datetime import UTC, datetime, timedelta

import pytest

from keyward.core.errors import Conflict
from keyward.core.lifecycle import (
    Approvals,
    Change,
    KeyFacts,
    Step,
    blocked,
    plan,
    plan_issue,
)

NOW = datetime(2026, 6, 1, tzinfo=UTC)
LATER = NOW + timedelta(days=3)
NONE = Approvals()
ALL = Approvals(issuance=True, renewal=True, revocation=True)


def facts(
    *,
    revoked: bool = False,
    expires_at: datetime | None = LATER,
    awaiting_approval: bool = False,
    pending_request: str | None = None,
) -> KeyFacts:
    return KeyFacts("key_1", revoked, expires_at, awaiting_approval, pending_request)


ACTIVE = facts()


def steps(change: Change, key: KeyFacts, approvals: Approvals = NONE, **options: bool) -> Step:
    return plan(
        change,
        key,
        NOW,
        approvals,
        approver=options.get("approver", False),
        allow_request=options.get("allow_request", True),
        revoke_first=options.get("revoke_first", False),
    )


def refusal(change: Change, key: KeyFacts, approvals: Approvals = NONE, **options: bool) -> str:
    with pytest.raises(Conflict) as refused:
        steps(change, key, approvals, **options)
    return refused.value.code


def test_an_active_key_changes_at_once_without_approvals() -> None:
    for change in (Change.RENEW, Change.ROTATE, Change.REVOKE):
        assert steps(change, ACTIVE) is Step.APPLY
    assert plan_issue(NONE, approver=False, allow_request=False) is Step.APPLY


@pytest.mark.parametrize("change", [Change.RENEW, Change.REVOKE])
def test_where_the_policy_wants_an_approver_a_change_is_requested_unless_made_by_one(
    change: Change,
) -> None:
    assert steps(change, ACTIVE, ALL) is Step.REQUEST
    assert steps(change, ACTIVE, ALL, approver=True) is Step.APPLY
    code = refusal(change, ACTIVE, ALL, allow_request=False)
    assert code == {Change.RENEW: "renewal", Change.REVOKE: "revocation"}[change] + (
        "_requires_approval"
    )


def test_issuance_waits_like_the_other_changes() -> None:
    assert plan_issue(ALL, approver=False, allow_request=True) is Step.REQUEST
    assert plan_issue(ALL, approver=True, allow_request=False) is Step.APPLY
    with pytest.raises(Conflict) as refused:
        plan_issue(ALL, approver=False, allow_request=False)
    assert refused.value.code == "issuance_requires_approval"


def test_a_revoked_key_changes_no_more() -> None:
    revoked = facts(revoked=True)
    assert refusal(Change.RENEW, revoked) == "key_revoked"
    assert refusal(Change.ROTATE, revoked) == "key_revoked"
    assert steps(Change.REVOKE, revoked) is Step.NOTHING
    assert steps(Change.DELETE, revoked) is Step.APPLY


def test_a_key_awaiting_its_issuance_is_only_withdrawn() -> None:
    waiting = facts(awaiting_approval=True, expires_at=None, pending_request="kreq_1")
    assert refusal(Change.RENEW, waiting) == "key_awaiting_approval"
    assert refusal(Change.ROTATE, waiting) == "key_awaiting_approval"
    assert steps(Change.REVOKE, waiting, ALL, allow_request=False) is Step.APPLY
    assert refusal(Change.DELETE, waiting, revoke_first=True) == "key_request_pending"


def test_a_pending_request_blocks_renewal_deletion_and_another_revocation_request() -> None:
    pending = facts(pending_request="kreq_1")
    assert refusal(Change.RENEW, pending) == "key_request_pending"
    assert refusal(Change.DELETE, facts(revoked=True, pending_request="kreq_1")) == (
        "key_request_pending"
    )
    assert refusal(Change.REVOKE, pending, ALL) == "key_request_pending"
    # An approver's revocation goes through, closing the request.
    assert steps(Change.REVOKE, pending, ALL, approver=True) is Step.APPLY


def test_expiry_and_never_expiring() -> None:
    assert refusal(Change.RENEW, facts(expires_at=None)) == "key_never_expires"
    assert refusal(Change.ROTATE, facts(expires_at=NOW)) == "key_expired"
    assert steps(Change.RENEW, facts(expires_at=NOW - timedelta(days=1))) is Step.APPLY


def test_deleting_an_active_key_revokes_it_first_only_where_nobody_must_approve() -> None:
    assert refusal(Change.DELETE, ACTIVE) == "key_not_revoked"
    assert steps(Change.DELETE, ACTIVE, revoke_first=True) is Step.APPLY
    assert refusal(Change.DELETE, ACTIVE, ALL, revoke_first=True) == (
        "revocation_requires_approval"
    )


def test_an_approved_request_is_not_applied_to_a_key_that_changed_meanwhile() -> None:
    assert blocked(Change.RENEW, None) == "key_deleted"
    assert blocked(Change.REVOKE, facts(revoked=True)) == "key_revoked"
    assert blocked(Change.RENEW, facts(expires_at=None)) == "key_never_expires"
    assert blocked(Change.ISSUE, facts(awaiting_approval=True, expires_at=None)) is None
    assert blocked(Change.RENEW, ACTIVE) is None
