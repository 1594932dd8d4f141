"""Permission parsing, normalisation, roles, and the algebra the verifier relies on."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keyward.core.ownership import UnknownRole, role_permissions
from keyward.core.permissions import (
    ALL_ACTIONS,
    CATALOG,
    EMPTY,
    InvalidPermission,
    Permission,
    PermissionSet,
    parse_permission,
)

IDS = ("k1", "k2")
CONCRETE: list[tuple[str, str, str | None]] = [
    (resource, action, resource_id)
    for resource, actions in sorted(CATALOG.items())
    for action in sorted(actions)
    for resource_id in (None, *IDS, "elsewhere")
]


def _permission_texts(resource: str) -> st.SearchStrategy[str]:
    actions = sorted(ALL_ACTIONS if resource == "*" else CATALOG[resource])
    action = st.sampled_from(["*", *actions])
    if resource == "*":
        return action.map(lambda a: f"*:{a}")
    bound = st.sampled_from(["", *(f"@{i}" for i in IDS)])
    return st.tuples(action, bound).map(lambda p: f"{resource}:{p[0]}{p[1]}")


permissions: st.SearchStrategy[Permission] = (
    st.sampled_from(["*", *sorted(CATALOG)]).flatmap(_permission_texts).map(parse_permission)
)
permission_sets: st.SearchStrategy[PermissionSet] = st.lists(permissions, max_size=6).map(
    PermissionSet
)


def _set(*texts: str) -> PermissionSet:
    return PermissionSet.parse(texts)


def _allowed(permission_set: PermissionSet) -> set[tuple[str, str, str | None]]:
    return {grant for grant in CONCRETE if permission_set.allows(*grant)}


# Parsing


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("keys:read", Permission("keys", "read")),
        ("keys:revoke@key_01jd2xq", Permission("keys", "revoke", "key_01jd2xq")),
        ("keys:*", Permission("keys", "*")),
        ("keys:*@k1", Permission("keys", "*", "k1")),
        ("*:read", Permission("*", "read")),
        ("*:grant", Permission("*", "grant")),
        ("*:*", Permission("*", "*")),
        ("apis:read@" + "a" * 64, Permission("apis", "read", "a" * 64)),
        ("apis:read@A.b-c_9", Permission("apis", "read", "A.b-c_9")),
    ],
)
def test_parse_reads_resource_action_and_bound_id(text: str, expected: Permission) -> None:
    parsed = parse_permission(text)
    assert parsed == expected
    assert str(parsed) == text


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("tokens:read", "unknown resource"),
        ("keys:fly", "unknown action"),
        ("audit:create", "unknown action"),
        ("workspace:delete", "unknown action"),
        ("*:fly", "unknown action"),
        ("*:read@k1", "binds a resource id to the wildcard resource"),
        ("*:*@k1", "binds a resource id to the wildcard resource"),
    ],
)
def test_parse_refuses_what_the_catalog_does_not_know(text: str, reason: str) -> None:
    with pytest.raises(InvalidPermission, match=reason):
        parse_permission(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "keys",
        "keys:",
        ":read",
        "keys:read:delete",
        "keys::read",
        "Keys:read",
        "keys:READ",
        " keys:read",
        "keys:read ",
        "keys :read",
        "keys:read@",
        "keys:read@k 1",
        "keys:read@k1@k2",
        "keys:read@k/1",
        "keys:read@" + "a" * 65,
        "keys:read@é",
        "**:read",
        "keys:re*",
        "@k1",
    ],
)
def test_parse_refuses_malformed_text(text: str) -> None:
    with pytest.raises(InvalidPermission, match="is not a permission"):
        parse_permission(text)


@pytest.mark.parametrize("text", ["keys:read\n", "keys:read@k1\n"])
def test_parse_refuses_trailing_newline(text: str) -> None:
    with pytest.raises(InvalidPermission):
        parse_permission(text)


def test_invalid_permission_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown resource"):
        PermissionSet.parse(["keys:read", "tokens:read"])


# Normalisation


def test_set_drops_members_a_wider_member_covers() -> None:
    assert _set("keys:read", "keys:*", "keys:read@k1", "keys:revoke@k2").strings() == ["keys:*"]
    assert _set("*:*", "audit:read", "keys:*@k1", "*:read").strings() == ["*:*"]
    assert _set("*:read", "audit:read", "keys:read@k1").strings() == ["*:read"]


def test_set_keeps_members_no_other_member_covers() -> None:
    permission_set = _set("keys:read@k1", "keys:read@k2", "keys:revoke", "apis:read", "*:update")
    assert permission_set.strings() == [
        "*:update",
        "apis:read",
        "keys:read@k1",
        "keys:read@k2",
        "keys:revoke",
    ]
    assert len(permission_set) == 5


def test_set_equality_ignores_order_and_duplicates() -> None:
    assert _set("keys:read", "apis:read", "keys:read") == _set("apis:read", "keys:read")
    assert hash(_set("keys:read", "apis:read")) == hash(_set("apis:read", "keys:read"))
    assert _set("keys:read") != _set("keys:read@k1")


# allows, covers, missing


def test_allows_unbound_permission_on_every_resource_of_its_kind() -> None:
    permission_set = _set("keys:read")
    assert permission_set.allows("keys", "read")
    assert permission_set.allows("keys", "read", "k1")
    assert not permission_set.allows("keys", "revoke")
    assert not permission_set.allows("apis", "read")


def test_allows_bound_permission_only_on_its_resource() -> None:
    permission_set = _set("keys:revoke@k1")
    assert permission_set.allows("keys", "revoke", "k1")
    assert not permission_set.allows("keys", "revoke", "k2")
    assert not permission_set.allows("keys", "revoke")


def test_allows_wildcards_for_resource_and_action() -> None:
    assert _set("*:read").allows("audit", "read")
    assert not _set("*:read").allows("audit", "create")
    assert _set("keys:*").allows("keys", "approve", "k1")
    assert not _set("keys:*").allows("apis", "read")
    assert _set("*:*").allows("members", "grant", "mem_1")


def test_empty_set_allows_nothing() -> None:
    assert _allowed(EMPTY) == set()
    assert _allowed(PermissionSet.parse([])) == set()


def test_set_spelling_out_every_keys_action_covers_keys_wildcard() -> None:
    spelled_out = PermissionSet.parse(f"keys:{action}" for action in CATALOG["keys"])
    assert spelled_out.covers(parse_permission("keys:*"))
    assert spelled_out.covers(parse_permission("keys:*@k1"))
    assert spelled_out.missing(_set("keys:*")) == []


def test_set_lacking_one_keys_action_does_not_cover_keys_wildcard() -> None:
    almost = PermissionSet.parse(f"keys:{a}" for a in CATALOG["keys"] if a != "approve")
    assert not almost.covers(parse_permission("keys:*"))
    assert almost.missing(_set("keys:*", "keys:read")) == [parse_permission("keys:*")]


def test_covers_is_exact_over_the_catalog() -> None:
    # audit has one action, so every read covers all of audit.
    assert _set("*:read").covers(parse_permission("audit:*"))
    assert not _set("*:read").covers(parse_permission("apis:*"))
    every_grant = PermissionSet.parse(f"{r}:*" for r in CATALOG)
    assert every_grant.covers(parse_permission("*:*"))
    assert _set("members:grant").covers(parse_permission("*:grant"))


def test_covers_respects_bound_ids() -> None:
    assert _set("keys:read").covers(parse_permission("keys:read@k1"))
    assert not _set("keys:read@k1").covers(parse_permission("keys:read"))
    assert not _set("keys:read@k1").covers(parse_permission("keys:read@k2"))


def test_missing_lists_exactly_the_uncovered_members() -> None:
    held = _set("keys:read", "keys:create", "apis:read@a1")
    wanted = _set("keys:read", "keys:revoke", "apis:read@a1", "apis:read@a2", "audit:read")
    assert [str(p) for p in held.missing(wanted)] == ["apis:read@a2", "audit:read", "keys:revoke"]
    assert held.missing(EMPTY) == []


def test_unreached_accepts_a_right_held_on_some_resources_only() -> None:
    held = _set("apis:update@a1", "apis:update@a2", "keys:read")
    assert held.unreached(_set("apis:update", "keys:read", "apis:update@a1")) == []
    assert held.missing(_set("apis:update")) == [parse_permission("apis:update")]


def test_unreached_lists_rights_held_on_nothing_or_not_on_their_resource() -> None:
    held = _set("apis:update@a1", "keys:read")
    wanted = _set("apis:delete", "apis:update@a2", "*:read", "keys:read")
    assert [str(p) for p in held.unreached(wanted)] == ["*:read", "apis:delete", "apis:update@a2"]
    assert [str(p) for p in held.unreached(_set("apis:*"))] == ["apis:*"]


@settings(max_examples=200)
@given(a=permission_sets, b=permission_sets)
def test_a_key_reached_by_its_creator_acts_only_where_the_creator_may(
    a: PermissionSet, b: PermissionSet
) -> None:
    # Whatever a key may carry, its effective rights (key ∩ creator) never exceed the creator's,
    # and every right it was given is effective somewhere.
    if a.unreached(b):
        return
    effective = b.intersection(a)
    assert _allowed(effective) <= _allowed(a)
    for wanted in b:
        for resource, action in wanted.concrete():
            assert effective.allows_somewhere(resource, action), (str(wanted), resource, action)
    assert (a.missing(b) == []) <= (a.unreached(b) == [])


# union and intersection


def test_union_allows_what_either_allows() -> None:
    union = _set("keys:read").union(_set("apis:*", "keys:read@k1"))
    assert union.strings() == ["apis:*", "keys:read"]


def test_intersection_narrows_to_what_both_grant() -> None:
    assert _set("keys:*").intersection(_set("*:read")).strings() == ["keys:read"]
    assert _set("keys:*@k1").intersection(_set("keys:read")).strings() == ["keys:read@k1"]
    assert _set("keys:read@k1").intersection(_set("keys:read@k2")) == EMPTY
    assert _set("*:*").intersection(EMPTY) == EMPTY


def test_intersection_drops_meets_outside_the_catalog() -> None:
    # members:* ∩ *:approve would be members:approve, which is not an action of members.
    assert _set("members:*").intersection(_set("*:approve")) == EMPTY
    assert _set("*:grant").intersection(_set("*:*")).strings() == ["*:grant"]


@settings(max_examples=200)
@given(a=permission_sets, b=permission_sets)
def test_intersection_allows_exactly_what_both_allow(a: PermissionSet, b: PermissionSet) -> None:
    both = a.intersection(b)
    for grant in CONCRETE:
        assert both.allows(*grant) == (a.allows(*grant) and b.allows(*grant)), grant


@settings(max_examples=100)
@given(a=permission_sets, b=permission_sets)
def test_intersection_is_commutative_in_what_it_allows(a: PermissionSet, b: PermissionSet) -> None:
    assert _allowed(a.intersection(b)) == _allowed(b.intersection(a))


@settings(max_examples=100)
@given(a=permission_sets)
def test_intersection_with_itself_allows_what_the_set_allows(a: PermissionSet) -> None:
    assert _allowed(a.intersection(a)) == _allowed(a)


@settings(max_examples=100)
@given(a=permission_sets, b=permission_sets)
def test_union_allows_exactly_what_either_allows(a: PermissionSet, b: PermissionSet) -> None:
    assert _allowed(a.union(b)) == _allowed(a) | _allowed(b)


@settings(max_examples=200)
@given(a=permission_sets, b=permission_sets)
def test_nothing_missing_iff_every_concrete_grant_is_allowed(
    a: PermissionSet, b: PermissionSet
) -> None:
    concrete_grants = [
        (resource, action, wanted.resource_id)
        for wanted in b
        for resource, action in wanted.concrete()
    ]
    assert (a.missing(b) == []) == all(a.allows(*grant) for grant in concrete_grants)


@settings(max_examples=100)
@given(items=st.lists(permissions, max_size=6))
def test_normalisation_keeps_what_the_members_allow(items: list[Permission]) -> None:
    normalised = PermissionSet(items)
    assert set(normalised) <= set(items)
    assert _allowed(normalised) == {
        grant for grant in CONCRETE if any(_set(str(p)).allows(*grant) for p in items)
    }
    assert not any(p != q and p.covers(q) for p in normalised for q in normalised)


# Roles and stored permissions


def test_role_permissions_unions_the_roles() -> None:
    rights = role_permissions(["approver", "provider"])
    assert rights.allows("keys", "approve")
    assert rights.allows("apis", "create")
    assert not rights.allows("members", "grant")
    assert rights == role_permissions(["provider"]).union(role_permissions(["approver"]))


def test_admin_role_allows_everything_and_auditor_only_reads() -> None:
    assert _allowed(role_permissions(["admin"])) == set(CONCRETE)
    auditor = role_permissions(["auditor"])
    assert _allowed(auditor) == {g for g in CONCRETE if g[1] == "read"}


def test_no_roles_grant_nothing() -> None:
    assert role_permissions([]) == EMPTY


def test_unknown_role_is_refused() -> None:
    with pytest.raises(UnknownRole, match="unknown role 'owner'"):
        role_permissions(["provider", "owner"])


def test_parse_stored_skips_unknown_and_invalid_entries() -> None:
    stored = PermissionSet.parse_stored(
        ["keys:read", "tokens:read", "keys:fly", "not a permission", "*:read@k1", "", "apis:*"]
    )
    assert stored.strings() == ["apis:*", "keys:read"]
    assert not stored.allows("keys", "delete")


def test_parse_stored_of_only_unknown_entries_grants_nothing() -> None:
    assert PermissionSet.parse_stored(["billing:*", "keys:teleport"]) == EMPTY
