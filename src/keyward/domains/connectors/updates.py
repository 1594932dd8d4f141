"""What a provider's new spec version sets in motion for acquirers, in the same transaction:
every connector re-exports it, and acquirers who export by hand are told it changed."""

from keyward.db.engine import UnitOfWork
from keyward.db.models import Acquisition
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


def announce_version(
    uow: UnitOfWork, workspace_id: str, api_id: str, number: int, changes: dict[str, list[str]]
) -> None:
    acquisitions = repository.acquisitions_of_api(uow.session, api_id)
    connectors = repository.connectors_of(uow.session, [a.id for a in acquisitions])
    for connector in connectors:
        outbox.enqueue(
            uow, workspace_id, EXPORT, {"connector_id": connector.id, "api_version": number}
        )
    connected = {connector.acquisition_id for connector in connectors}
    for acquisition in acquisitions:
        if acquisition.id not in connected:
            tell_acquirers(uow, acquisition, api_id, number, changes)
