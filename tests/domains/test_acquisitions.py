"""Acquisitions: acquiring, named keys that verify, expiry and reacquiring, export."""

import json
from datetime import timedelta

import pytest
import yaml
from openapi_spec_validator import validate

from keyward.core.clock import ManualClock
from keyward.core.errors import Conflict, InvalidInput, PermissionDenied
from keyward.core.keys import KeyKind
from keyward.core.openapi.rendering import Format, render
from keyward.core.verdicts import KeyCode
from keyward.db.engine import Database
from keyward.domains.acquisitions import service
from keyward.domains.acquisitions.schemas import (
    AcquisitionCreate,
    AcquisitionKeyCreate,
    AcquisitionState,
    ExportVersion,
)
from keyward.domains.apis import service as apis
from keyward.domains.apis.schemas import KeyPolicy
from keyward.domains.keys import service as keys
from keyward.domains.members import service as members
from keyward.domains.members.schemas import MemberPermissionsUpdate
from keyward.domains.organizations.schemas import OrganizationKind
from keyward.domains.pagination import PageRequest
from keyward.settings import Settings
from keyward.verifier import Verifier
from tests.factories import (
    PETSTORE_20,
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
    secret,
)


@pytest.fixture
def live(db: Database, verifier: Verifier) -> Verifier:
    db.add_commit_listener(verifier.apply)
    return verifier


def test_acquiring_needs_an_acquirer_organization_one_belongs_to(db: Database) -> None:
    set_up = make_workspace(db)
    boss = admin(db, set_up)
    offering = make_offering(db, boss, make_api(db, boss).id)
    provider = make_organization(db, boss, kind=OrganizationKind.PROVIDER)
    with pytest.raises(InvalidInput) as wrong_kind:
        make_acquisition(db, boss, offering.id, provider.id)
    assert wrong_kind.value.code == "organization_not_acquirer"
    globex, initech = make_organization(db, boss), make_organization(db, boss)
    buyer = make_member(db, boss, roles=["acquirer"], organization_ids=[globex.id])
    buyer_actor = actor_for(db, set_up.workspace.id, buyer.id)
    # Another organization is none of the buyer's business: answered as if it did not exist.
    with pytest.raises(InvalidInput) as outsider:
        make_acquisition(db, buyer_actor, offering.id, initech.id)
    assert outsider.value.code == "organization_not_found"
    acquired = make_acquisition(db, buyer_actor, offering.id, globex.id)
    assert acquired.state is AcquisitionState.ACTIVE
    with pytest.raises(Conflict) as twice:
        make_acquisition(db, buyer_actor, offering.id, globex.id)
    assert twice.value.details["acquisition_id"] == acquired.id


def test_validity_comes_from_the_offerings_period(db: Database, clock: ManualClock) -> None:
    set_up = make_workspace(db)
    actor = admin(db, set_up)
    offering = make_offering(db, actor, make_api(db, actor).id, period="P30D")
    organization = make_organization(db, actor)
    acquired = make_acquisition(db, actor, offering.id, organization.id)
    assert acquired.valid_from == clock.now()
    assert acquired.valid_until == clock.now() + timedelta(days=30)
    other = make_organization(db, actor)
    too_long = AcquisitionCreate(
        offering_id=offering.id,
        organization_id=other.id,
        valid_until=clock.now() + timedelta(days=31),
    )
    with pytest.raises(InvalidInput) as refused, db.transaction() as uow:
        service.acquire(uow, actor, too_long)
    assert refused.value.code == "beyond_acquisition_period"


def test_several_named_keys_per_acquisition_each_verifying(db: Database, live: Verifier) -> None:
    set_up = make_workspace(db)
    boss = admin(db, set_up)
    offering = make_offering(db, boss, make_api(db, boss).id)
    buyer = make_party(db, boss)
    actor = buyer.actor
    acquired = make_acquisition(db, actor, offering.id, buyer.organization_id)
    # An admin manages the acquisition but holds no secret of it: only its organization does.
    with pytest.raises(PermissionDenied) as admins_hold_none:
        make_acquisition_key(db, boss, acquired.id, name="alice")
    assert admins_hold_none.value.code == "not_organization_member"
    alice = make_acquisition_key(db, actor, acquired.id, name="alice")
    partner = make_acquisition_key(db, actor, acquired.id, name="partner ltd")
    assert alice.kind is KeyKind.ACQUISITION
    assert "shown only in this response" in alice.notice
    assert alice.permissions == [f"acquisitions:use@{acquired.id}"]
    with pytest.raises(Conflict) as taken:
        make_acquisition_key(db, actor, acquired.id, name="alice")
    assert taken.value.code == "key_name_taken"
    for created in (alice, partner):
        verdict = live.verify(secret(created), set_up.workspace.id)
        assert verdict.valid
        assert verdict.acquisition is not None
        assert verdict.acquisition.acquisition_id == acquired.id
        assert verdict.acquisition.api_id == offering.api_id
    with db.transaction(write=False) as uow:
        listed = service.list_keys(uow, actor, acquired.id, PageRequest())
    assert {k.name for k in listed.data} == {"alice", "partner ltd"}


def test_keys_stop_when_the_acquisition_expires_and_reacquiring_revives_them(
    db: Database, live: Verifier, clock: ManualClock
) -> None:
    set_up = make_workspace(db)
    boss = admin(db, set_up)
    offering = make_offering(db, boss, make_api(db, boss).id, period="P30D")
    buyer = make_party(db, boss)
    actor = buyer.actor
    acquired = make_acquisition(db, actor, offering.id, buyer.organization_id)
    key = secret(make_acquisition_key(db, actor, acquired.id))
    assert live.verify(key).valid
    clock.advance(timedelta(days=30))
    assert live.verify(key).code is KeyCode.ACQUISITION_EXPIRED
    with db.transaction(write=False) as uow:
        assert service.get_acquisition(uow, actor, acquired.id).state is AcquisitionState.EXPIRED
        assert [
            k.state for k in service.list_keys(uow, actor, acquired.id, PageRequest()).data
        ] == ["active"]
    with pytest.raises(Conflict) as no_new_keys:
        make_acquisition_key(db, actor, acquired.id)
    assert no_new_keys.value.code == "acquisition_expired"
    with db.transaction() as uow:
        renewed = service.reacquire(uow, actor, acquired.id)
    assert renewed.valid_until == clock.now() + timedelta(days=30)
    assert live.verify(key).valid


def test_a_key_lives_at_most_as_long_as_the_policy_says(db: Database, clock: ManualClock) -> None:
    set_up = make_workspace(db)
    actor = admin(db, set_up)
    api = make_api(db, actor, spec=PETSTORE_20)
    policy = KeyPolicy.model_validate(
        {
            "key_locations": [
                {"scheme": "api_key", "in": "header", "name": "X-Pet-Key", "role": "key"}
            ],
            "key_lifetime": "P7D",
        }
    )
    with db.transaction() as uow:
        apis.set_policy(uow, actor, api.id, policy)
    buyer = make_party(db, actor)
    acquired = make_acquisition(
        db, actor, make_offering(db, actor, api.id).id, buyer.organization_id
    )
    actor = buyer.actor
    default = make_acquisition_key(db, actor, acquired.id)
    assert default.expires_at == clock.now() + timedelta(days=7)
    shorter = AcquisitionKeyCreate.model_validate({"name": "short", "expires_in": "P1D"})
    with db.transaction() as uow:
        created = service.create_key(uow, actor, acquired.id, shorter, Settings())
    assert created.expires_at == clock.now() + timedelta(days=1)
    longer = AcquisitionKeyCreate.model_validate({"name": "long", "expires_in": "P8D"})
    with pytest.raises(InvalidInput) as refused, db.transaction() as uow:
        service.create_key(uow, actor, acquired.id, longer, Settings())
    assert refused.value.code == "lifetime_exceeds_policy"


def test_a_key_can_never_outlast_its_creators_hold_on_the_acquisition(
    db: Database, live: Verifier
) -> None:
    set_up = make_workspace(db)
    boss = admin(db, set_up)
    organization = make_organization(db, boss)
    buyer = make_member(db, boss, roles=["acquirer"], organization_ids=[organization.id])
    buyer_actor = actor_for(db, set_up.workspace.id, buyer.id)
    offering = make_offering(db, boss, make_api(db, boss).id)
    acquired = make_acquisition(db, buyer_actor, offering.id, organization.id)
    key = secret(make_acquisition_key(db, buyer_actor, acquired.id))
    assert live.verify(key).valid
    with db.transaction() as uow:
        members.set_permissions(
            uow, boss, buyer.id, MemberPermissionsUpdate(roles=[], permissions=["keys:*"])
        )
    assert live.verify(key).code is KeyCode.INSUFFICIENT_RIGHTS


def test_an_active_acquisition_key_is_deleted_only_with_revoke_in_one_step(
    db: Database, live: Verifier
) -> None:
    set_up = make_workspace(db)
    boss = admin(db, set_up)
    offering = make_offering(db, boss, make_api(db, boss).id)
    buyer = make_party(db, boss)
    actor = buyer.actor
    acquired = make_acquisition(db, actor, offering.id, buyer.organization_id)
    created = make_acquisition_key(db, actor, acquired.id)
    assert live.verify(secret(created)).valid
    with pytest.raises(Conflict) as refused, db.transaction() as uow:
        keys.delete_key(uow, actor, created.id)
    assert refused.value.code == "key_not_revoked"
    assert live.verify(secret(created)).valid
    with db.transaction() as uow:
        keys.delete_key(uow, actor, created.id, revoke=True)
    assert live.verify(secret(created)).code is KeyCode.KEY_INVALID


def test_export_points_at_the_gateway_with_the_key_injected(db: Database) -> None:
    set_up = make_workspace(db)
    actor = admin(db, set_up)
    api = make_api(db, actor, mount_path="petstore")
    offering = make_offering(db, actor, api.id, tags=["pets"])
    acquired = make_acquisition(db, actor, offering.id, make_organization(db, actor).id)
    settings = Settings(gateway_url="https://gw.example.com")
    with db.transaction(write=False) as uow:
        v3 = service.export_spec(uow, actor, acquired.id, ExportVersion.V3, settings)
        v2 = service.export_spec(uow, actor, acquired.id, ExportVersion.V2, settings)
    validate(v3.document)
    assert v3.document["servers"] == [
        {
            "url": "https://gw.example.com/petstore/v1",
            "description": f"keyward gateway for {api.name}",
        }
    ]
    assert set(v3.document["paths"]) == {"/pets", "/pets/{petId}"}
    assert "post" not in v3.document["paths"]["/pets"]
    validate(v2.document)
    assert v2.document["swagger"] == "2.0"
    assert (v2.document["host"], v2.document["basePath"]) == ("gw.example.com", "/petstore/v1")
    assert v2.document["securityDefinitions"]["keyward"]["in"] == "header"
    for format in Format:
        text = render(v2.document, format)
        parsed = json.loads(text) if format is Format.JSON else yaml.safe_load(text)
        assert parsed == v2.document


def test_a_cookie_key_cannot_be_exported_as_20(db: Database) -> None:
    set_up = make_workspace(db)
    actor = admin(db, set_up)
    api = make_api(db, actor)
    cookie = KeyPolicy.model_validate(
        {"key_locations": [{"scheme": "keyward", "in": "cookie", "name": "kw", "role": "key"}]}
    )
    with db.transaction() as uow:
        apis.set_policy(uow, actor, api.id, cookie)
    acquired = make_acquisition(
        db, actor, make_offering(db, actor, api.id).id, make_organization(db, actor).id
    )
    with db.transaction(write=False) as uow:
        v3 = service.export_spec(uow, actor, acquired.id, ExportVersion.V3, Settings())
        assert v3.document["components"]["securitySchemes"]["keyward"]["in"] == "cookie"
        with pytest.raises(InvalidInput) as refused:
            service.export_spec(uow, actor, acquired.id, ExportVersion.V2, Settings())
    assert refused.value.code == "cookie_api_key"
    assert "keyward" in refused.value.message
