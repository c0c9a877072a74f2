"""Results of a pool in submission order, with a bounded number of items in flight.

Used wherever a pool (threads or processes) works ahead of a consumer that must see the results
in a fixed order: ordered consumption makes the outcome independent of which worker finished
first, and the bound keeps memory flat however many items there are.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


def ordered_map(pool: Executor, func: Callable[..., Result], items: Iterable[Item],
                ahead: int, *extra: object) -> Iterator[Result]:
    """``func(item, *extra)`` for each item, computed in ``pool`` with at most ``ahead + 1``
    items submitted and not yet consumed, yielded in the order of ``items``.

    If the consumer stops early (an exception, a closed generator), the futures not yet started
    are cancelled.
    """
    pending: deque[Future[Result]] = deque()
    try:
        for item in items:
            pending.append(pool.submit(func, item, *extra))
            if len(pending) > ahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()
