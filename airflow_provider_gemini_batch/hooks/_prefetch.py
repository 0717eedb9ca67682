"""A blocking stream read ahead on a background thread: its socket waits overlap the consumer.

The results operator parses, classifies and writes every row of a result file on the task's
thread, which holds the GIL; receiving the next block of the download (``recv`` into urllib3's
buffer) lets go of the GIL. Read on a thread of its own, up to ``depth`` blocks ahead, the
download proceeds while rows are parsed instead of between them (issue 10: landing speed).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Generic, TypeVar

_T = TypeVar("_T")

#: Blocks read ahead by default (1 MiB each for downloads: about 4 MiB of memory at most).
DEFAULT_DEPTH = 4
#: Seconds between the reader's checks that the consumer still wants blocks.
_POLL_SECONDS = 0.1


class _End:
    """What the reader hands over after the source's last item (or with its exception)."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException | None) -> None:
        self.error = error


class Prefetch(Generic[_T]):
    """Iterate ``source`` on a daemon thread, at most ``depth`` items ahead of the consumer.

    Items come out in order; an exception raised by ``source`` is raised to the consumer when it
    reaches that point. Use as a context manager (or call :meth:`close`): closing stops the
    thread, and the source is closed on that thread (a generator's ``finally`` blocks, such as
    closing an HTTP response, run there). Not for sources that must run on the caller's thread.

    :param source: an iterator (typically a generator streaming an HTTP body).
    :param depth: items read ahead (default :data:`DEFAULT_DEPTH`).
    """

    def __init__(self, source: Iterator[_T], *, depth: int = DEFAULT_DEPTH) -> None:
        self._source = source
        self._queue: queue.Queue[_T | _End] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._finished = False
        self._thread = threading.Thread(target=self._run, name="gemini-prefetch", daemon=True)
        self._thread.start()

    def __enter__(self) -> Prefetch[_T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[_T]:
        return self

    def __next__(self) -> _T:
        if self._finished:
            raise StopIteration
        item = self._queue.get()
        if isinstance(item, _End):
            self._finished = True
            if item.error is not None:
                raise item.error
            raise StopIteration
        return item

    def close(self) -> None:
        """Stop the reader and wait for it (it may be blocked on a full queue or on the source)."""
        self._stop.set()
        while self._thread.is_alive():
            try:
                while True:
                    self._queue.get_nowait()
            except queue.Empty:
                pass
            self._thread.join(_POLL_SECONDS)

    def _run(self) -> None:
        error: BaseException | None = None
        try:
            for item in self._source:
                if not self._put(item):
                    return
        except BaseException as exc:  # handed to the consumer, raised on its thread
            error = exc
        finally:
            close = getattr(self._source, "close", None)
            if close is not None:
                close()
        self._put(_End(error))

    def _put(self, item: _T | _End) -> bool:
        """Hand ``item`` over; False when the consumer closed the stream meanwhile."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False
