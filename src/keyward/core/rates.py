"""How fast members may do what creates things or notifies people: the operator's rates.

A rate of 0 is no limit. The counting itself is the domains' (`keyward.domains.rates`), from the
rows those actions leave.
"""

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class ActionRates:
    keys_per_minute: int = 0
    """Keys one member creates, and keys one acquisition is given, per minute."""
    key_requests_per_hour: int = 0
    """Approval requests (issuance, renewal, revocation) one member files per hour."""
    invitations_per_hour: int = 0
    """Invitations one member sends per hour."""


UNLIMITED: Final = ActionRates()
