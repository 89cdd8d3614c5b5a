"""Run built-in tool jobs as output items: open each in order, run them together, close each.

Items open in output_index order before any runs (the reducer appends them in that order);
their progress events then interleave as the jobs run concurrently, and each item closes
with `response.output_item.done` when its job ends. A job that raises fails the response
once every job has ended, so no item is left open.
"""

import asyncio
from collections.abc import AsyncIterator, Callable

from responsd.tools.base import ToolJob
from responsd.types.events import (
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseStreamEvent,
)
from responsd.types.items import Item

_DONE = object()


async def run_jobs(
    jobs: list[ToolJob], take_index: Callable[[], int], concurrent: bool
) -> AsyncIterator[ResponseStreamEvent]:
    """Events of `jobs`; raises the first job's error after all have ended."""
    placed = [(job, take_index()) for job in jobs]
    for job, index in placed:
        yield ResponseOutputItemAddedEvent(output_index=index, item=job.item.model_copy())
    runnable = [(job, index) for job, index in placed if job.run is not None]
    for job, index in placed:
        if job.run is None:
            yield ResponseOutputItemDoneEvent(output_index=index, item=job.item)
    if not concurrent:
        failure = None
        for job, index in runnable:
            try:
                async for event in _progress(job, index):
                    yield event
            except Exception as exc:
                failure = failure or exc
        if failure is not None:
            raise failure
        return
    queue: asyncio.Queue = asyncio.Queue()
    failures: list[BaseException] = []

    async def produce(job: ToolJob, index: int) -> None:
        try:
            async for event in _progress(job, index):
                await queue.put(event)
        except Exception as exc:
            failures.append(exc)
        finally:
            await queue.put(_DONE)

    async with asyncio.TaskGroup() as group:
        for job, index in runnable:
            group.create_task(produce(job, index))
        running = len(runnable)
        while running:
            event = await queue.get()
            if event is _DONE:
                running -= 1
            else:
                yield event
    if failures:
        raise failures[0]


async def _progress(job: ToolJob, index: int) -> AsyncIterator[ResponseStreamEvent]:
    assert job.run is not None  # only jobs that run come here
    final: Item | None = None
    failure: Exception | None = None
    try:
        async for value in job.run(index):
            if isinstance(value, Item):
                final = value
            else:
                yield value
    except Exception as exc:
        failure = exc
    if final is not None:
        yield ResponseOutputItemDoneEvent(output_index=index, item=final)
    if failure is not None:
        raise failure
