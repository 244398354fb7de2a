"""{{name}}: an HTTP handler for the `wasi:http/proxy` world, built by componentize-py. The
host calls `IncomingHandler.handle` once per request, with a fresh instance each time.

- `GET /hello?name=x` answers `Hello, x!`
- `POST /echo` streams the request body back
- anything else is 404

It is written as componentize-py's own http example is: bindings from `wit_world`, and
`poll_loop` (which componentize-py generates with them) running `asyncio` on `wasi:io/poll`,
so that a body streams through without being held whole.
"""

import asyncio
from urllib.parse import parse_qs, urlsplit

from poll_loop import PollLoop, Sink, Stream
from wit_world import exports
from wit_world.imports.types import (
    Fields,
    IncomingRequest,
    Method_Get,
    Method_Post,
    OutgoingResponse,
    ResponseOutparam,
)
from componentize_py_types import Ok

TEXT = [("content-type", b"text/plain; charset=utf-8")]


class IncomingHandler(exports.IncomingHandler):
    """The exported `wasi:http/incoming-handler`."""

    def handle(self, request: IncomingRequest, response_out: ResponseOutparam) -> None:
        loop = PollLoop()
        asyncio.set_event_loop(loop)
        loop.run_until_complete(handle_async(request, response_out))


async def handle_async(request: IncomingRequest, response_out: ResponseOutparam) -> None:
    method = request.method()
    url = urlsplit(request.path_with_query() or "/")
    if isinstance(method, Method_Get) and url.path == "/hello":
        name = parse_qs(url.query).get("name", ["world"])[0]
        await respond(response_out, 200, f"Hello, {name}!\n".encode())
    elif isinstance(method, Method_Post) and url.path == "/echo":
        await echo(request, response_out)
    else:
        await respond(response_out, 404, b"not found\n")


async def respond(response_out: ResponseOutparam, status: int, body: bytes) -> None:
    response = OutgoingResponse(Fields.from_list(TEXT))
    response.set_status_code(status)
    sink = Sink(response.body())
    ResponseOutparam.set(response_out, Ok(response))
    await sink.send(body)
    sink.close()


async def echo(request: IncomingRequest, response_out: ResponseOutparam) -> None:
    """Sends the request body back as it arrives, a chunk at a time."""
    response = OutgoingResponse(Fields.from_list(TEXT))
    sink = Sink(response.body())
    ResponseOutparam.set(response_out, Ok(response))
    stream = Stream(request.consume())
    while (chunk := await stream.next()) is not None:
        await sink.send(chunk)
    sink.close()
