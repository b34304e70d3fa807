"""The base of the AWS resources: boto3 clients built from the standard chain (credentials,
region, ``AWS_ENDPOINT_URL``), so that the same code talks to the local emulator or to real AWS."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import boto3
from botocore.config import Config
from dagster_aws.utils import ResourceWithBoto3Configuration

T = TypeVar("T")
R = TypeVar("R")


@functools.cache
def boto3_session(profile_name: str | None) -> boto3.session.Session:
    """One session per profile for the whole process, so that each service's model is loaded
    once however many clients are made. Credentials it resolves refresh themselves."""
    return boto3.session.Session(profile_name=profile_name)


class AwsClientResource(ResourceWithBoto3Configuration):
    """Base of the AWS resources: boto3 clients with dagster-aws's settings and botocore's
    standard retry mode (which retries throttling and 5xx with backoff).

    Resources with the same settings share one client per service, in the process's session:
    a run holds several copies of the bucket (the resource itself, and inside the quarantine
    and the served export), and a client of their own each would only be built again."""

    def client(self, service: str) -> Any:
        """The client for ``service`` with these settings, created on first use. The endpoint
        is read then (``AWS_ENDPOINT_URL`` when ``endpoint_url`` is not set), and is part of
        what a shared client must match."""
        session = boto3_session(self.profile_name)
        settings = (
            service,
            self.region_name,
            self.endpoint_url or os.environ.get("AWS_ENDPOINT_URL"),
            self.use_ssl,
            self.verify,
            self.aws_access_key_id,
            self.aws_secret_access_key,
            self.aws_session_token,
            self.max_attempts,
        )
        clients = session.__dict__.setdefault("_covid_assets_clients", {})
        if settings not in clients:
            clients[settings] = session.client(
                service,
                region_name=self.region_name,
                endpoint_url=self.endpoint_url,
                use_ssl=self.use_ssl,
                verify=self.verify,
                aws_access_key_id=self.aws_access_key_id,
                aws_secret_access_key=self.aws_secret_access_key,
                aws_session_token=self.aws_session_token,
                config=Config(retries={"max_attempts": self.max_attempts, "mode": "standard"}),
            )
        return clients[settings]


def in_parallel(call: Callable[[T], R], items: Sequence[T], workers: int) -> list[R]:
    """``call`` on each item, up to ``workers`` at once (threads: boto3 clients are thread-safe,
    and a call mostly waits for its answer), results in order. A call that fails stops the
    items not yet started."""
    if workers <= 1 or len(items) <= 1:
        return list(map(call, items))
    with ThreadPoolExecutor(workers) as pool:
        try:
            return list(pool.map(call, items))
        except BaseException:
            pool.shutdown(cancel_futures=True)
            raise
