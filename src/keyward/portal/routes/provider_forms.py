"""What the provider's pages share: the API a member provides (or a 404), the spec form read
from a file upload or pasted text, and durations typed as a number and a unit."""

from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from keyward.core.errors import Hidden, KeywardError, PermissionDenied, TooLarge
from keyward.core.openapi.loading import load
from keyward.core.openapi.problems import SpecError
from keyward.db.engine import UnitOfWork
from keyward.domains import access
from keyward.domains.apis import service as apis
from keyward.domains.apis.schemas import ApiOut
from keyward.portal.context import (
    MAX_FORM_FIELDS,
    BadForm,
    Form,
    Member,
    MemberDep,
    Portal,
    PortalDep,
    read_form,
)
from keyward.portal.security import CSRF_FIELD, check_csrf, check_form_origin

MAX_TITLE = 200
MAX_DESCRIPTION = 10_000
# Room for the form's other fields beside the spec itself.
FORM_OVERHEAD = 256 * 1024
UNITS = {
    "minutes": timedelta(minutes=1),
    "hours": timedelta(hours=1),
    "days": timedelta(days=1),
}


@dataclass(frozen=True, slots=True)
class Upload:
    """A form whose fields may include files: their names and bytes, by field."""

    form: Form
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)


async def _body(request: Request, limit: int) -> bytes:
    """The request's body, refused as too large as soon as it passes `limit` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge(
            f"The form is larger than the limit of {limit:,} bytes; nothing was stored.",
            code="form_too_large",
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(
                f"The form is larger than the limit of {limit:,} bytes; nothing was stored.",
                code="form_too_large",
            )
        chunks.append(chunk)
    return b"".join(chunks)


async def _replayed(body: bytes) -> AsyncGenerator[bytes, None]:
    yield body


async def read_upload(request: Request, portal: Portal) -> Upload:
    """The request's fields, from `multipart/form-data` (files kept apart) or, as every other
    form, `application/x-www-form-urlencoded`; a body past the spec size limit is refused."""
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != "multipart/form-data":
        return Upload(Form(await read_form(request)))
    limit = portal.settings.max_spec_bytes + FORM_OVERHEAD
    body = await _body(request, limit)
    parser = MultiPartParser(
        request.headers,
        _replayed(body),
        max_files=1,
        max_fields=MAX_FORM_FIELDS,
        max_part_size=limit,
    )
    try:
        parsed = await parser.parse()
    except MultiPartException:
        raise BadForm from None
    fields: dict[str, list[str]] = {}
    files: dict[str, tuple[str, bytes]] = {}
    try:
        for name, value in parsed.multi_items():
            if isinstance(value, UploadFile):
                files[name] = (value.filename or "", await value.read())
                await value.close()
            else:
                fields.setdefault(name, []).append(value)
    finally:
        await parsed.close()
    return Upload(Form(fields), files)


async def checked_upload(request: Request, portal: PortalDep, member: MemberDep) -> Upload:
    """A signed-in member's upload, once its CSRF token is checked and no other site sent it."""
    upload = await read_upload(request, portal)
    check_form_origin(request)
    check_csrf(member.csrf, upload.form.one(CSRF_FIELD))
    return upload


CheckedUploadDep = Annotated[Upload, Depends(checked_upload)]


def provided_api(uow: UnitOfWork, portal: Portal, member: Member, api_id: str) -> ApiOut:
    """The API, if the member may update it. One they may only read (an acquirer's view of
    the catalogue) answers like one that does not exist: these are the provider's pages."""
    actor = member.signed.actor
    try:
        apis.find_api(uow, actor, api_id, "update")
    except PermissionDenied:
        raise access.APIS.not_found(api_id, Hidden) from None
    return apis.get_api(uow, actor, api_id, portal.settings)


@dataclass(frozen=True, slots=True)
class SpecProblem:
    pointer: str
    message: str


def spec_problems(error: KeywardError) -> list[SpecProblem]:
    """Every problem a refused spec has, each with its JSON pointer."""
    found = error.details.get("problems") if error.details else None
    if not isinstance(found, list):
        return []
    return [
        SpecProblem(str(p.get("pointer") or "/"), str(p.get("message", "")))
        for p in found
        if isinstance(p, dict)
    ]


@dataclass(slots=True)
class SpecSent:
    """The spec a form carries: pasted text, kept to show again, or a file, which is not."""

    text: str = ""
    pasted: str = ""
    file_name: str = ""
    error: str = ""


def spec_sent(upload: Upload, field_name: str = "spec_file") -> SpecSent:
    """The spec of an upload: a file chosen wins over pasted text."""
    pasted = upload.form.one("spec")
    chosen = upload.files.get(field_name)
    if chosen is not None and (chosen[0] or chosen[1]):
        name, data = chosen
        try:
            return SpecSent(text=data.decode("utf-8"), file_name=name or "the file")
        except UnicodeDecodeError:
            return SpecSent(
                file_name=name, error="The file is not UTF-8 text: save it as UTF-8 and choose it."
            )
    if not pasted.strip():
        return SpecSent(error="Choose a file or paste the OpenAPI document.")
    return SpecSent(text=pasted, pasted=pasted)


@dataclass(frozen=True, slots=True)
class SpecInfo:
    title: str = ""
    description: str = ""


def spec_info(text: str, max_bytes: int) -> SpecInfo:
    """The title and description the spec gives itself; nothing where it cannot be read (the
    import then says why)."""
    try:
        document = load(text.encode("utf-8", "surrogatepass"), max_bytes=max_bytes).document
    except SpecError:
        return SpecInfo()
    info = document.get("info")
    if not isinstance(info, dict):
        return SpecInfo()
    title, description = info.get("title"), info.get("description")
    return SpecInfo(
        title.strip()[:MAX_TITLE] if isinstance(title, str) else "",
        description[:MAX_DESCRIPTION] if isinstance(description, str) else "",
    )


@dataclass(frozen=True, slots=True)
class Amount:
    """A duration as the forms show it: a whole number of one unit."""

    count: str = ""
    unit: str = "days"


def amount(value: timedelta | None) -> Amount:
    if value is None:
        return Amount()
    for unit in ("days", "hours", "minutes"):
        count, rest = divmod(value, UNITS[unit])
        if not rest:
            return Amount(str(count), unit)
    return Amount(str(max(1, round(value / UNITS["minutes"]))), "minutes")


def duration(count: str, unit: str, *, largest: timedelta) -> timedelta | None:
    """The duration typed; None when nothing was. Raises ValueError with a sentence."""
    count = count.strip()
    if not count:
        return None
    if unit not in UNITS:
        raise ValueError("Choose one of the units offered.")
    if not count.isdigit() or int(count) < 1:
        raise ValueError("Give a whole number, 1 or more.")
    value = int(count) * UNITS[unit]
    if value > largest:
        raise ValueError(f"Give at most {largest.days:,} days.")
    return value
