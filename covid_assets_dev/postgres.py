"""A throwaway PostgreSQL server from Debian's package on 127.0.0.1, for the production instance's
storage in tests and in the local production topology (``covid_assets_dev.topology``)."""

import contextlib
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from covid_assets_dev.local_stack import LOCAL_HOST, free_port

USER = "dagster"


def postgres_programs() -> Path | None:
    """The newest Debian PostgreSQL server's programs (``initdb``, ``pg_ctl``), if installed."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda initdb: [int(part) for part in initdb.parts[-3].split(".")],
    )
    return found[-1].parent if found else None


@dataclass(frozen=True)
class PostgresCluster:
    port: int
    run: Callable[..., None]

    def new_database(self) -> str:
        """An empty database: each instance starts blank."""
        name = f"dagster_{uuid.uuid4().hex[:12]}"
        self.run("createdb", "-h", LOCAL_HOST, "-p", str(self.port), "-U", USER, name)
        return name

    def instance_environment(self) -> dict[str, str]:
        """The environment infra/dagster.yaml.example reads its storage from, for a new
        database of this server (trust authentication: the password is not checked)."""
        return {
            "DAGSTER_PG_HOST": LOCAL_HOST,
            "DAGSTER_PG_DB": self.new_database(),
            "DAGSTER_PG_USERNAME": USER,
            "DAGSTER_PG_PASSWORD": "unused-with-trust-authentication",
        }


@contextlib.contextmanager
def postgres_cluster(programs: Path) -> Iterator[PostgresCluster]:
    """A new cluster on 127.0.0.1 (trust authentication, no fsync), removed on exit. As root it
    runs as the ``postgres`` user, as PostgreSQL wants."""
    as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    cluster = Path(tempfile.mkdtemp(prefix="covid-assets-pg-"))
    if as_owner:
        shutil.chown(cluster, "postgres")
    data, port = cluster / "data", free_port()

    def run(program: str, *arguments: str) -> None:
        subprocess.run(
            [*as_owner, str(programs / program), *arguments], check=True, capture_output=True
        )

    run("initdb", "-D", str(data), "-U", USER, "--auth=trust", "-E", "UTF8", "--no-sync")
    options = f"-p {port} -k {cluster} -c listen_addresses={LOCAL_HOST} -c fsync=off"
    run("pg_ctl", "-D", str(data), "-o", options, "-l", str(cluster / "log"), "-w", "start")
    try:
        yield PostgresCluster(port, run)
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            run("pg_ctl", "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(cluster, ignore_errors=True)
