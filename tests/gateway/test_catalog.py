"""The gateway's catalog follows the change feed one API or offering at a time: after any
sequence of changes it is what a whole rebuild would read, and an API nobody changed is not
compiled again."""

from typing import Any

from keyward.db import feed
from keyward.db.engine import Database
from keyward.domains.apis import service as apis
from keyward.domains.apis.schemas import ApiUpdate, SpecUpload
from keyward.domains.offerings import service as offerings
from keyward.domains.offerings.schemas import OfferingUpdate
from keyward.gateway.catalog import Catalog, load_catalog, updated_catalog
from keyward.settings import Settings
from tests.factories import PETSTORE_30, admin, make_api, make_offering, make_workspace

EXTENDED = PETSTORE_30.replace(
    "  /health:\n",
    "  /toys:\n    get:\n      operationId: listToys\n      responses:\n"
    '        "200": {description: the toys}\n  /health:\n',
)


def seen(catalog: Catalog) -> dict[str, Any]:
    """What a request can observe of `catalog`: every mount with its API and routes, and every
    offering."""
    return {
        "mounts": {
            mount: (
                api.id,
                api.workspace_id,
                api.name,
                api.upstream,
                api.upstream_path,
                api.base_path,
                api.routes.routes,
                api.header_names,
                api.key_query_names,
                api.allowed_origins,
            )
            for mount, api in catalog.mounts.items()
        },
        "offerings": catalog.offerings,
    }


class Following:
    """A catalog kept up to date from the feed, as a gateway's is."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.catalog = load_catalog(db)
        with db.transaction(write=False) as uow:
            self.position = feed.bounds(uow.session)[1]

    def follow(self) -> Catalog:
        with self.db.transaction(write=False) as uow:
            changes = feed.read_since(uow.session, self.position)
        assert changes, "the step changed nothing the feed reports"
        self.position = changes[-1].seq or self.position
        self.catalog = updated_catalog(self.db, self.catalog, changes)
        assert seen(self.catalog) == seen(load_catalog(self.db))
        return self.catalog


def test_the_catalog_follows_each_change_as_a_rebuild_would_read_it(db: Database) -> None:
    ours, theirs = make_workspace(db), make_workspace(db)
    provider, other = admin(db, ours), admin(db, theirs)
    pets = make_api(db, provider, mount_path="pets")
    gateway = Following(db)

    toys = make_api(db, other, mount_path="toys")
    gateway.follow()
    offering = make_offering(db, provider, pets.id, operation_ids=["listPets"])
    gateway.follow()
    settings = Settings()
    with db.transaction() as uow:
        apis.add_version(uow, provider, pets.id, SpecUpload(spec=EXTENDED), settings)
    found = gateway.follow().mounts.resolve("/pets/toys")
    assert found is not None
    assert "listToys" in {route.operation_id for route in found[0].routes.routes}
    with db.transaction() as uow:
        apis.update_api(
            uow,
            provider,
            pets.id,
            ApiUpdate.model_validate(
                {"mount_path": "animals", "upstream_url": "https://pets.example.com/base"}
            ),
            settings,
        )
    moved = gateway.follow()
    assert moved.mounts.resolve("/pets/toys") is None
    with db.transaction() as uow:
        offerings.update_offering(
            uow,
            provider,
            offering.id,
            OfferingUpdate.model_validate(
                {"limits": [{"scope": "key", "requests": 5, "per": "PT1M"}]}
            ),
        )
    gateway.follow()
    with db.transaction() as uow:
        offerings.delete_offering(uow, provider, offering.id)
    assert offering.id not in gateway.follow().offerings
    with db.transaction() as uow:
        apis.delete_api(uow, provider, pets.id)
    after = gateway.follow()
    assert [api.id for _, api in after.mounts.items()] == [toys.id]


def test_a_change_to_one_api_compiles_that_api_only(db: Database) -> None:
    set_up = make_workspace(db)
    provider = admin(db, set_up)
    pets = make_api(db, provider, mount_path="pets")
    toys = make_api(db, provider, mount_path="toys")
    gateway = Following(db)
    before = dict(gateway.catalog.mounts.items())
    with db.transaction() as uow:
        apis.add_version(uow, provider, pets.id, SpecUpload(spec=EXTENDED), Settings())
    after = dict(gateway.follow().mounts.items())
    assert after["toys"] is before["toys"], "an unchanged API is kept as compiled"
    assert after["pets"] is not before["pets"]
    assert after["toys"].id == toys.id
