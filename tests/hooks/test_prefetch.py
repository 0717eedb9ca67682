"""Prefetch: a source read ahead on a thread gives the same items, errors and clean-up as read in place."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from airflow_provider_gemini_batch.hooks._prefetch import Prefetch


def test_items_come_in_order_and_the_source_is_read_on_another_thread() -> None:
    threads: list[str] = []

    def source() -> Iterator[int]:
        for number in range(50):
            threads.append(threading.current_thread().name)
            yield number

    with Prefetch(source(), depth=2) as items:
        assert list(items) == list(range(50))
    assert set(threads) == {"gemini-prefetch"}


def test_an_error_of_the_source_is_raised_where_it_happened() -> None:
    def source() -> Iterator[bytes]:
        yield b"one"
        yield b"two"
        raise ConnectionResetError("cut")

    with Prefetch(source()) as items:
        assert next(items) == b"one"
        assert next(items) == b"two"
        with pytest.raises(ConnectionResetError, match="cut"):
            next(items)


def test_closing_early_runs_the_sources_clean_up_and_stops_the_thread() -> None:
    """A consumer that stops (an exception while landing) leaves no reader and no open response."""
    closed = threading.Event()

    def endless() -> Iterator[int]:
        try:
            number = 0
            while True:
                number += 1
                yield number
        finally:
            closed.set()

    prefetch = Prefetch(endless(), depth=3)
    assert next(prefetch) == 1
    prefetch.close()
    assert closed.is_set()
    assert not prefetch._thread.is_alive()
