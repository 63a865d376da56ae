"""A clock that moves only when a test says so, and timers that run on it."""

from __future__ import annotations

import threading
from collections.abc import Callable


class ManualClock:
    """Time stands still until `advance`; a timer made by `timer` (shaped like
    `threading.Timer(delay, action)`) runs in the thread that advances past its due time, in the
    order they fall due. Code that waits for time takes `clock.timer` instead of real timers."""

    def __init__(self) -> None:
        self.now = 0.0
        self._lock = threading.Lock()
        self._pending: list[ManualTimer] = []

    def timer(self, delay: float, action: Callable[[], None]) -> ManualTimer:
        return ManualTimer(self, delay, action)

    def advance(self, seconds: float) -> None:
        """Moves time on by `seconds`, running every timer that falls due meanwhile (and any
        that those schedule within the same span)."""
        with self._lock:
            self.now += seconds
        while (timer := self._next_due()) is not None:
            timer.action()

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def _next_due(self) -> ManualTimer | None:
        with self._lock:
            due = [timer for timer in self._pending if timer.due <= self.now]
            if not due:
                return None
            first = min(due, key=lambda timer: timer.due)  # the earliest started on a tie
            self._pending.remove(first)
            return first

    def _schedule(self, timer: ManualTimer) -> None:
        with self._lock:
            timer.due = self.now + timer.delay
            self._pending.append(timer)

    def _cancel(self, timer: ManualTimer) -> None:
        with self._lock:
            if timer in self._pending:
                self._pending.remove(timer)

    def _is_pending(self, timer: ManualTimer) -> bool:
        with self._lock:
            return timer in self._pending


class ManualTimer:
    def __init__(self, clock: ManualClock, delay: float, action: Callable[[], None]) -> None:
        self.delay = delay
        self.action = action
        self.due = float("inf")
        self._clock = clock

    def start(self) -> None:
        self._clock._schedule(self)

    def cancel(self) -> None:
        self._clock._cancel(self)

    def join(self, timeout: float | None = None) -> None:
        """A timer runs in `advance`, never in a thread of its own: nothing to wait for."""

    def is_alive(self) -> bool:
        return self._clock._is_pending(self)
