"""Request ids: one per HTTP request, in the `x-request-id` header and in every log line.

The middleware is also the last line of defence: an exception nothing else handled is
logged once, with the request's id, and answered with a 500 envelope carrying that id (it
is not re-raised, so the server does not log it a second time). A client that hangs up
while sending its body is one INFO line.
"""

import contextvars
import logging
import time

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from responsd.api.errors import internal_error_body
from responsd.ids import new_id

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
access_log = logging.getLogger("responsd.access")
log = logging.getLogger("responsd.api")

# Control characters (newlines above all) would let a request forge log lines.
_ESCAPES = {code: f"\\x{code:02x}" for code in (*range(32), 127)}


def escape(value: str) -> str:
    return value.translate(_ESCAPES)


class RequestIdFilter(logging.Filter):
    """Adds the request id to every record and escapes control characters in its values."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        if isinstance(record.args, tuple):
            record.args = tuple(escape(a) if isinstance(a, str) else a for a in record.args)
        return True


class RequestIdMiddleware:
    """Tags the request, echoes the id to the client and logs one access line."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = new_id("req")
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except ClientDisconnect as exc:
            log.info("%s", str(exc) or "client disconnected before sending the whole request")
            status = 499  # nginx's "client closed request", for the access line only
        except Exception:
            log.exception("unhandled error")
            if status == 0:
                headers = [(b"content-type", b"application/json")]
                await send_with_id(
                    {"type": "http.response.start", "status": 500, "headers": headers}
                )
                await send({"type": "http.response.body", "body": internal_error_body()})
        finally:
            access_log.info(
                "%s %s %d %.1fms",
                scope["method"],
                scope["path"],
                status,
                (time.perf_counter() - started) * 1000,
            )
            request_id.reset(token)
