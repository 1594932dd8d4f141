"""The e-mails about key requests link approvers to the portal's approvals and requesters to
their keys, on the portal's configured address."""

import pytest

from keyward.jobs import mail
from keyward.settings import Settings

TO_APPROVERS = ("key.issuance_requested", "key.renewal_requested", "key.revocation_requested")
TO_REQUESTERS = (
    "key.issuance_approved",
    "key.issuance_rejected",
    "key.renewal_approved",
    "key.renewal_rejected",
    "key.revocation_rejected",
    "key.revoked",
)


def _payload(event: str) -> dict[str, object]:
    return {
        "event": event,
        "event_id": "evt_1",
        "occurred_at": "2026-12-05T12:00:00+00:00",
        "to": {"member_id": "mem_1", "email": "pat@example.com", "name": "Pat"},
        "data": {
            "key": {
                "id": "key_1",
                "name": "ci <pipeline>",
                "start": "kw_AbCd",
                "expires_at": "2027-01-04T12:00:00+00:00",
            },
            "request": {"id": "kreq_1", "action": "renew", "status": "pending", "reason": "x"},
        },
    }


@pytest.mark.parametrize(
    ("event", "page"),
    [(event, "approvals") for event in TO_APPROVERS] + [(e, "keys") for e in TO_REQUESTERS],
)
def test_a_key_request_e_mail_links_to_the_page_where_its_reader_acts(
    event: str, page: str
) -> None:
    settings = Settings(portal_url="https://keys.example.com/portal/")
    message = mail.compose(settings, _payload(event), "ws_1")
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None
    assert html is not None
    link = f"https://keys.example.com/portal/{page}"
    assert link in text.get_content()
    assert f'href="{link}"' in html.get_content()
    # The key's name is the tenant's text: escaped in the HTML part.
    assert "ci &lt;pipeline&gt;" in html.get_content()
