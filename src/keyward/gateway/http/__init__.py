"""The gateway's HTTP/1.1 reverse-proxy engine, on asyncio protocols and httptools (llhttp).

The engine knows nothing of keys. For each request it awaits a `Handler`, which answers with a
`Reply` or sends the request on with a `Forward`. A handler that needs no waiting costs no task:
it runs at once, and becomes a task only when it awaits something unfinished. A handler with a
method `immediately(request)` is asked that first, and awaited only when it answers None.
Bodies stream both ways without being buffered whole: a side that does not read stops the other
side being read (`Limits.high_water`). Upstream connections are kept alive in a pool per
(scheme, host, port). What one turn of the event loop writes, to clients and upstreams, is
handed to the kernel at the end of the turn, all together (`_outbox.Outbox`).

The engine runs on whatever event loop calls `GatewayServer.start`; `new_event_loop` makes a
uvloop one where uvloop is installed: `asyncio.Runner(loop_factory=new_event_loop)`.

Requests that could be framed two ways are refused with 400 and the connection closed:
Content-Length with Transfer-Encoding, a repeated or malformed Content-Length, a
Transfer-Encoding other than exactly `chunked` (unknown codings too: one answer for every
framing refusal, rather than 501), Transfer-Encoding in HTTP/1.0, obs-fold, bare CR or LF, a
request-target that is not a path (absolute-, authority- and asterisk-form, a fragment) and an
HTTP/1.1 request without exactly one Host. llhttp rejects most of these by itself; the engine
adds what it lets through (`gzip, chunked`, HTTP/0.9 and 2.0 request lines, answered 505, the
target's form, Host) and what it cannot know (the length of a head or trailer section, HEAD
responses, the end of an upstream body delimited by close).

Errors the engine answers itself are JSON, `{"error": {"code", "message", "details"}}`:
`bad_request` 400, `request_timeout` 408, `headers_too_large` 431 (each followed by close),
`internal_error` 500 (the handler failed), `upstream_unreachable` 502 (refused, unknown name,
TLS), `upstream_closed` 502 (closed without answering), `upstream_invalid_response` 502,
`upstream_timeout` 504.

Every exchange writes one JSON line on the `keyward.gateway.access` logger (INFO): method,
target (the decision's `log["target"]`, else the path without its query), status (499 when the
client went away first), bytes sent, duration_ms, client, and the decision's `log` fields.
"""

from keyward.gateway.http import _client
from keyward.gateway.http._loop import new_event_loop
from keyward.gateway.http._messages import (
    Decision,
    Forward,
    Handler,
    Limits,
    Reply,
    Request,
    Upstream,
)
from keyward.gateway.http._server import GatewayServer

# Whether `make` compiled the engine with mypyc (tools/compile_gateway.py), or it is interpreted.
COMPILED = not _client.__file__.endswith(".py")

__all__ = [
    "COMPILED",
    "Decision",
    "Forward",
    "GatewayServer",
    "Handler",
    "Limits",
    "Reply",
    "Request",
    "Upstream",
    "new_event_loop",
]
