"""Who is acting and what they may do: refusals name what is missing."""

import pytest

from keyward.core.actors import Actor, Via
from keyward.core.errors import PermissionDenied
from keyward.core.ids import new_id
from keyward.core.ownership import Grant, Reach, Standing
from keyward.core.permissions import PermissionSet


def make_actor(*permissions: str) -> Actor:
    return Actor(
        workspace_id="ws_1",
        member_id="mem_1",
        key_id="key_1",
        standing=Standing("mem_1", (Grant(PermissionSet.parse(permissions), Reach.WORKSPACE),)),
        via=Via.KEY,
    )


def test_require_passes_when_the_permission_is_held() -> None:
    actor = make_actor("keys:revoke", "apis:read@api_1")
    actor.require("keys", "revoke")
    actor.require("keys", "revoke", "key_7")
    actor.require("apis", "read", "api_1")
    assert actor.can("apis", "read", "api_1")


def test_require_refuses_with_permission_denied_naming_the_permission() -> None:
    with pytest.raises(PermissionDenied) as refused:
        make_actor("keys:read").require("keys", "revoke")
    error = refused.value
    assert error.code == "permission_denied"
    assert error.status == 403
    assert "'keys:revoke'" in error.message
    assert error.details == {"required": "keys:revoke", "resource_id": None}


def test_require_on_one_resource_names_that_resource() -> None:
    mine, other = new_id("key"), new_id("key")
    actor = make_actor(f"keys:revoke@{mine}")
    actor.require("keys", "revoke", mine)
    with pytest.raises(PermissionDenied) as refused:
        actor.require("keys", "revoke", other)
    assert refused.value.code == "permission_denied"
    assert f"'keys:revoke' on {other}" in refused.value.message
    assert refused.value.details == {"required": "keys:revoke", "resource_id": other}
    assert refused.value.to_dict()["error"]["code"] == "permission_denied"


def test_a_refusal_never_repeats_an_id_that_is_not_one_of_ours() -> None:
    hostile = "key_\x00" + "x" * 5000
    with pytest.raises(PermissionDenied) as refused:
        make_actor("keys:read").require("keys", "revoke", hostile)
    assert hostile not in refused.value.message
    assert refused.value.details == {"required": "keys:revoke", "resource_id": None}


def test_actor_without_permissions_is_refused_everything() -> None:
    actor = make_actor()
    assert not actor.can("keys", "read")
    with pytest.raises(PermissionDenied, match="'keys:read'"):
        actor.require("keys", "read")


def test_require_all_passes_when_every_permission_is_covered() -> None:
    actor = make_actor("keys:*", "*:read")
    actor.require_all(PermissionSet.parse(["keys:revoke", "audit:read", "keys:*@key_1"]), "x")
    actor.require_all(PermissionSet(), "create a key with no rights")


def test_require_all_refuses_escalation_listing_exactly_the_missing_permissions() -> None:
    actor = make_actor("keys:read", "keys:create", "apis:read@api_1")
    wanted = PermissionSet.parse(
        ["keys:read", "keys:revoke", "apis:read@api_1", "apis:read@api_2", "members:*"]
    )
    with pytest.raises(PermissionDenied) as refused:
        actor.require_all(wanted, "create this key")
    error = refused.value
    assert error.code == "permission_escalation"
    assert error.status == 403
    assert error.details["missing"] == ["apis:read@api_2", "keys:revoke", "members:*"]
    assert error.message.startswith("Cannot create this key:")
    assert "apis:read@api_2, keys:revoke, members:*" in error.message


def test_require_all_refuses_a_wildcard_the_actor_holds_only_in_part() -> None:
    actor = make_actor("keys:read", "keys:create")
    with pytest.raises(PermissionDenied) as refused:
        actor.require_all(PermissionSet.parse(["keys:*"]), "grant keys:*")
    assert refused.value.details["missing"] == ["keys:*"]
