"""Overlap I/O with normalization, with a bound on what is in flight.

Archive uploads and BatchWriteItem calls spend their time waiting on the network (and gzip,
which releases the GIL), so a few threads let the next page be normalized meanwhile. At most
`limit` tasks are queued or running, which keeps memory bounded whatever the video's length.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any


class Background:
    def __init__(self, executor: Executor, limit: int = 4) -> None:
        self._executor = executor
        self._limit = limit
        self._futures: deque[Future[Any]] = deque()

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        while len(self._futures) >= self._limit:
            self._futures.popleft().result()  # re-raises the task's error here
        self._futures.append(self._executor.submit(fn, *args))

    def drain(self) -> None:
        """Wait for everything submitted; the first failure is raised after all have ended."""
        error: BaseException | None = None
        while self._futures:
            future = self._futures.popleft()
            exc = future.exception()
            error = error or exc
        if error is not None:
            raise error
