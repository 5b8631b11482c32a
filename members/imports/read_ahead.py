"""Reading the next chunk of a file while the current one is being written.

Reading and checking rows is Python's work; writing a chunk is mostly waiting on the database,
during which Python is free. A thread that reads one chunk ahead overlaps the two, so an
import takes about the longer of the two rather than their sum. At most ``depth`` chunks wait
in between, so memory stays bounded whatever the file's size.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from queue import Empty, Full, Queue
from typing import Any, TypeVar

from django.utils import translation

T = TypeVar("T")
_END = object()
_POLL_SECONDS = 0.1


def read_ahead(items: Iterable[T], *, depth: int = 1) -> Iterator[T]:
    """Yield ``items`` as they are, produced by a thread up to ``depth`` items ahead.

    The producer must not touch the database (it has no connection of its own). It runs in
    the caller's language (reasons are translated as they are written) and an exception it
    raises is raised here, where the item it failed on would have come. Leaving the loop
    early stops the producer.
    """
    language = translation.get_language()
    queue: Queue[tuple[Any, BaseException | None]] = Queue(maxsize=depth)
    stop = threading.Event()

    def put(value: Any, error: BaseException | None = None) -> bool:
        while not stop.is_set():
            try:
                queue.put((value, error), timeout=_POLL_SECONDS)
                return True
            except Full:
                continue
        return False

    def produce() -> None:
        iterator = iter(items)
        try:
            with translation.override(language):
                for item in iterator:
                    if not put(item):
                        return
        except BaseException as error:  # raised again in the consumer, where it belongs
            put(_END, error)
            return
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()
        put(_END)

    thread = threading.Thread(target=produce, name="member-import-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            try:
                value, error = queue.get(timeout=_POLL_SECONDS)
            except Empty:
                if not thread.is_alive() and queue.empty():
                    raise RuntimeError("the read-ahead thread ended without a word") from None
                continue
            if value is _END:
                if error is not None:
                    raise error
                return
            yield value
    finally:
        stop.set()
        thread.join()
