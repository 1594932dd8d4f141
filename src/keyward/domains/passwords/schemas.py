"""Password links as the API shows them."""

from datetime import datetime
from enum import StrEnum

from keyward.domains.fields import Output


class Purpose(StrEnum):
    INVITATION = "invitation"
    RESET = "reset"


class InvitationOut(Output):
    """An invitation on its way: the e-mail is sent by the worker, with a link that sets the
    member's password once, until `expires_at`."""

    id: str
    member_id: str
    email: str
    expires_at: datetime
