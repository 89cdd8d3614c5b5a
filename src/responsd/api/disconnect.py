"""Stop work for a client that has gone.

A streaming response notices a closed connection when it next writes; a non-streaming
one writes only at the end, so without this it would run to completion (minutes, on the
embedded model) for nobody. `cancelled_on_disconnect` waits on the connection beside the
work and cancels the work when the client hangs up.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator

from starlette.requests import ClientDisconnect, Request
from starlette.types import Receive


@contextlib.asynccontextmanager
async def cancelled_on_disconnect(request: Request | Receive) -> AsyncIterator[None]:
    """Run the block; if the client disconnects meanwhile, cancel it and raise
    ClientDisconnect (logged as one line, nothing stored). Use only once the body is read:
    the watcher consumes what `receive` (the request's, or the one given) delivers."""
    receive = request.receive if isinstance(request, Request) else request
    task = asyncio.current_task()
    assert task is not None
    gone = False

    async def watch() -> None:
        nonlocal gone
        while (await receive())["type"] != "http.disconnect":
            pass
        gone = True
        task.cancel()

    watcher = asyncio.create_task(watch())
    try:
        yield
    except asyncio.CancelledError:
        if not gone:
            raise
        task.uncancel()
        raise ClientDisconnect("client disconnected before the response was ready") from None
    finally:
        watcher.cancel()
