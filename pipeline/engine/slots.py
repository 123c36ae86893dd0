"""A limit on model calls in flight shared by every event loop and thread of the process.

Shards of a build call one engine at the same time, each from its own worker thread and event loop
(ModelEngine.run). A backend's `concurrency` is the endpoint capacity it may use in total, so the
calls of all those loops draw from one pool of slots: a shard whose requests find no free slot
waits (back-pressure), and a slot freed in one loop wakes a waiter in another. asyncio.Semaphore
cannot do this: it belongs to one loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque


class SlotPool:
    def __init__(self, slots: int) -> None:
        if slots < 1:
            raise ValueError("a slot pool needs at least one slot")
        self.size = slots
        self._free = slots
        self._lock = threading.Lock()
        self._waiters: deque[tuple[asyncio.AbstractEventLoop, asyncio.Future]] = deque()

    @property
    def in_use(self) -> int:
        with self._lock:
            return self.size - self._free

    async def acquire(self) -> None:
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._free > 0 and not self._waiters:  # first come, first served
                self._free -= 1
                return
            waiter = (loop, loop.create_future())
            self._waiters.append(waiter)
        try:
            await waiter[1]
        except asyncio.CancelledError:
            with self._lock:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
                # else the slot was already handed over: _grant sees the cancelled future and frees it
            raise

    def release(self) -> None:
        with self._lock:
            while self._waiters:
                loop, future = self._waiters.popleft()
                try:
                    loop.call_soon_threadsafe(self._grant, future)
                    return
                except RuntimeError:  # that loop has closed: try the next waiter
                    continue
            self._free += 1

    def _grant(self, future: asyncio.Future) -> None:
        if future.done():  # its waiter was cancelled meanwhile: pass the slot on
            self.release()
        else:
            future.set_result(None)

    async def __aenter__(self) -> SlotPool:
        await self.acquire()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release()
