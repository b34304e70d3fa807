"""A day costs what changed: sources are fetched conditionally, and when nothing is new and
everything downstream was built from what is there, the run does nothing else."""

import functools
import os
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from dagster import AssetKey

from covid_assets.definitions import build_definitions
from covid_assets_tests.helpers import (
    JHU_THREE_DAYS,
    NYT_THREE_DAYS,
    THREE_DAYS,
    materialized_assets,
    observed_status,
    run_daily_job,
    stored_days,
    use_sources,
)


class RecordingHandler(SimpleHTTPRequestHandler):
    """A static file server (it honours If-Modified-Since) that notes what it answered."""

    answers: list[tuple[str, int]]

    def send_response(self, code: int, message: str | None = None) -> None:
        self.answers.append((self.path, code))
        super().send_response(code, message)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def web_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator:
    """Serve us.csv and jhu.csv over HTTP from tmp_path; yields a writer that (re)writes them
    with a given modification time, and the list of (path, status) the server answered."""
    RecordingHandler.answers = []
    handler = functools.partial(RecordingHandler, directory=str(tmp_path))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    use_sources(monkeypatch, f"{base}/us.csv", f"{base}/jhu.csv")

    def write(name: str, text: str, mtime: int) -> None:
        (tmp_path / name).write_text(text)
        os.utime(tmp_path / name, (mtime, mtime))

    yield write, RecordingHandler.answers
    server.shutdown()
    server.server_close()


DAY_ONE, DAY_TWO = 1_600_000_000, 1_600_086_400


def test_a_day_with_nothing_new_downloads_nothing_and_materializes_nothing(
    aws, instance, web_sources
):
    write, answers = web_sources
    write("us.csv", NYT_THREE_DAYS, DAY_ONE)
    write("jhu.csv", JHU_THREE_DAYS, DAY_ONE)
    run_daily_job(instance)
    answers.clear()

    result = run_daily_job(instance)

    assert answers == [("/us.csv", 304), ("/jhu.csv", 304)]
    assert materialized_assets(result) == set()
    assert observed_status(result) == {"nyt_raw": "unchanged", "jhu_raw": "unchanged"}


def test_when_one_source_changes_both_are_used_and_the_change_is_loaded(aws, instance, web_sources):
    write, answers = web_sources
    write("us.csv", NYT_THREE_DAYS, DAY_ONE)
    write("jhu.csv", JHU_THREE_DAYS, DAY_ONE)
    run_daily_job(instance)
    write("us.csv", NYT_THREE_DAYS.replace("2020-03-03,30,3", "2020-03-03,31,3"), DAY_TWO)
    answers.clear()

    result = run_daily_job(instance)

    # JHU answered 304 first, then was fetched in full because the merge needs it too.
    assert answers == [("/us.csv", 200), ("/jhu.csv", 304), ("/jhu.csv", 200)]
    assert {"nyt_raw", "jhu_raw", "merged_daily_table", "dynamodb_records"} <= materialized_assets(
        result
    )
    assert stored_days(aws)["2020-03-03"] == (31, 3, 0)


def test_a_run_that_materialized_one_source_alone_is_followed_by_a_full_run(
    aws, instance, write_sources
):
    """The decision to skip looks at what every downstream asset was built from, not at what
    the sources' last materializations were."""
    write_sources(NYT_THREE_DAYS, JHU_THREE_DAYS)
    run_daily_job(instance)
    write_sources(NYT_THREE_DAYS.replace("2020-03-03,30,3", "2020-03-03,32,3"), JHU_THREE_DAYS)
    only_nyt = (
        build_definitions()
        .resolve_implicit_global_asset_job_def()
        .get_subset(asset_selection={AssetKey("nyt_raw")})
    )
    only_nyt.execute_in_process(instance=instance)

    result = run_daily_job(instance)

    assert "dynamodb_records" in materialized_assets(result)
    assert stored_days(aws) == {**THREE_DAYS, "2020-03-03": (32, 3, 0)}
