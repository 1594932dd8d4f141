"""What a provider's new spec version sets in motion for acquirers, in the same transaction:
every connector re-exports it, and acquirers who export by hand are told it changed."""

from keyward.db.engine import UnitOfWork
from keyward.domains.connectors import repository
from keyward.domains.outbox import service as outbox

EXPORT = "connector.export"
SPEC_UPDATED = "notification.spec_updated"


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
            outbox.enqueue(
                uow,
                workspace_id,
                SPEC_UPDATED,
                {
                    "acquisition_id": acquisition.id,
                    "api_id": api_id,
                    "api_version": number,
                    "changes": changes,
                },
            )
