"""The worker's turn at each workspace's unused keys policy (`core.unused`): warning the owners
of keys left unused, and revoking them, with the reason "unused".

A warning is recorded in `sent_reminders` under the start of the key's idle period, in the
transaction that sends it, so repeated sweeps and concurrent workers warn once per idle period,
and a key used since is warned afresh. A revocation is made like any other: audited (by the
system), in the change feed, and announced to the owner and the webhooks as `key.revoked`.
"""

from datetime import datetime
from typing import Any

from keyward.core.actors import Actor, Via
from keyward.core.ownership import SYSTEM
from keyward.core.unused import UnusedPolicy, UnusedStep
from keyward.db.engine import UnitOfWork
from keyward.db.models import ApiKey
from keyward.domains.audit import service as audit
from keyward.domains.keys import repository
from keyward.domains.keys.service import revoke_now
from keyward.domains.notifications import reminders
from keyward.domains.notifications.events import Event
from keyward.domains.notifications.service import key_data, notify
from keyward.domains.workspaces.policies import unused_policy

# The `sent_reminders` event of a warning; its `due_at` is the start of the idle period.
WARNED = "key.unused"
REASON = "unused"
BATCH = 500


def idle_since(key: ApiKey) -> datetime:
    """When the key's current idle period began: its last use, else its creation."""
    return key.last_used_at or key.created_at


def _data(uow: UnitOfWork, key: ApiKey, since: datetime, **extra: Any) -> dict[str, Any]:
    api = (
        repository.api_of_acquisition(uow.session, key.acquisition_id)
        if key.acquisition_id
        else None
    )
    return {
        **key_data(key, api),
        "unused_since": since.isoformat(),
        "never_used": key.last_used_at is None,
        "days": (uow.clock.now() - since).days,
        **extra,
    }


def _warn(uow: UnitOfWork, system: Actor, key: ApiKey, policy: UnusedPolicy) -> bool:
    since = idle_since(key)
    if not reminders.record_once(uow, key.workspace_id, key.id, WARNED, since):
        return False
    revokes_at = policy.revokes_at(since, uow.clock.now())
    shown = revokes_at.isoformat() if revokes_at else None
    audit.record(
        uow,
        system,
        "key.unused_warning",
        target_type="key",
        target_id=key.id,
        details={"name": key.name, "unused_since": since.isoformat(), "revokes_at": shown},
    )
    data = _data(uow, key, since, revokes_at=shown)
    notify(uow, key.workspace_id, Event.KEY_UNUSED, data, [key.creator_member_id])
    return True


def _revoke(uow: UnitOfWork, system: Actor, key: ApiKey) -> bool:
    since = idle_since(key)
    locked = repository.get(uow.session, key.workspace_id, key.id, for_update=True)
    if locked is None or locked.revoked_at is not None or idle_since(locked) != since:
        return False  # revoked, deleted or used meanwhile
    revoke_now(uow, system, locked, REASON)
    data = _data(uow, locked, since, reason=REASON)
    notify(uow, locked.workspace_id, Event.KEY_REVOKED, data, [locked.creator_member_id])
    return True


def apply_policies(uow: UnitOfWork, now: datetime) -> int:
    """Warn and revoke what every workspace's unused keys policy says is due at `now`;
    returns how many keys were warned or revoked."""
    done = 0
    for workspace in repository.workspaces_with_unused_policy(uow.session):
        policy = unused_policy(workspace)
        first = policy.first_step_after
        if first is None:
            continue
        system = Actor(workspace.id, None, None, SYSTEM, Via.SYSTEM)
        after_id = ""
        while keys := repository.idle_keys(
            uow.session, workspace.id, now - first, now, after_id=after_id, limit=BATCH
        ):
            after_id = keys[-1].id
            warned = reminders.sent_at(uow, [k.id for k in keys], WARNED)
            for key in keys:
                step = policy.step(idle_since(key), warned.get((key.id, idle_since(key))), now)
                if step is UnusedStep.WARN:
                    done += _warn(uow, system, key, policy)
                elif step is UnusedStep.REVOKE:
                    done += _revoke(uow, system, key)
    return done
