"""A small synchronous JSON client over the standard wasi:http
outgoing-handler, as componentize-py generates it.

componentize-py's bundled `poll_loop` is asyncio-based and imports the HTTP
types as `wit_world.imports.types`; in a world that also includes hookhost's
`types` interface, the generated modules are `wasi_http_types` and
`hookhost_plugin_types`, so `poll_loop` does not import. hookhost's exports
are synchronous anyway, so this client blocks on each step instead
(`pollable.block()`, `blocking_read`, `blocking_write_and_flush`).
"""

import json
from urllib.parse import urlsplit

from componentize_py_types import Err, Ok
from wit_world.imports import outgoing_handler
from wit_world.imports import wasi_http_types as http
from wit_world.imports.streams import StreamError_Closed

# blocking-write-and-flush accepts at most 4096 bytes per call.
WRITE_CHUNK = 4096
READ_CHUNK = 64 * 1024
# Pyrus answers are small; a larger body is a broken or hostile server.
MAX_RESPONSE_BYTES = 4 * 1024 * 1024


class HttpError(Exception):
    """The request did not get an HTTP answer (refused, denied, timed out)."""


def request_json(method: str, url: str, body=None, token: str | None = None):
    """Sends `body` as JSON and returns `(status, parsed JSON or None)`."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise HttpError(f"not an http(s) URL: {url}")
    headers = [("accept", b"application/json")]
    data = b""
    if body is not None:
        data = json.dumps(body).encode()
        headers.append(("content-type", b"application/json"))
    if token is not None:
        headers.append(("authorization", f"Bearer {token}".encode()))

    request = http.OutgoingRequest(http.Fields.from_list(headers))
    request.set_method(http.Method_Post() if method == "POST" else http.Method_Get())
    request.set_scheme(http.Scheme_Https() if parts.scheme == "https" else http.Scheme_Http())
    request.set_authority(parts.netloc)
    request.set_path_with_query(parts.path + (f"?{parts.query}" if parts.query else "") or "/")
    outgoing = request.body()
    try:
        future = outgoing_handler.handle(request, None)
    except Err as e:
        raise HttpError(describe(e.value)) from None

    # The body is written after `handle`: the host streams it as it sends.
    stream = outgoing.write()
    for i in range(0, len(data), WRITE_CHUNK):
        stream.blocking_write_and_flush(data[i : i + WRITE_CHUNK])
    stream.__exit__(None, None, None)  # a child resource goes before its parent
    http.OutgoingBody.finish(outgoing, None)

    with future:
        future.subscribe().block()
        result = future.get()
    if not isinstance(result, Ok):
        raise HttpError("no response")
    if not isinstance(result.value, Ok):
        raise HttpError(describe(result.value.value))
    with result.value.value as response:
        status = response.status()
        raw = read_body(response)
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, None


def read_body(response) -> bytes:
    body = response.consume()
    stream = body.stream()
    chunks, size = [], 0
    try:
        while True:
            try:
                chunk = stream.blocking_read(READ_CHUNK)
            except Err as e:
                if isinstance(e.value, StreamError_Closed):
                    break
                raise HttpError("reading the response failed") from None
            size += len(chunk)
            if size > MAX_RESPONSE_BYTES:
                raise HttpError(f"response over {MAX_RESPONSE_BYTES} bytes")
            chunks.append(chunk)
    finally:
        stream.__exit__(None, None, None)
        body.__exit__(None, None, None)
    return b"".join(chunks)


def describe(code) -> str:
    """An error-code case as its name, e.g. `HttpRequestDenied`."""
    name = type(code).__name__.removeprefix("ErrorCode_")
    value = getattr(code, "value", None)
    return f"{name} {value}" if value is not None else name
