"""The ownership rule over plain data: who reaches what, who receives secrets, and what a key
narrows."""

from hypothesis import given, settings
from hypothesis import strategies as st

from keyward.core.ownership import (
    ROLES,
    SYSTEM,
    Outcome,
    Reach,
    Resource,
    Scope,
    Standing,
    audience,
    decide,
    permits,
    sees,
    standing_of,
)
from keyward.core.permissions import CATALOG, PermissionSet

P1, P2, A1, A2 = "org_p1", "org_p2", "org_a1", "org_a2"
API_X = Resource("apis", "api_x", providers=frozenset({P1}), api_id="api_x",
                 approvers=frozenset({"mem_apr"}))  # fmt: skip
KEY_X = Resource(
    "keys",
    "key_x",
    providers=frozenset({P1}),
    acquirers=frozenset({A1}),
    api_id="api_x",
    approvers=frozenset({"mem_apr"}),
)


def member(
    member_id: str, *roles: str, orgs: tuple[str, ...] = (), direct: tuple[str, ...] = ()
) -> Standing:
    return standing_of(
        member_id,
        direct,
        roles,
        [o for o in orgs if o.startswith("org_p")],
        [o for o in orgs if o.startswith("org_a")],
    )


def test_a_providers_rights_reach_only_its_organizations_apis() -> None:
    ours, theirs = member("mem_1", "provider", orgs=(P1,)), member("mem_2", "provider", orgs=(P2,))
    assert decide(ours, API_X, "update").outcome is Outcome.ALLOWED
    assert decide(theirs, API_X, "update").outcome is Outcome.HIDDEN
    # A provider sees the keys of its API and may revoke them, never rotate them.
    assert decide(ours, KEY_X, "revoke").outcome is Outcome.ALLOWED
    assert decide(ours, KEY_X, "rotate").outcome is Outcome.FORBIDDEN


def test_acquirers_read_the_catalog_but_change_nothing_of_it() -> None:
    buyer = member("mem_1", "acquirer", orgs=(A2,))
    assert decide(buyer, API_X, "read").outcome is Outcome.ALLOWED
    assert decide(buyer, API_X, "update").outcome is Outcome.FORBIDDEN
    assert decide(buyer, KEY_X, "read").outcome is Outcome.HIDDEN


def test_only_the_acquisitions_members_receive_a_secret_of_its_keys() -> None:
    inside = member("mem_1", "acquirer", orgs=(A1,))
    admin = member("mem_2", "admin")
    assert decide(inside, KEY_X, "rotate", receives_secret=True).outcome is Outcome.ALLOWED
    refused = decide(admin, KEY_X, "rotate", receives_secret=True)
    assert (refused.outcome, refused.code) == (Outcome.FORBIDDEN, "not_organization_member")
    assert decide(admin, KEY_X, "revoke").outcome is Outcome.ALLOWED


def test_an_account_keys_secret_goes_to_its_owner_and_its_changes_to_those_above_them() -> None:
    admin_rights = PermissionSet.parse(["*:*"])
    key = Resource("keys", "key_a", owner="mem_admin", owner_rights=admin_rights)
    owner = member("mem_admin", "admin")
    other_admin = member("mem_other", "admin")
    revoker = member("mem_r", direct=("keys:read", "keys:revoke"))
    assert decide(owner, key, "rotate", receives_secret=True).outcome is Outcome.ALLOWED
    assert decide(other_admin, key, "rotate", receives_secret=True).code == "not_key_owner"
    assert decide(other_admin, key, "revoke").outcome is Outcome.ALLOWED
    escalation = decide(revoker, key, "revoke")
    assert (escalation.code, escalation.missing) == ("permission_escalation", ("*:*",))
    assert decide(revoker, key, "read").outcome is Outcome.ALLOWED


def test_a_member_acts_on_their_own_account_keys_with_any_right_they_hold() -> None:
    key = Resource("keys", "key_p", owner="mem_1", owner_rights=PermissionSet.parse(["apis:*"]))
    provider = member("mem_1", "provider", orgs=(P1,))
    assert decide(provider, key, "revoke").outcome is Outcome.ALLOWED
    assert decide(member("mem_2", "provider", orgs=(P1,)), key, "revoke").outcome is (
        Outcome.HIDDEN
    )


def test_approvers_decide_for_the_apis_that_name_them_or_an_api_bound_grant() -> None:
    named = member("mem_apr", "approver")
    unnamed = member("mem_other", "approver")
    bound = member("mem_b", direct=("keys:approve@api_x",))
    assert permits(named, KEY_X, "approve")
    assert decide(unnamed, KEY_X, "approve").outcome is Outcome.HIDDEN
    assert permits(bound, KEY_X, "approve")
    assert not permits(bound, KEY_X, "read")


def test_bound_rights_reach_their_resource_only() -> None:
    reader = member("mem_1", direct=("keys:read@key_x",))
    assert permits(reader, KEY_X, "read")
    assert not sees(reader, Resource("keys", "key_y", acquirers=frozenset({A1})))
    assert audience(reader, "keys", "read") == (
        Scope(Reach.WORKSPACE, frozenset({"key_x"})),
        Scope(None, frozenset({"key_x"})),
    )


def test_a_key_narrows_rights_and_keeps_their_reach() -> None:
    provider = member("mem_1", "provider", orgs=(P1,))
    narrowed = provider.narrowed(PermissionSet.parse(["*:read"]))
    assert permits(narrowed, KEY_X, "read")
    assert not permits(narrowed, KEY_X, "revoke")
    other = Resource("apis", "api_y", providers=frozenset({P2}))
    assert not permits(narrowed, other, "read")


def test_the_system_may_do_anything() -> None:
    for kind in CATALOG:
        for action in CATALOG[kind]:
            assert permits(SYSTEM, Resource(kind, "x"), action)


organizations = st.frozensets(st.sampled_from((P1, P2, A1, A2)))
standings = st.builds(
    lambda roles, orgs, direct: member("mem_1", *roles, orgs=tuple(orgs), direct=tuple(direct)),
    st.frozensets(st.sampled_from(sorted(ROLES))),
    organizations,
    st.lists(st.sampled_from(["keys:read", "apis:update", "keys:revoke@key_x", "*:read"])),
)
resources = st.builds(
    Resource,
    kind=st.sampled_from(sorted(CATALOG)),
    id=st.sampled_from(["key_x", "api_x", "acq_x"]),
    providers=st.frozensets(st.sampled_from((P1, P2))),
    acquirers=st.frozensets(st.sampled_from((A1, A2))),
    api_id=st.sampled_from(["api_x", None]),
    approvers=st.frozensets(st.sampled_from(["mem_1", "mem_2"])),
    owner=st.sampled_from(["mem_1", "mem_2", None]),
)
actions = st.sampled_from(sorted(set().union(*CATALOG.values())))
key_rights = st.lists(st.sampled_from(["*:*", "keys:*", "apis:read", "keys:read@key_x"]))


@settings(max_examples=300)
@given(standing=standings, resource=resources, action=actions, rights=key_rights)
def test_a_key_never_widens_what_its_creator_may_do(
    standing: Standing, resource: Resource, action: str, rights: list[str]
) -> None:
    narrowed = standing.narrowed(PermissionSet.parse(rights))
    if permits(narrowed, resource, action):
        assert permits(standing, resource, action)
    if sees(narrowed, resource):
        assert sees(standing, resource)


@settings(max_examples=300)
@given(standing=standings, resource=resources, action=actions)
def test_hidden_is_exactly_what_the_standing_may_not_see(
    standing: Standing, resource: Resource, action: str
) -> None:
    outcome = decide(standing, resource, action).outcome
    assert (outcome is Outcome.HIDDEN) == (not sees(standing, resource))
    if outcome is Outcome.ALLOWED:
        assert permits(standing, resource, action)
