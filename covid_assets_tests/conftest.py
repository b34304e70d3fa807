"""Fixtures: a moto server over HTTP, an emulated AWS account reset for every test, the real
source snapshots, a test instance, source files written on the fly, and an alert inbox. Shared
helpers that are not fixtures live in ``helpers``."""

import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import DagsterInstance, instance_for_test

from covid_assets_dev.local_stack import moto_server
from covid_assets_dev.web_sources import ServedFolder
from covid_assets_tests.fault_proxy import FaultProxy
from covid_assets_tests.helpers import (
    SNAPSHOTS_DIR,
    AlertInbox,
    EmulatedAws,
    blank_emulated_account,
    subscribed_alert_inbox,
    use_sources,
    web_sources_in,
)


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> EmulatedAws:
    """A blank emulated account with the stack of infra/covid_assets.yaml deployed, and the
    environment pointing every boto3 client of the pipeline at it (configured from the stack's
    outputs). The emulator skips the template's Glue resources: the pipeline creates them."""
    return blank_emulated_account(moto_endpoint, monkeypatch)


@pytest.fixture(scope="session")
def snapshots_dir() -> Path:
    if not SNAPSHOTS_DIR.is_dir():
        pytest.skip(
            f"real source snapshots not found at {SNAPSHOTS_DIR} (see shared/data/README.md)"
        )
    return SNAPSHOTS_DIR


@pytest.fixture(scope="session")
def memory_instance() -> Iterator[DagsterInstance]:
    with DagsterInstance.ephemeral() as shared:
        yield shared


@pytest.fixture
def instance(memory_instance: DagsterInstance) -> DagsterInstance:
    """An instance with its storage in memory: runs in this process keep their events and
    provenance in it as on disk, at a third of the cost. The tests that start the daemon, the
    webserver or a run worker give them a DAGSTER_HOME on disk, and PostgreSQL is tested on its
    own (test_production_instance). One per worker process, emptied for each test (its runs,
    events and stored step outputs): emptying it costs a fortieth of making one."""
    memory_instance.wipe()
    shutil.rmtree(memory_instance.storage_directory(), ignore_errors=True)
    return memory_instance


@pytest.fixture
def instance_on_disk() -> Iterator[DagsterInstance]:
    """An instance with its storage in files, for what Dagster hands to other code by reference
    (a schedule's context, the freshness daemon's workspace)."""
    with instance_for_test() as test_instance:
        yield test_instance


@pytest.fixture
def write_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Write NYT and JHU texts to files and point the pipeline at them."""

    def write(nyt_text: str | bytes, jhu_text: str | bytes) -> None:
        for name, text in (("us.csv", nyt_text), ("jhu.csv", jhu_text)):
            (tmp_path / name).write_bytes(text if isinstance(text, bytes) else text.encode())
        use_sources(monkeypatch, (tmp_path / "us.csv").as_uri(), tmp_path / "jhu.csv")

    return write


@pytest.fixture
def alert_inbox(aws: EmulatedAws) -> AlertInbox:
    return subscribed_alert_inbox(aws)


@pytest.fixture
def web_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ServedFolder]:
    """us.csv and jhu.csv served over HTTP from a folder of their own, and the pipeline pointed
    at them."""
    folder = tmp_path / "web"
    folder.mkdir()
    with web_sources_in(folder, monkeypatch) as sources:
        yield sources


@pytest.fixture
def fault_proxy(aws: EmulatedAws, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultProxy]:
    """A proxy between the pipeline and moto server that injects the faults a test asks for
    (fault_proxy.py); the pipeline's clients talk to moto through it."""
    proxy = FaultProxy(aws.endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
    yield proxy
    proxy.close()


@pytest.fixture
def refused_url() -> Iterator[str]:
    """An http:// URL on 127.0.0.1 whose port refuses connections: bound, never listening."""
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{bound.getsockname()[1]}/us.csv"
