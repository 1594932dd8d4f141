"""Every table keyward stores, split by domain."""

from keyward.db.models.apis import Acquisition, Api, ApiApprover, ApiVersion, Offering
from keyward.db.models.audit import AuditEvent, ChangeFeedEntry
from keyward.db.models.base import Base
from keyward.db.models.gateways import GatewayHeartbeat
from keyward.db.models.keys import ApiKey, IdempotencyRecord, KeyRequest
from keyward.db.models.limits import LimitLease
from keyward.db.models.outbox import (
    Connector,
    Delivery,
    OutboxMessage,
    SentReminder,
    WebhookEndpoint,
)
from keyward.db.models.passwords import PasswordLink
from keyward.db.models.sessions import LoginAttempt, PortalSession
from keyward.db.models.usage import KeyUsage, UsageHour
from keyward.db.models.workspaces import (
    Member,
    MemberPermission,
    MemberRole,
    Organization,
    OrganizationMember,
    Workspace,
)

__all__ = [
    "Acquisition",
    "Api",
    "ApiApprover",
    "ApiKey",
    "ApiVersion",
    "AuditEvent",
    "Base",
    "ChangeFeedEntry",
    "Connector",
    "Delivery",
    "GatewayHeartbeat",
    "IdempotencyRecord",
    "KeyRequest",
    "KeyUsage",
    "LimitLease",
    "LoginAttempt",
    "Member",
    "MemberPermission",
    "MemberRole",
    "Offering",
    "Organization",
    "OrganizationMember",
    "OutboxMessage",
    "PasswordLink",
    "PortalSession",
    "SentReminder",
    "UsageHour",
    "WebhookEndpoint",
    "Workspace",
]
