"""The provider's APIs: the list, importing one from its spec, one API's page (upstream and
mount, versions with what each changed, uploading a new version).

The API services decide everything: which APIs a member provides, whether a spec, an upstream
or a mount will do. A refused spec lists every problem with its JSON pointer; the form keeps
what was typed except a chosen file, which the browser cannot be given back.
"""

from dataclasses import dataclass, field

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError

from keyward.core.errors import KeywardError
from keyward.core.ownership import holds
from keyward.domains.apis import service as apis
from keyward.domains.apis.schemas import ApiImport, ApiOut, ApiUpdate, SpecUpload
from keyward.domains.offerings import service as offerings
from keyward.domains.organizations import service as organizations
from keyward.domains.organizations.schemas import OrganizationKind, OrganizationOut
from keyward.domains.pagination import PageRequest
from keyward.portal.context import (
    CheckedFormDep,
    Member,
    MemberDep,
    Portal,
    PortalDep,
    field_errors,
)
from keyward.portal.routes.provider_forms import (
    CheckedUploadDep,
    SpecInfo,
    SpecProblem,
    provided_api,
    spec_info,
    spec_problems,
    spec_sent,
)
from keyward.portal.routing import PortalRoute, audit_refusal, redirect
from keyward.portal.wording import includes, span

router = APIRouter(route_class=PortalRoute, include_in_schema=False)

PAGE_SIZE = 25
VERSIONS_PAGE_SIZE = 10
OFFERINGS_SHOWN = 100
ORGANIZATIONS_SHOWN = 200
# Service refusals that concern one field of the forms.
FIELD_OF_CODE = {
    "api_exists": "name",
    "mount_conflict": "mount_path",
    "destination_not_allowed": "upstream_url",
    "insecure_destination": "upstream_url",
    "invalid_url": "upstream_url",
    "provider_organization_required": "organization",
    "organization_not_found": "organization",
    "organization_not_provider": "organization",
    "invalid_spec": "spec",
    "spec_too_large": "spec",
    "spec_too_costly": "spec",
    "security_weakened": "confirm_weaker_security",
}
WEAKER_VERSION = (
    "This version lets these operations through with less security (public now, a scheme "
    "removed or an alternative added); nothing was stored. Choose or paste it again and tick "
    "the box to store it all the same."
)
DONE = {
    "imported": "The API is imported as version 1. Set its key policy, then offer it.",
    "updated": "Saved.",
    "offering-deleted": "The offering is deleted.",
    "version": "The new version is stored. Acquirers with a connector receive it; the others "
    "are told by e-mail.",
}


@dataclass(slots=True)
class SpecForm:
    """The import and new-version forms as sent back: values, errors, the spec's problems."""

    name: str = ""
    upstream_url: str = ""
    mount_path: str = ""
    organization: str = ""
    spec: str = ""
    file_name: str = ""
    confirm_weaker_security: bool = False
    weakened: list[str] = field(default_factory=list)
    problems: list[SpecProblem] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class SettingsForm:
    upstream_url: str = ""
    mount_path: str = ""
    errors: dict[str, str] = field(default_factory=dict)


def _refusal(request: Request, form: SpecForm | SettingsForm, error: KeywardError) -> None:
    """Put a service's refusal next to the field it concerns."""
    if error.status == 404:
        raise error
    if error.audited:
        audit_refusal(request, error)
    where = FIELD_OF_CODE.get(error.code, "form")
    form.errors[where] = error.message
    if isinstance(form, SpecForm):
        form.problems = spec_problems(error) if error.code == "invalid_spec" else []
        if form.problems:
            count = len(form.problems)
            form.errors[where] = (
                f"The document has {count} problem{'' if count == 1 else 's'}, each below with "
                "its JSON pointer; nothing was stored."
            )
        operations = error.details.get("operations") if error.code == "security_weakened" else []
        form.weakened = [str(o) for o in operations or []]
        if form.weakened:
            form.errors[where] = WEAKER_VERSION


def _provider_organizations(portal: Portal, member: Member) -> list[OrganizationOut]:
    """The provider organizations the member may publish for."""
    actor = member.signed.actor
    with portal.database.transaction(write=False) as uow:
        try:
            listed = organizations.list_organizations(
                uow, actor, PageRequest(ORGANIZATIONS_SHOWN, None)
            ).data
        except KeywardError:
            return []
    own = actor.standing.provider_organizations
    return [
        o
        for o in listed
        if o.kind is OrganizationKind.PROVIDER and (actor.standing.is_admin or o.id in own)
    ]


@router.get("/apis", name="provider_apis")
def list_apis(portal: PortalDep, member: MemberDep, cursor: str | None = None) -> Response:
    actor = member.signed.actor
    with portal.database.transaction(write=False) as uow:
        listed = apis.list_apis(
            uow, actor, PageRequest(PAGE_SIZE, cursor), portal.settings, action="update"
        )
        counts = offerings.offering_counts(uow, actor, [api.id for api in listed.data])
        rows = [{"api": api, "offerings": counts.get(api.id, 0)} for api in listed.data]
    return portal.pages.render(
        "apis.html",
        title="APIs",
        member=member,
        current="/apis",
        rows=rows,
        cursor=cursor,
        next_cursor=listed.next_cursor,
        may_import=holds(actor.standing, "apis", "create"),
    )


def _import_page(
    portal: Portal, member: Member, form: SpecForm | None = None, status: int = 200
) -> Response:
    return portal.pages.render(
        "api_import.html",
        status,
        title="Import an API",
        member=member,
        current="/apis",
        form=form or SpecForm(),
        organizations=_provider_organizations(portal, member),
        max_spec_bytes=portal.settings.max_spec_bytes,
        may_import=holds(member.signed.actor.standing, "apis", "create"),
    )


@router.get("/apis/import", name="provider_api_import_form")
def import_form(portal: PortalDep, member: MemberDep) -> Response:
    may = holds(member.signed.actor.standing, "apis", "create")
    return _import_page(portal, member, status=200 if may else 403)


@router.post("/apis/import", name="provider_api_import")
def import_api(
    request: Request, portal: PortalDep, member: MemberDep, upload: CheckedUploadDep
) -> Response:
    form = upload.form
    sent = spec_sent(upload)
    typed = SpecForm(
        name=form.one("name").strip(),
        upstream_url=form.one("upstream_url").strip(),
        mount_path=form.one("mount_path").strip(),
        organization=form.one("organization"),
        spec=sent.pasted,
        file_name=sent.file_name,
    )
    if sent.error:
        typed.errors["spec"] = sent.error
    info = spec_info(sent.text, portal.settings.max_spec_bytes) if sent.text else SpecInfo()
    body = None
    try:
        body = ApiImport.model_validate(
            {
                "name": typed.name or info.title,
                "description": info.description,
                "upstream_url": typed.upstream_url,
                "mount_path": typed.mount_path,
                "provider_organization_id": typed.organization or None,
                "spec": sent.text,
            }
        )
    except ValidationError as error:
        found = field_errors(error)
        found.pop("spec", None)
        if "provider_organization_id" in found:
            found["organization"] = found.pop("provider_organization_id")
        typed.errors = {**found, **typed.errors}
    if typed.errors or body is None:
        return _import_page(portal, member, typed, status=422)
    try:
        with portal.database.transaction() as uow:
            imported = apis.import_api(uow, member.signed.actor, body, portal.settings)
    except KeywardError as error:
        _refusal(request, typed, error)
        return _import_page(portal, member, typed, status=error.status)
    return redirect(f"/apis/{imported.id}?done=imported")


def api_page(
    portal: Portal,
    member: Member,
    api_id: str,
    *,
    versions_cursor: str | None = None,
    settings_form: SettingsForm | None = None,
    version_form: SpecForm | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    actor = member.signed.actor
    with portal.database.transaction(write=False) as uow:
        api: ApiOut = provided_api(uow, portal, member, api_id)
        versions = apis.list_versions(
            uow, actor, api.id, PageRequest(VERSIONS_PAGE_SIZE, versions_cursor)
        )
        offered = offerings.list_offerings(uow, actor, PageRequest(OFFERINGS_SHOWN), api_id=api.id)
        organization = None
        if api.provider_organization_id is not None:
            try:
                organization = organizations.get_organization(
                    uow, actor, api.provider_organization_id
                ).name
            except KeywardError:
                organization = api.provider_organization_id
    return portal.pages.render(
        "api.html",
        status,
        title=api.name,
        member=member,
        current="/apis",
        api=api,
        organization=organization,
        lifetime=span(api.policy.key_lifetime, "Never expire"),
        versions=versions.data,
        versions_cursor=versions_cursor,
        versions_next=versions.next_cursor,
        offerings=[
            (offering, includes(offering), span(offering.acquisition_period, "Until ended"))
            for offering in offered.data
        ],
        offerings_more=offered.next_cursor is not None,
        may_offer=holds(actor.standing, "offerings", "create"),
        settings_form=settings_form
        or SettingsForm(upstream_url=api.upstream_url or "", mount_path=api.mount_path),
        form=version_form or SpecForm(),
        max_spec_bytes=portal.settings.max_spec_bytes,
        notice=notice,
    )


@router.get("/apis/{api_id}", name="provider_api")
def show_api(
    portal: PortalDep,
    member: MemberDep,
    api_id: str,
    versions_cursor: str | None = None,
    done: str | None = None,
) -> Response:
    return api_page(
        portal, member, api_id, versions_cursor=versions_cursor, notice=DONE.get(done or "")
    )


@router.post("/apis/{api_id}", name="provider_api_update")
def update_api(
    request: Request, portal: PortalDep, member: MemberDep, api_id: str, form: CheckedFormDep
) -> Response:
    with portal.database.transaction(write=False) as uow:
        provided_api(uow, portal, member, api_id)
    typed = SettingsForm(
        upstream_url=form.one("upstream_url").strip(), mount_path=form.one("mount_path").strip()
    )
    body = None
    try:
        body = ApiUpdate.model_validate(
            {"upstream_url": typed.upstream_url, "mount_path": typed.mount_path}
        )
    except ValidationError as error:
        typed.errors.update(field_errors(error))
    if body is None:
        return api_page(portal, member, api_id, settings_form=typed, status=422)
    try:
        with portal.database.transaction() as uow:
            apis.update_api(uow, member.signed.actor, api_id, body, portal.settings)
    except KeywardError as error:
        _refusal(request, typed, error)
        return api_page(portal, member, api_id, settings_form=typed, status=error.status)
    return redirect(f"/apis/{api_id}?done=updated")


@router.get("/apis/{api_id}/versions", name="provider_api_versions")
def versions_page(portal: PortalDep, member: MemberDep, api_id: str) -> Response:
    """Where the new-version form's address leads when opened: the API's page."""
    with portal.database.transaction(write=False) as uow:
        api = provided_api(uow, portal, member, api_id)
    return redirect(f"/apis/{api.id}#versions")


@router.post("/apis/{api_id}/versions", name="provider_api_version")
def add_version(
    request: Request, portal: PortalDep, member: MemberDep, api_id: str, upload: CheckedUploadDep
) -> Response:
    with portal.database.transaction(write=False) as uow:
        provided_api(uow, portal, member, api_id)
    sent = spec_sent(upload)
    typed = SpecForm(
        spec=sent.pasted,
        file_name=sent.file_name,
        confirm_weaker_security=upload.form.one("confirm_weaker_security") == "yes",
    )
    if sent.error:
        typed.errors["spec"] = sent.error
        return api_page(portal, member, api_id, version_form=typed, status=422)
    body = SpecUpload(spec=sent.text, confirm_weaker_security=typed.confirm_weaker_security)
    try:
        with portal.database.transaction() as uow:
            apis.add_version(uow, member.signed.actor, api_id, body, portal.settings)
    except KeywardError as error:
        _refusal(request, typed, error)
        return api_page(portal, member, api_id, version_form=typed, status=error.status)
    return redirect(f"/apis/{api_id}?done=version#versions")
