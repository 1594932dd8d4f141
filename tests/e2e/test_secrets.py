"""Rotating the server secrets that seal connectors' keys and webhook secrets, as an operator
does it with `keyward secrets`: every sealed value moves to the new secret, deliveries go on,
and the old secret is dropped only once nothing needs it. A real CLI over a real database."""

import json
import stat
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from keyward.core.actors import Actor
from keyward.core.sealing import Sealer
from keyward.db.engine import Database
from keyward.db.models import Connector, Delivery
from keyward.domains.connectors import service as connectors
from keyward.domains.connectors.schemas import ConnectorCreate, ConnectorCreated
from keyward.domains.webhooks import service as webhooks
from keyward.domains.webhooks.schemas import WebhookEndpointCreate
from keyward.settings import Settings
from keyward.verifier import Verifier
from tests.conftest import settings_for
from tests.e2e.processes import cli
from tests.factories import (
    admin,
    make_acquisition,
    make_api,
    make_offering,
    make_party,
    make_workspace,
)

pytestmark = pytest.mark.e2e


@dataclass
class Installation:
    url: str
    key_file: Path
    exports: Path
    settings: Settings
    admin: Actor
    connectors: list[ConnectorCreated]

    @property
    def env(self) -> dict[str, str]:
        return {
            "KEYWARD_SECRET_KEY_FILE": str(self.key_file),
            "KEYWARD_CONNECTOR_FILE_ROOT": str(self.exports),
        }

    def secrets(self, command: str) -> dict[str, object]:
        done = cli(self.url, "secrets", command, "--json", **self.env)
        assert done.code == 0, done.stderr
        answer: dict[str, object] = done.json()
        return answer

    def lines(self) -> list[str]:
        return self.key_file.read_text().split()


@pytest.fixture
def installation(fresh_url: str, tmp_path: Path) -> Installation:
    """Two storage connectors and a webhook endpoint, sealed with a key file's secret."""
    key_file, exports = tmp_path / "config" / "secret.key", tmp_path / "exports"
    settings = settings_for(
        fresh_url, secret_key=None, secret_key_file=key_file, connector_file_root=exports
    )
    database = Database.connect(fresh_url)
    try:
        boss = admin(database, make_workspace(database))
        buyer = make_party(database, boss)
        offering = make_offering(database, boss, make_api(database, boss).id)
        acquisition = make_acquisition(database, boss, offering.id, buyer.organization_id)
        verifier = Verifier(database)
        with database.transaction() as uow:
            made = [
                connectors.create_connector(
                    uow,
                    buyer.actor,
                    acquisition.id,
                    ConnectorCreate.model_validate({"kind": "storage", "path": f"{name}.json"}),
                    verify=lambda key: verifier.verify(key, boss.workspace_id),
                    sealer=Sealer(settings.server_secrets()),
                    settings=settings,
                )
                for name in ("first", "second")
            ]
            webhooks.create_endpoint(
                uow,
                boss,
                WebhookEndpointCreate(url="https://hooks.example.com/k"),
                sealer=Sealer(settings.server_secrets()),
                settings=settings,
            )
    finally:
        database.dispose()
    return Installation(fresh_url, key_file, exports, settings, boss, made)


def test_rotate_reseals_everything_and_retire_drops_the_old_secret(
    installation: Installation,
) -> None:
    [first] = installation.lines()
    assert stat.S_IMODE(installation.key_file.stat().st_mode) == 0o600
    before = installation.secrets("status")
    assert before["kept_in"] == str(installation.key_file)
    assert before["sealed_by_key"] == {before["current"]: 3}

    rotated = installation.secrets("rotate")
    assert rotated["current"] != before["current"]
    assert (rotated["retired"], rotated["resealed"], rotated["broken"]) == (
        [before["current"]],
        3,
        [],
    )
    assert installation.lines()[1:] == [first]
    assert stat.S_IMODE(installation.key_file.stat().st_mode) == 0o600
    assert installation.secrets("status")["sealed_by_key"] == {rotated["current"]: 3}

    assert cli(installation.url, "worker", "--once", **installation.env).code == 0
    for connector, name in zip(installation.connectors, ("first", "second"), strict=True):
        delivered = json.loads((installation.exports / f"{name}.json.key.json").read_text())
        assert (delivered["key_id"], delivered["key"]) == (connector.key_id, connector.key)

    retired = installation.secrets("retire")
    assert retired == {"current": rotated["current"], "dropped": [before["current"]]}
    assert len(installation.lines()) == 1


def test_retire_waits_for_values_sealed_with_the_old_secret(installation: Installation) -> None:
    """A process that read the key file just before the rotation may still seal with the old
    secret: `retire` refuses until `reseal` has sealed that too."""
    [old] = installation.lines()
    installation.secrets("rotate")
    database = Database.connect(installation.url)
    try:
        with database.transaction() as uow:
            webhooks.create_endpoint(
                uow,
                installation.admin,
                WebhookEndpointCreate(url="https://hooks.example.com/late"),
                sealer=Sealer([old.encode()]),
                settings=installation.settings,
            )
    finally:
        database.dispose()
    refused = cli(installation.url, "secrets", "retire", "--json", **installation.env)
    assert (refused.code, refused.error()["error"]["code"]) == (1, "secrets_still_in_use")
    assert len(installation.lines()) == 2
    assert installation.secrets("reseal")["resealed"] == 1
    assert installation.secrets("retire")["dropped"] != []


def test_a_sealed_key_copied_into_another_connector_does_not_open(
    installation: Installation,
) -> None:
    """Someone who can write the database but not read the key file cannot make one connector
    deliver another's key: a sealed value opens only in its own row."""
    first, second = installation.connectors
    database = Database.connect(installation.url)
    try:
        with database.transaction() as uow:
            source = uow.session.get_one(Connector, first.id)
            uow.session.get_one(Connector, second.id).sealed_key = source.sealed_key
        assert cli(installation.url, "worker", "--once", **installation.env).code == 0
        with database.transaction(write=False) as uow:
            outcome = {
                delivery.connector_id: (delivery.status, delivery.detail)
                for delivery in uow.session.scalars(select(Delivery))
            }
    finally:
        database.dispose()
    assert outcome[first.id][0] == "succeeded"
    assert outcome[second.id][0] == "failed"
    assert "another place" in outcome[second.id][1]
    assert not (installation.exports / "second.json.key.json").exists()
