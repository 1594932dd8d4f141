"""Importing APIs, adding versions, and the key policy, through the apis service."""

import json

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from keyward.core.errors import Conflict, InvalidInput, NotFound, TooLarge
from keyward.core.openapi.security import KeyRole, Location
from keyward.db.engine import Database
from keyward.db.models import Api, ApiVersion, AuditEvent
from keyward.domains.apis import service
from keyward.domains.apis.schemas import ApiImport, ApiUpdate, KeyPolicy, SpecUpload
from keyward.domains.pagination import PageRequest
from keyward.settings import Settings
from tests.factories import (
    PETSTORE_20,
    PETSTORE_30,
    admin,
    make_api,
    make_offering,
    make_workspace,
)


def _count(db: Database, model: type[Api] | type[ApiVersion]) -> int:
    with db.transaction(write=False) as uow:
        return uow.session.scalar(select(func.count()).select_from(model)) or 0


def _import(spec: str, **overrides: str) -> ApiImport:
    return ApiImport.model_validate(
        {
            "name": "Pets",
            "upstream_url": "https://upstream.example.com",
            "mount_path": "pets",
            "spec": spec,
            **overrides,
        }
    )


def test_importing_30_yaml_keeps_the_bytes_and_adds_keywards_default_key(db: Database) -> None:
    set_up = make_workspace(db)
    imported = make_api(db, admin(db, set_up), mount_path="pets")
    assert imported.version.number == imported.current_version == 1
    assert (imported.version.source_version, imported.version.media_type) == ("3.0", "yaml")
    assert imported.version.operation_count == 4
    assert imported.version.changes.added == [
        "GET /health",
        "GET /pets",
        "GET /pets/{petId}",
        "POST /pets",
    ]
    assert imported.gateway_url == "http://127.0.0.1:8080/pets/v1"
    [location] = imported.policy.key_locations
    assert (location.location, location.name, location.role) == (
        Location.HEADER,
        "X-API-Key",
        KeyRole.KEY,
    )
    assert location.synthetic
    with db.transaction(write=False) as uow:
        version = uow.session.scalars(select(ApiVersion)).one()
        assert version.original == PETSTORE_30.encode()
        assert version.normalized["paths"]["/pets"]["get"]["operationId"] == "listPets"


def test_a_20_spec_is_normalised_to_30_and_its_api_key_becomes_the_policy(db: Database) -> None:
    set_up = make_workspace(db)
    imported = make_api(db, admin(db, set_up), spec=PETSTORE_20)
    assert imported.version.source_version == "2.0"
    assert imported.gateway_url.endswith("/v2")
    [location] = imported.policy.key_locations
    assert (location.scheme, location.location, location.name) == (
        "api_key",
        Location.HEADER,
        "X-Pet-Key",
    )
    assert not location.synthetic
    with db.transaction(write=False) as uow:
        version = uow.session.scalars(select(ApiVersion)).one()
    assert version.normalized["openapi"].startswith("3.0")
    assert version.normalized["servers"] == [{"url": "https://petstore.example.com/v2"}]


def test_an_invalid_spec_lists_every_problem_and_stores_nothing(db: Database) -> None:
    set_up = make_workspace(db)
    broken = json.loads(PETSTORE_20)
    broken["paths"]["/pets"]["get"]["security"] = [{"nope": []}]
    broken["paths"]["/pets"]["post"] = {"operationId": "listPets", "responses": {}}
    with pytest.raises(InvalidInput) as refused, db.transaction() as uow:
        service.import_api(uow, admin(db, set_up), _import(json.dumps(broken)), Settings())
    assert refused.value.code == "invalid_spec"
    problems = {(p["code"], p["pointer"]) for p in refused.value.details["problems"]}
    assert ("security_scheme_undefined", "/paths/~1pets/get/security/0/nope") in problems
    assert ("operation_id_duplicate", "/paths/~1pets/post/operationId") in problems
    assert ("spec_invalid", "/paths/~1pets/post/responses") in problems
    assert _count(db, Api) == _count(db, ApiVersion) == 0


def test_a_spec_over_the_limit_is_refused_as_too_large(db: Database) -> None:
    set_up = make_workspace(db)
    padded = PETSTORE_30 + "\n# " + "x" * 5000 + "\n"
    with pytest.raises(TooLarge) as refused, db.transaction() as uow:
        service.import_api(uow, admin(db, set_up), _import(padded), Settings(max_spec_bytes=4096))
    assert refused.value.code == "spec_too_large"
    assert _count(db, Api) == 0


def test_names_are_unique_per_workspace_and_mount_paths_everywhere(db: Database) -> None:
    ours, theirs = make_workspace(db), make_workspace(db)
    make_api(db, admin(db, ours), name="Pets", mount_path="pets")
    with pytest.raises(Conflict) as same_name:
        make_api(db, admin(db, ours), name="Pets", mount_path="other")
    assert same_name.value.code == "api_exists"
    with pytest.raises(Conflict) as same_mount:
        make_api(db, admin(db, theirs), name="Pets", mount_path="pets")
    assert same_mount.value.code == "mount_conflict"
    assert make_api(db, admin(db, theirs), name="Pets", mount_path="their-pets").name == "Pets"


@pytest.mark.parametrize("mount", ["pets/v1", "pets/v1/x", "pets", "/pets/v1/", "shop"])
def test_no_mount_equals_contains_or_lies_inside_another_in_any_workspace(
    db: Database, mount: str
) -> None:
    ours, theirs = make_workspace(db), make_workspace(db)
    make_api(db, admin(db, ours), mount_path="pets/v1")
    make_api(db, admin(db, ours), mount_path="shop/cart")
    with pytest.raises(Conflict) as nested:
        make_api(db, admin(db, theirs), mount_path=mount.strip("/"))
    assert nested.value.code == "mount_conflict"
    # The answer names nothing of the API already there.
    assert nested.value.details == {"mount_path": mount.strip("/")}
    assert "pets/v1" not in nested.value.message.replace(mount.strip("/"), "")


def test_a_mount_beside_another_is_free_and_moving_one_inside_another_is_refused(
    db: Database,
) -> None:
    boss = admin(db, make_workspace(db))
    make_api(db, boss, mount_path="pets/v1")
    beside = make_api(db, boss, mount_path="pets/v2")
    assert make_api(db, boss, mount_path="petsv1").mount_path == "petsv1"
    with pytest.raises(Conflict) as moved, db.transaction() as uow:
        service.update_api(uow, boss, beside.id, ApiUpdate(mount_path="pets"), Settings())
    assert moved.value.code == "mount_conflict"
    with db.transaction() as uow:
        kept = service.update_api(uow, boss, beside.id, ApiUpdate(mount_path="pets/v2"), Settings())
    assert kept.mount_path == "pets/v2"


@pytest.mark.parametrize("mount", ["healthz", "metrics/x", ".well-known", "readyz"])
def test_paths_the_gateway_keeps_for_itself_are_refused(mount: str) -> None:
    with pytest.raises(ValidationError):
        ApiImport.model_validate(
            {"name": "x", "upstream_url": "https://u.example", "mount_path": mount, "spec": "{}"}
        )


def test_a_leading_slash_in_a_mount_is_dropped() -> None:
    body = ApiImport.model_validate(
        {"name": "x", "upstream_url": "https://u.example", "mount_path": "/pets", "spec": "{}"}
    )
    assert body.mount_path == "pets"


def test_a_new_version_reports_added_removed_and_changed_operations(db: Database) -> None:
    set_up = make_workspace(db)
    actor = admin(db, set_up)
    imported = make_api(db, actor)
    updated = PETSTORE_30.replace(
        "  /health:\n    get:\n      operationId: health\n",
        "  /status:\n    get:\n      operationId: status\n",
    ).replace(
        "{name: limit, in: query, schema: {type: integer}}",
        "{name: limit, in: query, schema: {type: string}}",
    )
    with db.transaction() as uow:
        version = service.add_version(uow, actor, imported.id, SpecUpload(spec=updated), Settings())
    assert version.number == 2
    assert version.changes.added == ["GET /status"]
    assert version.changes.removed == ["GET /health"]
    assert version.changes.changed == ["GET /pets"]
    with db.transaction(write=False) as uow:
        listed = service.list_versions(uow, actor, imported.id, PageRequest())
        assert [v.number for v in listed.data] == [2, 1]
        assert service.get_api(uow, actor, imported.id, Settings()).current_version == 2


def test_a_shared_schema_change_marks_every_operation_using_it(db: Database) -> None:
    set_up = make_workspace(db)
    actor = admin(db, set_up)
    imported = make_api(db, actor)
    updated = PETSTORE_30.replace("name: {type: string}", "name: {type: string, maxLength: 40}")
    with db.transaction() as uow:
        version = service.add_version(uow, actor, imported.id, SpecUpload(spec=updated), Settings())
    assert version.changes.changed == ["GET /pets", "POST /pets"]
    assert version.changes.added == version.changes.removed == []


def test_the_policy_follows_the_specs_api_key_schemes_and_can_be_set(db: Database) -> None:
    set_up = make_workspace(db)
    actor = admin(db, set_up)
    imported = make_api(db, actor, spec=PETSTORE_20)
    policy = KeyPolicy.model_validate(
        {
            "key_locations": [
                {"scheme": "api_key", "in": "header", "name": "X-Pet-Key", "role": "key"}
            ],
            "key_lifetime": "P90D",
            "max_rotation_grace": "P1D",
            "renewal_requires_approval": True,
        }
    )
    with db.transaction() as uow:
        stored = service.set_policy(uow, actor, imported.id, policy)
    assert stored.key_lifetime is not None
    assert stored.key_lifetime.days == 90
    assert stored.renewal_requires_approval
    assert not stored.revocation_requires_approval
    wrong = KeyPolicy.model_validate(
        {"key_locations": [{"scheme": "api_key", "in": "query", "name": "k", "role": "key"}]}
    )
    with pytest.raises(InvalidInput) as refused, db.transaction() as uow:
        service.set_policy(uow, actor, imported.id, wrong)
    assert refused.value.code == "invalid_policy"
    with db.transaction(write=False) as uow:
        assert service.get_policy(uow, actor, imported.id).renewal_requires_approval


def test_an_api_with_offerings_cannot_be_deleted(db: Database) -> None:
    set_up = make_workspace(db)
    actor = admin(db, set_up)
    imported = make_api(db, actor)
    make_offering(db, actor, imported.id)
    with pytest.raises(Conflict) as refused, db.transaction() as uow:
        service.delete_api(uow, actor, imported.id)
    assert refused.value.code == "api_has_offerings"
    lonely = make_api(db, actor)
    with db.transaction() as uow:
        service.delete_api(uow, actor, lonely.id)
    with pytest.raises(NotFound), db.transaction(write=False) as uow:
        service.get_api(uow, actor, lonely.id, Settings())
    with db.transaction(write=False) as uow:
        actions = uow.session.scalars(
            select(AuditEvent.action).where(AuditEvent.target_id == lonely.id)
        ).all()
    assert sorted(actions) == ["api.create", "api.delete"]


def test_another_workspace_cannot_see_an_api(db: Database) -> None:
    ours, theirs = make_workspace(db), make_workspace(db)
    imported = make_api(db, admin(db, ours))
    with pytest.raises(NotFound), db.transaction(write=False) as uow:
        service.get_api(uow, admin(db, theirs), imported.id, Settings())
    with db.transaction(write=False) as uow:
        listed = service.list_apis(uow, admin(db, theirs), PageRequest(), Settings())
    assert listed.data == []


# Security across versions


def test_import_and_versions_report_their_public_operations(db: Database) -> None:
    set_up = make_workspace(db)
    actor = admin(db, set_up)
    imported = make_api(db, actor)
    assert imported.version.public_operations == ["GET /health"]
    closed = PETSTORE_30.replace("      security: []\n", "")
    with db.transaction() as uow:
        version = service.add_version(uow, actor, imported.id, SpecUpload(spec=closed), Settings())
    assert version.public_operations == []
    with db.transaction(write=False) as uow:
        listed = service.list_versions(uow, actor, imported.id, PageRequest())
    assert [v.public_operations for v in listed.data] == [[], ["GET /health"]]


def test_versions_stored_before_it_was_recorded_read_it_from_their_document(db: Database) -> None:
    set_up = make_workspace(db)
    actor = admin(db, set_up)
    imported = make_api(db, actor)
    with db.transaction() as uow:
        uow.session.get_one(ApiVersion, imported.version.id).public_operations = None
    with db.transaction(write=False) as uow:
        [listed] = service.list_versions(uow, actor, imported.id, PageRequest()).data
    assert listed.public_operations == ["GET /health"]


MADE_PUBLIC = PETSTORE_30.replace(
    "      operationId: showPet\n", "      operationId: showPet\n      security: []\n"
)


def test_a_version_that_weakens_security_is_refused_unless_confirmed(db: Database) -> None:
    set_up = make_workspace(db)
    actor = admin(db, set_up)
    imported = make_api(db, actor)
    with pytest.raises(Conflict) as refused, db.transaction() as uow:
        service.add_version(uow, actor, imported.id, SpecUpload(spec=MADE_PUBLIC), Settings())
    assert refused.value.code == "security_weakened"
    assert refused.value.details == {"operations": ["GET /pets/{petId}"]}
    assert _count(db, ApiVersion) == 1
    confirmed = SpecUpload(spec=MADE_PUBLIC, confirm_weaker_security=True)
    with db.transaction() as uow:
        version = service.add_version(uow, actor, imported.id, confirmed, Settings())
    assert version.changes.weakened == ["GET /pets/{petId}"]
    assert version.public_operations == ["GET /health", "GET /pets/{petId}"]
    with db.transaction(write=False) as uow:
        event = uow.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "api.version.create")
        ).one()
    assert event.details["weakened"] == ["GET /pets/{petId}"]


def test_a_duplicated_security_key_is_refused_not_read_as_the_last_one(db: Database) -> None:
    set_up = make_workspace(db)
    actor = admin(db, set_up)
    imported = make_api(db, actor)
    twice = PETSTORE_30.replace(
        "      operationId: showPet\n",
        "      operationId: showPet\n      security: [{keyward: []}]\n      security: []\n",
    )
    with pytest.raises(InvalidInput) as refused, db.transaction() as uow:
        service.add_version(uow, actor, imported.id, SpecUpload(spec=twice), Settings())
    [problem] = refused.value.details["problems"]
    assert (problem["code"], problem["pointer"]) == ("duplicate_key", "/paths/~1pets~1{petId}/get")
    assert _count(db, ApiVersion) == 1


def test_a_spec_that_takes_longer_than_its_budget_to_check_is_refused_and_not_stored(
    db: Database,
) -> None:
    set_up = make_workspace(db)
    with pytest.raises(InvalidInput) as refused, db.transaction() as uow:
        service.import_api(
            uow, admin(db, set_up), _import(PETSTORE_30), Settings(spec_check_seconds=1e-9)
        )
    assert refused.value.code == "spec_too_costly"
    assert refused.value.details == {"budget_seconds": 1e-9}
    assert "KEYWARD_SPEC_CHECK_SECONDS" in refused.value.message
    assert _count(db, Api) == _count(db, ApiVersion) == 0
    with db.transaction() as uow:
        imported = service.import_api(uow, admin(db, set_up), _import(PETSTORE_30), Settings())
    assert imported.version.number == 1


def test_nul_characters_are_refused_at_each_place_in_document_order(db: Database) -> None:
    set_up = make_workspace(db)
    spec = PETSTORE_30.replace(
        "      operationId: showPet\n", '      operationId: "show\\0Pet"\n'
    ).replace('        "201": {description: created}', '        "201": {"desc\\0": created}')
    with pytest.raises(InvalidInput) as refused, db.transaction() as uow:
        service.import_api(uow, admin(db, set_up), _import(spec), Settings())
    nul = [p["pointer"] for p in refused.value.details["problems"] if p["code"] == "nul_character"]
    assert nul == [
        "/paths/~1pets/post/responses/201/desc\x00",
        "/paths/~1pets~1{petId}/get/operationId",
    ]
    assert _count(db, Api) == 0


def _policy(*locations: tuple[str, str, str, str], **fields: object) -> KeyPolicy:
    return KeyPolicy.model_validate(
        {
            "key_locations": [
                {"scheme": scheme, "in": where, "name": name, "role": role}
                for scheme, where, name, role in locations
            ],
            **fields,
        }
    )


TWO_KEYS = """\
openapi: 3.0.3
info: {title: Two keys, version: "1"}
components:
  securitySchemes:
    main: {type: apiKey, in: header, name: X-Main}
    second: {type: apiKey, in: header, name: X-Second}
security: [{main: [], second: []}]
paths:
  /both: {get: {operationId: both, responses: {"200": {description: ok}}}}
  /main: {get: {operationId: main, security: [{main: []}], responses: {"200": {description: ok}}}}
"""
MAIN = ("main", "header", "X-Main", "key")


def test_a_policy_that_checks_operations_less_needs_confirming(db: Database) -> None:
    set_up = make_workspace(db)
    actor = admin(db, set_up)
    api = make_api(db, actor, spec=TWO_KEYS)
    passthrough = _policy(MAIN, ("second", "header", "X-Second", "passthrough"))
    with pytest.raises(Conflict) as refused, db.transaction() as uow:
        service.set_policy(uow, actor, api.id, passthrough)
    assert refused.value.code == "security_weakened"
    assert refused.value.details == {"operations": ["GET /both"]}
    with db.transaction() as uow:
        kept = service.get_policy(uow, actor, api.id)
    assert [(k.scheme, k.role) for k in kept.key_locations] == [
        ("main", KeyRole.KEY),
        ("second", KeyRole.KEY),
    ]
    confirmed = passthrough.model_copy(update={"confirm_weaker_security": True})
    with db.transaction() as uow:
        changed = service.set_policy(uow, actor, api.id, confirmed)
    assert changed.key_locations[1].role is KeyRole.PASSTHROUGH
    # Checking more again needs no confirmation.
    with db.transaction() as uow:
        service.set_policy(
            uow, actor, api.id, _policy(MAIN, ("second", "header", "X-Second", "key"))
        )


def test_moving_keywards_own_key_is_not_checking_less(db: Database) -> None:
    set_up = make_workspace(db)
    actor = admin(db, set_up)
    api = make_api(db, actor)  # no apiKey scheme of its own: keyward's, in X-API-Key
    for where, name in (("query", "api_key"), ("cookie", "kw"), ("header", "X-Pet-Token")):
        with db.transaction() as uow:
            moved = service.set_policy(uow, actor, api.id, _policy(("keyward", where, name, "key")))
        assert (moved.key_locations[0].location, moved.key_locations[0].name) == (
            Location(where),
            name,
        )
