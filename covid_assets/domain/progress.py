"""How a long step says how far it has got: a DynamoDB load, an export's partition writes, a
backfill's versions. Each reports its progress as often as it likes; a line reaches the log when
``PROGRESS_SECONDS`` have passed or ``PROGRESS_ITEMS`` more items are done since the last line,
so a step is never silent for long, and a short one says nothing it does not need to. The steps
report at most a few seconds apart (a load's chunk of rows, a slice of its writes), and a line
comes at the first report after ``PROGRESS_SECONDS``: half of the 10 s a step may be silent."""

import time
from collections.abc import Callable

PROGRESS_SECONDS = 5.0
PROGRESS_ITEMS = 50_000


class ProgressLog:
    """The progress lines of one step, written with ``log``."""

    def __init__(
        self,
        log: Callable[[str], None],
        seconds: float = PROGRESS_SECONDS,
        items: int = PROGRESS_ITEMS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = log
        self._seconds = seconds
        self._items = items
        self._clock = clock
        self._logged_at = clock()
        self._logged_items = 0

    def __call__(self, items_done: int, message: str, last: bool = False) -> None:
        """The step has done ``items_done`` items, as ``message`` says: logged if it is the
        ``last`` line, or if enough time or items have passed since the last line."""
        now = self._clock()
        if (
            last
            or now - self._logged_at >= self._seconds
            or items_done - self._logged_items >= self._items
        ):
            self._log(message)
            self._logged_at, self._logged_items = now, items_done
