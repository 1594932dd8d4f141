"""What a key is worth at one moment: verdict precedence, effective rights, required rights."""

import pytest

from keyward.core.ownership import Grant, Reach, Standing
from keyward.core.permissions import EMPTY, PermissionSet
from keyward.core.verdicts import (
    MISSING,
    UNKNOWN,
    AcquisitionTerms,
    KeyCode,
    KeySnapshot,
    Verdict,
)

NOW = 1_780_000_000.0
PAST = NOW - 60.0
FUTURE = NOW + 60.0


def make_snapshot(
    *,
    revoked: bool = False,
    member_id: str | None = "mem_1",
    member_active: bool = True,
    expires_at: float | None = None,
    key_permissions: tuple[str, ...] = ("keys:*",),
    member_permissions: tuple[str, ...] = ("*:*",),
    acquisition: AcquisitionTerms | None = None,
) -> KeySnapshot:
    return KeySnapshot(
        key_id="key_1",
        workspace_id="ws_1",
        member_id=member_id,
        kind="account" if acquisition is None else "acquisition",
        acquisition=acquisition,
        revoked=revoked,
        member_active=member_active,
        expires_at=expires_at,
        key_permissions=PermissionSet.parse(key_permissions),
        member_standing=Standing(
            member_id, (Grant(PermissionSet.parse(member_permissions), Reach.WORKSPACE),)
        ),
    )


def test_usable_key_is_valid_and_carries_its_identity() -> None:
    verdict = make_snapshot(expires_at=FUTURE).verdict(NOW)
    assert verdict.code is KeyCode.VALID
    assert verdict.valid
    assert (verdict.key_id, verdict.workspace_id, verdict.member_id) == ("key_1", "ws_1", "mem_1")
    assert verdict.kind == "account"
    assert verdict.expires_at == FUTURE
    assert verdict.message == "The key is valid."


@pytest.mark.parametrize(
    ("snapshot", "expected"),
    [
        (make_snapshot(revoked=True, member_active=False, expires_at=PAST), KeyCode.KEY_REVOKED),
        (make_snapshot(revoked=True, member_id=None), KeyCode.KEY_REVOKED),
        (make_snapshot(revoked=True), KeyCode.KEY_REVOKED),
        (make_snapshot(member_active=False, expires_at=PAST), KeyCode.KEY_DISABLED),
        (make_snapshot(member_id=None, expires_at=PAST), KeyCode.KEY_DISABLED),
        (make_snapshot(member_active=False), KeyCode.KEY_DISABLED),
        (make_snapshot(member_id=None), KeyCode.KEY_DISABLED),
        (make_snapshot(expires_at=PAST), KeyCode.KEY_EXPIRED),
        (make_snapshot(expires_at=NOW), KeyCode.KEY_EXPIRED),
        (make_snapshot(expires_at=NOW + 0.001), KeyCode.VALID),
        (make_snapshot(), KeyCode.VALID),
    ],
    ids=[
        "revoked-beats-disabled-and-expired",
        "revoked-beats-missing-member",
        "revoked",
        "inactive-member-beats-expired",
        "missing-member-beats-expired",
        "inactive-member",
        "missing-member",
        "expired",
        "expired-at-the-expiry-instant",
        "valid-just-before-expiry",
        "valid-without-expiry",
    ],
)
def test_verdict_precedence_revoked_then_disabled_then_expired(
    snapshot: KeySnapshot, expected: KeyCode
) -> None:
    verdict = snapshot.verdict(NOW)
    assert verdict.code is expected
    assert verdict.valid is (expected is KeyCode.VALID)


def test_same_snapshot_expires_as_the_clock_moves() -> None:
    snapshot = make_snapshot(expires_at=NOW)
    assert snapshot.verdict(NOW - 1).code is KeyCode.VALID
    assert snapshot.verdict(NOW).code is KeyCode.KEY_EXPIRED
    assert snapshot.verdict(NOW + 1).code is KeyCode.KEY_EXPIRED


def acquisition_terms(valid_from: float, valid_until: float | None) -> AcquisitionTerms:
    return AcquisitionTerms("acq_1", "org_1", "off_1", "api_1", valid_from, valid_until)


HELD = ("acquisitions:use@acq_1",)
MOMENTS = (PAST - 1, PAST, NOW - 1, NOW, NOW + 1, FUTURE - 1, FUTURE, FUTURE + 1)


@pytest.mark.parametrize(
    ("snapshot", "valid_at"),
    [
        (make_snapshot(), MOMENTS),
        (make_snapshot(expires_at=NOW), (PAST - 1, PAST, NOW - 1)),
        (make_snapshot(revoked=True, expires_at=FUTURE), ()),
        (make_snapshot(member_active=False), ()),
        (
            make_snapshot(acquisition=acquisition_terms(PAST, None), key_permissions=HELD),
            MOMENTS[1:],
        ),
        (
            make_snapshot(acquisition=acquisition_terms(NOW, FUTURE), key_permissions=HELD),
            (NOW, NOW + 1, FUTURE - 1),
        ),
        (
            make_snapshot(
                acquisition=acquisition_terms(PAST, FUTURE), expires_at=NOW, key_permissions=HELD
            ),
            (PAST, NOW - 1),
        ),
        (
            make_snapshot(
                acquisition=acquisition_terms(PAST, NOW), expires_at=FUTURE, key_permissions=HELD
            ),
            (PAST, NOW - 1),
        ),
        (make_snapshot(acquisition=acquisition_terms(PAST, FUTURE)), ()),
    ],
    ids=[
        "forever",
        "key-expiring",
        "revoked",
        "disabled",
        "acquisition-open-ended",
        "acquisition-starting",
        "key-expiring-first",
        "acquisition-ending-first",
        "acquisition-not-held",
    ],
)
def test_the_good_window_holds_exactly_the_moments_the_key_is_valid(
    snapshot: KeySnapshot, valid_at: tuple[float, ...]
) -> None:
    """The verifier answers a cached key from `good_from`/`good_until` without asking for the
    verdict: the window must agree with `verdict` at every moment, its ends included."""
    assert [now for now in MOMENTS if snapshot.verdict(now) is snapshot.valid] == list(valid_at)
    assert [now for now in MOMENTS if snapshot.good_from <= now < snapshot.good_until] == list(
        valid_at
    )


@pytest.mark.parametrize(
    "snapshot",
    [
        make_snapshot(revoked=True),
        make_snapshot(member_active=False),
        make_snapshot(member_id=None),
        make_snapshot(expires_at=PAST),
    ],
    ids=["revoked", "inactive-member", "missing-member", "expired"],
)
def test_invalid_verdict_grants_nothing(snapshot: KeySnapshot) -> None:
    verdict = snapshot.verdict(NOW)
    assert not verdict.valid
    assert verdict.permissions == EMPTY


@pytest.mark.parametrize(
    ("key_permissions", "member_permissions", "effective"),
    [
        (("keys:*",), ("*:*",), ["keys:*"]),
        (("*:*",), ("keys:read", "apis:read"), ["apis:read", "keys:read"]),
        (("keys:*", "audit:read"), ("*:read",), ["audit:read", "keys:read"]),
        (("keys:*@key_9",), ("keys:read", "keys:revoke"), ["keys:read@key_9", "keys:revoke@key_9"]),
        (("members:grant",), ("keys:*",), []),
        ((), ("*:*",), []),
    ],
)
def test_valid_verdict_grants_key_rights_intersected_with_member_rights(
    key_permissions: tuple[str, ...], member_permissions: tuple[str, ...], effective: list[str]
) -> None:
    verdict = make_snapshot(
        key_permissions=key_permissions, member_permissions=member_permissions
    ).verdict(NOW)
    assert verdict.code is KeyCode.VALID
    assert verdict.permissions.strings() == effective


def test_requiring_held_permissions_keeps_the_valid_verdict() -> None:
    verdict = make_snapshot(member_permissions=("keys:read", "keys:revoke")).verdict(NOW)
    assert verdict.requiring(PermissionSet.parse(["keys:read"])) == verdict
    assert verdict.requiring(PermissionSet.parse(["keys:revoke@key_3"])).valid
    assert verdict.requiring(EMPTY).valid


def test_requiring_a_permission_not_covered_gives_insufficient_rights() -> None:
    verdict = make_snapshot(member_permissions=("keys:read",)).verdict(NOW)
    refused = verdict.requiring(PermissionSet.parse(["keys:read", "keys:revoke"]))
    assert refused.code is KeyCode.INSUFFICIENT_RIGHTS
    assert not refused.valid
    assert refused.message == "The API key is valid but does not grant what was asked."
    assert (refused.key_id, refused.workspace_id) == ("key_1", "ws_1")


def test_requiring_unbound_permission_of_key_bound_to_one_resource_is_insufficient() -> None:
    verdict = make_snapshot(key_permissions=("keys:read@key_9",)).verdict(NOW)
    assert verdict.requiring(PermissionSet.parse(["keys:read@key_9"])).valid
    assert verdict.requiring(PermissionSet.parse(["keys:read"])).code is (
        KeyCode.INSUFFICIENT_RIGHTS
    )


@pytest.mark.parametrize(
    "verdict",
    [
        make_snapshot(revoked=True).verdict(NOW),
        make_snapshot(member_active=False).verdict(NOW),
        make_snapshot(expires_at=PAST).verdict(NOW),
        MISSING,
        UNKNOWN,
    ],
    ids=["revoked", "disabled", "expired", "missing", "unknown"],
)
def test_requiring_leaves_invalid_verdicts_alone(verdict: Verdict) -> None:
    assert verdict.requiring(PermissionSet.parse(["*:*"])) == verdict


def test_unknown_and_missing_verdicts_carry_no_identity() -> None:
    for verdict in (UNKNOWN, MISSING):
        assert not verdict.valid
        assert (verdict.key_id, verdict.workspace_id, verdict.member_id) == (None, None, None)
        assert verdict.permissions == EMPTY
    assert UNKNOWN.code is KeyCode.KEY_INVALID
    assert MISSING.code is KeyCode.KEY_MISSING


@pytest.mark.parametrize("code", list(KeyCode))
def test_every_code_has_a_message(code: KeyCode) -> None:
    assert Verdict(code).message.endswith(".")
