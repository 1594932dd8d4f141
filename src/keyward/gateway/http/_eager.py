"""Running a handler at once, in a context of its own, and as a task only if it has to wait."""

import asyncio
import contextvars
import types
from collections.abc import Awaitable, Callable, Generator
from typing import Any, TypeVar

T = TypeVar("T")


def start_eagerly(
    loop: asyncio.AbstractEventLoop,
    awaitable: Callable[[], Awaitable[T]],
    then: Callable[[T | None, BaseException | None], None],
) -> asyncio.Task[None] | None:
    """Run `awaitable()` up to its first wait and pass its outcome to `then` (a result, or the
    exception it raised). Only when it waits does it go on as a task, which is returned.

    Most answers need no waiting (a key found in the cache), and a task per request costs
    more than the rest of the engine's work on it.
    """
    context = contextvars.copy_context()
    try:
        steps = awaitable().__await__()
        step = context.run(steps.send, None)
    except StopIteration as finished:
        then(finished.value, None)
        return None
    except Exception as error:
        then(None, error)
        return None
    return loop.create_task(_finish(steps, step, then), context=context)


async def _finish(
    steps: Generator[Any, Any, T],
    step: Any,
    then: Callable[[T | None, BaseException | None], None],
) -> None:
    try:
        result = await _resume(steps, step)
    except Exception as error:
        then(None, error)
    else:
        then(result, None)


@types.coroutine
def _resume(steps: Generator[Any, Any, T], step: Any) -> Generator[Any, Any, T]:
    """Await what is left of an awaitable whose first step already ran, as `yield from` would
    from the start: each future it waits on goes to the task, each outcome comes back."""
    while True:
        try:
            sent = yield step
        except GeneratorExit:
            steps.close()
            raise
        except BaseException as error:
            try:
                step = steps.throw(error)
            except StopIteration as finished:
                return finished.value  # type: ignore[no-any-return]
        else:
            try:
                step = steps.send(sent)
            except StopIteration as finished:
                return finished.value  # type: ignore[no-any-return]
