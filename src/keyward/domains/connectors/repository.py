"""SQL for connectors and their deliveries. Always scoped to a workspace."""

from collections.abc import Sequence

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from keyward.db.models import Acquisition, Api, Connector, Delivery, Offering
from keyward.domains.pagination import PageRequest, paginate


def get(session: Session, workspace_id: str, connector_id: str) -> Connector | None:
    return session.scalar(
        select(Connector).where(
            Connector.workspace_id == workspace_id, Connector.id == connector_id
        )
    )


def add(session: Session, row: Connector | Delivery) -> None:
    session.add(row)
    session.flush()


def delete(session: Session, connector: Connector) -> None:
    session.delete(connector)
    session.flush()


def count_of(session: Session, acquisition_id: str) -> int:
    query = select(func.count()).select_from(Connector)
    return session.scalar(query.where(Connector.acquisition_id == acquisition_id)) or 0


def list_connectors(
    session: Session, acquisition_id: str, page: PageRequest, *, visible: ColumnElement[bool]
) -> Sequence[Connector]:
    query = select(Connector).where(Connector.acquisition_id == acquisition_id, visible)
    return session.scalars(paginate(query, Connector.id, page)).all()


def list_deliveries(session: Session, connector_id: str, page: PageRequest) -> Sequence[Delivery]:
    query = select(Delivery).where(Delivery.connector_id == connector_id)
    return session.scalars(paginate(query, Delivery.id, page)).all()


def last_delivery(session: Session, connector_id: str) -> Delivery | None:
    return session.scalar(
        select(Delivery)
        .where(Delivery.connector_id == connector_id)
        .order_by(Delivery.id.desc())
        .limit(1)
    )


def acquisitions_of_api(session: Session, api_id: str) -> Sequence[Acquisition]:
    return session.scalars(
        select(Acquisition)
        .join(Offering, Offering.id == Acquisition.offering_id)
        .where(Offering.api_id == api_id)
        .order_by(Acquisition.id)
    ).all()


def connectors_of(session: Session, acquisition_ids: Sequence[str]) -> Sequence[Connector]:
    return session.scalars(
        select(Connector)
        .where(Connector.acquisition_id.in_(acquisition_ids))
        .order_by(Connector.id)
    ).all()


def holding(session: Session, workspace_id: str, key_id: str) -> Sequence[tuple[Connector, int]]:
    """The connectors that deliver key `key_id`, each with its API's current version number."""
    rows = session.execute(
        select(Connector, Api.current_version)
        .join(Acquisition, Acquisition.id == Connector.acquisition_id)
        .join(Offering, Offering.id == Acquisition.offering_id)
        .join(Api, Api.id == Offering.api_id)
        .where(Connector.workspace_id == workspace_id, Connector.key_id == key_id)
        .order_by(Connector.id)
        .with_for_update(of=Connector)
    ).all()
    return [(connector, number) for connector, number in rows]
