"""Bearer keys: when RESPONSD_API_KEYS is set, every /v1 request must carry one of them."""

import hmac

from starlette.types import ASGIApp, Receive, Scope, Send

from responsd.api.errors import error_response
from responsd.errors import InvalidAPIKeyError


class BearerKeyMiddleware:
    def __init__(self, app: ASGIApp, keys: list[str]):
        self.app = app
        self.keys = [k.encode() for k in keys]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)  # /healthz stays open for probes
            return
        header = dict(scope["headers"]).get(b"authorization", b"")
        token = header[7:] if header[:7].lower() == b"bearer " else b""
        # Compare against every key in constant time, so timing tells nothing.
        if any(hmac.compare_digest(token, key) for key in self.keys):
            await self.app(scope, receive, send)
            return
        error = InvalidAPIKeyError(
            "Incorrect or missing API key. Send one of the server's keys as "
            "'Authorization: Bearer <key>'."
        )
        if scope["type"] == "http" or "websocket.http.response" in scope.get("extensions", {}):
            # A refused upgrade gets the same 401 and envelope as HTTP (the ASGI denial-response
            # extension, which Starlette's Response speaks on a WebSocket scope).
            await error_response(error)(scope, receive, send)
        else:
            await send({"type": "websocket.close", "code": 1008})
