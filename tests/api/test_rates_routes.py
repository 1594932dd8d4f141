"""The management API answers a member past a rate with 429, Retry-After, and an audited
refusal, from the rates of its settings."""

from fastapi.testclient import TestClient
from sqlalchemy import select

from keyward.api import create_app
from keyward.api.runtime import Runtime
from keyward.db.engine import Database
from keyward.db.models import AuditEvent
from keyward.verifier import Verifier
from tests.api.error_bodies import assert_error
from tests.conftest import settings_for
from tests.factories import bearer, make_workspace


def test_a_key_past_the_rate_is_429_with_retry_after_and_the_refusal_is_audited(
    db: Database, verifier: Verifier
) -> None:
    set_up = make_workspace(db)  # its admin key is the admin's first key of the minute
    runtime = Runtime(settings_for(db.url, keys_created_per_minute=2), db, verifier)
    with TestClient(create_app(runtime, follow_feed=False)) as api:
        made = api.post(
            "/v1/keys", headers=bearer(set_up.admin_key), json={"name": "ci", "permissions": []}
        )
        assert made.status_code == 201, made.text
        refused = api.post(
            "/v1/keys", headers=bearer(set_up.admin_key), json={"name": "cd", "permissions": []}
        )
        listed = api.get("/v1/keys", headers=bearer(set_up.admin_key)).json()["data"]
    error = assert_error(refused, 429, "rate_limited")
    assert refused.headers["retry-after"] == "60"
    assert error["details"]["setting"] == "KEYWARD_KEYS_CREATED_PER_MINUTE"
    assert "cd" not in [key["name"] for key in listed]
    with db.transaction(write=False) as uow:
        audited = list(
            uow.session.scalars(select(AuditEvent).where(AuditEvent.code == "rate_limited"))
        )
    assert [(e.outcome, e.workspace_id) for e in audited] == [("refused", set_up.workspace.id)]


def test_the_rate_limited_operations_document_429_with_retry_after(api: TestClient) -> None:
    paths = api.get("/openapi.json").json()["paths"]
    limited = {
        ("/v1/keys", "post"),
        ("/v1/acquisitions/{acquisition_id}/keys", "post"),
        ("/v1/keys/{key_id}/renew", "post"),
        ("/v1/keys/{key_id}/revoke", "post"),
        ("/v1/members/{member_id}/invitations", "post"),
    }
    for path, method in limited:
        documented = paths[path][method]["responses"]
        assert "Retry-After" in documented["429"]["headers"], (path, method)
    # Reading is never rate limited, so it does not say it may be.
    assert "429" not in paths["/v1/keys"]["get"]["responses"]
