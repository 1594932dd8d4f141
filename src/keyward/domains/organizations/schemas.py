"""Organizations as the API takes and shows them."""

from datetime import datetime
from enum import StrEnum

from keyward.domains.fields import Input, Name, Output, Patch


class OrganizationKind(StrEnum):
    PROVIDER = "provider"
    ACQUIRER = "acquirer"


class OrganizationCreate(Input):
    name: Name
    kind: OrganizationKind


class OrganizationUpdate(Patch):
    name: Name | None = None


class OrganizationOut(Output):
    id: str
    name: str
    kind: OrganizationKind
    member_count: int
    created_at: datetime
    updated_at: datetime
