"""The source downloader against a real local HTTP server, file:// URLs and plain paths."""

import hashlib
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from dagster import Jitter, RetryPolicy

from covid_assets.defs.sources.raw_sources import SOURCE_RETRY_POLICY
from covid_assets.resources.downloads import SourceFileDownloader, SourceUnavailableError

pytestmark = pytest.mark.unit

BODY = b"date,cases,deaths\n2020-03-01,10,1\n"
LAST_MODIFIED = "Wed, 18 Mar 2021 05:30:00 GMT"


class ScriptedHandler(BaseHTTPRequestHandler):
    """Answers each GET with the next scripted (status, body, delay) for its path."""

    scripts: ClassVar[dict[str, list[tuple[int, bytes, float]]]] = {}
    requests_seen: ClassVar[list[str]] = []
    conditions_seen: ClassVar[list[tuple[str | None, str | None]]] = []

    def do_GET(self) -> None:
        self.requests_seen.append(self.path)
        self.conditions_seen.append(
            (self.headers.get("If-None-Match"), self.headers.get("If-Modified-Since"))
        )
        script = self.scripts[self.path]
        status, body, delay = script.pop(0) if len(script) > 1 else script[0]
        time.sleep(delay)
        etag = f'"{hashlib.sha256(body).hexdigest()[:16]}"'
        if status == 200 and self.headers.get("If-None-Match") == etag:
            status, body = 304, b""
        self.send_response(status)
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", LAST_MODIFIED)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that timed out and hung up is what the timeout test wants


@pytest.fixture
def http_server() -> Iterator[str]:
    ScriptedHandler.scripts = {}
    ScriptedHandler.requests_seen = []
    ScriptedHandler.conditions_seen = []
    server = QuietServer(("127.0.0.1", 0), ScriptedHandler)
    # Polled often, so that shutting it down at the end of a test takes no time.
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def downloader(**overrides) -> SourceFileDownloader:
    settings = {"urls": {}, "timeout_seconds": 2, "retries": 3}
    return SourceFileDownloader(**{**settings, **overrides})


def test_http_download_returns_the_body(http_server):
    ScriptedHandler.scripts["/us.csv"] = [(200, BODY, 0)]
    assert downloader().download(f"{http_server}/us.csv", "COVID_NYT_URL").content == BODY


def test_the_servers_validators_are_returned_with_the_file(http_server):
    ScriptedHandler.scripts["/us.csv"] = [(200, BODY, 0)]
    download = downloader().download(f"{http_server}/us.csv", "COVID_NYT_URL")
    assert download.etag.startswith('"')
    assert download.last_modified == LAST_MODIFIED


def test_an_unchanged_file_is_not_downloaded_again(http_server):
    ScriptedHandler.scripts["/us.csv"] = [(200, BODY, 0)]
    url = f"{http_server}/us.csv"
    first = downloader().download(url, "COVID_NYT_URL")
    again = downloader().download(url, "COVID_NYT_URL", first.etag, first.last_modified)
    assert again.content is None
    assert ScriptedHandler.conditions_seen[-1] == (first.etag, LAST_MODIFIED)


def test_a_download_carries_the_sha256_of_its_content(http_server):
    ScriptedHandler.scripts["/us.csv"] = [(200, BODY, 0), (304, b"", 0)]
    url = f"{http_server}/us.csv"
    first = downloader().download(url, "COVID_NYT_URL")
    again = downloader().download(url, "COVID_NYT_URL", first.etag, first.last_modified)
    assert first.sha256 == hashlib.sha256(BODY).hexdigest()
    assert again.sha256 is None


def test_a_changed_file_is_downloaded_despite_an_old_etag(http_server):
    ScriptedHandler.scripts["/us.csv"] = [(200, BODY + b"2020-03-02,20,2\n", 0)]
    download = downloader().download(f"{http_server}/us.csv", "COVID_NYT_URL", '"old"', None)
    assert download.content == BODY + b"2020-03-02,20,2\n"


def test_server_errors_are_retried_until_the_file_comes(http_server):
    ScriptedHandler.scripts["/us.csv"] = [(503, b"busy", 0), (429, b"slow down", 0), (200, BODY, 0)]
    assert downloader().download(f"{http_server}/us.csv", "COVID_NYT_URL").content == BODY
    assert len(ScriptedHandler.requests_seen) == 3


def test_not_found_fails_at_once_naming_the_url_and_the_setting(http_server):
    ScriptedHandler.scripts["/gone.csv"] = [(404, b"no", 0)]
    url = f"{http_server}/gone.csv"
    with pytest.raises(SourceUnavailableError, match=r"404") as raised:
        downloader().download(url, "COVID_NYT_URL")
    assert url in str(raised.value)
    assert "COVID_NYT_URL" in str(raised.value)
    assert len(ScriptedHandler.requests_seen) == 1


def test_persistent_server_errors_fail_after_the_retries(http_server):
    ScriptedHandler.scripts["/us.csv"] = [(500, b"broken", 0)]
    with pytest.raises(SourceUnavailableError, match="COVID_JHU_URL"):
        downloader(retries=2).download(f"{http_server}/us.csv", "COVID_JHU_URL")
    assert len(ScriptedHandler.requests_seen) == 3


def test_a_server_that_never_answers_times_out_instead_of_hanging(http_server):
    ScriptedHandler.scripts["/slow.csv"] = [(200, BODY, 3)]
    started = time.monotonic()
    with pytest.raises(SourceUnavailableError, match="timed out"):
        downloader(timeout_seconds=1, retries=0).download(
            f"{http_server}/slow.csv", "COVID_NYT_URL"
        )
    assert time.monotonic() - started < 3


def test_a_timeout_is_retried(http_server):
    ScriptedHandler.scripts["/us.csv"] = [(200, BODY, 2), (200, BODY, 0)]
    download = downloader(timeout_seconds=1, retries=1).download(
        f"{http_server}/us.csv", "COVID_NYT_URL"
    )
    assert download.content == BODY
    assert len(ScriptedHandler.requests_seen) == 2


def test_an_unresolvable_host_fails_at_once_saying_so_first():
    url = "http://nonexistent.invalid/us.csv"  # .invalid never resolves
    started = time.monotonic()
    with pytest.raises(SourceUnavailableError) as raised:
        downloader(retries=4).download(url, "COVID_NYT_URL", label="NYT US daily file")
    assert time.monotonic() - started < 1  # four retries with backoff would take seconds
    assert str(raised.value).startswith(
        "NYT US daily file unreachable: could not resolve nonexistent.invalid "
        f"(COVID_NYT_URL={url}). Offline? See README: run from local files."
    )
    assert not raised.value.transient


def test_a_refused_connection_fails_at_once_saying_so_first(refused_url):
    started = time.monotonic()
    with pytest.raises(SourceUnavailableError) as raised:
        downloader(retries=4).download(refused_url, "COVID_JHU_URL")
    assert time.monotonic() - started < 1
    host_and_port = refused_url.split("/")[2]
    assert str(raised.value).startswith(
        f"Source unreachable: could not connect to {host_and_port} ([Errno 111] Connection "
        f"refused) (COVID_JHU_URL={refused_url})."
    )
    assert not raised.value.transient


def test_file_larger_than_the_limit_is_refused(http_server):
    ScriptedHandler.scripts["/big.csv"] = [(200, BODY * 100, 0)]
    with pytest.raises(SourceUnavailableError, match="COVID_DOWNLOAD_MAX_BYTES"):
        downloader(max_bytes=len(BODY) * 10).download(f"{http_server}/big.csv", "COVID_NYT_URL")


@pytest.mark.parametrize("as_uri", [True, False], ids=["file-url", "plain-path"])
def test_local_files_are_read_from_file_urls_and_paths(tmp_path: Path, as_uri):
    source = tmp_path / "us.csv"
    source.write_bytes(BODY)
    location = source.as_uri() if as_uri else str(source)
    assert downloader().download(location, "COVID_NYT_URL").content == BODY


def test_missing_local_file_names_the_path_and_the_setting(tmp_path: Path):
    missing = tmp_path / "nowhere.csv"
    with pytest.raises(SourceUnavailableError, match=r"nowhere\.csv.*COVID_JHU_URL"):
        downloader().download(str(missing), "COVID_JHU_URL")


@pytest.mark.parametrize(("retry", "earliest", "latest"), [(1, 0, 120), (2, 120, 240)])
def test_the_step_retries_wait_as_the_docs_say(retry, earliest, latest):
    """docs/pipeline.md: the first retry 0–2 minutes later, the second 2–4 minutes after that.
    The policy's jitter is Dagster's PLUS_MINUS: the backoff's delay, plus or minus the policy's
    delay."""
    policy = SOURCE_RETRY_POLICY
    assert policy.jitter == Jitter.PLUS_MINUS
    backoff = RetryPolicy(policy.max_retries, delay=policy.delay, backoff=policy.backoff)
    waits = [backoff.calculate_delay(retry) + sign * policy.delay for sign in (-1, 1)]
    assert waits == [earliest, latest]
    assert all(earliest <= policy.calculate_delay(retry) <= latest for _ in range(1000))
