"""A first-come-first-served wait for one of N workers, telling each waiting request how
many are ahead of it."""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Callable, Iterator

from dream.pool import StoppedWhileWaiting, Waiting

# How often a waiting request hears its place (and may give up) while nothing changes.
POLL_S = 0.5


class Slots:
    """N numbered slots (one per worker), lent in the order they were asked for."""

    def __init__(self, count: int) -> None:
        self.count = int(count)
        self._free = list(range(self.count))
        self._line: list[int] = []            # tickets of the requests waiting, in order
        self._tickets = itertools.count()
        self._changed = threading.Condition()

    def acquire(self, on_wait: Callable[[Waiting], bool | None] | None = None) -> int:
        """A free slot's number (give it back with `release`). While waiting, `on_wait`
        hears its place in line whenever the line moves (and every POLL_S); when it returns
        True the wait ends with StoppedWhileWaiting."""
        ticket = next(self._tickets)
        with self._changed:
            self._line.append(ticket)
            try:
                while not (self._free and self._line[0] == ticket):
                    if on_wait is not None and on_wait(Waiting(self._line.index(ticket), self.count)):
                        raise StoppedWhileWaiting("Stopped while waiting for a free worker.")
                    self._changed.wait(POLL_S)
                return self._free.pop(0)
            finally:
                self._line.remove(ticket)
                self._changed.notify_all()

    def release(self, number: int) -> None:
        with self._changed:
            self._free.append(number)
            self._changed.notify_all()

    @contextlib.contextmanager
    def slot(self, on_wait: Callable[[Waiting], bool | None] | None = None) -> Iterator[int]:
        """`acquire` for the duration of the block."""
        number = self.acquire(on_wait)
        try:
            yield number
        finally:
            self.release(number)

    @property
    def waiting(self) -> int:
        with self._changed:
            return len(self._line)
