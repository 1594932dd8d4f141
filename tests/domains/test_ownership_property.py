"""Random memberships and resources: an action succeeds exactly when the ownership rule says so,
and a list holds exactly what the rule lets the member read.

Each example builds a workspace with two providers (P1 owns API X, P2 API Y), two acquirers (A1
acquired X, A2 acquired Y, each holding a key of it), and members with random roles, random
organizations, and random places in the APIs' approver lists. The expected answer is computed
from the plan alone, with `core.ownership`, never from what storage says of the resources.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from sqlalchemy import Connection

from keyward.core.actors import Actor
from keyward.core.errors import NotFound, PermissionDenied
from keyward.core.ownership import Outcome, Resource, Standing, decide, holds, standing_of
from keyward.core.sealing import Sealer
from keyward.db.engine import Database
from keyward.domains.acquisitions import service as acquisitions
from keyward.domains.apis import service as apis
from keyward.domains.apis.schemas import ApiUpdate
from keyward.domains.keys import service as keys
from keyward.domains.keys.schemas import KeyFilter
from keyward.domains.offerings import service as offerings
from keyward.domains.organizations.schemas import OrganizationKind
from keyward.domains.pagination import PageRequest
from keyward.settings import Settings
from tests.factories import (
    actor_for,
    admin,
    make_acquisition,
    make_acquisition_key,
    make_api,
    make_member,
    make_offering,
    make_organization,
    make_party,
    make_workspace,
    set_key_policy,
)

ORGANIZATIONS = ("P1", "P2", "A1", "A2")
SEALER = Sealer([b"s" * 32])
ROLES = ("provider", "acquirer", "approver", "auditor")


@dataclass(frozen=True)
class Plan:
    members: tuple[tuple[frozenset[str], frozenset[str]], ...]  # (roles, organizations)
    approvers: tuple[frozenset[int], frozenset[int]]  # member indexes named on X, on Y


plans = st.builds(
    Plan,
    members=st.lists(
        st.tuples(
            st.frozensets(st.sampled_from(ROLES)), st.frozensets(st.sampled_from(ORGANIZATIONS))
        ),
        min_size=1,
        max_size=3,
    ).map(tuple),
    approvers=st.tuples(st.frozensets(st.integers(0, 2)), st.frozensets(st.integers(0, 2))),
)


@pytest.fixture
def connection(shared_database: Database) -> Iterator[Connection]:
    with shared_database.engine.connect() as connection:
        outer = connection.begin()
        try:
            yield connection
        finally:
            outer.rollback()


def _expected(standing: Standing, resource: Resource, action: str, secret: bool = False) -> str:
    if not holds(standing, resource.kind, action):
        return "forbidden"
    outcome = decide(standing, resource, action, receives_secret=secret).outcome
    return {Outcome.ALLOWED: "allowed", Outcome.FORBIDDEN: "forbidden"}.get(outcome, "hidden")


def _outcome(call: Callable[[], Any]) -> str:
    try:
        call()
    except NotFound:
        return "hidden"
    except PermissionDenied:
        return "forbidden"
    return "allowed"


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=plans)
def test_an_action_succeeds_iff_the_ownership_rule_says_so(
    connection: Connection, plan: Plan
) -> None:
    note(repr(plan))
    db = Database.bound_to(connection)
    set_up = make_workspace(db)
    boss = admin(db, set_up)
    org = {
        name: make_organization(
            db,
            boss,
            kind=OrganizationKind.PROVIDER if name.startswith("P") else OrganizationKind.ACQUIRER,
        ).id
        for name in ORGANIZATIONS
    }
    people = [
        make_member(db, boss, roles=sorted(roles), organization_ids=[org[o] for o in sorted(orgs)])
        for roles, orgs in plan.members
    ]
    resources: dict[str, tuple[Resource, str]] = {}
    for api_name, provider, acquirer, named in (
        ("X", "P1", "A1", plan.approvers[0]),
        ("Y", "P2", "A2", plan.approvers[1]),
    ):
        # Only members who may approve can be named approvers.
        approving = sorted(
            people[i].id for i in named if i < len(people) and "approver" in plan.members[i][0]
        )
        api = make_api(db, boss, provider_organization_id=org[provider])
        set_key_policy(db, boss, api.id, key_lifetime="P30D", approvers=approving)
        offering = make_offering(db, boss, api.id)
        holder = make_party(db, boss, organization_id=org[acquirer])
        acquisition = make_acquisition(db, boss, offering.id, org[acquirer])
        key = make_acquisition_key(db, holder.actor, acquisition.id)
        of_api = Resource(
            "apis",
            api.id,
            providers=frozenset({org[provider]}),
            api_id=api.id,
            approvers=frozenset(approving),
        )
        of_acquisition = replace(of_api, acquirers=frozenset({org[acquirer]}))
        resources[f"api {api_name}"] = (of_api, api.id)
        resources[f"offering {api_name}"] = (
            replace(of_api, kind="offerings", id=offering.id),
            offering.id,
        )
        resources[f"acquisition {api_name}"] = (
            replace(of_acquisition, kind="acquisitions", id=acquisition.id),
            acquisition.id,
        )
        resources[f"key {api_name}"] = (replace(of_acquisition, kind="keys", id=key.id), key.id)

    calls: dict[str, Callable[[Any, Actor, str], Any]] = {
        "apis read": lambda uow, a, i: apis.get_api(uow, a, i, Settings()),
        "apis update": lambda uow, a, i: apis.update_api(
            uow, a, i, ApiUpdate(description="changed"), Settings()
        ),
        "offerings read": offerings.get_offering,
        "acquisitions read": acquisitions.get_acquisition,
        "acquisitions update": acquisitions.reacquire,
        "keys read": keys.get_key,
        "keys revoke": keys.revoke_key,
        "keys rotate": lambda uow, a, i: keys.rotate_key(uow, a, i, timedelta(0), sealer=SEALER),
    }
    lists: dict[str, Callable[[Any, Actor], list[str]]] = {
        "apis": lambda uow, a: [
            x.id for x in apis.list_apis(uow, a, PageRequest(), Settings()).data
        ],
        "offerings": lambda uow, a: [
            x.id for x in offerings.list_offerings(uow, a, PageRequest()).data
        ],
        "acquisitions": lambda uow, a: [
            x.id for x in acquisitions.list_acquisitions(uow, a, PageRequest()).data
        ],
        "keys": lambda uow, a: [
            x.id for x in keys.list_keys(uow, a, KeyFilter(), PageRequest()).data
        ],
    }
    for person, (roles, orgs) in zip(people, plan.members, strict=True):
        actor = actor_for(db, set_up.workspace.id, person.id)
        standing = standing_of(
            person.id,
            (),
            roles,
            [org[o] for o in orgs if o.startswith("P")],
            [org[o] for o in orgs if o.startswith("A")],
        )
        assert actor.standing == standing
        for name, (resource, ident) in resources.items():
            for action in ("read", "update", "revoke", "rotate"):
                call = calls.get(f"{resource.kind} {action}")
                if call is None:
                    continue
                expected = _expected(standing, resource, action, secret=action == "rotate")
                savepoint = connection.begin_nested()
                try:
                    got = _outcome(lambda: _run(db, call, actor, ident))  # noqa: B023
                finally:
                    savepoint.rollback()
                assert got == expected, f"{sorted(roles)} in {sorted(orgs)}: {action} {name}"
        for kind, listing in lists.items():
            if not holds(standing, kind, "read"):
                continue
            with db.transaction(write=False) as uow:
                listed = set(listing(uow, actor))
            readable = {
                ident
                for resource, ident in resources.values()
                if resource.kind == kind
                and decide(standing, resource, "read").outcome is Outcome.ALLOWED
            }
            ours = {ident for resource, ident in resources.values() if resource.kind == kind}
            assert listed & ours == readable, f"{sorted(roles)} in {sorted(orgs)} lists {kind}"


def _run(db: Database, call: Callable[[Any, Actor, str], Any], actor: Actor, ident: str) -> None:
    with db.transaction() as uow:
        call(uow, actor, ident)
