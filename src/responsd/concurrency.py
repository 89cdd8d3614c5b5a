"""Keep the event loop free: CPU-heavy steps on big inputs run on a worker thread.

Parsing, validating, converting and serialising a 100,000-item history takes seconds of
pure Python; done on the event loop it would stall every other request, stream and
health check for that long. On a thread, the loop still gets the interpreter every few
milliseconds. Small inputs stay inline, where a thread hop would cost more than the work.
"""

import asyncio
import gc
from collections.abc import Callable
from typing import ParamSpec, TypeVar

LARGE = 1_000
"""Items (or KiB of JSON) from which a step leaves the event loop."""

P = ParamSpec("P")
T = TypeVar("T")


async def offload(size: int, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`fn(*args, **kwargs)`, on a worker thread when `size` is LARGE or more."""
    if size < LARGE:
        return fn(*args, **kwargs)
    return await asyncio.to_thread(fn, *args, **kwargs)


def tune_gc() -> None:
    """Collect garbage less often, for the serving process only.

    CPython's default thresholds run a full collection every few hundred thousand new
    objects; a big request makes that many, and each full pass walks every live object with
    the interpreter held (100-300 ms with a 100,000-item history: measured). Larger
    thresholds keep those pauses rare; cyclic garbage waits a little longer to be freed."""
    gc.set_threshold(100_000, 50, 1_000)
