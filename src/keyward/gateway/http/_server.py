"""The gateway's listener: binds, hands each connection a `ClientConnection`, and closes."""

import asyncio
import ssl

from keyward.core.egress import EgressPolicy
from keyward.gateway.http._client import ClientConnection
from keyward.gateway.http._exchange import Context
from keyward.gateway.http._messages import Handler, Limits, Observer, Probes
from keyward.gateway.http._upstream import UpstreamPool

DEFAULT_LIMITS = Limits()


class GatewayServer:
    """The gateway's HTTP/1.1 listener: every request goes to `handler`, which answers or
    forwards it.

    Runs on the event loop that calls `start`; `new_event_loop` makes a uvloop one where
    uvloop is installed. `upstream_tls` verifies https upstreams (the default context when
    None). `egress`, when given, is the policy every upstream address is checked against before
    connecting. `observer` is told the status and log fields of every finished exchange; it runs on
    the event loop and must not block. `probes` answer their exact paths (any query, any method)
    before the handler is asked, on the event loop: they must not block either.
    """

    def __init__(
        self,
        handler: Handler,
        limits: Limits = DEFAULT_LIMITS,
        *,
        via: str = "keyward",
        upstream_tls: ssl.SSLContext | None = None,
        egress: EgressPolicy | None = None,
        observer: Observer | None = None,
        probes: Probes | None = None,
    ) -> None:
        self._handler = handler
        self._probes = probes
        self._egress = egress
        self._observer = observer
        self._limits = limits
        self._via = via
        self._tls = upstream_tls
        self._server: asyncio.Server | None = None
        self._context: Context | None = None

    async def start(self, host: str, port: int, *, reuse_port: bool = False) -> None:
        """Listen on `host`:`port` (0 picks a free port) and return.

        With `reuse_port`, other processes may listen on the same port (SO_REUSEPORT) and the
        kernel spreads new connections among them.
        """
        loop = asyncio.get_running_loop()
        pool = UpstreamPool(loop, self._limits, self._tls, self._egress)
        context = Context(
            loop, self._handler, self._limits, pool, self._via, self._observer, self._probes
        )
        self._context = context
        self._server = await loop.create_server(
            lambda: ClientConnection(context), host, port, backlog=1024, reuse_port=reuse_port
        )

    @property
    def port(self) -> int:
        if self._server is None or not self._server.sockets:
            raise RuntimeError("the gateway server is not listening")
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        """Stop listening, close every client connection and the upstream pool."""
        server, context = self._server, self._context
        self._server = self._context = None
        if server is None or context is None:
            return
        server.close()
        for connection in list(context.connections):
            connection.shutdown()
        context.pool.close()
        await server.wait_closed()
        await asyncio.sleep(0)
