"""Fetching the upstream files: HTTP(S) with conditional requests, ``file://`` URLs and paths."""

import functools
import hashlib
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import requests
from dagster import ConfigurableResource
from pydantic import Field
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError, NameResolutionError, NewConnectionError
from urllib3.util.retry import Retry

from covid_assets.domain.sources import SOURCES, Source


class SourceUnavailableError(RuntimeError):
    """A source file could not be fetched; the message says which and what to change.
    ``transient`` is True when trying again later may help (timeout, dropped connection, 429,
    5xx); not for a host that does not resolve or refuses the connection."""

    def __init__(self, message: str, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


class RetryUnlessUnreachable(Retry):
    """urllib3's retries, except that a host that does not resolve or refuses the connection
    fails at once: offline, or with a wrong URL, waiting does not help. A connect timeout is
    retried (urllib3 raises ConnectTimeoutError for it, not NewConnectionError)."""

    def increment(
        self, method: str | None = None, url: str | None = None, *args: Any, **kwargs: Any
    ) -> Retry:
        error = kwargs.get("error")
        if isinstance(error, NewConnectionError):
            raise MaxRetryError(kwargs.get("_pool"), url, error) from error
        return super().increment(method, url, *args, **kwargs)


def unreachable_cause(error: BaseException) -> str | None:
    """Why the host could not be reached, when it does not resolve or refuses the connection."""
    reason = getattr(error.args[0], "reason", None) if error.args else None
    if isinstance(reason, NameResolutionError):
        return f"could not resolve {reason.conn.host}"
    if isinstance(reason, NewConnectionError):
        return f"could not connect to {reason.conn.host}:{reason.conn.port} ({reason.__cause__})"
    return None


@dataclass(frozen=True)
class Download:
    """A fetched source: ``content`` is None when the server answered 304 Not Modified."""

    content: bytes | None
    etag: str | None = None
    last_modified: str | None = None

    @functools.cached_property
    def sha256(self) -> str | None:
        """The content's hash, computed once: both the no-change test and the data version
        need it, and the JHU file is large."""
        return None if self.content is None else hashlib.sha256(self.content).hexdigest()


class SourceFileDownloader(ConfigurableResource):
    """Downloads the upstream CSV files over HTTP(S), or reads them from ``file://`` URLs or
    local paths; an HTTP source is asked only for a file newer than the last one."""

    urls: dict[str, str] = Field(
        description=(
            "Where each raw source that is on is fetched from, by asset name: an http(s):// or "
            "file:// URL or a local path (COVID_NYT_URL, COVID_JHU_URL, COVID_NYT_STATES_URL)."
        )
    )
    timeout_seconds: int = Field(
        default=30,
        description="Connect and read timeout of one attempt, in seconds "
        "(COVID_HTTP_TIMEOUT_SECONDS).",
    )
    retries: int = Field(
        default=4,
        description="Retries after a timeout, a dropped connection, HTTP 429 or 5xx; an "
        "unresolvable host or a refused connection is not retried (COVID_HTTP_RETRIES).",
    )
    max_bytes: int = Field(
        default=64 * 1024 * 1024,
        description="Largest file accepted, in bytes (COVID_DOWNLOAD_MAX_BYTES).",
    )

    @property
    def sources(self) -> tuple[Source, ...]:
        """The sources it fetches: those that are on when the definitions were built."""
        return tuple(source for source in SOURCES if source.asset in self.urls)

    def url_of(self, source: Source) -> str:
        return self.urls[source.asset]

    def download_source(
        self, source: Source, etag: str | None = None, last_modified: str | None = None
    ) -> Download:
        """``source``'s file; see ``download``."""
        return self.download(
            self.url_of(source), source.url_setting, etag, last_modified, source.label
        )

    def download(
        self,
        url: str,
        setting_name: str,
        etag: str | None = None,
        last_modified: str | None = None,
        label: str = "Source",
    ) -> Download:
        """The file, or SourceUnavailableError naming the URL and the variable to set; a host
        that cannot be reached is said first, and is not retried. With the
        ``etag``/``last_modified`` of an earlier download, an HTTP source is asked only for a
        newer file (If-None-Match / If-Modified-Since) and may answer 304 with no content."""
        try:
            if urlparse(url).scheme in ("http", "https"):
                return self._download_http(url, etag, last_modified)
            return self._read_local(url)
        except requests.ConnectionError as error:
            cause = unreachable_cause(error)
            if cause is None:
                raise self._unavailable(url, setting_name, error, transient=True) from error
            raise SourceUnavailableError(
                f"{label} unreachable: {cause} ({setting_name}={url}). Offline? See README: run "
                "from local files.",
                transient=False,
            ) from error
        except (OSError, requests.RequestException, ValueError) as error:
            transient = isinstance(error, requests.Timeout | requests.exceptions.RetryError)
            raise self._unavailable(url, setting_name, error, transient) from error

    @staticmethod
    def _unavailable(
        url: str, setting_name: str, error: Exception, transient: bool
    ) -> SourceUnavailableError:
        return SourceUnavailableError(
            f"Could not download {url}: {error}. Check that it is reachable, or set "
            f"{setting_name} to another http(s):// or file:// URL or a local path.",
            transient=transient,
        )

    def _download_http(self, url: str, etag: str | None, last_modified: str | None) -> Download:
        retry = RetryUnlessUnreachable(
            total=self.retries,
            backoff_factor=0.5,
            backoff_jitter=0.5,
            status_forcelist=(429, 500, 502, 503, 504),
            allowed_methods=("GET",),
        )
        with requests.Session() as session:
            session.mount("http://", HTTPAdapter(max_retries=retry))
            session.mount("https://", HTTPAdapter(max_retries=retry))
            conditions = {"If-None-Match": etag, "If-Modified-Since": last_modified}
            headers = {name: value for name, value in conditions.items() if value}
            with session.get(
                url, headers=headers, timeout=self.timeout_seconds, stream=True
            ) as response:
                response.raise_for_status()
                validators = (response.headers.get("ETag"), response.headers.get("Last-Modified"))
                if response.status_code == requests.codes.not_modified:
                    return Download(None, *validators)
                chunks, size = [], 0
                for chunk in response.iter_content(chunk_size=1 << 16):
                    size += len(chunk)
                    self._check_size(size)
                    chunks.append(chunk)
                return Download(b"".join(chunks), *validators)

    def _read_local(self, url: str) -> Download:
        """The file, with its modification time (ISO, to the microsecond: files written within
        a second of each other keep their order) as its Last-Modified."""
        parsed = urlparse(url)
        path = Path(urllib.request.url2pathname(parsed.path) if parsed.scheme == "file" else url)
        status = path.stat()
        self._check_size(status.st_size)
        modified = datetime.fromtimestamp(status.st_mtime, UTC)
        return Download(path.read_bytes(), last_modified=modified.isoformat())

    def _check_size(self, size: int) -> None:
        if size > self.max_bytes:
            raise ValueError(
                f"the file is larger than COVID_DOWNLOAD_MAX_BYTES ({self.max_bytes} bytes)"
            )
