"""Pure ASGI middleware: request ids and the request body limit."""

import re
import uuid
from collections.abc import Callable

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from keyward.api.errors import allowed_methods, error_response

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}\Z")


class RequestId:
    """Give every request an id (the client's `X-Request-ID` if sane) and echo it back."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = sent if _REQUEST_ID.match(sent) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        await self.app(scope, receive, send_with_id)


class BodyLimit:
    """Refuse request bodies over the limit, whether announced or streamed (chunked).

    An announced size is refused before the application runs, whether or not the operation reads
    a body; a streamed body is cut off as soon as it passes the limit. `limit_for` gives the
    limit of a request (spec uploads may be larger than other bodies).
    """

    def __init__(self, app: ASGIApp, limit_for: Callable[[Scope], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope)
        message = f"The request body is larger than the limit of {limit} bytes."
        announced = dict(scope["headers"]).get(b"content-length")
        if announced is not None and (not announced.isdigit() or int(announced) > limit):
            response = error_response(413, "payload_too_large", message)
            await response(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            chunk = await receive()
            if chunk["type"] == "http.request":
                received += len(chunk.get("body", b""))
                if received > limit:
                    # FastAPI passes an HTTPException raised while reading the body through.
                    raise HTTPException(413, message)
            return chunk

        await self.app(scope, counting_receive, send)


class JsonBodies:
    """Answer 415 to a request that sends a body in anything but JSON to an existing operation."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("POST", "PUT", "PATCH"):
            headers = dict(scope["headers"])
            media_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
            has_body = (
                headers.get(b"content-length", b"0") != b"0" or b"transfer-encoding" in headers
            )
            json_body = media_type == b"application/json" or media_type.endswith(b"+json")
            # Unknown paths and methods are left to the router's 404 and 405 (asked last: it
            # reads the app's OpenAPI document, which JSON bodies need not build).
            if (
                has_body
                and not json_body
                and scope["method"] in allowed_methods(scope["app"], scope["path"])
            ):
                response = error_response(
                    415, "unsupported_media_type", "Send the request body as application/json."
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
