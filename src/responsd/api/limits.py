"""Request bodies: bounded in size (413) and in how long a client may pause sending (408).

A body larger than `max_bytes` is refused from its Content-Length before any of it is
read, or as soon as the bytes read pass the limit. While the body is incomplete, each
read waits at most `read_timeout` seconds. Once the body is in, `receive` is left alone:
streaming responses wait on it for the client's disconnect, for as long as they run.
"""

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from responsd.api.errors import error_response
from responsd.errors import RequestTimeoutError, RequestTooLargeError

FILE_PATHS = ("/v1/files", "/v1/uploads/")
"""Where bodies carry file bytes: they are bounded by `file_bytes` instead."""


class RequestLimitMiddleware:
    def __init__(
        self, app: ASGIApp, max_bytes: int, read_timeout: float, file_bytes: int | None = None
    ):
        self.app = app
        self.max_bytes = max_bytes
        self.file_bytes = file_bytes or max_bytes
        self.read_timeout = read_timeout

    def _too_large(self, limit: int) -> RequestTooLargeError:
        if limit == self.file_bytes and limit != self.max_bytes:
            return RequestTooLargeError(
                f"The file is larger than this server accepts ({limit} bytes in the request)."
            )
        return RequestTooLargeError(
            f"The request body is larger than this server accepts ({limit} bytes); "
            "send less history (previous_response_id or a conversation keeps it server-side)."
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        limit = self.file_bytes if path.startswith(FILE_PATHS) else self.max_bytes
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            await error_response(self._too_large(limit))(scope, receive, send)
            return
        received = 0
        complete = False

        async def limited() -> Message:
            nonlocal received, complete
            if complete:
                return await receive()
            try:
                async with asyncio.timeout(self.read_timeout):
                    message = await receive()
            except TimeoutError:
                raise RequestTimeoutError(
                    f"The request body did not arrive within {self.read_timeout:g} s of the "
                    "last bytes received."
                ) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise self._too_large(limit)
                complete = not message.get("more_body", False)
            return message

        await self.app(scope, limited, send)
