"""What changes elsewhere set in motion for connectors, in the same transaction: a provider's
new spec version or new key locations are re-exported by every connector (acquirers who export
by hand are told of a new version), and a key's new secret goes to the connectors holding it."""

from collections.abc import Sequence

from keyward.core.sealing import Sealer, place
from keyward.db.engine import UnitOfWork
from keyward.db.models import Acquisition, Connector
from keyward.domains import access
from keyward.domains.connectors import repository
from keyward.domains.notifications.events import Event
from keyward.domains.notifications.service import notify, organization_members
from keyward.domains.outbox import service as outbox

EXPORT = "connector.export"
# What announce_version wrote before notifications existed; the worker turns any still queued
# into notifications (tell_acquirers).
LEGACY_SPEC_UPDATED = "notification.spec_updated"


def tell_acquirers(
    uow: UnitOfWork,
    acquisition: Acquisition,
    api_id: str,
    number: int,
    changes: dict[str, list[str]],
) -> None:
    """Notify the acquirer organization's members (and webhooks) of version `number`."""
    api = access.get(uow, access.APIS, acquisition.workspace_id, api_id)
    notify(
        uow,
        acquisition.workspace_id,
        Event.SPEC_UPDATED,
        {
            "api": {"id": api_id, "name": api.name if api else api_id},
            "acquisition": {
                "id": acquisition.id,
                "organization_id": acquisition.organization_id,
            },
            "api_version": number,
            "changes": changes,
        },
        recipients=organization_members(uow, acquisition.organization_id),
    )


def _queue_exports(
    uow: UnitOfWork, workspace_id: str, acquisitions: Sequence[Acquisition], number: int
) -> Sequence[Connector]:
    connectors = repository.connectors_of(uow.session, [a.id for a in acquisitions])
    for connector in connectors:
        outbox.enqueue(
            uow, workspace_id, EXPORT, {"connector_id": connector.id, "api_version": number}
        )
    return connectors


def reexport(uow: UnitOfWork, workspace_id: str, api_id: str, number: int) -> list[str]:
    """Queue a delivery of version `number` by every connector of the API, as after a change
    of where its key travels; their ids.

    A connector whose version cannot describe the spec now (OpenAPI 2.0, after the provider
    moved the key to a cookie) logs that delivery as failed with the reason, `cookie_api_key`.
    """
    acquisitions = repository.acquisitions_of_api(uow.session, api_id)
    return [c.id for c in _queue_exports(uow, workspace_id, acquisitions, number)]


def announce_version(
    uow: UnitOfWork, workspace_id: str, api_id: str, number: int, changes: dict[str, list[str]]
) -> None:
    acquisitions = repository.acquisitions_of_api(uow.session, api_id)
    connectors = _queue_exports(uow, workspace_id, acquisitions, number)
    connected = {connector.acquisition_id for connector in connectors}
    for acquisition in acquisitions:
        if acquisition.id not in connected:
            tell_acquirers(uow, acquisition, api_id, number, changes)


def hand_over(
    uow: UnitOfWork, workspace_id: str, key_id: str, secret: str, sealer: Sealer
) -> list[str]:
    """Give the connectors that deliver key `key_id` its new `secret` (sealed, as at their
    creation) and queue a delivery of the current spec with it; their ids."""
    now = uow.clock.now()
    handed = []
    for connector, number in repository.holding(uow.session, workspace_id, key_id):
        connector.sealed_key = sealer.seal(secret, place("connectors", connector.id, "sealed_key"))
        connector.updated_at = now
        outbox.enqueue(
            uow, workspace_id, EXPORT, {"connector_id": connector.id, "api_version": number}
        )
        handed.append(connector.id)
    uow.session.flush()
    return handed
