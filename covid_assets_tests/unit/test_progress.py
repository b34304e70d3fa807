"""A long step's progress lines (domain.progress): never silent for long, never a line per item."""

import pytest

from covid_assets.domain.progress import ProgressLog

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def progress_lines(steps: list[tuple[float, int]], last: int | None = None) -> list[str]:
    """The lines logged when each (seconds, items done) step is reported."""
    clock, lines = Clock(), []
    progress = ProgressLog(lines.append, seconds=10, items=50_000, clock=clock)
    for number, (seconds, items) in enumerate(steps, start=1):
        clock.now = seconds
        progress(items, f"{items} at {seconds}", last=number == last)
    return lines


def test_a_short_step_logs_nothing():
    assert progress_lines([(1, 100), (2, 200), (3, 300)]) == []


def test_a_line_once_ten_seconds_have_passed_since_the_last():
    steps = [(4, 1), (9, 2), (10, 3), (15, 4), (19.9, 5), (20, 6)]

    assert progress_lines(steps) == ["3 at 10", "6 at 20"]


def test_a_line_once_50000_items_are_done_since_the_last():
    steps = [(1, 20_000), (2, 50_000), (3, 80_000), (4, 100_000)]

    assert progress_lines(steps) == ["50000 at 2", "100000 at 4"]


def test_the_last_report_is_always_logged():
    assert progress_lines([(1, 1), (2, 2)], last=2) == ["2 at 2"]
